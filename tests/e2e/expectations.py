"""What alert each injected scenario must produce."""

from typing import Any

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
