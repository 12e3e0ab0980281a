"""The rules over HTTP: read, history, dry-run against recent telemetry, save.

- ``GET /api/rules`` — the rules in force: version, text, sha256, applied_at, source,
  and the last refused edit of the file (``last_error``), if any.
- ``GET /api/rules/history`` — applied versions, newest first, paginated.
- ``GET /api/rules/history/{version}`` — one version with its text.
- ``POST /api/rules/dry-run`` — backtest proposed rules and the rules in force over the
  last ``days`` of stored telemetry of the user's scope; compare the alerts.
- ``PUT /api/rules`` — risk admins: validate, write the rules file, apply, audit.

The rules are the service's (every tenant's): everyone authenticated may read them;
only risk admins change them, and once several lenders are registered only their own
lender's ``[[overrides]]`` (`riskstream.rules_tenancy`; 400 naming the field otherwise).
Warnings name only the user's own lender's overrides. An invalid rules text gives 400
with the file, line, field and reason next to the usual ``detail`` message.
"""

import threading
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from riskstream.api_auth import CurrentUser, runtime_of
from riskstream.api_views import MAX_OFFSET
from riskstream.dry_run import dry_run, read_window
from riskstream.errors import RulesFileError
from riskstream.rules_file import RuleSet
from riskstream.rules_keeper import NoRulesFileError
from riskstream.rules_tenancy import LenderScopeError, check_lender_change, warnings_for
from riskstream.runtime import Runtime
from riskstream.users import User

router = APIRouter(prefix="/api", tags=["rules"])

MAX_TEXT = 1_000_000
_dry_run_lock = threading.Lock()


class RulesErrorOut(BaseModel):
    """Why a rules text was refused (400): ``detail`` is the whole message."""

    detail: str
    file: str
    line: int | None
    field: str | None
    reason: str


class RulesRejectionOut(BaseModel):
    """The last edit of the rules file that was refused; the previous rules stay in force."""

    at: float = Field(description="wall time of the refused reload, epoch seconds")
    source: Literal["startup", "file", "api"]
    file: str
    line: int | None
    field: str | None
    reason: str
    message: str = Field(description="file:line: field: reason")
    sha256: str | None = Field(description="digest of the refused text (None: unreadable)")


class RulesVersionOut(BaseModel):
    """One applied version of the rules (without its text)."""

    version: int
    sha256: str
    applied_at: float = Field(description="wall time it took effect, epoch seconds")
    source: Literal["startup", "file", "api"] = Field(
        description="startup: the service started on it; file: the watched file changed; "
        "api: saved with PUT /api/rules"
    )
    actor: str | None = Field(description="who saved it through the API")
    path: str | None = Field(description="rules file (None: built-in rules)")


class RulesVersionText(RulesVersionOut):
    """One applied version with its TOML text."""

    text: str


class RulesOut(RulesVersionText):
    """The rules in force."""

    editable: bool = Field(description="whether PUT /api/rules can save (a rules file is used)")
    last_error: RulesRejectionOut | None = Field(
        description="the last refused edit of the rules file since the last good one"
    )
    warnings: list[str] = Field(description="e.g. overrides that match no registered loan")


class RulesHistoryPage(BaseModel):
    """One page of applied versions, newest first."""

    total: int
    limit: int
    offset: int
    items: list[RulesVersionOut]


class RulesIn(BaseModel):
    """A rules file to save."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_TEXT, description="the whole TOML text")


class DryRunIn(BaseModel):
    """Proposed rules and the window to try them on."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_TEXT, description="the whole TOML text")
    days: float = Field(
        7.0, gt=0, le=90, allow_inf_nan=False, description="how many days of telemetry, up to now"
    )
    limit: int = Field(500, ge=1, le=5000, description="at most this many alerts per list")


class AlertCounts(BaseModel):
    """Alerts counted in all, by kind, by severity and by kind and severity."""

    total: int
    by_kind: dict[str, int]
    by_severity: dict[str, int]
    by_kind_severity: dict[str, dict[str, int]]


class DryRunWindow(BaseModel):
    """The event-time window replayed."""

    start: float
    end: float
    days: float


class DryRunOut(BaseModel):
    """What the proposed rules would raise, against the rules in force, on the same data."""

    window: DryRunWindow
    readings: int = Field(description="readings replayed")
    seconds: float = Field(description="wall time of both replays")
    current_version: int = Field(description="version of the rules in force compared against")
    proposed: AlertCounts
    current: AlertCounts
    new: int = Field(description="alerts only the proposed rules raise")
    dropped: int = Field(description="alerts only the rules in force raise")
    alerts: list[dict[str, Any]] = Field(
        description="alerts of the proposed rules (alert contract fields plus raised_at; "
        "in_current: the rules in force raise the same alert; current_severity: its "
        "severity there)"
    )
    only_current: list[dict[str, Any]] = Field(
        description="alerts only the rules in force raise (alert contract plus raised_at)"
    )
    truncated: bool = Field(description="whether a list was cut to `limit`")


def _refused(exc: RulesFileError) -> JSONResponse:
    body = RulesErrorOut(
        detail=str(exc), file=str(exc.path), line=exc.line, field=exc.field, reason=exc.reason
    )
    return JSONResponse(status_code=400, content=body.model_dump())


class ErrorOut(BaseModel):
    """The API's usual error body."""

    detail: str


