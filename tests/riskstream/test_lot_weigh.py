"""The lot route's one call per cell reading (`LotWeightDetector.weigh`) against the
detector's two-call API (`observe`, then `total`), on hostile and faulty cell streams.

`weigh` is the hot path of every weighed lot's reading: it must leave the lot in the
state `observe` leaves it in, return the weight `total` gives, and note the same alerts.
"""

import pickle

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
