"""``python -m riskstream``."""

from riskstream.cli.app import main

main()
