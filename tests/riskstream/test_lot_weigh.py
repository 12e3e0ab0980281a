"""The lot route's one call per cell reading (`LotWeightDetector.weigh`) against the
detector's two-call API (`observe`, then `total`), on hostile and faulty cell streams.

`weigh` is the hot path of every weighed lot's reading: it must leave the lot in the
state `observe` leaves it in, return the weight `total` gives, and note the same alerts.
"""

import math
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.reading import Reading
from riskstream.detectors.lot_weight import LoadCellFaultRule, LotWeightDetector
from riskstream.engine.alerts import Alert, AlertBook
from riskstream.engine.fleet_index import FleetIndex
from simulator import generate_fleet
from tests.riskstream.backtest_data import START

SEED = 31
FLEET = generate_fleet(1, SEED, load_cells=(4, 4))
INDEX = FleetIndex([FLEET])
LOT = next(lot for lot in INDEX.collateral.values() if lot.load_cells)
assert LOT.kg_per_unit is not None
SHARE_KG = 0.6 * LOT.collateral.quantity * LOT.kg_per_unit / len(LOT.load_cells)

# what one cell may send: its share with noise, one wheel on its corner, a dead cable,
# an exact repeat (a frozen cell), what no scale carries, a slow offset
VALUES = st.one_of(
    st.floats(0.995, 1.005).map(lambda f: SHARE_KG * f),
    st.floats(1.05, 1.3).map(lambda f: SHARE_KG * f),
    st.just(0.0),
    st.just(SHARE_KG),
    st.sampled_from([1e308, -1e308, -SHARE_KG, 1e12]),
    st.floats(1.06, 1.1).map(lambda f: SHARE_KG * f),
)
# (cell, or one the lot does not know; seconds since the previous reading, or back in
# time; value)
READINGS = st.lists(
    st.tuples(
        st.integers(0, len(LOT.load_cells)),
        st.sampled_from([0.0, 7.0, 60.0, 900.0, -30.0]),
        VALUES,
    ),
    min_size=1,
    max_size=200,
)


@settings(max_examples=60, deadline=None)
@given(READINGS)
def test_weigh_leaves_the_lot_as_observe_does_and_returns_its_total(
    stream: list[tuple[int, float, float]],
) -> None:
    rule = LoadCellFaultRule.model_validate({"for": 0.0})  # faults raise at once
    by_observe, by_weigh = LotWeightDetector(INDEX, rule), LotWeightDetector(INDEX, rule)
    book_observe, book_weigh = AlertBook(), AlertBook()
    observed: list[Alert] = []
    weighed: dict[str, Alert] = {}
    device = INDEX.devices[LOT.load_cells[0]]
    ts = START
    warmup = [(k, 60.0, SHARE_KG) for _ in range(3) for k in range(len(LOT.load_cells))]
    for k, step, value in warmup + stream:
        ts += step
        cell = LOT.load_cells[k] if k < len(LOT.load_cells) else "not-a-cell-of-the-lot"
        reading = Reading(FLEET.tenant.id, cell, ts, "weight_kg", value)
        observed += by_observe.observe(reading, device, book_observe, 0.0)
        total = by_observe.total(LOT.collateral.id, reading)
        assert by_weigh.weigh(reading, device, book_weigh, 0.0, weighed) == total
    assert pickle.dumps(by_weigh._lots) == pickle.dumps(by_observe._lots)
    assert [_contents(a) for a in {a.id: a for a in observed}.values()] == [
        _contents(a) for a in weighed.values()
    ]


def _contents(alert: Alert) -> dict[str, object]:
    return {k: v for k, v in alert.to_dict().items() if k != "id"}


class _JudgeAlone(LotWeightDetector):
    """The detector without its in-band path: every reading through `_judge`."""

    in_band_fast_path = False


