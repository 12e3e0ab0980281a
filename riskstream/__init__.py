"""riskstream: telemetry from pledged collateral turned into live, explained credit-risk alerts.

The engine core (`Engine.process`, `Engine.tick`) is pure and synchronous; `Runtime`
wires it to ingest, the alert store and the live feed; `create_app` serves the API
and the dashboard; `riskstream.cli` is the command.
"""

from riskstream.alerts import Alert
from riskstream.engine import Engine
from riskstream.rules_file import RuleSet, load_rules

__all__ = ["Alert", "Engine", "RuleSet", "load_rules"]
