"""What alert each injected scenario must produce, and which others may also find it."""

from typing import Any

from riskstream.backtest.matching import DETECTED_BY
from simulator import TruthRecord

KIND_OF_SCENARIO = {
    "inventory_drain": ("inventory_below_pledge", "collateral_id"),
    "geofence_exit": ("geofence_exit", "device_id"),
    "device_silent": ("device_silent", "device_id"),
    "spoof": ("data_integrity", "device_id"),
    "replay": ("data_integrity", "device_id"),
}


def expected_alerts(truth: list[TruthRecord]) -> set[tuple[str, str, str]]:
    """(borrower, alert kind, subject) for each truth record."""
    out = set()
    for record in truth:
        kind, subject_field = KIND_OF_SCENARIO[record.scenario]
        subject = getattr(record, subject_field)
        assert subject is not None
        out.add((record.borrower_id, kind, subject))
    return out


def seen_alerts(alerts: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """(borrower, kind, subject) of alerts."""
    return {(a["borrower_id"], a["kind"], a["subject"]) for a in alerts}


def allowed_alerts(truth: list[TruthRecord]) -> set[tuple[str, str, str]]:
    """(borrower, alert kind, subject) of every alert that detects a truth record: the one
    required, and others that may also catch it (a drain running through the night is
    out-of-hours movement too, depending on the hour the test runs)."""
    out = expected_alerts(truth)
    for record in truth:
        for expect in DETECTED_BY.get(record.scenario, ()):
            subject = getattr(record, expect.subject)
            if subject is not None:
                out.add((record.borrower_id, expect.kind, subject))
    return out


def earliest_evidence(record: TruthRecord, kind: str) -> float:
    """The earliest event time an alert of ``kind`` may rightly open for ``record``: its
    start, less the lead the kind has on it (a vehicle heading for its fence at night is
    moving while it should be parked before it crosses)."""
    leads = [e.lead_s for e in DETECTED_BY.get(record.scenario, ()) if e.kind == kind]
    return record.start_ts - max(leads, default=0.0)