# around the edges of the offset band (5 %) and of the tolerance (30 %), both sides
EDGES = st.one_of(
    VALUES,
    st.floats(0.94, 0.96).map(lambda f: SHARE_KG * f),
    st.floats(1.04, 1.06).map(lambda f: SHARE_KG * f),
    st.floats(0.68, 0.72).map(lambda f: SHARE_KG * f),
    st.floats(1.28, 1.32).map(lambda f: SHARE_KG * f),
)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(LOT.load_cells)), st.sampled_from([0.0, 7.0, 60.0, -30.0]), EDGES
        ),
        min_size=1,
        max_size=200,
    ),
    st.sampled_from([0.05, 0.2, 0.02]),
    st.sampled_from([0.3, 0.04]),
)
def test_the_in_band_path_leaves_the_lot_as_judging_every_reading_does(
    stream: list[tuple[int, float, float]], offset_tolerance: float, tolerance: float
) -> None:
    # a tolerance below the offset tolerance too: the band is the narrower of the two
    rule = LoadCellFaultRule.model_validate(
        {"for": 0.0, "offset_tolerance": offset_tolerance, "tolerance": tolerance}
    )
    fast, judged = LotWeightDetector(INDEX, rule), _JudgeAlone(INDEX, rule)
    fast_alerts: dict[str, Alert] = {}
    judged_alerts: dict[str, Alert] = {}
    device = INDEX.devices[LOT.load_cells[0]]
    ts = START
    warmup = [(k, 60.0, SHARE_KG * (1 + 0.001 * n)) for n in range(3) for k in range(4)]
    for k, step, value in warmup + stream:
        ts += step
        cell = LOT.load_cells[k] if k < len(LOT.load_cells) else "not-a-cell-of-the-lot"
        reading = Reading(FLEET.tenant.id, cell, ts, "weight_kg", value)
        total = fast.weigh(reading, device, AlertBook(), 0.0, fast_alerts)
        assert total == judged.weigh(reading, device, AlertBook(), 0.0, judged_alerts)
    assert pickle.dumps(fast._lots) == pickle.dumps(judged._lots)
    assert [_contents(a) for a in fast_alerts.values()] == [
        _contents(a) for a in judged_alerts.values()
    ]


def _lot_before_the_edge(detector: LotWeightDetector) -> float:
    """Warm the lot up, then send cell 0 a low and a high reading, so that its next
    reading is its filtered value (the median of the three); return what its siblings
    imply for it then, kg."""
    device = INDEX.devices[LOT.load_cells[0]]
    ts = START
    for n in range(3):
        for cell in LOT.load_cells:
            ts += 15.0
            value = SHARE_KG * (1 + 0.001 * n)
            detector.weigh(Reading(FLEET.tenant.id, cell, ts, "weight_kg", value), device, *_NO)
    for value in (0.5 * SHARE_KG, 1.5 * SHARE_KG):
        ts += 15.0
        reading = Reading(FLEET.tenant.id, LOT.load_cells[0], ts, "weight_kg", value)
        detector.weigh(reading, device, *_NO)
    cells = detector.cells_of(LOT.collateral.id)
    assert cells is not None and not any(cells.faults)
    return cells.expected(0)


_NO: tuple[AlertBook, float, dict[str, Alert]] = (AlertBook(), 0.0, {})


@pytest.mark.parametrize("side", [1.0, -1.0])
def test_the_first_reading_beyond_the_offset_band_leaves_the_in_band_path(side: float) -> None:
    """The last value within ``offset_tolerance`` of what the siblings imply keeps the
    cell in the lot's weight; the next float beyond it is held out, as `_judge` does."""
    rule = LoadCellFaultRule()
    probe = LotWeightDetector(INDEX, rule)
    expected = _lot_before_the_edge(probe)
    edge = expected * (1 + side * rule.offset_tolerance)
    while abs(edge - expected) > rule.offset_tolerance * expected:
        edge = math.nextafter(edge, expected)
    while abs(math.nextafter(edge, side * math.inf) - expected) <= rule.offset_tolerance * expected:
        edge = math.nextafter(edge, side * math.inf)
    beyond = math.nextafter(edge, side * math.inf)
    device = INDEX.devices[LOT.load_cells[0]]
    for value, fault in ((edge, ""), (beyond, "held")):
        results = []
        for detector in (LotWeightDetector(INDEX, rule), _JudgeAlone(INDEX, rule)):
            assert _lot_before_the_edge(detector) == expected
            cells = detector.cells_of(LOT.collateral.id)
            assert cells is not None
            reading = Reading(FLEET.tenant.id, LOT.load_cells[0], START + 1e4, "weight_kg", value)
            total = detector.weigh(reading, device, *_NO)
            assert cells.values[0] == value  # the filtered value is the reading
            assert cells.faults[0] == fault
            results.append((total, pickle.dumps(cells)))
        assert results[0] == results[1]
