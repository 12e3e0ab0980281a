"""``python -m riskstream``."""

from riskstream.cli import main

main()
