"""`riskstream bench …`: throughput, latency and memory benchmarks."""
