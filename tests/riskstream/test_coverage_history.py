"""The coverage history a risk partition's engine keeps for the API tier's coverage chart:
each load cell's last weight per 15-minute bucket of event time for 24 h, a lot's coverage
per bucket from them whatever order its cells' readings interleave in, bounded per
borrower, kept in checkpoints, and refused when a state's history cannot be true."""

import random
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.model import Fleet
from devices.reading import Reading
from riskstream.cluster.layout import live_state_key, partition_of
from riskstream.cluster.live_states import HISTORY_EVERY_S, LiveStateCache, LiveStateSender
from riskstream.cluster.messages import RiskMessage
from riskstream.cluster.partition_engine import PartitionEngine
from riskstream.engine.checkpoint import read_state, write_state
from riskstream.engine.core import Engine
from riskstream.engine.coverage_history import (
    BUCKET_S,
    BUCKETS,
    MAX_LOTS,
    MAX_POINTS,
    CoverageHistory,
    LotHistory,
    bounded,
)
from riskstream.engine.fleet_index import FleetIndex
from riskstream.engine.live_state import (
    MAX_STATE_BYTES,
    borrower_state,
    decode_state,
    encode_state,
)
from riskstream.rules.schema import RuleSet
from tests.fleets import small_fleet
from tests.riskstream.test_live_state import Clock

T0 = 1_795_000_500.0  # inside a bucket, 500 s after its start
B0 = (T0 // BUCKET_S) * BUCKET_S
"""Start of the bucket of T0."""
KEY = b"k" * 32


def warehouse(lots: int, cells: int, tenant: str = "bank-a") -> Fleet:
    """One borrower b1 with ``lots`` lots of 1,000 t each weighed by ``cells`` load cells."""
    collateral = [
        {"id": f"c{i:04d}", "quantity": 1000, "unit": "t", "unit_value": 8000,
         "advance_rate": 0.7, "site": "w1"}
        for i in range(lots)
    ]  # fmt: skip
    devices = [
        {"id": f"c{i:04d}-d{j}", "kind": "load_cell", "site": "w1", "collateral": f"c{i:04d}",
         "interval_s": 60}
        for i in range(lots)
        for j in range(cells)
    ]  # fmt: skip
    return Fleet.model_validate(
        {
            "tenant": {"id": tenant, "name": tenant},
            "borrowers": [
                {
                    "id": "b1",
                    "loans": [{"id": "l1", "principal": 1_000_000, "collateral": collateral}],
                    "sites": [{"id": "w1", "kind": "warehouse"}],
                    "devices": devices,
                }
            ],
        }
    )


def _keeping(fleet: Fleet) -> Engine:
    engine = Engine([fleet], RuleSet())
    engine.coverage.keep_history()
    return engine


def _weight(device: str, ts: float, kg: float, tenant: str = "bank-a") -> Reading:
    return Reading(tenant, device, ts, "weight_kg", kg, None)


def test_a_lots_coverage_per_bucket_is_its_cells_last_weights_over_the_pledge() -> None:
    engine = _keeping(warehouse(1, 2))
    engine.process(
        [
            _weight("c0000-d0", T0, 400_000.0),
            _weight("c0000-d0", T0 + 100, 450_000.0),  # the bucket's last
            _weight("c0000-d1", T0 + BUCKET_S, 500_000.0),  # both cells from bucket 1 on
            _weight("c0000-d0", T0 + 3 * BUCKET_S, 300_000.0),  # d1 carried on
        ]
    )
    [history] = engine.coverage.history_of_borrower("b1")
    assert history.collateral_id == "c0000" and history.every_s == BUCKET_S
    assert history.points() == [
        (B0 + BUCKET_S, 0.95),
        (B0 + 2 * BUCKET_S, 0.95),
        (B0 + 3 * BUCKET_S, 0.8),
    ]
    # the latest bucket agrees with the lot's coverage now
    lot = engine.coverage.lot("c0000")
    assert lot is not None and round(lot.coverage, 4) == history.points()[-1][1]


def test_a_cell_below_tare_or_reporting_absurd_weights_still_gives_a_state_taken() -> None:
    engine = _keeping(warehouse(1, 1))
    engine.process(
        [
            _weight("c0000-d0", T0, -2_000.0),  # empty, the cell 2 t off its tare
            _weight("c0000-d0", T0 + BUCKET_S, 1e39),  # beyond a 4-byte float
            _weight("c0000-d0", T0 + 2 * BUCKET_S, 1e300),
        ]
    )
    state = decode_state(encode_state(borrower_state(engine, "b1")))
    [history] = state.coverage_history
    assert [v for _, v in history.points()] == [-0.002, 1000.0, 1000.0]


def test_an_engine_keeps_no_history_unless_asked() -> None:
    engine = Engine([warehouse(1, 1)], RuleSet())
    engine.process([_weight("c0000-d0", T0, 400_000.0)])
    assert engine.coverage.history is None
    assert engine.coverage.history_of_borrower("b1") == []
    assert borrower_state(engine, "b1").coverage_history == []


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False))
def test_the_history_does_not_depend_on_how_the_cells_readings_interleave(
    rnd: random.Random,
) -> None:
    """A cluster partition may get a lot's cells from different ingest partitions: each
    cell's readings in order, the cells interleaved any way."""
    cells = [f"c0000-d{j}" for j in range(3)]
    per_cell = {
        cell: [_weight(cell, T0 + k * 377.0 + j * 13, 300_000.0 + 1000 * ((k * 7 + j) % 11))
               for k in range(400)]
        for j, cell in enumerate(cells)
    }  # fmt: skip
    in_time = sorted((r for rs in per_cell.values() for r in rs), key=lambda r: r.ts)
    queues = {cell: list(rs) for cell, rs in per_cell.items()}
    shuffled = []
    while queues:
        cell = rnd.choice(sorted(queues))
        shuffled.append(queues[cell].pop(0))
        if not queues[cell]:
            del queues[cell]
    one, other = _keeping(warehouse(1, 3)), _keeping(warehouse(1, 3))
    one.process(in_time)
    other.process(shuffled)
    assert one.coverage.history_of_borrower("b1") == other.coverage.history_of_borrower("b1")
    [history] = one.coverage.history_of_borrower("b1")
    assert len(history.values) == BUCKETS  # 42 h of readings: the last 24 h kept


