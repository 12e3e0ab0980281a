"""The `riskstream` command (`riskstream.cli.app`)."""

from riskstream.cli.app import build_app, main

__all__ = ["build_app", "main"]
