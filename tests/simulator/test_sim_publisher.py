"""The MQTT publisher, against an in-memory fake link (no network)."""

import asyncio
import logging
import time
from types import TracebackType

import orjson
import pytest

from simulator import publisher
from simulator.errors import BrokerUnavailableError, BrokerUrlError
from simulator.message import Message
from simulator.mqtt_link import LinkError
from simulator.publisher import parse_broker_url, publish
from simulator.wire import sign


class FakeBroker:
    """Records what was published; can refuse connections or drop one after some publishes."""

    def __init__(self, fail_connects: int = 0, drop_after: int | None = None) -> None:
        self.fail_connects = fail_connects
        self.drop_after = drop_after
        self.log: list[tuple[str, bytes, int, bool]] = []
        self.connects = 0

    def factory(self) -> "FakeLink":
        return FakeLink(self)


class FakeLink:
    """A link that acknowledges everything on the next turn of the event loop."""

    def __init__(self, broker: FakeBroker) -> None:
        self.broker = broker
        self.pending: list[int] = []
        self.mid = 0

    async def __aenter__(self) -> "FakeLink":
        self.broker.connects += 1
        if self.broker.fail_connects > 0:
            self.broker.fail_connects -= 1
            raise LinkError("cannot connect: connection refused")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def send(self, topic: str, payload: bytes, qos: int, retain: bool) -> int:
        b = self.broker
        if b.drop_after is not None and len(b.log) >= b.drop_after:
            b.drop_after = None
            raise LinkError("connection lost")
        b.log.append((topic, payload, qos, retain))
        self.mid += 1
        self.pending.append(self.mid)
        return self.mid

    def take_acked(self) -> list[int]:
        acked, self.pending = self.pending, []
        return acked

    async def wait(self) -> None:
        await asyncio.sleep(0)


