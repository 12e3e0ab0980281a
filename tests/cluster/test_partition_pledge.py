"""Double pledge across risk partitions, without a server: the two borrowers of a
simulated double pledge sit in different partitions, which tell each other their lot
moves through a stand-in of the moves stream (a list, read from a position). The alerts
are those of one partition holding every borrower, however late the moves arrive, and
when the origin's owner is replaced mid-stream by one that restores its checkpoint and
reads the moves again from the position it covers."""

from collections.abc import Callable

import pytest

from devices.model import Fleet
from devices.reading import Reading
from riskstream.cluster.layout import partition_of
from riskstream.cluster.messages import MoveMessage, RiskMessage, decode_move, encode_move
from riskstream.cluster.partition_engine import PartitionEngine
from riskstream.engine.alerts import Alert
from riskstream.rules.schema import RuleSet
from simulator import generate_fleet, plan_scenarios
from simulator.telemetry import generate

SEED = 6
START = 1_795_000_000.0
DAY = 86_400.0
PARTITIONS = 16
KEY = b"k" * 32
Found = tuple[str, str, str, float, str]


class FakeWall:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return generate_fleet(6, SEED)


@pytest.fixture(scope="module")
def stream(fleet: Fleet) -> list[RiskMessage]:
    """The day's telemetry as risk messages of one ingest partition, in send order."""
    plan = plan_scenarios(fleet, SEED, START, START + DAY, rate=0.6)
    pledges = [i for i in plan if i.scenario == "double_pledge"]
    assert pledges, "the day has a double pledge"
    tenant = fleet.tenant.id
    found: list[RiskMessage] = []
    for m in generate(fleet, plan, START, START + DAY, SEED):
        if m.kind == "telemetry" and m.values:
            readings = [
                Reading(tenant, m.device_id, m.ts, k, v, m.seq) for k, v in m.values.items()
            ]
            found.append(RiskMessage(readings, source=0, seq=len(found) + 1))
    return found


def borrower_of(fleet: Fleet, device_id: str) -> str:
    return next(b.id for b in fleet.borrowers for d in b.devices if d.id == device_id)


class Partition:
    """One owner of a risk partition: its readings, and the moves log read from a position."""

    def __init__(self, fleet: Fleet, partition: int, partitions: int, wall: FakeWall) -> None:
        self.engine = PartitionEngine(
            partition, partitions, [fleet], RuleSet(), None, wall, sources=1
        )
        self.final: dict[str, Alert] = {}

    def keep(self, changed: list[Alert]) -> None:
        for alert in changed:
            self.final[alert.id] = alert

    def read_moves(self, log: list[bytes], upto: int) -> None:
        """Take the moves log's messages after the one covered, up to ``upto``."""
        first = self.engine.moves_seq + 1
        told = [(decode_move(log[seq - 1]), seq) for seq in range(first, upto + 1)]
        self.keep(self.engine.apply_moves(told))


def run(
    fleet: Fleet,
    stream: list[RiskMessage],
    partitions: int,
    lag: int = 0,
    replace_at: Callable[[int], int | None] = lambda n: None,
) -> tuple[set[Found], list[bytes]]:
    """Feed every partition its borrowers' messages; a partition reads the moves log up
    to what was in it ``lag`` messages before. ``replace_at(n)``: the partition whose
    owner is replaced by a restored one after message n (None: none)."""
    wall = FakeWall()
    by_partition = {
        p: Partition(fleet, p, partitions, wall)
        for p in {partition_of(fleet.tenant.id, b.id, partitions) for b in fleet.borrowers}
    }
    log: list[bytes] = []
    log_size_at: list[int] = []
    lost: dict[str, Alert] = {}
    for n, message in enumerate(stream, 1):
        wall.now += 0.002
        borrower = borrower_of(fleet, message.readings[0].device_id)
        owner = by_partition[partition_of(fleet.tenant.id, borrower, partitions)]
        owner.keep(owner.engine.apply(message, n))
        if n % 200 == 0:
            for part in by_partition.values():
                part.keep(part.engine.tick())
        for part in by_partition.values():
            log.extend(encode_move(m) for m in part.engine.take_moves())
        log_size_at.append(len(log))
        visible = log_size_at[n - 1 - lag] if n > lag else 0
        for part in by_partition.values():
            part.read_moves(log, visible)
        replaced = replace_at(n)
        if replaced is not None:
            saved = by_partition[replaced].engine.checkpoint(KEY)
            lost.update(by_partition[replaced].final)
            fresh = Partition(fleet, replaced, partitions, wall)
            fresh.engine.restore(saved, KEY)
            fresh.final = dict(by_partition[replaced].final)
            by_partition[replaced] = fresh
    wall.now += 1
    for part in by_partition.values():
        part.keep(part.engine.tick())
        part.read_moves(log, len(log))
        assert part.engine.held == 0
        assert part.engine.moves_refused == 0
    final = {a.id: a for part in by_partition.values() for a in part.final.values()}
    return {(a.kind, a.borrower_id, a.subject, a.opened_at, a.status) for a in final.values()}, log


