"""The running service: runtime, settings, SQL stores, people and brokers."""
