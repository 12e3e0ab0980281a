"""Errors raised by the devices package."""

from pathlib import Path


class FleetFileError(ValueError):
    """A fleet file cannot be read or does not describe a valid fleet.

    Attributes:
        path: the fleet file.
        field: dotted path of the offending field (``borrowers.2.loans.0.id``), if known.
        reason: what is wrong, in words a user can act on.
    """

    def __init__(self, path: Path | str, reason: str, field: str | None = None) -> None:
        self.path = Path(path)
        self.field = field
        self.reason = reason
        where = f"{self.path}: {field}: " if field else f"{self.path}: "
        super().__init__(where + reason)


class TopicError(ValueError):
    """An MQTT topic does not follow ``{prefix}/{tenant}/{device_id}/{kind}``.

    Attributes:
        topic: the topic as received.
    """

    def __init__(self, topic: str, reason: str) -> None:
        self.topic = topic
        super().__init__(f"topic {topic!r}: {reason}")


class ReservedDeviceIdError(ValueError):
    """A fleet names a device with an id riskstream's own topics use (``alerts``).

    Attributes:
        tenant: the lender whose fleet it is.
        device_id: the refused id.
    """

    def __init__(self, tenant: str, device_id: str, reason: str) -> None:
        self.tenant = tenant
        self.device_id = device_id
        super().__init__(f"fleet of {tenant!r}: {reason}")


class UnknownEntityError(LookupError):
    """A registry lookup named an id that is not registered."""


class SparkplugGroupError(ValueError):
    """Two lenders claim the same Sparkplug group: either could publish the other's data.

    Attributes:
        group: the group id.
        tenants: the lenders that claim it.
    """

    def __init__(self, group: str, tenants: tuple[str, str]) -> None:
        self.group = group
        self.tenants = tenants
        super().__init__(
            f"Sparkplug group {group!r} is claimed by both {tenants[0]!r} and {tenants[1]!r}: "
            "give each lender its own 'sparkplug.group' in its fleet file"
        )
