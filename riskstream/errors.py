"""Errors raised by the riskstream package."""

from pathlib import Path


class RulesFileError(ValueError):
    """A rules file cannot be used. The message names the file, the line and the field.

    Attributes:
        path: the rules file.
        line: 1-based line of the problem, when it can be located.
        field: dotted name of the field, e.g. ``rules.inventory_below_pledge.for``.
        reason: what is wrong.
    """

    def __init__(self, path: Path | str, reason: str, line: int | None, field: str | None) -> None:
        self.path = Path(path)
        self.line = line
        self.field = field
        self.reason = reason
        where = str(self.path)
        if line is not None:
            where += f":{line}"
        if field:
            where += f": {field}"
        super().__init__(f"{where}: {reason}")


class AlertNotFoundError(LookupError):
    """No alert has the given id."""