REFUSED: dict[int | str, dict[str, Any]] = {
    400: {"model": RulesErrorOut, "description": "the rules text is not valid"}
}
PUT_ERRORS: dict[int | str, dict[str, Any]] = {
    **REFUSED,
    403: {"model": ErrorOut, "description": "only risk admins change the rules"},
    409: {"model": ErrorOut, "description": "the service runs on built-in rules (no file)"},
}
DRY_RUN_ERRORS: dict[int | str, dict[str, Any]] = {
    **REFUSED,
    404: {"model": ErrorOut, "description": "the user's tenant has no registered fleet"},
    429: {"model": ErrorOut, "description": "another dry-run is running"},
    503: {"model": ErrorOut, "description": "the telemetry store is not open"},
}


@router.get("/rules", response_model=RulesOut)
def get_rules(request: Request, user: CurrentUser) -> dict[str, Any]:
    """The rules in force, and why the last edit of the file was refused (if it was)."""
    return _status_for(runtime_of(request), user)


@router.get("/rules/history", response_model=RulesHistoryPage)
def rules_history(
    request: Request,
    _user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    """Applied versions of the rules, newest first."""
    total, items = runtime_of(request).rules_history.page(limit, offset)
    return {
        "total": total,
        "limit": limit,
        "offset": offset,
        "items": [v.to_dict(with_text=False) for v in items],
    }


@router.get("/rules/history/{version}", response_model=RulesVersionText)
def rules_version(request: Request, version: int, _user: CurrentUser) -> dict[str, Any]:
    """One applied version with its text."""
    in_range = 0 <= version < 2**63  # SQLite integers are 64-bit
    found = runtime_of(request).rules_history.get(version) if in_range else None
    if found is None:
        raise HTTPException(404, f"no rules version {version}")
    return found.to_dict()


def _require_admin(user: User, action: str) -> None:
    if user.role != "risk_admin":
        raise HTTPException(403, f"role {user.role} cannot {action}; risk admins own the rules")


@router.put("/rules", response_model=RulesOut, responses=PUT_ERRORS)
async def put_rules(request: Request, user: CurrentUser, body: RulesIn) -> Any:
    """Validate, write the rules file, apply at once and audit (risk admins).

    Runs on the event loop, the engine's thread, so the change lands between two steps.
    """
    _require_admin(user, "change the rules")
    runtime = runtime_of(request)
    keeper = runtime.rules_keeper
    try:
        _check_lender_scope(runtime, user, keeper.check(body.text))
        keeper.save(body.text, user.username)
    except RulesFileError as exc:
        return _refused(exc)
    except LenderScopeError as exc:
        body_out = RulesErrorOut(
            detail=str(exc), file="PUT /api/rules", line=None, field=exc.field, reason=exc.reason
        )
        return JSONResponse(status_code=400, content=body_out.model_dump())
    except NoRulesFileError as exc:
        raise HTTPException(409, str(exc)) from exc
    except OSError as exc:
        raise HTTPException(500, f"cannot write the rules file: {exc}") from exc
    return _status_for(runtime, user)


def _lenders(runtime: Runtime) -> set[str]:
    """Every lender the service knows: registered fleets and users' tenants."""
    return set(runtime.registry.tenants()) | {u.tenant for u in runtime.users.all_users()}


def _check_lender_scope(runtime: Runtime, user: User, proposed: RuleSet) -> None:
    tenants = runtime.registry.tenants()
    own_loans = (
        {loan.id for b in runtime.registry.fleet(user.tenant).borrowers for loan in b.loans}
        if user.tenant in tenants
        else set()
    )
    check_lender_change(runtime.rules, proposed, user.tenant, _lenders(runtime), own_loans)


def _status_for(runtime: Runtime, user: User) -> dict[str, Any]:
    """The rules status, with only the warnings about the user's own lender."""
    status = runtime.rules_keeper.status()
    status["warnings"] = warnings_for(status["warnings"], runtime.rules, user.tenant)
    return status


@router.post("/rules/dry-run", response_model=DryRunOut, responses=DRY_RUN_ERRORS)
def post_dry_run(request: Request, user: CurrentUser, body: DryRunIn) -> Any:
    """Backtest proposed rules and the rules in force over the last ``days`` of telemetry.

    Only the user's scope is replayed (the tenant; an officer's portfolio). Nothing
    changes in the live engine. One dry-run runs at a time (429 while one is running).
    """
    runtime = runtime_of(request)
    try:
        proposed = runtime.rules_keeper.check(body.text)
    except RulesFileError as exc:
        return _refused(exc)
    if runtime.store is None:
        raise HTTPException(503, "the telemetry store is not open yet; try again shortly")
    if user.tenant not in runtime.registry.tenants():
        raise HTTPException(404, f"tenant {user.tenant!r} has no registered fleet")
    fleet = runtime.registry.fleet(user.tenant)
    if user.role == "loan_officer":
        mine = [b for b in fleet.borrowers if b.id in user.portfolio]
        fleet = fleet.model_copy(update={"borrowers": mine})
    if not _dry_run_lock.acquire(blocking=False):
        raise HTTPException(429, "a dry-run is already running; try again when it finishes")
    try:
        end = runtime.engines.of(user.tenant).watermark or time.time()
        start = end - body.days * 86400.0
        devices = [d.id for b in fleet.borrowers for d in b.devices]
        telemetry = read_window(runtime.store, user.tenant, devices, start, end + 1e-6)
        result = dry_run(fleet, runtime.rules, proposed, telemetry, (start, end))
    finally:
        _dry_run_lock.release()
    return {**result.report(body.limit), "current_version": runtime.rules_keeper.current.version}
