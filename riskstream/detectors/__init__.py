"""Rule detectors: each watches one kind of condition and raises or clears alerts."""

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
