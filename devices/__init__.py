"""The domain of riskstream and its registry.

Lenders (tenants) lend to borrowers; loans are secured by pledged collateral kept at
sites (warehouses, production lines, vehicles) and watched by devices. This package
holds those types, the `Reading` that devices produce, the MQTT topic grammar that
devices publish under, the YAML fleet file, and the SQL registry. It imports nothing
from the other riskstream packages.
"""

from devices.model import (
    Borrower,
    Collateral,
    Device,
    DeviceKind,
    Fleet,
    Loan,
    Site,
    SiteKind,
    Tenant,
)
from devices.reading import Reading

__all__ = [
    "Borrower",
    "Collateral",
    "Device",
    "DeviceKind",
    "Fleet",
    "Loan",
    "Reading",
    "Site",
    "SiteKind",
    "Tenant",
]
