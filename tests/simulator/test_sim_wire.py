"""Payloads on the wire: the ingest codec decodes them, signatures verify, batches are a gateway's."""

import hashlib
import hmac
import json
from collections import defaultdict
from typing import Any

import orjson
import pytest

from devices.model import Fleet
from ingest.codec import decode_payload, event_time
from simulator.message import Message
from simulator.scenarios import plan_scenarios
from simulator.telemetry import generate
from simulator.wire import MAX_BATCH, Packer, Packet, forged_key, sign
from tests.simulator.conftest import DAY, MONDAY


def _verify(obj: dict[str, Any], secret: str) -> bool:
    """DESIGN.md, written out independently: HMAC-SHA256 over the object without ``sig``,
    keys sorted, separators ',' and ':', UTF-8; keyed with the device secret."""
    body = {k: v for k, v in obj.items() if k != "sig"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()
    return hmac.compare_digest(digest, obj["sig"])


@pytest.fixture(scope="module")
def stream(small_fleet: Fleet) -> list[Message]:
    end = MONDAY + DAY / 2
    assign = {"b001": "spoof", "b002": "replay", "b003": "device_silent"}
    plan = plan_scenarios(small_fleet, seed=4, start_ts=MONDAY, end_ts=end, assign=assign)
    return list(generate(small_fleet, plan, MONDAY, end, seed=1))


def _secrets(fleet: Fleet) -> dict[str, str]:
    return {d.id: d.secret for d in fleet.devices() if d.secret}


@pytest.mark.parametrize("batch", [1, 7])
def test_every_telemetry_payload_decodes_under_the_ingest_codec(
    small_fleet: Fleet, stream: list[Message], batch: int
) -> None:
    packets = list(Packer("demo-bank", batch=batch).packets(stream))
    readings = 0
    for p in packets:
        _, tenant, _, kind = p.topic.rsplit("/", 3)
        assert tenant == "demo-bank"
        if not p.is_telemetry:
            assert kind == "status" and p.payload in (b"online", b"offline") and p.retain
            continue
        assert kind == "telemetry" and not p.retain
        objects = decode_payload(p.payload)
        assert 1 <= len(objects) <= batch
        assert sum(len(o.values) for o in objects) == p.readings
        readings += p.readings
        for o in objects:
            assert event_time(o.ts) == o.ts and o.seq is not None and o.sig is None
    assert readings == sum(len(m.values) for m in stream)


def test_batches_hold_consecutive_reports_of_one_device(stream: list[Message]) -> None:
    batch = 5
    packets = [p for p in Packer("t", batch=batch).packets(stream) if p.is_telemetry]
    sent: dict[str, list[tuple[float, int]]] = defaultdict(list)
    sizes: list[int] = []
    forged = 0
    for p in packets:
        device = p.topic.split("/")[3]
        payload = orjson.loads(p.payload)
        if isinstance(payload, dict):
            forged += 1
            continue
        sizes.append(len(payload))
        assert p.send_ts >= max(o["ts"] for o in payload)
        sent[device].extend((o["ts"], o["seq"]) for o in payload)
    reports: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for m in stream:
        if m.kind == "telemetry":
            reports[m.device_id].append((m.ts, m.seq))
    assert sent == reports, "each device's batches are its reports, in order, none lost"
    assert forged == sum(1 for m in stream if m.kind == "forged") > 0
    assert max(sizes) == batch
    assert sizes.count(batch) > 10 * (len(sizes) - sizes.count(batch)) > 0


def test_signatures_verify_with_the_device_secret_and_forgeries_do_not(
    small_fleet: Fleet, stream: list[Message]
) -> None:
    secrets = _secrets(small_fleet)
    for batch, until in ((1, MONDAY + DAY), (4, MONDAY + DAY / 8)):
        genuine = forged = 0
        for p in Packer("demo-bank", batch=batch, secrets=secrets).packets(stream):
            if not p.is_telemetry or p.send_ts > until:
                continue
            device = p.topic.split("/")[3]
            payload = orjson.loads(p.payload)
            for obj in payload if isinstance(payload, list) else [payload]:
                assert isinstance(obj["sig"], str) and len(obj["sig"]) == 64
                if _verify(obj, secrets[device]):
                    genuine += 1
                else:
                    assert _verify(obj, forged_key(device)), "a forgery, signed with a wrong key"
                    forged += 1
            assert all(o.sig is not None for o in decode_payload(p.payload))
        if batch == 1:
            assert forged == sum(1 for m in stream if m.kind == "forged") > 0
            assert genuine == sum(1 for m in stream if m.kind == "telemetry")
        else:
            assert genuine > 500


def test_replayed_messages_go_out_byte_for_byte(small_fleet: Fleet, stream: list[Message]) -> None:
    secrets = _secrets(small_fleet)
    payloads = [p.payload for p in Packer("t", secrets=secrets).packets(stream) if p.is_telemetry]
    seen: set[tuple[str, int, float]] = set()
    replayed = 0
    for m in stream:
        if m.kind == "telemetry":
            key = (m.device_id, m.seq, m.ts)
            replayed += key in seen
            seen.add(key)
    assert len(payloads) - len(set(payloads)) == replayed > 0, "replays are exact copies"


def test_birth_before_first_telemetry_and_last_will_for_a_silent_device(
    stream: list[Message],
) -> None:
    packets: list[Packet] = list(Packer("t").packets(stream))
    seen: set[str] = set()
    for p in packets:
        device = p.topic.split("/")[3]
        if p.is_telemetry:
            assert device in seen
        elif p.payload == b"online":
            seen.add(device)
    offline = [p for p in packets if p.payload == b"offline"]
    assert [p.topic for p in offline] == [
        "rs/v1/t/" + m.device_id + "/status" for m in stream if m.kind == "offline"
    ]
    assert len(offline) == 1


def test_sign_matches_the_design_and_batch_limits() -> None:
    obj = {"ts": 1795671585.123, "seq": 42, "values": {"weight_kg": 118250.0, "door_open": 0.0}}
    signed = {**obj, "sig": sign(obj, "s3cret")}
    assert _verify(signed, "s3cret") and not _verify(signed, "other")
    with pytest.raises(ValueError, match="batch must be between 1 and"):
        Packer("t", batch=0)
    with pytest.raises(ValueError, match="batch must be between 1 and"):
        Packer("t", batch=MAX_BATCH + 1)
