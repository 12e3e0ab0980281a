"""The MQTT topic grammar shared by devices (and the simulator) and ingest.

``{prefix}/{tenant}/{device_id}/telemetry`` carries readings and
``{prefix}/{tenant}/{device_id}/status`` carries retained ``online``/``offline``.
The prefix may have several levels (default ``rs/v1``); tenant and device ids are
single levels of letters, digits, ``-``, ``_`` and ``.``.

riskstream itself publishes a lender's alerts under the same prefix, at
``{prefix}/{tenant}/alerts`` and ``{prefix}/{tenant}/alerts/{alert_id}``
(`alerts_topic`, `alert_topic`). So that no device topic can be one of those, the
device ids in `RESERVED_DEVICE_IDS` (in any letter case) are refused here, at
registration and in ingest: a device ``alerts`` would otherwise publish
``{prefix}/{tenant}/alerts/telemetry``, which a plant system subscribed to
``{prefix}/{tenant}/alerts/+`` reads as an alert.

It lives in ``devices`` rather than ``ingest`` because the simulator, which may only
import ``devices``, must publish under the same grammar that ingest parses.
"""

import re
from dataclasses import dataclass
from typing import Literal

from devices.errors import TopicError

DEFAULT_PREFIX = "rs/v1"
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
TopicKind = Literal["telemetry", "status"]
KINDS: tuple[TopicKind, ...] = ("telemetry", "status")
ALERTS_LEVEL = "alerts"
RESERVED_DEVICE_IDS = frozenset({ALERTS_LEVEL})
"""Device ids that would collide with riskstream's own topics (compared casefolded)."""


def reserved_device_id_reason(device_id: str) -> str | None:
    """Why ``device_id`` may not be registered, or None when it may."""
    if device_id.casefold() in RESERVED_DEVICE_IDS:
        return (
            f"device id {device_id!r} is reserved: riskstream publishes a lender's alerts "
            f"on {{prefix}}/{{tenant}}/{ALERTS_LEVEL}/..., and a device with this id would "
            "publish on topics that plant systems read as alerts; choose another id"
        )
    return None


@dataclass(frozen=True, slots=True)
class DeviceTopic:
    """A parsed device topic; checks its parts when built."""

    tenant: str
    device_id: str
    kind: TopicKind
    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        for name in ("tenant", "device_id"):
            value = getattr(self, name)
            if not ID_PATTERN.match(value):
                raise TopicError(str(self), f"{name} {value!r} is not a valid id")
        reserved = reserved_device_id_reason(self.device_id)
        if reserved is not None:
            raise TopicError(str(self), reserved)
        if self.kind not in KINDS:
            raise TopicError(str(self), f"kind must be one of {', '.join(KINDS)}")
        check_prefix(self.prefix)

    def __str__(self) -> str:
        return f"{self.prefix}/{self.tenant}/{self.device_id}/{self.kind}"


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it is a valid topic prefix, else raise `TopicError`."""
    levels = prefix.split("/")
    if not prefix or any(not level or level in ("+", "#") for level in levels):
        raise TopicError(prefix, "prefix must be non-empty levels without wildcards")
    return prefix


def format_topic(
    tenant: str, device_id: str, kind: TopicKind = "telemetry", prefix: str = DEFAULT_PREFIX
) -> str:
    """Build the topic a device publishes to."""
    return str(DeviceTopic(tenant, device_id, kind, prefix))


def parse_topic(topic: str, prefix: str = DEFAULT_PREFIX) -> DeviceTopic:
    """Parse a device topic under ``prefix``; raise `TopicError` with the reason."""
    head = prefix + "/"
    if not topic.startswith(head):
        raise TopicError(topic, f"does not start with {head!r}")
    parts = topic[len(head) :].split("/")
    if len(parts) != 3:
        raise TopicError(topic, "expected {tenant}/{device_id}/{telemetry|status} after prefix")
    tenant, device_id, kind = parts
    if kind not in KINDS:
        raise TopicError(topic, f"last level must be one of {', '.join(KINDS)}")
    try:
        return DeviceTopic(tenant, device_id, kind, prefix)
    except TopicError as exc:
        raise TopicError(topic, str(exc)) from exc


def subscription(prefix: str = DEFAULT_PREFIX, kind: TopicKind = "telemetry") -> str:
    """The wildcard subscription that matches every device's ``kind`` topic."""
    return f"{check_prefix(prefix)}/+/+/{kind}"


def alerts_topic(prefix: str, tenant: str) -> str:
    """The stream of a lender's alert changes, which riskstream publishes."""
    return f"{check_prefix(prefix)}/{tenant}/{ALERTS_LEVEL}"


def alert_topic(prefix: str, tenant: str, alert_id: str) -> str:
    """The retained latest state of one alert, which riskstream publishes."""
    return f"{alerts_topic(prefix, tenant)}/{alert_id}"
