"""riskstream: telemetry from pledged collateral turned into live, explained credit-risk alerts.

The engine core (`Engine.process`, `Engine.tick`) is pure and synchronous; `Runtime`
wires it to ingest, the alert store and the live feed; `create_app` serves the API
and the dashboard; `riskstream.cli.app` is the command.

The names below load on first use, so that commands which do not run the engine
(``riskstream ingest``) start without importing its models.
"""

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from riskstream.engine.alerts import Alert
    from riskstream.engine.core import Engine
    from riskstream.rules.schema import RuleSet, load_rules

__all__ = ["Alert", "Engine", "RuleSet", "load_rules"]

_HOMES = {
    "Alert": "riskstream.engine.alerts",
    "Engine": "riskstream.engine.core",
    "RuleSet": "riskstream.rules.schema",
    "load_rules": "riskstream.rules.schema",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'riskstream' has no attribute {name!r}")
    return getattr(import_module(home), name)
