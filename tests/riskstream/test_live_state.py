"""A borrower's live engine state apart from the engine: what the borrower pages show,
read without changing the engine, sent by a risk partition only when it changed (or to
say it still runs), refused when it is not a well-formed state of the key's borrower."""

import math

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.reading import Reading
from riskstream.cluster.layout import live_state_key, partition_of
from riskstream.cluster.live_states import REFRESH_S, SEND_EVERY_S, LiveStateCache, LiveStateSender
from riskstream.cluster.messages import RiskMessage
from riskstream.cluster.partition_engine import PartitionEngine
from riskstream.engine.core import Engine
from riskstream.engine.live_state import (
    MAX_STATE_BYTES,
    BorrowerState,
    borrower_state,
    decode_state,
    encode_state,
)
from riskstream.rules.keeper import built_in_text
from riskstream.rules.schema import RuleSet
from tests.fleets import small_fleet

T0 = 1_795_000_000.0


def _engine(weight_kg: float = 850_000.0) -> Engine:
    engine = Engine([small_fleet()], RuleSet())
    engine.process(
        [
            Reading("bank-a", "b1-d1", T0, "weight_kg", weight_kg, 1),
            Reading("bank-a", "b2-d1", T0, "weight_kg", 500_000.0, 1),
        ]
    )
    return engine


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_state_is_what_the_engine_shows_and_reading_it_changes_nothing() -> None:
    engine = _engine()
    history = engine.scoring.history_of("b1")
    state = borrower_state(engine, "b1")
    assert engine.scoring.history_of("b1") == history  # no point recorded by reading
    risk = engine.borrower_risk("b1")
    assert (state.score, state.computed_at) == (risk.score, risk.computed_at) == (60.0, T0)
    assert (state.reasons, state.components, state.matrix) == (
        risk.reasons,
        risk.components,
        risk.matrix,
    )
    lot = state.lot("b1-c1")
    assert lot == engine.coverage.lot("b1-c1")
    assert lot is not None and math.isclose(lot.coverage, 0.85)
    assert state.lot("b1-c2") is None  # a truck is not weighed
    assert decode_state(encode_state(state)) == state


def test_a_partition_sends_what_changed_and_everything_again_after_the_refresh() -> None:
    clock = Clock(T0 + 5)
    sender = LiveStateSender("r1", wall_clock=clock)
    idle = Engine([small_fleet("bank-b")], RuleSet())  # no data yet: nothing to say
    engine = _engine()
    engines = {"bank-a": engine, "bank-b": idle}
    assert sender.due(behind=False)
    first = sender.pick(engines, set())  # never sent: every borrower
    assert {(s.tenant, s.borrower_id) for s in first} == {("bank-a", "b1"), ("bank-a", "b2")}
    assert {(s.worker, s.published_at) for s in first} == {("r1", T0 + 5)}
    for state in first:
        sender.sent(state)
    assert not sender.due(behind=False)
    clock.now += SEND_EVERY_S
    assert sender.due(behind=False) and not sender.due(behind=True)
    engine.process([Reading("bank-a", "b1-d1", T0 + 60, "weight_kg", 500_000.0, 2)])
    assert sender.pick(engines, set()) == []  # told of nothing touched: nothing scored
    touched = {("bank-a", "b1"), ("bank-a", "b2")}
    changed = sender.pick(engines, touched)
    assert [s.borrower_id for s in changed] == ["b1"]  # b2's score and lots did not change
    assert touched == set()
    sender.sent(changed[0])
    clock.now += REFRESH_S
    assert sender.due(behind=True)
    assert {s.borrower_id for s in sender.pick(engines, set())} == {"b1", "b2"}


def test_a_state_not_taken_by_the_bucket_is_sent_again() -> None:
    sender = LiveStateSender("r1", wall_clock=Clock(T0))
    engines = {"bank-a": _engine()}
    assert len(sender.pick(engines, set())) == 2
    assert len(sender.pick(engines, set())) == 2  # neither marked sent


def _state(tenant: str, borrower_id: str, score: float) -> BorrowerState:
    return msgspec.structs.replace(
        borrower_state(_engine(), "b1"),
        tenant=tenant,
        borrower_id=borrower_id,
        score=score,
        published_at=T0,
        worker="r1",
    )


def test_the_cache_gives_each_lender_only_the_state_filed_under_its_own_key() -> None:
    cache = LiveStateCache()
    a, b = _state("bank-a", "b1", 11.0), _state("bank-b", "b1", 77.0)
    assert cache.take(live_state_key("bank-a", "b1"), encode_state(a))
    assert cache.take(live_state_key("bank-b", "b1"), encode_state(b))
    assert cache.of("bank-a", "b1") == a and cache.of("bank-b", "b1") == b
    # bank-b's state filed under a bank-a key (a worker's bug, or a forgery) is refused
    assert not cache.take(live_state_key("bank-a", "b2"), encode_state(b))
    assert cache.of("bank-a", "b2") is None and cache.refused == 1
    assert cache.of_tenant("bank-a") == [a]
    assert cache.take(live_state_key("bank-a", "b1"), None, "DEL")
    assert cache.of("bank-a", "b1") is None


GOOD = encode_state(_state("bank-a", "b1", 11.0))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"null",
        b"[]",
        b'{"tenant": "bank-a"}',
        GOOD.replace(b'"score":11.0', b'"score":"high"'),
        GOOD.replace(b'"score":11.0', b'"score":1e999'),
        GOOD.replace(b'"tenant":"bank-a"', b'"tenant":"bank-a","extra":1'),
        GOOD.replace(b'"pledged":1000.0', b'"pledged":0.0'),
        GOOD.replace(b'"matrix":{', b'"matrix":{"deep":' + b"[" * 50_000 + b"]" * 50_000 + b","),
        GOOD + b" " * MAX_STATE_BYTES,
    ],
    ids=["empty", "null", "list", "partial", "type", "infinite", "unknown", "no-pledge", "deep",
         "huge"],
)  # fmt: skip
def test_what_is_not_a_borrower_state_is_refused_with_a_reason(data: bytes) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        decode_state(data)
    cache = LiveStateCache()
    assert not cache.take(live_state_key("bank-a", "b1"), data)
    assert cache.of("bank-a", "b1") is None


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_two_borrowers_never_share_a_key_and_every_key_is_a_valid_one(x: str, y: str) -> None:
    kx, ky = live_state_key("bank-a", x), live_state_key("bank-a", y)
    assert (kx == ky) == (x == y)
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=.")
    assert set(kx) <= allowed and kx.count(".") == 1


def test_a_partition_notes_the_borrowers_it_fed_readings_of() -> None:
    """Only what a partition fed (not what it holds back for a slower ingest partition)
    marks a borrower for a new look; a rules change marks them all."""
    mine = partition_of("bank-a", "b1", 2)
    partition = PartitionEngine(mine, 2, [small_fleet()], RuleSet(), wall_clock=Clock(1000.0))
    reading = Reading("bank-a", "b1-d1", T0, "weight_kg", 850_000.0, 1)
    partition.apply(RiskMessage([reading], source=0, seq=5), 1)
    assert partition.touched == set()  # held: ingest partition 1 has said nothing yet
    partition.apply(RiskMessage([], source=1, through=5), 2)
    assert partition.touched == {("bank-a", "b1")}
    partition.touched.clear()
    partition.use_rules("", 2, built_in_text())
    borrowers = partition.engines.of("bank-a").index.borrowers
    assert partition.touched == {("bank-a", b) for b in borrowers}
