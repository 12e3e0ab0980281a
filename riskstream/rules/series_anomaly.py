"""``[rules.anomaly.series]``: anomaly detection on any series, chosen by what it watches.

::

    [rules.anomaly.series]
    enabled = true
    metrics = ["level_pct", "pressure_bar"]   # or ["*"]: every metric of the devices
    device_kinds = ["generic"]                 # optional, like devices, sites, tenants
    method = "residual+dispersion"
    for = "10m"
    clear_after = "30m"
    cooldown = "6h"

With ``model = "cohort"`` the series of one metric of one device kind within one lender
(``cohort_by = ["site"]``: and one site) share one model
(`riskstream.detectors.cohort_series`), and a new device is judged after
``cohort_warmup`` rather than ``warmup``. Otherwise each selected series (a device's
metric) gets its own online model
(`riskstream.detectors.anomaly_methods`), which learns its daily and weekly profile on any
cadence, judges each reading before learning it, and does not learn what it judged
anomalous (until a change has lasted long enough to be the new normal). ``method``
was chosen by `riskstream bench anomaly` (README, "Anomaly detection on any series").
"""

import fnmatch
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from devices.model import DeviceKind
from riskstream.rules.custom import FieldError, Seconds

Model = Literal["series", "cohort"]
Method = Literal[
    "residual+dispersion", "seasonal_residual", "robust_seasonal", "dispersion", "half_space_trees"
]
Severity = Literal["info", "warning", "critical"]


class SeriesAnomalyRule(BaseModel):
    """The ``[rules.anomaly.series]`` table: an online anomaly model for each series (device
    metric) it selects, judged before learned."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )

    enabled: bool = Field(False, description="true turns it on")
    metrics: list[str] = Field(
        default_factory=list, description='metric names, or ["*"] for every metric'
    )
    tenants: list[str] = Field(default_factory=list, description="only these lenders")
    device_kinds: list[DeviceKind] = Field(
        default_factory=list, description="only these device kinds"
    )
    devices: list[str] = Field(default_factory=list, description="device ids or globs")
    sites: list[str] = Field(default_factory=list, description="only devices at these sites")
    method: Method = Field(
        "residual+dispersion", description="the online model (chosen by `riskstream bench anomaly`)"
    )
    for_: Seconds = Field(0.0, alias="for", description="anomalous this long before alerting")
    clear_after: Seconds = Field(1800.0, description="normal this long before it clears")
    cooldown: Seconds = Field(
        6 * 3600.0, description="after an alert cleared, no new one on the series this long"
    )
    warmup: Seconds = Field(86400.0, description="event time a series is learned before judged")
    model: Model = Field(
        "series",
        description='"series": a model per series (its own profile, after warmup); '
        '"cohort": one model per cohort (a lender\'s devices of one kind and metric), each '
        "series judged by its own level and scale after cohort_warmup",
    )
    cohort_by: list[Literal["site"]] = Field(
        default_factory=list, description='["site"]: a cohort per site too (model = "cohort")'
    )
    cohort_warmup: Seconds = Field(
        3 * 3600.0,
        gt=0,
        description="event time a new series learns its level and scale before its cohort "
        'judges it (model = "cohort")',
    )
    severity: Severity = Field("info", description="severity of its alerts")

    @model_validator(mode="after")
    def _watches_something(self) -> Self:
        if self.enabled and not self.metrics:
            raise FieldError("metrics", 'name the metrics to watch, or ["*"] for all')
        return self

    def watches_metric(self, metric: str) -> bool:
        """Whether ``metric`` is one this table watches (of some device)."""
        return self.enabled and ("*" in self.metrics or metric in self.metrics)

    def selects(self, tenant: str, kind: DeviceKind, device_id: str, site_id: str) -> bool:
        """Whether this table watches ``device_id``'s series."""
        if self.tenants and tenant not in self.tenants:
            return False
        if self.device_kinds and kind not in self.device_kinds:
            return False
        if self.sites and site_id not in self.sites:
            return False
        return not self.devices or any(fnmatch.fnmatchcase(device_id, p) for p in self.devices)