def test_a_day_of_silence_starts_afresh_and_a_late_reading_fills_its_bucket() -> None:
    lot = FleetIndex([warehouse(1, 1)]).collateral["c0000"]  # 1,000 t: 1,000,000 kg
    history = CoverageHistory()
    assert history.of_lot(lot) is None
    history.observe("c0000-d0", T0, 1000.0)
    history.observe("c0000-d0", T0 + 2 * BUCKET_S, 2000.0)
    history.observe("c0000-d0", T0 + BUCKET_S, 1500.0)  # late, for a bucket still kept
    history.observe("c0000-d0", T0 - 10 * 86_400, 9.0)  # far too late: dropped
    found = history.of_lot(lot)
    assert found is not None
    assert found.points() == [(B0, 0.001), (B0 + BUCKET_S, 0.0015), (B0 + 2 * BUCKET_S, 0.002)]
    history.observe("c0000-d0", T0 + (2 + BUCKETS) * BUCKET_S, 3000.0)
    again = history.of_lot(lot)
    assert again is not None and again.points() == [(B0 + (2 + BUCKETS) * BUCKET_S, 0.003)]


def test_a_borrower_with_many_lots_sends_a_bounded_history_well_under_the_entry_limit() -> None:
    lots = 1000
    engine = _keeping(warehouse(lots, 1))
    engine.process(
        [
            _weight(f"c{i:04d}-d0", T0 + k * BUCKET_S, 900_000.0 - k)
            for k in range(BUCKETS)
            for i in range(lots)
        ]
    )
    state = borrower_state(engine, "b1")
    sent = state.coverage_history
    assert len(sent) == MAX_LOTS and sum(len(h.values) for h in sent) <= MAX_POINTS
    assert [h.collateral_id for h in sent] == [f"c{i:04d}" for i in range(MAX_LOTS)]
    # thinned by merging buckets: the latest value and the span are kept
    assert all(h.points()[-1] == (B0 + (BUCKETS - 6) * BUCKET_S, 0.8999) for h in sent)
    assert all(h.every_s == 6 * BUCKET_S and len(h.values) == 16 for h in sent)
    history_bytes = len(msgspec.json.encode(sent))
    assert history_bytes < 48 * 1024, history_bytes  # 41,729 bytes measured
    assert len(encode_state(state)) < MAX_STATE_BYTES  # 240,924: reasons and lots grow too
    assert decode_state(encode_state(state)) == state


def test_bounded_leaves_a_few_lots_whole() -> None:
    histories = [LotHistory(f"c{i}", B0, BUCKET_S, [0.5] * BUCKETS) for i in range(3)]
    assert bounded(histories) == histories
    assert bounded([]) == []


def test_the_history_survives_a_checkpoint(tmp_path: Path) -> None:
    engine = _keeping(warehouse(2, 2))
    engine.process(
        [_weight(f"c000{i}-d{j}", T0 + j, 400_000.0 + i) for i in range(2) for j in range(2)]
    )
    write_state(tmp_path / "engine.ckpt", engine.state(), key=KEY)
    again = Engine([warehouse(2, 2)], RuleSet())
    again.load(read_state(tmp_path / "engine.ckpt", key=KEY))
    kept = again.coverage.history_of_borrower("b1")
    assert kept == engine.coverage.history_of_borrower("b1") and len(kept) == 2


