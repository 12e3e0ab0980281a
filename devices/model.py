"""Domain types: a fleet is one lender's borrowers, loans, collateral, sites and devices.

These are the validated shape of a fleet file and of what the registry stores. They
check themselves when built (ids, references between them, value ranges), so a
`Fleet` that exists is consistent.
"""

from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from devices.topics import reserved_device_id_reason

Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")]
Serial = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/\-]{0,63}$")]
Tag = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")]
MAX_TAGS_PER_LOT = 100_000
LatLon = tuple[Annotated[float, Field(ge=-90, le=90)], Annotated[float, Field(ge=-180, le=180)]]

KG_PER_UNIT = {"kg": 1.0, "t": 1000.0}


class SiteKind(StrEnum):
    """Where collateral is kept."""

    WAREHOUSE = "warehouse"
    PRODUCTION_LINE = "production_line"
    VEHICLE = "vehicle"
    YARD = "yard"


class DeviceKind(StrEnum):
    """What a device measures; `METRICS` lists the metrics each kind sends."""

    LOAD_CELL = "load_cell"
    RFID_GATE = "rfid_gate"
    DOOR = "door"
    TEMPERATURE = "temperature"
    POWER_METER = "power_meter"
    OUTPUT_COUNTER = "output_counter"
    GPS_TRACKER = "gps_tracker"
    GENERIC = "generic"


