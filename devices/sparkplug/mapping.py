"""Which registered device a Sparkplug edge node or device is, and its metrics' names.

A lender's fleet file names its Sparkplug group (default: its tenant id) and, per edge
node and device, the registered device and metric names (`devices.model.Sparkplug`).
A group belongs to one lender only (`SparkplugGroupError` otherwise), so a message's
tenant follows from its topic's group, and the broker's ACL (``config/mosquitto.acl``)
lets a lender's login publish under its own group only.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from devices.errors import SparkplugGroupError
from devices.model import Fleet


@dataclass(frozen=True, slots=True)
class Binding:
    """A Sparkplug edge node or device bound to a registered device.

    Attributes:
        tenant: the lender.
        device_id: the registered device.
        metrics: Sparkplug metric name → riskstream metric name; None keeps the names.
    """

    tenant: str
    device_id: str
    metrics: Mapping[str, str] | None = None

    def metric_name(self, sparkplug_name: str) -> str | None:
        """The riskstream name of a Sparkplug metric; None when it is not mapped."""
        if self.metrics is None:
            return sparkplug_name
        return self.metrics.get(sparkplug_name)


Address = tuple[str, str, str | None]
"""(group, edge node, device or None for the edge node itself)."""


@dataclass(frozen=True)
class SparkplugMap:
    """Every lender's Sparkplug bindings, by address and by device."""

    bindings: Mapping[Address, Binding]
    groups: Mapping[str, str]
    """group → tenant."""

    def address_of(self, tenant: str, device_id: str) -> Address | None:
        """Where a registered device publishes as Sparkplug (the first binding found)."""
        for address, binding in self.bindings.items():
            if binding.tenant == tenant and binding.device_id == device_id:
                return address
        return None


def _fleet_bindings(fleet: Fleet, group: str) -> dict[Address, Binding]:
    tenant = fleet.tenant.id
    section = fleet.sparkplug
    assert section is not None
    if section.nodes is None:
        return {
            (group, device.site, device.id): Binding(tenant, device.id)
            for device in fleet.devices()
        }
    return {
        (group, node.edge, node.device): Binding(
            tenant, node.device_id, None if node.metrics is None else dict(node.metrics)
        )
        for node in section.nodes
    }


def sparkplug_map(fleets: Iterable[Fleet]) -> SparkplugMap:
    """The bindings of every fleet with a ``sparkplug`` section.

    Raises:
        SparkplugGroupError: two fleets claim the same group.
    """
    bindings: dict[Address, Binding] = {}
    groups: dict[str, str] = {}
    for fleet in fleets:
        if fleet.sparkplug is None:
            continue
        tenant = fleet.tenant.id
        group = fleet.sparkplug.group or tenant
        other = groups.get(group)
        if other is not None and other != tenant:
            raise SparkplugGroupError(group, (other, tenant))
        groups[group] = tenant
        bindings.update(_fleet_bindings(fleet, group))
    return SparkplugMap(bindings, groups)
