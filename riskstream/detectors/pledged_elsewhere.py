"""A lender's side of the cross-lender match: its lots' facts, and its alerts when matched.

One per lender's engine. It gives the platform (`riskstream.engine.lenders`) its lots'
identifying facts in the clear, to be hashed there with the platform key: the serials of
the devices that weigh or count each lot, the lot's RFID tags, its site's location, and
its weight changes (the change of the sum of its load cells over each ``change_bucket``
of event time, when at least ``min_change_kg``). When the platform's matcher finds a lot
"pledged elsewhere too", `report` raises ``pledged_elsewhere`` on it with this lender's
own facts that matched, mapped back from their hashes here; it never learns, and so
never shows, anything of the other lender. The alert resolves when the match is gone
(weight changes forgotten after the window, a fleet changed).

Weight changes are followed only while the platform serves several lenders
(``tracking``), so a single lender pays nothing for it.
"""

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field

from devices.model import SiteKind
from devices.reading import Reading
from riskstream.detectors.findings import lot_finding
from riskstream.detectors.timefmt import clock
from riskstream.engine.alerts import Alert, AlertBook
from riskstream.engine.cross_lender import Match
from riskstream.engine.fleet_index import DeviceContext, FleetIndex
from riskstream.engine.pledge_facts import CELL_M, Token
from riskstream.rules.fields import AlertComponent, AlertSeverity, Enabled, RuleTable, Seconds

KIND = "pledged_elsewhere"
MAX_SHOWN_CHANGES = 20


class PledgedElsewhereRule(RuleTable):
    """The same goods pledged to another lender of the platform too.

    The platform compares keyed hashes of every lender's lot facts; a lender is told only
    which of its own facts matched. ``enabled``, ``severity`` and ``score`` may differ in a
    lender's own rules; the matching thresholds are the platform's: only the service's
    rules file sets them (a lender cannot weaken them to probe for others' goods).
    """

    matrix_component: ClassVar[AlertComponent] = "behaviour"

    # judged by the platform across lenders, per lot, not per device or loan
    service_wide: ClassVar[frozenset[str]] = frozenset(
        {
            "enabled",
            "severity",
            "score",
            "min_facts",
            "min_shared_tags",
            "min_tag_share",
            "min_comoving_changes",
            "min_comoving_share",
            "change_bucket",
            "min_change_kg",
            "change_tolerance",
            "window",
        }
    )

    enabled: Enabled = True
    severity: AlertSeverity = "critical"
    score: float = Field(80.0, ge=0, le=100, description="the alert's score, 0–100 points")
    min_facts: int = Field(
        2,
        ge=2,
        le=4,
        description="facts two lots must share, at least one of them strong (device "
        "serial, RFID tags, weight changes); the site location alone is weak",
    )
    min_shared_tags: int = Field(3, ge=1, description="RFID tags in common, at least")
    min_tag_share: float = Field(
        0.5, gt=0, le=1, description="RFID tags in common, at least this share of the smaller set"
    )
    min_comoving_changes: int = Field(
        3, ge=2, description="weight changes at the same times and of the same size, at least"
    )
    min_comoving_share: float = Field(
        0.8,
        gt=0,
        le=1,
        description="and at least this share of the changes of the lot with fewer of them "
        "(warehouses on the same shift pattern move at the same times by chance)",
    )
    change_bucket: Seconds = Field(
        600.0, ge=60, le=86_400, description="weight changes are compared per bucket of event time"
    )
    min_change_kg: float = Field(
        500.0, gt=0, description="smallest change of a lot's weight over one bucket that counts, kg"
    )
    change_tolerance: float = Field(
        0.02,
        gt=0,
        le=0.5,
        description="weight changes are compared on a scale of steps of this share of their "
        "size; two changes match up to one step apart (2 % to 4 % at the default)",
    )
    window: Seconds = Field(
        14 * 86_400.0, gt=0, description="weight changes older than this are forgotten"
    )


@dataclass(frozen=True, slots=True)
class LotFacts:
    """A lot's identifying facts, in the clear, for the platform to hash."""

    lot_id: str
    serials: tuple[tuple[str, str], ...]  # (device id, serial)
    tags: tuple[str, ...]
    location: tuple[float, float] | None


@dataclass(frozen=True, slots=True)
class WeightChange:
    """A lot's weight change over one bucket of event time."""

    lot_id: str
    bucket: int
    change_kg: float
    at: float  # the end of the bucket


@dataclass(slots=True)
class PlatformView:
    """What the platform handed this lender's side: its lots' handles and serial tokens
    (rebuilt with the engines, so kept out of checkpoints)."""

    lots: dict[str, str]  # handle → lot id
    serials: dict[Token, tuple[str, str]]  # serial token → (device id, serial)


