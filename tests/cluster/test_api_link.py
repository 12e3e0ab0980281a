"""The API tier stores each alert change of the cluster once, and an engine's change
that predates a person's action never undoes it; what is not an alert change or a risk
message is refused with a reason, never taken."""

from dataclasses import replace

import msgspec
import orjson
import pytest

from riskstream.cluster.api_link import merge
from riskstream.cluster.messages import (
    alert_message_id,
    decode_alert,
    decode_risk,
    encode_alert,
)
from riskstream.engine.alerts import Alert

T0 = 1_795_000_000.0
OPEN = Alert(
    id="a1", tenant="bank-a", borrower_id="b1", loan_id=None, site_id=None, device_id=None,
    kind="inventory_below_pledge", subject="b1-c1", severity="critical", status="open",
    opened_at=T0, detected_at=T0 + 5, updated_at=T0, score=80.0, reasons=["low"],
    evidence={"coverage": 0.5}, rule="rules.inventory_below_pledge",
)  # fmt: skip


def test_a_change_survives_the_stream_unchanged() -> None:
    assert decode_alert(encode_alert(OPEN)) == OPEN


def test_the_same_change_found_again_is_stored_once() -> None:
    again = replace(OPEN, detected_at=T0 + 60)  # found again by the next owner
    assert alert_message_id(again) == alert_message_id(OPEN)
    assert merge(again, OPEN.to_dict()) is None
    later = replace(OPEN, updated_at=T0 + 300)
    assert merge(later, OPEN.to_dict()) == later


def test_a_persons_action_is_not_undone_by_the_engines_older_news() -> None:
    update = replace(OPEN, updated_at=T0 + 300)
    acknowledged = replace(OPEN, status="acknowledged", updated_at=T0 + 200).to_dict()
    kept = merge(update, acknowledged)
    assert kept is not None and kept.status == "acknowledged"
    resolved = replace(OPEN, status="resolved", updated_at=T0 + 200).to_dict()
    assert merge(update, resolved) is None
    cleared = replace(OPEN, status="resolved", updated_at=T0 + 900)
    assert merge(cleared, acknowledged) == cleared  # the engine's own resolution stands


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"null",
        b"[1, 2]",
        b'{"id": "a1"}',
        orjson.dumps({**OPEN.to_dict(), "severity": "apocalyptic"}),
        orjson.dumps({**OPEN.to_dict(), "opened_at": "yesterday"}),
        orjson.dumps({**OPEN.to_dict(), "tenant": ["bank-a", "bank-b"]}),
        b'{"id": ' * 10_000,
    ],
    ids=["empty", "null", "list", "partial", "severity", "time", "tenant", "deep"],
)
def test_what_is_not_an_alert_change_is_refused_with_a_reason(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode_alert(data)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",
        msgspec.msgpack.encode([[["bank-a", "d1", float("nan"), "weight_kg", 1.0, None]]]),
        msgspec.msgpack.encode([[["bank-a", "d1", 1.0, "weight_kg", float("inf"), None]]]),
        msgspec.msgpack.encode({"readings": "all of them"}),
    ],
    ids=["empty", "bad-byte", "nan-time", "infinite-value", "wrong-shape"],
)
def test_what_is_not_a_risk_message_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode_risk(data)
