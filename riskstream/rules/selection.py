"""Which devices a user-written table watches: the selector keys that ``[[rules.custom]]``
and ``[rules.anomaly.series]`` share, described and checked once."""

import fnmatch

from pydantic import Field

from devices.model import DeviceKind
from riskstream.rules.fields import StrictSection


class DeviceSelection(StrictSection):
    """A table that selects devices by lender, kind, id or glob, and site; an empty list
    selects every device."""

    tenants: list[str] = Field(default_factory=list, description="only these lenders")
    device_kinds: list[DeviceKind] = Field(
        default_factory=list, description="only these device kinds"
    )
    devices: list[str] = Field(default_factory=list, description="device ids or globs (silo-*)")
    sites: list[str] = Field(default_factory=list, description="only devices at these sites")

    def selects_device(self, tenant: str, kind: DeviceKind, device_id: str, site_id: str) -> bool:
        """Whether ``device_id`` (of ``tenant``, a ``kind`` at ``site_id``) is selected."""
        if self.tenants and tenant not in self.tenants:
            return False
        if self.device_kinds and kind not in self.device_kinds:
            return False
        if self.sites and site_id not in self.sites:
            return False
        return not self.devices or any(fnmatch.fnmatchcase(device_id, p) for p in self.devices)
