"""Turn a `Condition` transition into the alert book's raise, update or clear.

Every condition-driven detector does the same thing with a transition: ``"open"``
raises an alert whose evidence dates from the start of the breach, ``"hold"``
refreshes it when an update is due (reasons and evidence are built only then),
``"clear"`` resolves it with a reason. `settle` is that step, once.
"""

from collections.abc import Callable

from riskstream.engine.alerts import Alert, AlertBook, Finding
from riskstream.engine.conditions import Condition, Transition

AlertKey = tuple[str, str, str, str]
"""(tenant, borrower_id, kind, subject): the key of one open alert."""


def settle(
    book: AlertBook,
    key: AlertKey,
    transition: Transition,
    condition: Condition,
    ts: float,
    wall: float,
    finding: Callable[[float], Finding],
    cleared: Callable[[], str],
) -> Alert | None:
    """Apply ``transition`` of ``condition`` at event time ``ts`` to the alert of ``key``.

    Args:
        book: the alert book.
        key: the alert's (tenant, borrower_id, kind, subject).
        transition: what `Condition.observe` returned.
        condition: the condition (its ``breach_since`` dates the alert).
        ts: event time of the evaluation.
        wall: wall-clock time, for ``detected_at``.
        finding: builds the finding from the start of the breach; called only when
            the alert opens or its update is due.
        cleared: builds the reason appended when the alert resolves.

    Returns:
        The alert snapshot worth emitting, or None.
    """
    if transition == "none":
        return None
    if transition == "clear":
        return book.clear(*key, ts, cleared())
    if transition == "hold" and not book.due(*key, ts):
        return None
    since = condition.breach_since if condition.breach_since is not None else ts
    return book.raise_(finding(since), since, ts, wall)
