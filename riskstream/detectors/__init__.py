"""Rule detectors: each watches one kind of condition and raises or clears alerts.

Each detector's module holds its class and its ``[rules.*]`` rule model;
`riskstream.detectors.registry` lists them, and the rules file's schema, the engine's
routing and checkpoints are derived from it. The names below load on first use, so that
importing one detector module does not import them all.
"""

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from riskstream.detectors.cold_chain import ColdChainDetector
    from riskstream.detectors.data_integrity import DataIntegrityDetector
    from riskstream.detectors.deadman import DeadmanDetector
    from riskstream.detectors.geofence import GeofenceDetector
    from riskstream.detectors.inventory import InventoryDetector
    from riskstream.detectors.parked_moving import ParkedMovingDetector
    from riskstream.detectors.position_implausible import PositionImplausibleDetector
    from riskstream.detectors.stuck_values import StuckValuesDetector

__all__ = [
    "ColdChainDetector",
    "DataIntegrityDetector",
    "DeadmanDetector",
    "GeofenceDetector",
    "InventoryDetector",
    "ParkedMovingDetector",
    "PositionImplausibleDetector",
    "StuckValuesDetector",
]

_HOMES = {
    "ColdChainDetector": "riskstream.detectors.cold_chain",
    "DataIntegrityDetector": "riskstream.detectors.data_integrity",
    "DeadmanDetector": "riskstream.detectors.deadman",
    "GeofenceDetector": "riskstream.detectors.geofence",
    "InventoryDetector": "riskstream.detectors.inventory",
    "ParkedMovingDetector": "riskstream.detectors.parked_moving",
    "PositionImplausibleDetector": "riskstream.detectors.position_implausible",
    "StuckValuesDetector": "riskstream.detectors.stuck_values",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'riskstream.detectors' has no attribute {name!r}")
    return getattr(import_module(home), name)
