"""A borrower's live engine state as the borrower pages show it, apart from the engine.

`borrower_state` takes from an engine what the API's borrower answers need of it: the
score with its reasons, components and credit matrix, the score history, the latest
on-hand quantity and coverage of every weighed lot, and (where the engine keeps it) the
lots' coverage history for the coverage chart (`riskstream.engine.coverage_history`).
In one process the API reads the engine directly; on a cluster each risk worker sends
this state to the API tier (`riskstream.cluster.live_states`), which answers from it the
same way.

Reading the state changes nothing in the engine (the score is computed without recording
a snapshot or a history point), so sending it does not change the alerts.

`encode_state` and `decode_state` are its wire form (JSON): a decoded state is checked
for type, size and finiteness, so a state a worker did not write is refused with a reason.
"""

import math
from typing import Any

import msgspec

from riskstream.engine.core import Engine
from riskstream.engine.coverage import LotCoverage
from riskstream.engine.coverage_history import MAX_LOTS, MAX_POINTS, LotHistory

MAX_STATE_BYTES = 256 * 1024
"""Largest encoded state taken; a borrower's is a few KiB (score history at most 256
points) plus its lots' coverage history (at most about 30 KiB, `coverage_history`)."""
MAX_HISTORY = 256

__all__ = [
    "MAX_STATE_BYTES",
    "BorrowerState",
    "LotState",
    "borrower_state",
    "decode_state",
    "encode_state",
]


class LotState(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Latest figures of one weighed lot (every load cell has reported)."""

    collateral_id: str
    on_hand: float
    """Quantity on hand, in the pledge's unit."""
    pledged: float
    unit: str


class BorrowerState(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What the borrower pages show from the engine, as of event time ``computed_at``."""

    tenant: str
    borrower_id: str
    score: float
    computed_at: float
    """Event time (epoch s) of the score: the engine's watermark."""
    reasons: list[str]
    components: dict[str, float]
    matrix: dict[str, Any]
    history: list[tuple[float, float]]
    """(event time, score) of every change, oldest first."""
    lots: list[LotState]
    published_at: float | None = None
    """Wall time (epoch s) the owning risk worker sent it; None when read from the engine."""
    worker: str | None = None
    """The risk worker that sent it."""
    coverage_history: list[LotHistory] = msgspec.field(default_factory=list)
    """Coverage per bucket of event time of the weighed lots, bounded (`bounded`)."""

    def lot(self, collateral_id: str) -> LotCoverage | None:
        """Coverage of one lot (as `LatestCoverage.lot`), None when not weighed."""
        for lot in self.lots:
            if lot.collateral_id == collateral_id:
                return LotCoverage(
                    lot.collateral_id, lot.on_hand / lot.pledged, lot.on_hand, lot.pledged, lot.unit
                )
        return None

    def content(self) -> tuple[Any, ...]:
        """What the pages show, without the times: equal contents need no new send."""
        return (
            self.score,
            self.reasons,
            self.components,
            self.matrix,
            self.history,
            self.lots,
            self.coverage_history,
        )

    def coverage_of(self, collateral_id: str) -> LotHistory | None:
        """The coverage history of one lot, None if none was sent."""
        for history in self.coverage_history:
            if history.collateral_id == collateral_id:
                return history
        return None


def borrower_state(
    engine: Engine, borrower_id: str, coverage_history: list[LotHistory] | None = None
) -> BorrowerState:
    """The engine's state of one registered borrower (KeyError if unknown), scored at
    its watermark without changing the engine; with ``coverage_history`` (one computed
    before) instead of the engine's own, which costs about 35 µs per load cell."""
    tenant = engine.index.borrowers[borrower_id]
    alerts = [a for a in engine.book.open_alerts() if a.borrower_id == borrower_id]
    now = engine.watermark if engine.watermark is not None else engine.wall_clock()
    risk = engine.scoring.score(tenant, borrower_id, alerts, now, record=False)
    lots = [
        LotState(lot.collateral_id, lot.on_hand, lot.pledged, lot.unit)
        for lot in engine.coverage.of_borrower(borrower_id)
    ]
    return BorrowerState(
        tenant=tenant,
        borrower_id=borrower_id,
        score=risk.score,
        computed_at=risk.computed_at,
        reasons=list(risk.reasons),
        components=dict(risk.components),
        matrix=risk.matrix,
        history=engine.scoring.history_of(borrower_id)[-MAX_HISTORY:],
        lots=lots,
        coverage_history=(
            engine.coverage.history_of_borrower(borrower_id)
            if coverage_history is None
            else coverage_history
        ),
    )


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(BorrowerState)


def encode_state(state: BorrowerState) -> bytes:
    return _encoder.encode(state)


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def decode_state(data: bytes) -> BorrowerState:
    """One borrower state; ValueError (with the reason) if the data is not one."""
    if len(data) > MAX_STATE_BYTES:
        raise ValueError(f"borrower state of {len(data):,} bytes, over {MAX_STATE_BYTES:,}")
    try:
        state = _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise ValueError(f"not a borrower state: {exc}") from None
    except RecursionError:
        raise ValueError("not a borrower state: nested too deep") from None
    numbers = [state.score, state.computed_at, *state.components.values()]
    numbers += [v for point in state.history for v in point]
    numbers += [v for lot in state.lots for v in (lot.on_hand, lot.pledged)]
    if state.published_at is not None:
        numbers.append(state.published_at)
    if not _finite(*numbers) or any(lot.pledged <= 0 for lot in state.lots):
        raise ValueError(f"borrower state of {state.borrower_id!r:.80}: a number out of range")
    if len(state.history) > MAX_HISTORY:
        raise ValueError(f"borrower state with {len(state.history)} history points")
    _check_coverage_history(state)
    return state


def _check_coverage_history(state: BorrowerState) -> None:
    histories = state.coverage_history
    if len(histories) > MAX_LOTS:
        raise ValueError(f"borrower state with the coverage history of {len(histories)} lots")
    values = sum(len(h.values) for h in histories)
    if values > MAX_POINTS:
        raise ValueError(f"borrower state with {values:,} coverage history values")
    if len({h.collateral_id for h in histories}) != len(histories):
        raise ValueError("borrower state with two coverage histories of one lot")
    for history in histories:
        problem = history.problem()
        if problem is not None:
            raise ValueError(f"coverage history of lot {history.collateral_id!r:.80}: {problem}")
