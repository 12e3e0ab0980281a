"""A risk partition's engine fed by several ingest partitions that run at different
speeds: the same alerts as readings fed in event-time order, and the same after a
checkpoint taken mid-stream is restored by another owner."""

import zlib
from collections.abc import Iterator

import pytest

from devices.model import Fleet
from devices.reading import Reading
from riskstream.cluster.messages import RiskMessage
from riskstream.cluster.partition_engine import PartitionEngine
from riskstream.engine.alerts import Alert
from riskstream.rules.schema import RuleSet
from simulator import generate_fleet, plan_scenarios
from simulator.telemetry import generate

SEED = 3
START = 1_795_000_000.0
DAY = 86_400.0
PARTITIONS = 2
SOURCES = 4
LAG_S = 900.0
"""Event time by which each further ingest partition runs behind the one before."""
KEY = b"k" * 32

Arrival = tuple[int, float, int, list[Reading]]  # source, event time, telemetry seq, readings


class FakeWall:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return generate_fleet(6, SEED)


@pytest.fixture(scope="module")
def arrivals(fleet: Fleet) -> list[Arrival]:
    """Every telemetry message of one simulated day as (ingest partition, event time,
    readings), in send order."""
    plan = plan_scenarios(fleet, SEED, START, START + DAY, rate=0.6)
    tenant = fleet.tenant.id
    found: list[Arrival] = []
    for m in generate(fleet, plan, START, START + DAY, SEED):
        if m.kind != "telemetry" or not m.values:
            continue
        readings = [Reading(tenant, m.device_id, m.ts, k, v, m.seq) for k, v in m.values.items()]
        source = zlib.crc32(m.device_id.encode()) % SOURCES
        found.append((source, m.ts, len(found) + 1, readings))
    return found


def skewed(arrivals: list[Arrival]) -> list[Arrival]:
    """The order a risk partition meets them in when ingest partition k runs k x LAG_S
    behind the first (each one's own messages stay in order)."""
    return sorted(arrivals, key=lambda a: (a[1] + a[0] * LAG_S, a[2]))


def messages(arrivals: list[Arrival]) -> Iterator[RiskMessage]:
    """Each arrival as a risk message; every 40 of them, a heartbeat of the ingest workers
    (one working the even partitions, one the odd) saying up to which telemetry sequence
    number each partition has handed everything on (just before its next message); at
    the end, all of them."""
    pending = {s: sorted(seq for src, _, seq, _ in arrivals if src == s) for s in range(SOURCES)}
    done = dict.fromkeys(range(SOURCES), 0)
    last = max(seq for _, _, seq, _ in arrivals)
    for n, (source, _, seq, readings) in enumerate(arrivals):
        yield RiskMessage(readings, source=source, seq=seq)
        done[source] += 1
        if n % 40 == 39:
            throughs = {
                s: seqs[done[s]] - 1 if done[s] < len(seqs) else last for s, seqs in pending.items()
            }
            for worker in (0, 1):
                yield RiskMessage(
                    [], throughs={s: v for s, v in throughs.items() if s % 2 == worker}
                )
    yield RiskMessage([], throughs=dict.fromkeys(range(SOURCES), last))


class Run:
    """One owner of a partition: feeds messages with a fake wall clock."""

    def __init__(self, fleet: Fleet, partition: int) -> None:
        self.wall = FakeWall()
        self.engine = PartitionEngine(
            partition, PARTITIONS, [fleet], RuleSet(), None, self.wall, sources=SOURCES
        )
        self.final: dict[str, Alert] = {}

    def feed(self, batch: list[RiskMessage], first_seq: int) -> None:
        for offset, message in enumerate(batch):
            self.wall.now += 0.002
            self._keep(self.engine.apply(message, first_seq + offset))
            if offset % 200 == 0:
                self._keep(self.engine.tick())

    def finish(self) -> None:
        self.wall.now += 1
        self._keep(self.engine.tick())
        assert self.engine.held == 0

    def _keep(self, changed: list[Alert]) -> None:
        for alert in changed:
            self.final[alert.id] = alert

    def alerts(self) -> set[tuple[str, str, str, float, str]]:
        return {
            (a.kind, a.borrower_id, a.subject, a.opened_at, a.status) for a in self.final.values()
        }


@pytest.mark.parametrize("partition", range(PARTITIONS))
def test_skewed_ingest_partitions_give_the_alerts_of_event_time_order(
    fleet: Fleet, arrivals: list[Arrival], partition: int
) -> None:
    in_order = Run(fleet, partition)
    in_order.feed(list(messages(arrivals)), 1)
    in_order.finish()
    late = Run(fleet, partition)
    late.feed(list(messages(skewed(arrivals))), 1)
    late.finish()
    assert in_order.alerts(), "the day's scenarios raise alerts in this partition"
    assert late.alerts() == in_order.alerts()


@pytest.mark.parametrize("partition", range(PARTITIONS))
def test_an_owner_that_restores_a_checkpoint_raises_the_same_alerts(
    fleet: Fleet, arrivals: list[Arrival], partition: int
) -> None:
    stream = list(messages(skewed(arrivals)))
    whole = Run(fleet, partition)
    whole.feed(stream, 1)
    whole.finish()

    half = len(stream) // 2
    first = Run(fleet, partition)
    first.feed(stream[:half], 1)
    saved = first.engine.checkpoint(KEY)
    assert first.engine.held > 0, "the checkpoint is taken with readings held back"
    second = Run(fleet, partition)
    second.engine.restore(saved, KEY)
    assert second.engine.covered_seq == half
    second.final = dict(first.final)
    second.feed(stream[half:], half + 1)
    second.finish()
    assert second.alerts() == whole.alerts()


def test_an_acknowledgement_in_the_stream_keeps_later_updates_acknowledged(
    fleet: Fleet, arrivals: list[Arrival]
) -> None:
    stream = list(messages(arrivals))
    run = Run(fleet, 0)
    for n, message in enumerate(stream, 1):
        run.feed([message], n)
        opened = [a for a in run.final.values() if a.status == "open"]
        if opened:
            break
    assert opened, "an alert opens in partition 0"
    alert = opened[0]
    action = RiskMessage([], actions=[("acknowledge", alert.tenant, alert.id)])
    run.feed([action, *stream[n:]], n + 1)
    run.finish()
    assert run.final[alert.id].status in {"acknowledged", "resolved"}
    assert all(a.status != "open" for a in run.final.values() if a.id == alert.id), (
        "no later update reopened it"
    )
