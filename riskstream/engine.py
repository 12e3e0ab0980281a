"""The risk engine core: a pure, synchronous step from readings to alert changes.

``process(batch)`` feeds readings in event time; ``tick(now)`` runs timers (deadman).
Both return the alerts that were opened, updated or resolved by that step. No I/O
happens here; the only outside input is ``wall_clock``, used for ``detected_at``.
"""

import time
from collections.abc import Callable, Iterable, Sequence

from devices.model import DeviceKind, Fleet
from devices.reading import Reading
from riskstream.alerts import Alert, AlertBook
from riskstream.detectors import DeadmanDetector, GeofenceDetector, InventoryDetector
from riskstream.fleet_index import FleetIndex
from riskstream.rules_file import RuleSet


class Engine:
    """Turns readings into alert changes for the registered fleets under a rule set."""

    def __init__(
        self,
        fleets: Iterable[Fleet],
        rules: RuleSet,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.index = FleetIndex(fleets)
        self.rules = rules
        self.wall_clock = wall_clock
        self.book = AlertBook(update_every_s=rules.alerts.update_every)
        self.inventory = InventoryDetector(self.index, rules.rules.inventory_below_pledge)
        self.geofence = GeofenceDetector(self.index, rules.rules.geofence_exit)
        self.deadman = DeadmanDetector(self.index, rules.rules.device_silent)
        self.watermark: float | None = None
        self.readings_processed = 0
        self.readings_unmatched = 0

    def set_rules(self, rules: RuleSet) -> None:
        """Apply a new rule set; open alerts and detector state are kept."""
        self.rules = rules
        self.book.update_every_s = rules.alerts.update_every
        self.inventory.rule = rules.rules.inventory_below_pledge
        self.geofence.rule = rules.rules.geofence_exit
        self.deadman.rule = rules.rules.device_silent

    def process(self, batch: Sequence[Reading]) -> list[Alert]:
        """Feed readings (in event-time order per device); return changed alerts."""
        changed: dict[str, Alert] = {}
        wall = self.wall_clock()
        devices = self.index.devices
        watermark = self.watermark
        for reading in batch:
            device = devices.get(reading.device_id)
            if device is None or device.tenant != reading.tenant:
                self.readings_unmatched += 1
                continue
            if watermark is None or reading.ts > watermark:
                watermark = reading.ts
            alert = self.deadman.seen(reading, device, self.book)
            if alert is not None:
                changed[alert.id] = alert
            metric = reading.metric
            alert = None
            if metric == "weight_kg" and device.collateral_id is not None:
                alert = self.inventory.observe(reading, device.collateral_id, self.book, wall)
            elif metric in ("lat_deg", "lon_deg") and device.kind is DeviceKind.GPS_TRACKER:
                alert = self.geofence.observe(reading, device, self.book, wall)
            if alert is not None:
                changed[alert.id] = alert
        self.watermark = watermark
        self.readings_processed += len(batch)
        return list(changed.values())

    def tick(self, now: float) -> list[Alert]:
        """Run timers as of clock time ``now`` (event time while data flows)."""
        return self.deadman.tick(now, self.book, self.wall_clock())

    def open_alerts(self) -> list[Alert]:
        """Alerts currently open or acknowledged."""
        return self.book.open_alerts()