def test_a_risk_partition_keeps_the_history_also_after_a_checkpoint_without_it() -> None:
    fleet = small_fleet()
    mine = partition_of("bank-a", "b1", 2)
    partition = PartitionEngine(mine, 2, [fleet], RuleSet(), wall_clock=lambda: 1000.0)
    engine = partition.engines.of("bank-a")
    assert engine.coverage.history is not None
    engine.coverage.history = None  # as restored from a checkpoint of an older version
    partition._keep_coverage_history()
    assert engine.coverage.history is not None
    reading = _weight("b1-d1", T0, 850_000.0)
    partition.apply(RiskMessage([reading], source=0, seq=5), 1)
    partition.apply(RiskMessage([], source=1, through=5), 2)
    [history] = borrower_state(engine, "b1").coverage_history
    assert history.points() == [(B0, 0.85)]


def _state_with(histories: list[Any]) -> bytes:
    engine = _keeping(warehouse(1, 1))
    engine.process([_weight("c0000-d0", T0, 400_000.0)])
    good = msgspec.json.decode(encode_state(borrower_state(engine, "b1")))
    good["coverage_history"] = histories
    return msgspec.json.encode(good)


GOOD_LOT = {"collateral_id": "c0000", "start": B0, "every_s": BUCKET_S, "values": [0.4]}


@pytest.mark.parametrize(
    "histories",
    [
        [{**GOOD_LOT, "values": [0.4] * (BUCKETS + 1)}],
        [{**GOOD_LOT, "values": [1e300]}],
        [{**GOOD_LOT, "values": [-1000.5]}],
        [{**GOOD_LOT, "every_s": 0.0}],
        [{**GOOD_LOT, "every_s": -900.0}],
        [{**GOOD_LOT, "every_s": 1e9}],
        [{**GOOD_LOT, "start": -1.0}],
        [{**GOOD_LOT, "start": 1e300}],
        [GOOD_LOT, GOOD_LOT],
        [{**GOOD_LOT, "collateral_id": f"c{i}"} for i in range(MAX_LOTS + 1)],
        [{**GOOD_LOT, "collateral_id": f"c{i}", "values": [0.4] * BUCKETS} for i in range(50)],
        [{**GOOD_LOT, "values": ["0.4"]}],
        [{**GOOD_LOT, "extra": 1}],
        [{**GOOD_LOT, "values": [[[[0.4]]]]}],
        {"collateral_id": "c0000"},
    ],
    ids=["long", "huge", "negative", "zero-step", "negative-step", "step-too-long",
         "before-epoch", "far-future", "twice", "too-many-lots", "too-many-values", "text",
         "unknown-field", "nested", "not-a-list"],
)  # fmt: skip
def test_a_state_whose_coverage_history_cannot_be_true_is_refused(histories: Any) -> None:
    data = _state_with(histories)
    with pytest.raises(ValueError, match=r"\S"):
        decode_state(data)
    cache = LiveStateCache()
    assert not cache.take(live_state_key("bank-a", "b1"), data)
    assert cache.of("bank-a", "b1") is None and cache.refused == 1


def test_a_good_coverage_history_is_taken_and_an_old_state_without_one_still_is() -> None:
    state = decode_state(_state_with([GOOD_LOT]))
    assert state.coverage_of("c0000") == LotHistory("c0000", B0, BUCKET_S, [0.4])
    old = msgspec.json.decode(_state_with([]))
    del old["coverage_history"]  # sent by a worker of the version before
    assert decode_state(msgspec.json.encode(old)).coverage_history == []


def test_a_partition_sends_the_coverage_history_computed_at_most_every_30_s() -> None:
    """Computing it costs about 35 µs per load cell: a state sent for a changed weight
    within `HISTORY_EVERY_S` carries the history computed before."""
    clock = Clock(1000.0)
    sender = LiveStateSender("r1", wall_clock=clock)
    engine = _keeping(warehouse(1, 1))
    engines = {"bank-a": engine}
    engine.process([_weight("c0000-d0", T0, 400_000.0)])
    [first] = sender.pick(engines, {("bank-a", "b1")})
    sender.sent(first)
    assert [v for _, v in first.coverage_history[0].points()] == [0.4]
    engine.process([_weight("c0000-d0", T0 + BUCKET_S, 300_000.0)])
    clock.now += HISTORY_EVERY_S - 1
    [second] = sender.pick(engines, {("bank-a", "b1")})  # the lot's weight changed
    sender.sent(second)
    lot = second.lot("c0000")
    assert lot is not None and lot.on_hand == 300.0
    assert second.coverage_history == first.coverage_history
    engine.process([_weight("c0000-d0", T0 + BUCKET_S + 60, 300_000.0)])
    clock.now += 1
    [third] = sender.pick(engines, {("bank-a", "b1")})
    assert [v for _, v in third.coverage_history[0].points()] == [0.4, 0.3]
