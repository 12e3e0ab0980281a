"""Response bodies of the portfolio, borrower, collateral, device and map endpoints.

Every figure carries its unit in its name (``_kg``, ``_s``) or next to it (``unit``,
``currency``); times are epoch seconds of event time unless named otherwise.
"""

from typing import Any, Literal

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from riskstream.api.alert_views import AlertOut

SiteKindName = Literal["warehouse", "production_line", "vehicle", "yard"]
NOT_SENT = (
    "null: behind `serve --nats`, no risk worker has sent the borrower's state yet "
    "(`live_state.source` `none`), so there is no score: not 0, not low risk"
)
COMPUTED_AT = "event time the score is as of, epoch s; null with the score"
REASONS = "why the score is what it is; empty without a score"
COMPONENTS = "the score's parts and features; empty without a score"


class ErrorOut(BaseModel):
    """The body of every 4xx answer other than 422: one human sentence."""

    detail: str


# the error answers every ``/api`` route may give
MAX_OFFSET = 2**62
"""Largest offset or event id a query takes (the SQL database's integers are 64-bit)."""

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "not authenticated"},
    403: {"model": ErrorOut, "description": "the user's role may not do this"},
    404: {"model": ErrorOut, "description": "unknown, or not the user's to see"},
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorOut, "description": "the current state does not allow this"}
}


def bad_query(field: str, message: str) -> RequestValidationError:
    """A 422 for a query parameter, shaped like FastAPI's own validation errors."""
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", field), "msg": message, "input": None}]
    )


class Exposure(BaseModel):
    """Loan exposure of a borrower (or the portfolio) in one currency.

    ``exposure_at_risk`` is, per loan, ``principal × (1 − min(coverage, 1))`` where
    coverage is the value on hand of the loan's weighed lots over their pledged value;
    loans without weighed collateral add nothing (their coverage is not measured).
    """

    currency: str
    principal: float = Field(description="sum of loan principals")
    pledged_value: float = Field(description="value of the pledged quantity of weighed lots")
    value_on_hand: float = Field(description="value of what the load cells weigh now")
    value_shortfall: float = Field(description="sum over lots of (pledged − on hand)⁺ × unit value")
    exposure_at_risk: float


class AlertCounts(BaseModel):
    """Open (or acknowledged) alerts by severity."""

    critical: int = 0
    warning: int = 0
    info: int = 0
    total: int = 0


class LiveStateOut(BaseModel):
    """Where the engine figures of a borrower (score, matrix, coverage) come from."""

    source: Literal["engine", "risk_worker", "none"] = Field(
        description="engine: this process's engine (`serve`); risk_worker: the state the "
        "borrower's risk worker last sent (`serve --nats`); none: no risk worker has sent "
        "it yet (the scores are null, the reasons empty, the on-hand figures those of a "
        "borrower without data)"
    )
    worker: str | None = Field(description="the risk worker that sent it")
    published_at: float | None = Field(description="wall time it was sent, epoch s")
    age_s: float | None = Field(
        description="seconds since it was sent, by this process's clock; a risk worker "
        "sends every borrower again at least every 30 s while it runs"
    )
    stale_after_s: float | None = Field(
        description="a state older than this (seconds) is stale: its risk worker may be "
        "down; null for `engine`"
    )
    stale: bool = Field(
        description="true when the figures may not be current: older than `stale_after_s`, "
        "or no risk worker has sent them yet (`none`)"
    )


class PortfolioRow(BaseModel):
    """One borrower in the ranked portfolio."""

    rank: int = Field(description="1 = riskiest in the user's scope")
    borrower_id: str
    name: str
    industry: str
    score: float | None = Field(description="0–100, high = risky; " + NOT_SENT)
    computed_at: float | None = Field(description=COMPUTED_AT)
    reasons: list[str] = Field(description=REASONS)
    coverage: float | None = Field(description="value on hand / pledged value, weighed lots")
    worst_lot_coverage: float | None
    open_alerts: AlertCounts
    exposure: list[Exposure]
    matrix_score: float | None = Field(
        description="credit matrix score, 0–100, high = risky; " + NOT_SENT
    )
    segment: str = Field(description="the credit matrix segment whose weights apply")
    component_scores: dict[str, float | None] = Field(
        description="credit matrix component → score 0–100 (null: the component lacks data, "
        "or behind `serve --nats` no risk worker has sent the borrower's state yet)"
    )
    live_state: LiveStateOut


