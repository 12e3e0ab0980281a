"""The parts of notifications that need no server: back-off, filters, change events,
signatures, the mail's text."""

import random
import re
import time
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from riskstream.service.notify import Filters, signature, verify
from riskstream.service.notify.backoff import retry_delay
from riskstream.service.notify.events import change_event
from riskstream.service.notify.mail_message import borrower_link

ALERT = {"id": "a1", "tenant": "bank-a", "borrower_id": "b1", "kind": "device_silent"}


@given(st.integers(1, 60), st.integers(0, 2**32))
def test_the_back_off_doubles_is_capped_and_jittered_within_half(attempts: int, seed: int) -> None:
    delay = retry_delay(attempts, 10.0, 3600.0, random.Random(seed))
    ceiling = min(3600.0, 10.0 * 2 ** (attempts - 1))
    assert ceiling / 2 <= delay <= ceiling


def test_jitter_spreads_receivers_that_failed_together() -> None:
    rng = random.Random(3)
    assert len({round(retry_delay(4, 10.0, 3600.0, rng), 6) for _ in range(20)}) == 20


def test_filters_take_each_of_severity_kind_event_and_borrower() -> None:
    alert = {**ALERT, "severity": "warning"}
    assert Filters().matches("opened", alert)
    assert Filters(severities=("warning",), kinds=("device_silent",)).matches("opened", alert)
    assert not Filters(severities=("critical",)).matches("opened", alert)
    assert not Filters(kinds=("inventory_below_pledge",)).matches("opened", alert)
    assert not Filters(events=("resolved",)).matches("opened", alert)
    assert not Filters(borrowers=("b2",)).matches("opened", alert)
    assert Filters.from_dict(Filters(events=("resolved",)).to_dict()) == Filters(
        events=("resolved",)
    )


def test_each_change_is_named_by_what_changed() -> None:
    opened = {**ALERT, "severity": "warning", "status": "open"}
    assert change_event(None, opened) == "opened"
    assert change_event(opened, {**opened, "severity": "critical"}) == "escalated"
    assert change_event(opened, {**opened, "severity": "info"}) == "updated"
    assert change_event(opened, {**opened, "status": "acknowledged"}) == "acknowledged"
    assert change_event(opened, {**opened, "status": "resolved"}) == "resolved"
    assert change_event(opened, dict(opened)) == "updated"


def test_a_signature_holds_only_for_its_secret_body_and_time() -> None:
    body, now = b'{"event":"opened"}', 1_800_000_000
    header = signature("whsec_x", now, body)
    assert header.startswith("v1=") and len(header) == 3 + 64
    assert verify("whsec_x", str(now), header, body, now + 299)
    assert not verify("whsec_x", str(now), header, body, now + 301)  # a replay, later
    assert not verify("whsec_x", str(now), header, body + b" ", now)
    assert not verify("whsec_y", str(now), header, body, now)
    assert not verify("whsec_x", str(now + 1), header, body, now)  # another timestamp
    assert not verify("whsec_x", "soon", header, body, now)


def test_the_borrower_link_escapes_ids() -> None:
    alert = {"id": "a/1", "borrower_id": "b 1#x"}
    assert borrower_link("https://risk.example/", alert) == (
        "https://risk.example/#/borrower/b%201%23x?alert=a%2F1"
    )


def test_the_documented_receiver_check_accepts_our_signature_and_nothing_else() -> None:
    page = Path(__file__).resolve().parents[3] / "docs" / "user-guide" / "notifications.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), re.DOTALL)
    [example] = [b for b in blocks if "def authentic" in b]
    namespace: dict[str, Any] = {}
    exec(example.replace('b"whsec_..."', 'b"whsec_doc"'), namespace)
    authentic = namespace["authentic"]
    body, now = b'{"event":"opened"}', int(time.time())
    headers = {
        "X-Riskstream-Timestamp": str(now),
        "X-Riskstream-Signature": signature("whsec_doc", now, body),
    }
    assert authentic(headers, body)
    assert not authentic(headers, body + b"x")
    assert not authentic({**headers, "X-Riskstream-Timestamp": str(now - 600)}, body)
    assert not authentic({"X-Riskstream-Timestamp": str(now)}, body)
