"""Errors of the backtest and evaluation harness: each names the file and what is wrong."""

from pathlib import Path


class InputFileError(ValueError):
    """A file handed to `riskstream backtest` or `riskstream evaluate` cannot be used.

    Attributes:
        path: the file.
        reason: what is wrong, in words a user can act on.
        column: the column or field concerned, if any (``value``, ``opened_at``).
        line: 1-based line of the problem in a JSON lines file, if known.
    """

    def __init__(
        self, path: Path | str, reason: str, column: str | None = None, line: int | None = None
    ) -> None:
        self.path = Path(path)
        self.reason = reason
        self.column = column
        self.line = line
        where = str(self.path) + (f":{line}" if line is not None else "")
        if column is not None:
            where += f": {column}"
        super().__init__(f"{where}: {reason}")


class TelemetryFileError(InputFileError):
    """A telemetry file (CSV or Parquet) is missing, empty, or lacks a column."""


class EvaluationFileError(InputFileError):
    """A ground-truth or alerts file (JSON lines) is malformed or lacks a field."""
