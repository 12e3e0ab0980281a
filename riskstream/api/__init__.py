"""The HTTP API, the live feed and the dashboard's reads."""
