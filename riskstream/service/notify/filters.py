"""Which alert changes a webhook endpoint or an e-mail recipient gets."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Filters:
    """Which alert changes an endpoint gets; an empty list means any."""

    severities: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    borrowers: tuple[str, ...] = ()

    def matches(self, event: str, alert: dict[str, Any]) -> bool:
        """Whether the change ``event`` of ``alert`` passes every filter."""
        return (
            (not self.severities or alert.get("severity") in self.severities)
            and (not self.kinds or alert.get("kind") in self.kinds)
            and (not self.events or event in self.events)
            and (not self.borrowers or alert.get("borrower_id") in self.borrowers)
        )

    def to_dict(self) -> dict[str, list[str]]:
        return {
            "severities": list(self.severities),
            "kinds": list(self.kinds),
            "events": list(self.events),
            "borrowers": list(self.borrowers),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Sequence[str]]) -> "Filters":
        return cls(**{k: tuple(data.get(k, ())) for k in cls.__dataclass_fields__})
