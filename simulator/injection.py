"""Planned scenarios (`Injection`) and their ground truth (`devices.truth.TruthRecord`)."""

from collections.abc import Sequence
from dataclasses import dataclass

from devices.truth import TruthRecord, read_truth, write_truth

__all__ = ["Injection", "TruthRecord", "read_truth", "truth_records", "write_truth"]


@dataclass(frozen=True, slots=True)
class Injection:
    """One planned scenario: kind, borrower, subject, when, and the planner's choices.

    Attributes:
        scenario: the scenario kind (a key of `simulator.scenarios.SCENARIOS`).
        borrower_id: the borrower hit.
        collateral_id: the collateral concerned, if any.
        site_id: the site concerned, if any.
        device_id: the device whose telemetry shows it best, if any.
        start_ts: when it starts (event time).
        end_ts: when it is over; None if it lasts to the end of the run.
        loan_id: the loan concerned, if any.
        counterpart_device_id: for ``double_pledge``, the load cell of the second site.
        params: scenario parameters the planner chose, as (name, value) pairs.
    """

    scenario: str
    borrower_id: str
    collateral_id: str | None
    site_id: str | None
    device_id: str | None
    start_ts: float
    end_ts: float | None = None
    loan_id: str | None = None
    counterpart_device_id: str | None = None
    params: tuple[tuple[str, float], ...] = ()

    def param(self, name: str) -> float:
        """The value of parameter ``name``; KeyError if the planner did not set it."""
        for key, value in self.params:
            if key == name:
                return value
        raise KeyError(f"{self.scenario} injection has no parameter {name!r}")


def truth_records(tenant: str, injections: Sequence[Injection], end_ts: float) -> list[TruthRecord]:
    """Ground truth for ``injections`` in a run that ends at ``end_ts``.

    A scenario without an end of its own lasts until ``end_ts``; one that would end
    later is cut there.
    """
    records: list[TruthRecord] = []
    for i in injections:
        end = end_ts if i.end_ts is None else min(i.end_ts, end_ts)
        records.append(
            TruthRecord(
                i.scenario,
                tenant,
                i.borrower_id,
                i.collateral_id,
                i.site_id,
                i.device_id,
                i.start_ts,
                round(end, 3),
                i.loan_id,
                i.counterpart_device_id,
            )
        )
    return records