METRICS: dict[DeviceKind, tuple[str, ...]] = {
    DeviceKind.LOAD_CELL: ("weight_kg",),
    DeviceKind.RFID_GATE: ("units_in_count", "units_out_count"),
    DeviceKind.DOOR: ("door_open",),
    DeviceKind.TEMPERATURE: ("temperature_c", "humidity_pct"),
    DeviceKind.POWER_METER: ("power_kw",),
    DeviceKind.OUTPUT_COUNTER: ("output_count",),
    DeviceKind.GPS_TRACKER: ("lat_deg", "lon_deg", "speed_kmh", "ignition"),
    DeviceKind.GENERIC: (),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tenant(_Strict):
    """A lender using riskstream."""

    id: Id = Field(description="the lender's id, the {tenant} of its devices' topics")
    name: str = Field("", description="name shown to people")
    require_signature: bool = Field(
        default=False, description="refuse telemetry that is not HMAC-signed by its device"
    )


class Collateral(_Strict):
    """Goods or equipment pledged to a loan, kept at one site."""

    id: Id = Field(description="collateral (lot) id, the lender's own")
    description: str = Field("", description="what the goods are, for people")
    quantity: float = Field(gt=0, description="pledged quantity, in `unit`")
    unit: str = Field(min_length=1, description="t, kg, units, vehicle, ...")
    unit_value: float = Field(gt=0, description="value of one unit, in the loan currency")
    advance_rate: float = Field(gt=0, le=1, description="share of the value lent against")
    site: Id = Field(description="the site the collateral is kept at")
    handling_unit_kg: float | None = Field(
        default=None, gt=0, description="weight of one pallet, bag or coil the goods move in"
    )
    temperature_band_c: tuple[float, float] | None = Field(
        default=None, description="perishable goods: (lowest, highest) storage temperature, °C"
    )
    rfid_tags: list[Tag] | None = Field(
        default=None,
        max_length=MAX_TAGS_PER_LOT,
        description="RFID (EPC) tags of the pledged units; the platform compares them, "
        "hashed, with other lenders' lots",
    )

    @property
    def pledged_value(self) -> float:
        """Value of the pledged quantity."""
        return self.quantity * self.unit_value

    def quantity_from_kg(self, kg: float) -> float | None:
        """Convert a weight to this collateral's unit, or None if it is not a mass unit."""
        per_unit = KG_PER_UNIT.get(self.unit)
        return None if per_unit is None else kg / per_unit

    @model_validator(mode="after")
    def _band_ordered(self) -> Self:
        band = self.temperature_band_c
        if band is not None and band[0] > band[1]:
            raise ValueError("temperature_band_c must be (lowest, highest)")
        return self


class Loan(_Strict):
    """A credit facility secured by collateral."""

    id: Id = Field(description="loan id, the lender's own")
    principal: float = Field(gt=0, description="amount lent, in `currency`")
    currency: str = Field("EUR", description="currency of the principal and unit values")
    collateral: list[Collateral] = Field(default_factory=list)


class Site(_Strict):
    """A place goods are kept: warehouse, production line, yard, or a vehicle itself."""

    id: Id = Field(description="site id, the lender's own")
    kind: SiteKind = Field(description="what the site is")
    name: str = Field("", description="name shown to people")
    timezone: str = Field(
        "UTC", description="IANA timezone: the local hours and holidays of the site's rules"
    )
    location: LatLon | None = Field(None, description="(lat, lon) of the site")
    geofence: list[LatLon] | None = Field(
        default=None, description="polygon (lat, lon) the site or vehicle must stay inside"
    )

    @model_validator(mode="after")
    def _geofence_is_polygon(self) -> Self:
        if self.geofence is not None and len(self.geofence) < 3:
            raise ValueError("geofence needs at least 3 points")
        if self.kind is SiteKind.VEHICLE and self.geofence is None:
            raise ValueError("a vehicle site needs a geofence")
        return self


class Device(_Strict):
    """A sensor or gateway that publishes telemetry."""

    id: Id = Field(description="the {device_id} of the device's topics")
    kind: DeviceKind = Field(description="what it measures (see the table below)")
    site: Id = Field(description="the site it is installed at")
    collateral: Id | None = Field(None, description="the collateral it weighs or counts")
    interval_s: float = Field(default=60.0, gt=0, description="expected reporting interval")
    secret: str | None = Field(default=None, description="HMAC key for signed payloads")
    serial: Serial | None = Field(
        default=None,
        description="the maker's serial number; the platform compares it, hashed, with "
        "other lenders' devices",
    )

    @field_validator("id")
    @classmethod
    def _id_not_reserved(cls, value: str) -> str:
        reason = reserved_device_id_reason(value)
        if reason is not None:
            raise ValueError(reason)
        return value


class Borrower(_Strict):
    """A company that borrows against collateral."""

    id: Id = Field(description="borrower id, the lender's own (another lender may use it too)")
    name: str = Field("", description="name shown to people")
    industry: str = Field("", description="shown to people")
    timezone: str = Field("UTC", description="IANA timezone of the borrower")
    loans: list[Loan] = Field(default_factory=list)
    sites: list[Site] = Field(default_factory=list)
    devices: list[Device] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references_resolve(self) -> Self:
        site_ids = {s.id for s in self.sites}
        collateral_ids = {c.id for loan in self.loans for c in loan.collateral}
        for loan in self.loans:
            for c in loan.collateral:
                if c.site not in site_ids:
                    raise ValueError(f"collateral {c.id} names unknown site {c.site}")
        for d in self.devices:
            if d.site not in site_ids:
                raise ValueError(f"device {d.id} names unknown site {d.site}")
            if d.collateral is not None and d.collateral not in collateral_ids:
                raise ValueError(f"device {d.id} names unknown collateral {d.collateral}")
        return self


SparkplugId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^/+#]+$")]
MetricName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class SparkplugNode(_Strict):
    """One Sparkplug edge node, or one device behind it, bound to a registered device."""

    edge: SparkplugId = Field(description="the Sparkplug edge node id ({edge} of its topics)")
    device: SparkplugId | None = Field(
        default=None,
        description="the Sparkplug device id ({device} of DBIRTH/DDATA); omit for the "
        "edge node's own metrics (NBIRTH/NDATA)",
    )
    device_id: Id = Field(description="the registered device its metrics are readings of")
    metrics: dict[str, MetricName] | None = Field(
        default=None,
        description="Sparkplug metric name → riskstream metric name; metrics not listed "
        "are refused (unmapped_metric). Omitted: each metric keeps its name, which must "
        "then be snake_case",
    )


class Sparkplug(_Strict):
    """Where the lender's Sparkplug B edge nodes publish, and which device each is."""

    group: Id | None = Field(
        default=None,
        description="the Sparkplug group id of this lender's edge nodes (default: the "
        "tenant id); no two lenders may share one, and the broker's ACL lets a lender's "
        "login publish under its own group only",
    )
    nodes: list[SparkplugNode] | None = Field(
        default=None,
        description="the edge nodes and devices; omitted: every device is device {id} of "
        "edge node {site id}, its metrics named as riskstream names them",
    )


class Fleet(_Strict):
    """Everything one lender has registered: the content of a fleet file."""

    tenant: Tenant
    borrowers: list[Borrower] = Field(default_factory=list)
    sparkplug: Sparkplug | None = Field(
        default=None, description="the lender's Sparkplug B edge nodes (absent: none)"
    )

    @model_validator(mode="after")
    def _ids_unique(self) -> Self:
        for label, ids in (
            ("borrower", [b.id for b in self.borrowers]),
            ("loan", [loan.id for b in self.borrowers for loan in b.loans]),
            ("collateral", [c.id for b in self.borrowers for ln in b.loans for c in ln.collateral]),
            ("site", [s.id for b in self.borrowers for s in b.sites]),
            ("device", [d.id for b in self.borrowers for d in b.devices]),
        ):
            seen: set[str] = set()
            for i in ids:
                if i in seen:
                    raise ValueError(f"{label} id {i} is used twice")
                seen.add(i)
        return self

    @model_validator(mode="after")
    def _sparkplug_resolves(self) -> Self:
        if self.sparkplug is None or self.sparkplug.nodes is None:
            return self
        device_ids = {d.id for d in self.devices()}
        seen: set[tuple[str, str | None]] = set()
        for i, node in enumerate(self.sparkplug.nodes):
            where = f"sparkplug.nodes.{i}"
            if node.device_id not in device_ids:
                raise ValueError(f"{where}: device_id {node.device_id} is not a registered device")
            if (node.edge, node.device) in seen:
                raise ValueError(f"{where}: edge {node.edge} device {node.device} is listed twice")
            seen.add((node.edge, node.device))
        return self

    def devices(self) -> list[Device]:
        """All devices of all borrowers."""
        return [d for b in self.borrowers for d in b.devices]