class PortfolioPage(BaseModel):
    """A page of the ranked portfolio, with totals over every matching borrower."""

    total: int
    limit: int
    offset: int
    items: list[PortfolioRow]
    totals: list[Exposure]
    open_alerts: AlertCounts
    event_time: float | None


class SiteOut(BaseModel):
    """A place collateral is kept (a vehicle is its own site)."""

    id: str
    kind: SiteKindName
    name: str
    timezone: str
    location: tuple[float, float] | None = Field(description="(lat, lon), degrees")
    geofence: list[tuple[float, float]] | None = Field(description="polygon of (lat, lon)")


class LastReading(BaseModel):
    """The newest value of one metric."""

    metric: str
    ts: float
    value: float


class DeviceOut(BaseModel):
    """A device with its newest readings from the telemetry store."""

    id: str
    kind: str
    site_id: str
    collateral_id: str | None
    interval_s: float
    metrics: list[str]
    last_seen: float | None
    last_readings: list[LastReading]


class CollateralOut(BaseModel):
    """A pledged lot: pledge, what is on hand now and its coverage."""

    id: str
    description: str
    loan_id: str
    site_id: str
    quantity: float = Field(description="pledged quantity, in unit")
    unit: str
    unit_value: float = Field(description="value of one unit, in currency")
    currency: str
    advance_rate: float
    pledged_value: float
    on_hand: float | None = Field(description="in unit; null when not weighed")
    coverage: float | None
    value_on_hand: float | None


class LoanOut(BaseModel):
    """A credit facility."""

    id: str
    principal: float
    currency: str
    collateral_ids: list[str]


class SitePage(BaseModel):
    """A site with the collateral kept and the devices installed there."""

    site: SiteOut
    collateral_ids: list[str]
    devices: list[DeviceOut]


class TimePoint(BaseModel):
    """One point of a time series."""

    ts: float
    value: float


class CoverageSeries(BaseModel):
    """Coverage of one lot over time, from the load cells' downsampled weights."""

    collateral_id: str
    unit: str
    points: list[TimePoint]


class MatrixComponent(BaseModel):
    """One component of a borrower's credit matrix score."""

    component: str
    score: float | None = Field(description="0–100, high = risky; " + NOT_SENT)
    has_data: bool = Field(
        description="false: its weight went to the other components (or no state was sent)"
    )
    weight: float = Field(description="its share of the segment's weights, 0–1")
    weight_used: float | None = Field(
        description="its share after components without data, 0–1; null with the score"
    )
    contribution: float | None = Field(
        description="weight_used × score, points of the matrix score; null with the score"
    )
    reasons: list[str]


class MatrixOut(BaseModel):
    """A borrower's credit matrix score: segment, components, and what lacked data."""

    segment: str
    score: float | None = Field(description="0–100, high = risky; " + NOT_SENT)
    notes: list[str] = Field(description="components without data whose weight went elsewhere")
    components: list[MatrixComponent]


class BorrowerDetail(BaseModel):
    """Everything the borrower page shows."""

    borrower_id: str
    tenant: str
    name: str
    industry: str
    score: float | None = Field(description="borrower risk score, 0–100, high = risky; " + NOT_SENT)
    computed_at: float | None = Field(description=COMPUTED_AT)
    reasons: list[str] = Field(description=REASONS)
    components: dict[str, float] = Field(description=COMPONENTS)
    matrix: MatrixOut
    score_history: list[TimePoint]
    coverage_history: list[CoverageSeries]
    coverage_alert_below: float = Field(description="the inventory rule's coverage threshold")
    window_start: float
    window_end: float
    exposure: list[Exposure]
    loans: list[LoanOut]
    collateral: list[CollateralOut]
    sites: list[SitePage]
    alerts: list[AlertOut] = Field(description="newest first, resolved ones included")
    alerts_total: int
    live_state: LiveStateOut


