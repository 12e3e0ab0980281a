"""The rules over HTTP: read, history, dry-run against recent telemetry, save.

- ``GET /api/rules`` — the rules in force for the user's lender: version, text, sha256,
  applied_at, source, scope, and the last refused edit of the file (``last_error``).
- ``GET /api/rules/history`` — applied versions of those rules, newest first, paginated.
- ``GET /api/rules/history/{version}`` — one version with its text.
- ``POST /api/rules/dry-run`` — backtest proposed rules and the rules in force over the
  last ``days`` of stored telemetry of the user's scope; compare the alerts.
- ``PUT /api/rules`` — risk admins: validate, save, apply, audit.

Each lender runs on the service's rules (the file: ``scope`` "service") until one of its
risk admins saves rules of its own (``scope`` "lender", `riskstream.rules.lender`),
which apply to that lender alone and are versioned and audited within it. While the
service has a single lender and it has no rules of its own, ``PUT`` writes the service's
rules file instead, as before. A lender's rules may name no other lender and no loan
that is not its own (`riskstream.rules.tenancy`; 400 naming the field). Users read the
service's rules without other lenders' ``[[overrides]]``, and warnings only about their
own lender. An invalid rules text gives 400 with the file, line, field and reason next
to the usual ``detail`` message.
"""

import threading
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from riskstream.api.auth import CurrentUser, runtime_of
from riskstream.api.views import MAX_OFFSET
from riskstream.errors import RulesFileError
from riskstream.rules.dry_run import dry_run, read_window
from riskstream.rules.history import RulesVersion, digest
from riskstream.rules.keeper import NoRulesFileError
from riskstream.rules.tenancy import LenderScopeError, shown_text, warnings_for
from riskstream.service.runtime import Runtime
from riskstream.service.users import User

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

    scope: Literal["service", "lender"] = Field(
        description="service: the service's rules file, the default of every lender; "
        "lender: the user's lender's own rules"
    )
    version: int = Field(description="numbered from 1 within the scope")
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

    editable: bool = Field(
        description="whether PUT /api/rules can save: the lender may keep rules of its own, "
        "or the service's rules come from a file"
    )
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
    scores: list[dict[str, Any]] = Field(
        description="per borrower, its headline score and credit matrix score (0–100) and "
        "matrix segment at the window's end, `proposed` and `current`; largest change first"
    )


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
    """The rules in force for the user's lender, and why the last edit of the service's
    rules file was refused (if it was)."""
    return _status_for(runtime_of(request), user)


@router.get("/rules/history", response_model=RulesHistoryPage)
def rules_history(
    request: Request,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    """Applied versions of the rules in force for the user's lender, newest first."""
    runtime = runtime_of(request)
    scope = _scope(runtime, user)
    total, items = runtime.rules_history.page(limit, offset, scope=_history_scope(user, scope))
    return {
        "total": total,
        "limit": limit,
        "offset": offset,
        "items": [{**v.to_dict(with_text=False), "scope": scope} for v in items],
    }


@router.get("/rules/history/{version}", response_model=RulesVersionText)
def rules_version(request: Request, version: int, user: CurrentUser) -> dict[str, Any]:
    """One applied version with its text."""
    runtime = runtime_of(request)
    scope = _scope(runtime, user)
    in_range = 0 <= version < 2**63  # SQLite integers are 64-bit
    history = runtime.rules_history
    found = history.get(version, _history_scope(user, scope)) if in_range else None
    if found is None:
        raise HTTPException(404, f"no rules version {version}")
    return _shown(runtime, user, found, scope)


def _scope(runtime: Runtime, user: User) -> Literal["service", "lender"]:
    return "lender" if runtime.lender_rules.has_own(user.tenant) else "service"


def _history_scope(user: User, scope: str) -> str:
    return user.tenant if scope == "lender" else ""


def _shown(runtime: Runtime, user: User, version: RulesVersion, scope: str) -> dict[str, Any]:
    """A version as the user may read it: the service's without other lenders' overrides
    (the digest is then of the text shown)."""
    data = {**version.to_dict(), "scope": scope}
    if scope == "service":
        keeper = runtime.rules_keeper
        try:
            ruleset = keeper.check(version.text)
        except RulesFileError:  # an old version this code no longer reads: show nothing
            ruleset = None
        text = (
            shown_text(version.text, ruleset, user.tenant, keeper.check)
            if ruleset is not None
            else "# this version cannot be shown: it is not valid for this riskstream\n"
        )
        if text != version.text:
            data.update(text=text, sha256=digest(text))
    return data


def _require_admin(user: User, action: str) -> None:
    if user.role != "risk_admin":
        raise HTTPException(403, f"role {user.role} cannot {action}; risk admins own the rules")


@router.put("/rules", response_model=RulesOut, responses=PUT_ERRORS)
async def put_rules(request: Request, user: CurrentUser, body: RulesIn) -> Any:
    """Validate, save, apply at once and audit (risk admins): the lender's own rules, or
    the service's rules file while it is the only lender.

    Runs on the event loop, the engine's thread, so the change lands between two steps.
    """
    _require_admin(user, "change the rules")
    runtime = runtime_of(request)
    try:
        if _keeps_own_rules(runtime, user):
            runtime.save_own_rules(user.tenant, body.text, user.username)
        else:
            runtime.rules_keeper.save(body.text, user.username)
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


def _keeps_own_rules(runtime: Runtime, user: User) -> bool:
    """Whether the user's lender saves rules of its own: it has some, or it shares the
    service with other lenders (whose default, the file, it must not change)."""
    return runtime.lender_rules.has_own(user.tenant) or bool(_lenders(runtime) - {user.tenant})


def _status_for(runtime: Runtime, user: User) -> dict[str, Any]:
    """The rules in force for the user's lender, with only the warnings about it."""
    tenant = user.tenant
    if runtime.lender_rules.has_own(tenant):
        version = runtime.lender_rules.current[tenant]
        return {
            **_shown(runtime, user, version, "lender"),
            "editable": True,
            "last_error": None,
            "warnings": runtime.engines.warnings_of(tenant),
        }
    keeper = runtime.rules_keeper
    status = keeper.status()
    return {
        **status,
        **_shown(runtime, user, keeper.current, "service"),
        "editable": status["editable"] or _keeps_own_rules(runtime, user),
        "warnings": warnings_for(status["warnings"], runtime.rules, tenant),
        "last_error": status["last_error"] if not _keeps_own_rules(runtime, user) else None,
    }


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
        in_force = runtime.engines.rules_of(user.tenant)
        result = dry_run(fleet, in_force, proposed, telemetry, (start, end))
    finally:
        _dry_run_lock.release()
    own = runtime.lender_rules.current.get(user.tenant)
    current = own if own is not None else runtime.rules_keeper.current
    return {**result.report(body.limit), "current_version": current.version}
