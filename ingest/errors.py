"""Errors raised by ingest. Each rejection carries a short machine reason."""


class RejectedInputError(ValueError):
    """A payload or reading refused by ingest.

    Attributes:
        reason: the label counted in ``ingest_rejected_total{reason}``, e.g. ``malformed``.
        detail: what exactly was wrong, for the dead-letter record.
    """

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class StoreURLError(ValueError):
    """A store URL cannot be understood (unknown scheme, missing path or option)."""


class IngestStalledError(RuntimeError):
    """Ingest cannot keep consuming (its MQTT loop keeps stopping); the process should exit
    non-zero so that its supervisor starts it again."""