def _messages(n: int, devices: int = 3, step: float = 1.0) -> list[Message]:
    return [
        Message(100.0 + i * step, f"dev-{i % devices}", i // devices + 1, {"weight_kg": float(i)})
        for i in range(n)
    ]


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(publisher, "RECONNECT_MIN_S", 0.0)
    monkeypatch.setattr(publisher, "MAX_IN_FLIGHT", 8)


def test_parse_broker_url() -> None:
    assert parse_broker_url("mqtt://localhost:1884") == ("localhost", 1884)
    assert parse_broker_url("mqtt://broker.example") == ("broker.example", 1883)
    for bad in ("http://x:1", "mqtt://:1883", "mqtt://h:notaport", "localhost:1883", "mqtt://h/x"):
        with pytest.raises(ValueError, match="expected mqtt://host"):
            parse_broker_url(bad)
    with pytest.raises(BrokerUrlError):
        parse_broker_url("mqtt://h:99999")


async def test_publishes_json_and_announces_each_device_once() -> None:
    broker = FakeBroker()
    progress: list[tuple[int, float]] = []
    n = await publish(
        _messages(30),
        tenant="t1",
        host="h",
        port=1,
        speed=0,
        start_ts=100.0,
        qos=1,
        client_factory=broker.factory,
        on_progress=lambda count, ts: progress.append((count, ts)),
    )
    assert n == 30
    status = [e for e in broker.log if e[0].endswith("/status")]
    assert sorted(e[0] for e in status) == [f"rs/v1/t1/dev-{i}/status" for i in range(3)]
    assert all(e[1] == b"online" and e[3] for e in status)
    for i, (topic, _payload, qos, retain) in enumerate(broker.log):
        if topic.endswith("/telemetry"):
            assert qos == 1
            assert not retain
            assert (topic.rsplit("/", 1)[0] + "/status", b"online", 1, True) in broker.log[:i]
    telemetry = [orjson.loads(e[1]) for e in broker.log if e[0] == "rs/v1/t1/dev-0/telemetry"]
    assert telemetry[0] == {"ts": 100.0, "seq": 1, "values": {"weight_kg": 0.0}}
    assert [t["seq"] for t in telemetry] == list(range(1, 11))
    assert progress[-1] == (30, 129.0)


async def test_reconnects_and_resends_unacknowledged(caplog: pytest.LogCaptureFixture) -> None:
    broker = FakeBroker(fail_connects=1, drop_after=12)
    with caplog.at_level(logging.WARNING, logger="simulator.publisher"):
        n = await publish(
            _messages(40),
            tenant="t1",
            host="h",
            port=1,
            speed=0,
            start_ts=100.0,
            client_factory=broker.factory,
        )
    assert n == 40
    assert broker.connects == 3
    seen = {(e[0], orjson.loads(e[1])["seq"]) for e in broker.log if e[0].endswith("/telemetry")}
    assert len(seen) == 40
    assert "connection refused" in caplog.text
    assert "connection lost" in caplog.text
    assert "reconnected to MQTT broker h:1 after 1 failed attempt(s)" in caplog.text
    assert all(r.exc_info is None for r in caplog.records)


async def test_paces_event_time_by_speed() -> None:
    broker = FakeBroker()
    began = time.monotonic()
    # 10 messages 1 s apart in event time at 40x: about 0.225 s of wall time
    n = await publish(
        _messages(10), tenant="t1", host="h", port=1, speed=40.0, start_ts=100.0,
        client_factory=broker.factory,
    )  # fmt: skip
    elapsed = time.monotonic() - began
    assert n == 10
    assert 0.2 <= elapsed < 1.0


async def test_stop_event_ends_early() -> None:
    broker = FakeBroker()
    stop = asyncio.Event()

    async def stopper() -> None:
        await asyncio.sleep(0.1)
        stop.set()

    task = asyncio.create_task(stopper())
    n = await publish(
        _messages(100), tenant="t1", host="h", port=1, speed=10.0, start_ts=100.0,
        stop=stop, client_factory=broker.factory,
    )  # fmt: skip
    await task
    assert 1 <= n < 10


async def test_gives_up_after_the_retry_time_with_a_clear_error(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publisher, "RECONNECT_MIN_S", 0.05)
    broker = FakeBroker(fail_connects=1000)
    with (
        caplog.at_level(logging.WARNING, logger="simulator.publisher"),
        pytest.raises(
            BrokerUnavailableError, match=r"MQTT broker h:1 unreachable for \d+ s, gave up"
        ),
    ):
        await publish(
            _messages(5), tenant="t1", host="h", port=1, speed=0, start_ts=100.0,
            client_factory=broker.factory, give_up_after=0.3,
        )  # fmt: skip
    assert 2 <= broker.connects <= 5
    assert caplog.text.count("retrying in") == broker.connects - 1


async def test_batches_and_signs_what_it_publishes() -> None:
    broker = FakeBroker()
    secrets = {"dev-0": "k0", "dev-1": "k1", "dev-2": "k2"}
    n = await publish(
        _messages(30), tenant="t1", host="h", port=1, speed=0, start_ts=100.0,
        client_factory=broker.factory, batch=4, secrets=secrets,
    )  # fmt: skip
    telemetry = [(t, orjson.loads(p)) for t, p, _, _ in broker.log if t.endswith("/telemetry")]
    assert n == len(telemetry) == 9  # 10 reports per device: 4 + 4 + 2
    for topic, payload in telemetry:
        device = topic.split("/")[3]
        assert isinstance(payload, list) and 1 <= len(payload) <= 4
        for obj in payload:
            body = {k: v for k, v in obj.items() if k != "sig"}
            assert obj["sig"] == sign(body, secrets[device])
    seqs = [o["seq"] for t, p in telemetry if t == "rs/v1/t1/dev-0/telemetry" for o in p]
    assert seqs == list(range(1, 11))


async def test_status_messages_and_forgeries_go_out_as_generated() -> None:
    broker = FakeBroker()
    stream = [
        Message(100.0, "dev-0", 1, {"weight_kg": 1.0}),
        Message(130.0, "dev-0", 2, {"weight_kg": 2.0}, "forged"),
        Message(160.0, "dev-0", 2, {"weight_kg": 3.0}),
        Message(100.0, "dev-0", 1, {"weight_kg": 1.0}),
        Message(250.0, "dev-0", 0, {}, "offline"),
    ]
    n = await publish(
        stream, tenant="t1", host="h", port=1, speed=0, start_ts=100.0,
        client_factory=broker.factory, secrets={"dev-0": "k"},
    )  # fmt: skip
    assert n == 4
    sent = [(t.rsplit("/", 1)[1], p) for t, p, _, _ in broker.log]
    assert [kind for kind, _ in sent] == ["status", *["telemetry"] * 4, "status"]
    assert sent[0][1] == b"online" and sent[-1][1] == b"offline"
    first, forged, second, replayed = (orjson.loads(p) for _, p in sent[1:5])
    assert replayed == first, "a replay is the same bytes"
    assert forged["seq"] == second["seq"] == 2
    body = {k: v for k, v in forged.items() if k != "sig"}
    assert forged["sig"] != sign(body, "k")
