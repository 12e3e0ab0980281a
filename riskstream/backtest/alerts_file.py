"""Alerts as JSON lines: written by `riskstream backtest`, read by `riskstream evaluate`.

One alert per line, in the alert contract's fields (``id, tenant, borrower_id, loan_id,
site_id, device_id, kind, subject, severity, status, opened_at, detected_at,
updated_at, score, reasons, evidence, rule, resolved_at``) plus ``raised_at``, the
event time at which the engine first raised it. The evaluation needs only a few of
them; alerts exported from the service (``GET /api/alerts``, one object per line) can
be evaluated too, with ``raised_at`` taken as ``opened_at`` when it is absent.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from riskstream.backtest.errors import EvaluationFileError


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """The part of an alert the evaluation looks at.

    Attributes:
        id: the alert id.
        tenant: the lender.
        borrower_id: the borrower.
        kind: the alert kind, e.g. ``inventory_below_pledge``.
        subject: what it is about (collateral id, device id).
        opened_at: event time of the evidence.
        raised_at: event time at which the engine raised it.
        until: event time it resolved, or was last updated if still open.
        status: ``open``, ``acknowledged`` or ``resolved``.
    """

    id: str
    tenant: str
    borrower_id: str
    kind: str
    subject: str
    opened_at: float
    raised_at: float
    until: float
    status: str


def write_alerts(alerts: Iterable[dict[str, Any]], path: Path | str) -> int:
    """Write alerts as JSON lines (replacing ``path``); return how many."""
    n = 0
    with Path(path).open("wb") as f:
        for alert in alerts:
            f.write(orjson.dumps(alert) + b"\n")
            n += 1
    return n


def _text(raw: dict[str, Any], name: str, path: Path, line: int) -> str:
    value = raw.get(name)
    if not isinstance(value, str) or not value:
        raise EvaluationFileError(path, "missing, or not a non-empty string", name, line)
    return value


def _time(raw: dict[str, Any], name: str, path: Path, line: int) -> float:
    value = raw.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise EvaluationFileError(path, "missing, or not epoch seconds", name, line)
    return float(value)


def json_lines(path: Path | str) -> Iterable[tuple[int, dict[str, Any]]]:
    """(line number, object) of each non-blank line of a JSON lines file.

    Raises:
        EvaluationFileError: the file cannot be read, or a line is not a JSON object.
    """
    path = Path(path)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise EvaluationFileError(path, f"cannot read: {exc.strerror or exc}") from exc
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise EvaluationFileError(path, f"not JSON: {exc}", None, number) from exc
        if not isinstance(raw, dict):
            raise EvaluationFileError(path, "not a JSON object", None, number)
        yield number, raw


def read_alerts(path: Path | str) -> list[AlertRecord]:
    """Read alerts written by `write_alerts` (or exported from the service).

    Raises:
        EvaluationFileError: a line is not JSON or lacks a field (names file, line, field).
    """
    path = Path(path)
    out: list[AlertRecord] = []
    for number, raw in json_lines(path):
        opened = _time(raw, "opened_at", path, number)
        raised = _time(raw, "raised_at", path, number) if "raised_at" in raw else opened
        ends = "resolved_at" if raw.get("resolved_at") is not None else "updated_at"
        until = _time(raw, ends, path, number) if raw.get(ends) is not None else raised
        out.append(
            AlertRecord(
                id=_text(raw, "id", path, number),
                tenant=_text(raw, "tenant", path, number),
                borrower_id=_text(raw, "borrower_id", path, number),
                kind=_text(raw, "kind", path, number),
                subject=_text(raw, "subject", path, number),
                opened_at=opened,
                raised_at=raised,
                until=max(until, raised),
                status=str(raw.get("status", "open")),
            )
        )
    return out
