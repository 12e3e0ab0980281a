"""Rule detectors: each watches one kind of condition and raises or clears alerts."""

from riskstream.detectors.deadman import DeadmanDetector
from riskstream.detectors.geofence import GeofenceDetector
from riskstream.detectors.inventory import InventoryDetector

__all__ = ["DeadmanDetector", "GeofenceDetector", "InventoryDetector"]