class BorrowerRow(BaseModel):
    """One borrower in ``GET /api/borrowers``, riskiest first."""

    borrower_id: str
    score: float | None = Field(description="borrower risk score, 0–100, high = risky; " + NOT_SENT)
    computed_at: float | None = Field(description=COMPUTED_AT)
    open_alerts: int = Field(description="how many of its alerts are open or acknowledged")
    reasons: list[str] = Field(description=REASONS)
    live_state: LiveStateOut


class ScorePoint(BaseModel):
    """The borrower risk score from an event time on."""

    ts: float = Field(description="event time it changed to this score, epoch s")
    score: float = Field(description="0–100, high = risky")


class BorrowerRiskOut(BaseModel):
    """A borrower's risk score with its reasons and parts, its history and open alerts."""

    borrower_id: str
    score: float | None = Field(description="borrower risk score, 0–100, high = risky; " + NOT_SENT)
    computed_at: float | None = Field(description=COMPUTED_AT)
    reasons: list[str] = Field(description=REASONS)
    components: dict[str, float] = Field(description=COMPONENTS)
    matrix: MatrixOut
    history: list[ScorePoint] = Field(
        description="every change of the score, oldest first (the last 256); empty without a score"
    )
    open_alerts: list[AlertOut] = Field(
        description="its open and acknowledged alerts (at most 1,000 of each), open first, "
        "as `GET /api/alerts` gives them: `score` brought up to the lender's event time, "
        "with the money at risk, currency, exposure and score basis"
    )
    live_state: LiveStateOut


class Telemetry(BaseModel):
    """A downsampled series: the mean of each ``every_s`` bucket."""

    device_id: str
    metric: str
    unit: str
    start: float
    end: float
    every_s: float
    points: list[TimePoint]


class Position(BaseModel):
    """A GPS fix."""

    ts: float
    lat: float
    lon: float


class Track(BaseModel):
    """The last positions of one GPS tracker, oldest first."""

    device_id: str
    positions: list[Position]


class MapSite(BaseModel):
    """A vehicle or yard (anything with a geofence or a location) and its tracks."""

    borrower_id: str
    site: SiteOut
    collateral_ids: list[str]
    tracks: list[Track]
    open_alerts: int
    state: Literal["outside_fence", "moving", "parked", "no_position"] = Field(
        description="from the trackers' newest fix and speed (riskstream.api.map_state)"
    )
    speed_kmh: float | None = Field(description="highest newest speed of its trackers")
    attention: int = Field(
        description="0 first: outside fence; moving with open alerts; moving; open alerts; "
        "parked; no position"
    )


class MapOut(BaseModel):
    """Sites to draw on the map, those that need attention first."""

    sites: list[MapSite]


class CollateralDetail(BaseModel):
    """A lot with its site, devices and, for vehicles and yards, the last positions."""

    borrower_id: str
    collateral: CollateralOut
    site: SiteOut
    devices: list[DeviceOut]
    tracks: list[Track]


class Threshold(BaseModel):
    """A horizontal line on an evidence chart."""

    value: float
    label: str


class EvidenceChart(BaseModel):
    """One series to fetch from ``/api/devices/{id}/telemetry`` and how to draw it."""

    device_id: str
    metric: str
    unit: str
    title: str
    thresholds: list[Threshold]


class EvidenceWindow(BaseModel):
    """Where to look for the telemetry behind an alert."""

    alert_id: str
    start: float = Field(description="breach start minus a lead of 2 × the rule's 'for'")
    end: float
    breach_start: float
    breach_end: float
    charts: list[EvidenceChart]
    track_device_ids: list[str] = Field(description="GPS trackers whose track to draw")