def test_the_double_pledge_borrowers_sit_in_different_partitions(fleet: Fleet) -> None:
    plan = plan_scenarios(fleet, SEED, START, START + DAY, rate=0.6)
    pledge = next(i for i in plan if i.scenario == "double_pledge")
    counterpart = pledge.counterpart_device_id
    assert counterpart is not None
    origin = partition_of(fleet.tenant.id, pledge.borrower_id, PARTITIONS)
    other = partition_of(fleet.tenant.id, borrower_of(fleet, counterpart), PARTITIONS)
    assert origin != other


@pytest.mark.parametrize("lag", [0, 4_000, 40_000])
def test_partitions_that_tell_each_other_their_moves_raise_the_alerts_of_one(
    fleet: Fleet, stream: list[RiskMessage], lag: int
) -> None:
    one, _ = run(fleet, stream, 1)
    assert any(kind == "double_pledge" for kind, *_ in one)
    split, log = run(fleet, stream, PARTITIONS, lag)
    assert split == one
    pledges = [f for f in split if f[0] == "double_pledge"]
    assert len(pledges) == 1 and pledges[0][4] == "resolved", "raised once, resolved on return"
    assert log, "moves went through the stream"


def test_an_origin_owner_replaced_mid_stream_raises_it_once(
    fleet: Fleet, stream: list[RiskMessage]
) -> None:
    one, _ = run(fleet, stream, 1)
    plan = plan_scenarios(fleet, SEED, START, START + DAY, rate=0.6)
    pledge = next(i for i in plan if i.scenario == "double_pledge")
    origin = partition_of(fleet.tenant.id, pledge.borrower_id, PARTITIONS)
    # between the loss and the goods' arrival, and again while they are away
    during = [
        n
        for n, m in enumerate(stream, 1)
        if pledge.start_ts < m.readings[0].ts < (pledge.end_ts or START + DAY)
    ]
    cuts = {during[len(during) // 4], during[len(during) // 2]}
    split, _ = run(fleet, stream, PARTITIONS, 2_000, lambda n: origin if n in cuts else None)
    assert split == one


def test_a_forged_move_is_refused(fleet: Fleet) -> None:
    """A move naming a lot of another borrower than it says, or a partition that is not
    its borrower's, changes nothing; nor does one that is not finite or not a move."""
    wall = FakeWall()
    borrower = fleet.borrowers[0]
    lot = borrower.loans[0].collateral[0]
    home = partition_of(fleet.tenant.id, borrower.id, PARTITIONS)
    other = next(
        p
        for p in range(PARTITIONS)
        if any(partition_of(fleet.tenant.id, b.id, PARTITIONS) == p for b in fleet.borrowers)
        and p != home
    )
    elsewhere = next(p for p in range(PARTITIONS) if p not in (home, other))
    part = Partition(fleet, other, PARTITIONS, wall)
    good = MoveMessage(fleet.tenant.id, borrower.id, lot.id, 5e4, 1.0, 2.0, 3.0, True, home)
    forged = [
        MoveMessage(fleet.tenant.id, "b999", lot.id, 5e4, 1.0, 2.0, 3.0, True, home),
        MoveMessage(fleet.tenant.id, borrower.id, lot.id, 5e4, 1.0, 2.0, 3.0, True, elsewhere),
        MoveMessage("another-bank", borrower.id, lot.id, 5e4, 1.0, 2.0, 3.0, True, home),
        MoveMessage(fleet.tenant.id, borrower.id, "no-such-lot", 5e4, 1.0, 2.0, 3.0, True, home),
    ]
    assert part.engine.apply_moves([(m, n) for n, m in enumerate(forged, 1)]) == []
    assert part.engine.moves_refused == len(forged)
    assert part.engine.moves_seq == len(forged)
    assert part.engine.apply_moves([(good, 5)]) == []
    assert part.engine.moves_refused == len(forged)
    for bad in (
        MoveMessage(fleet.tenant.id, borrower.id, lot.id, float("nan"), 1.0, 2.0, 3.0, True, 0),
        MoveMessage(fleet.tenant.id, borrower.id, lot.id, 5e4, 3.0, 2.0, 1.0, True, 0),
        MoveMessage(fleet.tenant.id, borrower.id, lot.id, 0.0, 1.0, 2.0, 3.0, True, 0),
        MoveMessage(fleet.tenant.id, borrower.id, "x" * 200, 5e4, 1.0, 2.0, 3.0, True, 0),
    ):
        with pytest.raises(ValueError):
            decode_move(encode_move(bad))
    with pytest.raises(ValueError):
        decode_move(b"\x93\x01\x02\x03")