class PledgedElsewhereDetector:
    """Follows a lender's lot weights in buckets; raises its alerts when told."""

    def __init__(self, index: FleetIndex, rule: PledgedElsewhereRule) -> None:
        self.index = index
        self.rule = rule
        self.matching = rule  # the platform's thresholds, set by `LenderEngines`
        self.tracking = False
        self.platform_view = PlatformView({}, {})
        self._cells: dict[str, dict[str, float]] = {}  # lot → load cell → latest kg
        self._bucket: dict[str, int] = {}  # lot → the bucket being filled
        self._closed_kg: dict[str, float] = {}  # lot → its weight at the last bucket's end
        self._pending: list[WeightChange] = []
        self._changes: dict[Token, WeightChange] = {}  # own change token → the change
        self._since: dict[str, float] = {}  # lot → when it was first found matched

    def lot_facts(self) -> list[LotFacts]:
        """Every lot of the lender with its devices' serials, tags and site location."""
        serials: dict[str, list[tuple[str, str]]] = {}
        for device_id, serial in self.index.serials.items():
            weighed = self.index.devices[device_id].collateral_id
            if weighed is not None:
                serials.setdefault(weighed, []).append((device_id, serial))
        facts = []
        for lot_id, lot in self.index.collateral.items():
            site = self.index.sites.get(lot.collateral.site)
            facts.append(
                LotFacts(
                    lot_id,
                    tuple(sorted(serials.get(lot_id, []))),
                    tuple(lot.collateral.rfid_tags or ()),
                    # a vehicle's registered location is its round's centre, not the goods'
                    None if site is None or site.kind is SiteKind.VEHICLE else site.location,
                )
            )
        return facts

    def observe(self, reading: Reading, device: DeviceContext) -> None:
        """Take a lot's load-cell reading."""
        lot = device.collateral_id
        if not self.tracking or lot is None:
            return
        bucket = math.floor(reading.ts / self.matching.change_bucket)
        current = self._bucket.get(lot)
        if current is None:
            self._bucket[lot] = bucket
        elif bucket > current:
            self._close(lot, current)
            self._bucket[lot] = bucket
        cells = self._cells.setdefault(lot, {})
        if reading.device_id not in cells:
            self._closed_kg.pop(lot, None)  # the sum gains a cell: no change to count
        cells[reading.device_id] = reading.value

    def _close(self, lot: str, bucket: int) -> None:
        weight = sum(self._cells.get(lot, {}).values())
        before = self._closed_kg.get(lot)
        self._closed_kg[lot] = weight
        if before is not None and abs(weight - before) >= self.matching.min_change_kg:
            end = (bucket + 1) * self.matching.change_bucket
            self._pending.append(WeightChange(lot, bucket, weight - before, end))

    def take_changes(self) -> list[WeightChange]:
        """The weight changes found since last asked."""
        changes, self._pending = self._pending, []
        return changes

    def note_change(self, token: Token, change: WeightChange) -> None:
        """Remember which change the platform's ``token`` stands for (to show it)."""
        self._changes[token] = change

    def forget_changes(self, before: float) -> None:
        """Drop remembered changes older than ``before`` (the matcher forgot them too)."""
        self._changes = {t: c for t, c in self._changes.items() if c.at >= before}

    def report(
        self, handle: str, match: Match | None, now: float, book: AlertBook, wall: float
    ) -> Alert | None:
        """Raise, update or clear the alert of the lot ``handle`` for the platform's verdict."""
        lot_id = self.platform_view.lots.get(handle)
        if lot_id is None:
            return None
        lot = self.index.collateral[lot_id]
        if match is None or not self.rule.enabled:
            self._since.pop(lot_id, None)
            return book.clear(
                lot.tenant,
                lot.borrower_id,
                KIND,
                lot_id,
                now,
                "cleared: the platform no longer finds this lot's facts at another lender",
            )
        since = self._since.setdefault(lot_id, now)
        reasons, evidence = self._explain(lot_id, match)
        finding = lot_finding(
            lot,
            kind=KIND,
            severity=self.rule.severity,
            score=self.rule.score,
            reasons=reasons,
            evidence=evidence,
        )
        return book.raise_(finding, since, now, wall)

    def _explain(self, lot_id: str, match: Match) -> tuple[list[str], dict[str, Any]]:
        """Reasons and evidence from the lot's own facts only."""
        lot = self.index.collateral[lot_id]
        reasons = [
            f"lot {lot_id} appears to be pledged to another lender of this platform too: "
            f"{len(match.facts)} of its identifying facts match goods pledged elsewhere "
            "(compared as keyed hashes; the other lender is not named)"
        ]
        evidence: dict[str, Any] = {
            "collateral_id": lot_id,
            "facts": list(match.facts),
            "min_facts": self.matching.min_facts,
        }
        if match.serials:
            devices = sorted(
                self.platform_view.serials[t]
                for t in match.serials
                if t in self.platform_view.serials
            )
            evidence["device_serials"] = [{"device_id": d, "serial": s} for d, s in devices]
            names = ", ".join(f"{s} (device {d})" for d, s in devices)
            reasons.append(f"the same device serial is registered elsewhere: {names}")
        if match.shared_tags:
            own = len(lot.collateral.rfid_tags or ())
            share = match.shared_tags / own if own else 0.0
            evidence |= {"rfid_tags_shared": match.shared_tags, "rfid_tags": own}
            evidence["rfid_tags_shared_share"] = round(share, 3)
            reasons.append(
                f"{match.shared_tags:,} of its {own:,} RFID tags ({share:.0%}) are pledged "
                "elsewhere"
            )
        if "site_location" in match.facts:
            site = self.index.sites[lot.collateral.site]
            evidence["site_id"] = site.id
            evidence["site_location"] = list(site.location) if site.location else None
            evidence["location_cell_m"] = CELL_M
            reasons.append(
                f"goods pledged elsewhere are kept within about {CELL_M:.0f} m of site "
                f"{site.id} (never more than {2 * CELL_M * math.sqrt(2):.0f} m)"
            )
        if match.changes:
            changes = sorted(
                (self._changes[t] for t in match.changes if t in self._changes),
                key=lambda c: c.at,
            )
            evidence["weight_changes"] = [
                {"at": c.at, "change_kg": round(c.change_kg, 1)}
                for c in changes[-MAX_SHOWN_CHANGES:]
            ]
            evidence["change_bucket_s"] = self.matching.change_bucket
            shown = ", ".join(f"{c.change_kg:+,.0f} kg at {clock(c.at)}" for c in changes[-3:])
            reasons.append(
                f"{len(match.changes)} of its weight changes happened at the same times and "
                f"of the same size elsewhere (latest: {shown})"
            )
        return reasons, evidence
