"""Which alert detects which injected scenario.

`DETECTED_BY` says, for each scenario kind, which alert kinds detect it and which
field of the truth record the alert's subject must equal. A scenario kind missing
from it has no detector yet: its events are reported, not counted in the engine's
recall, and an alert can never match them. A detector says which scenarios it detects
in its registry entry (`riskstream.detectors.registry`).

An alert matches a truth record when tenant and borrower are equal, its kind and
subject are one the scenario maps to, and its ``opened_at`` (the event time of its
evidence) lies in ``[start_ts - grace, end_ts]``. An alert matches at most one record
(the latest that started before its evidence); a record may be matched by several
alerts (an alert that cleared and opened again is not a false alarm).
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from devices.truth import TruthRecord
from riskstream.backtest.alerts_file import AlertRecord
from riskstream.detectors.registry import detects

GRACE_S = 300.0


@dataclass(frozen=True, slots=True)
class Expect:
    """An alert kind that detects a scenario, and the truth field its subject equals.

    ``lead_s``: how long before the record's start this kind may rightly see the scenario
    (the simulator starts some scenarios' effects before the event the truth is timed at).
    """

    kind: str
    subject: str
    lead_s: float = 0.0


DETECTED_BY: dict[str, tuple[Expect, ...]] = {
    scenario: tuple(Expect(row.kind, row.subject, row.lead_s) for row in rows)
    for scenario, rows in detects().items()
}
"""Derived from the detector registry (`riskstream.detectors.registry`): each detector
says which scenarios its alerts detect."""


def alert_kinds(scenario: str) -> tuple[str, ...]:
    """Alert kinds that detect ``scenario``; empty when it has no detector yet."""
    return tuple(e.kind for e in DETECTED_BY.get(scenario, ()))


@dataclass(frozen=True, slots=True)
class Matching:
    """Alerts matched to truth records, by position in the inputs.

    Attributes:
        alerts_of: for each truth record, the indices of the alerts that match it.
        truth_of: for each alert, the index of the truth record it matches, or None.
    """

    alerts_of: list[list[int]]
    truth_of: list[int | None]


def match(
    truth: Sequence[TruthRecord], alerts: Sequence[AlertRecord], grace_s: float = GRACE_S
) -> Matching:
    """Match alerts to truth records (see the module docstring for the rule)."""
    index: dict[tuple[str, str, str, str], list[tuple[int, float]]] = defaultdict(list)
    for i, record in enumerate(truth):
        for expect in DETECTED_BY.get(record.scenario, ()):
            subject = getattr(record, expect.subject)
            if subject:
                key = (record.tenant, record.borrower_id, expect.kind, subject)
                index[key].append((i, expect.lead_s))
    alerts_of: list[list[int]] = [[] for _ in truth]
    truth_of: list[int | None] = []
    for j, alert in enumerate(alerts):
        candidates = [
            i
            for i, lead_s in index.get(
                (alert.tenant, alert.borrower_id, alert.kind, alert.subject), ()
            )
            if truth[i].start_ts - grace_s - lead_s <= alert.opened_at <= truth[i].end_ts
        ]
        if not candidates:
            truth_of.append(None)
            continue
        best = max(candidates, key=lambda i: _closeness(truth[i], alert.opened_at, i))
        alerts_of[best].append(j)
        truth_of.append(best)
    return Matching(alerts_of, truth_of)


def _closeness(record: TruthRecord, opened_at: float, i: int) -> tuple[bool, float, int]:
    """Order candidates: started before the evidence (latest start first), then earliest."""
    started = record.start_ts <= opened_at
    return started, record.start_ts if started else -record.start_ts, -i
