"""The HTTP service: alert API, live feed (SSE), Prometheus metrics and the dashboard.

`create_app` either owns a `Runtime` for its lifespan (``riskstream serve``) or is
handed one that its caller runs (``riskstream demo``).
"""

import asyncio
import contextlib
import hmac
import math
import os
import re
import signal
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from riskstream.api.actions import router as actions_router
from riskstream.api.alert_views import AlertOut, all_scored_now, scored_now
from riskstream.api.assets import router as assets_router
from riskstream.api.auth import CurrentUser, runtime_of, session_ended, stream_user
from riskstream.api.auth import router as auth_router
from riskstream.api.borrowers import router as borrowers_router
from riskstream.api.http_guard import HttpGuard
from riskstream.api.notification_channels import router as notification_channels_router
from riskstream.api.notifications import router as notifications_router
from riskstream.api.portfolio import router as portfolio_router
from riskstream.api.rules import router as rules_router
from riskstream.api.validation import validation_error_handler
from riskstream.api.views import CONFLICT, ERRORS, MAX_OFFSET, ErrorOut, bad_query
from riskstream.service.alert_store import AlertFilter
from riskstream.service.health import readiness
from riskstream.service.runtime import Runtime
from riskstream.service.settings import ServiceSettings
from riskstream.service.users import User

STREAM_WAIT_S = 10.0
STREAM_PAGE = 500
STATIC = Path(__file__).resolve().parent.parent / "static"
STATIC_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\.(js|css)")

router = APIRouter(prefix="/api")
TOO_LARGE: dict[str, Any] = {"model": ErrorOut, "description": "body over max_body_bytes"}


class AlertPage(BaseModel):
    """One page of alerts, and the feed position to resume the stream from."""

    total: int
    limit: int
    offset: int
    items: list[AlertOut]
    last_event_id: int


def _runtime(request: Request) -> Runtime:
    return runtime_of(request)


def _scope(user: User, flt: AlertFilter) -> AlertFilter:
    """Restrict a filter to what ``user`` may see (tenant; an officer's portfolio)."""
    portfolio = user.portfolio if user.role == "loan_officer" else None
    return replace(flt, tenant=user.tenant, borrower_ids=portfolio)


def _parse_since(since: str | None) -> float | None:
    if since is None or since == "":
        return None
    try:
        seconds = float(since)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            raise bad_query("since", f"{since!r}: epoch seconds must be a finite number")
        return seconds
    try:
        parsed = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError as exc:
        raise bad_query("since", f"{since!r}: use epoch seconds or RFC 3339") from exc
    if parsed.tzinfo is None:
        raise bad_query("since", f"{since!r}: RFC 3339 time needs a timezone offset")
    return parsed.timestamp()


@router.get("/alerts", response_model=AlertPage)
def list_alerts(
    request: Request,
    user: CurrentUser,
    status: Literal["open", "acknowledged", "resolved"] | None = None,
    severity: Literal["info", "warning", "critical"] | None = None,
    borrower: str | None = None,
    since: Annotated[str | None, Query(description="epoch seconds or RFC 3339")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    """Alerts, newest first; filter by status, severity, borrower and update time."""
    runtime = _runtime(request)
    last = runtime.alerts.last_tenant_seq(user.tenant)
    flt = _scope(
        user,
        AlertFilter(
            status=status, severity=severity, borrower_id=borrower, since=_parse_since(since)
        ),
    )
    total, items = runtime.alerts.query(flt, limit, offset)
    items = all_scored_now(runtime, items)
    return {"total": total, "limit": limit, "offset": offset, "items": items, "last_event_id": last}


def _resume_point(
    after: Annotated[
        int | None, Query(ge=0, le=MAX_OFFSET, description="resume after this event id")
    ] = None,
    last_event_id: Annotated[
        str | None,
        Header(
            pattern=r"^\s*[0-9]{1,19}\s*$",
            description="event id to resume after (browsers send it on reconnect)",
        ),
    ] = None,
) -> int | None:
    """The event id to resume after: ``Last-Event-ID`` before ``after``; 422 when either
    is not an event id (an integer from 0 to `MAX_OFFSET`)."""
    if last_event_id is None:
        return after
    cursor = int(last_event_id.strip())
    if cursor > MAX_OFFSET:
        raise RequestValidationError(
            [
                {
                    "type": "less_than_equal",
                    "loc": ("header", "last-event-id"),
                    "msg": f"an event id is at most {MAX_OFFSET}",
                    "input": last_event_id,
                }
            ]
        )
    return cursor


@router.get("/alerts/stream", response_class=EventSourceResponse)
async def alert_stream(
    request: Request,
    user: Annotated[User, Depends(stream_user)],
    resume: Annotated[int | None, Depends(_resume_point)],
) -> AsyncIterator[ServerSentEvent]:
    """One ``alert`` event per new or changed alert of the user's lender; event ids count
    the lender's changes; resumable with ``Last-Event-ID``.

    Without ``Last-Event-ID`` or ``after`` the feed starts with the next change.
    """
    runtime = _runtime(request)
    alerts = runtime.alerts
    cursor = alerts.last_tenant_seq(user.tenant) if resume is None else resume
    while True:
        seen = runtime.notifier.last_seq  # any change of the service after this wakes us
        changes = alerts.tenant_changes_after(user.tenant, cursor, STREAM_PAGE)
        for seq, alert in changes:
            cursor = seq
            if user.may_see(alert["tenant"], alert["borrower_id"]):
                yield ServerSentEvent(data=scored_now(runtime, alert), event="alert", id=str(seq))
        if await request.is_disconnected() or session_ended(request, user):
            return  # a logout, new password or move to another lender ends the feed too
        if len(changes) < STREAM_PAGE:  # else more are waiting: read on at once
            await runtime.notifier.wait(seen, STREAM_WAIT_S)


@router.get("/alerts/{alert_id}", response_model=AlertOut)
def get_alert(request: Request, alert_id: str, user: CurrentUser) -> dict[str, Any]:
    """One alert by id."""
    alert = _runtime(request).alerts.get(alert_id)
    if alert is None or not user.may_see(alert["tenant"], alert["borrower_id"]):
        raise HTTPException(404, f"no alert with id {alert_id!r}")
    return scored_now(_runtime(request), alert)


@router.get("/stats")
def stats(request: Request, user: CurrentUser) -> dict[str, Any]:
    """Live figures of the user's lender: readings/s, open alerts by severity (a loan
    officer's portfolio only), rejected inputs, devices, borrowers; event time."""
    borrowers = user.portfolio if user.role == "loan_officer" else None
    return _runtime(request).tenant_stats(user.tenant, borrowers)


@router.get("/deadletters")
def deadletters(request: Request, user: CurrentUser) -> list[dict[str, Any]]:
    """The most recent refused inputs on the lender's topics, with their reasons (risk
    admins)."""
    if user.role != "risk_admin":
        raise HTTPException(403, "only risk admins read the dead letters")
    return _runtime(request).deadletter.recent(user.tenant)


async def _stop_server_on_failure(runtime: Runtime) -> None:
    """When ingest dies the service must not stay up blind: end the server (as SIGTERM
    does) and let `riskstream serve` exit non-zero for its supervisor."""
    await runtime.failed.wait()
    os.kill(os.getpid(), signal.SIGTERM)


def create_app(runtime: Runtime | None = None, settings: ServiceSettings | None = None) -> FastAPI:
    """Build the app; it runs its own `Runtime` unless one is given.

    Every answer carries security headers and request bodies are bounded
    (`riskstream.api.http_guard`); an invalid request gets 422 whatever it holds.
    """
    config = settings or (runtime.settings if runtime is not None else ServiceSettings())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if runtime is not None:
            app.state.runtime = runtime
            yield
            return
        own = Runtime(config)
        async with own.running():
            app.state.runtime = own
            watchdog = asyncio.create_task(_stop_server_on_failure(own), name="ingest-watch")
            yield
            watchdog.cancel()

    # no /docs nor /redoc: they load Swagger UI and ReDoc from a CDN (see http_guard)
    app = FastAPI(
        title="riskstream",
        version="0.1.0",
        lifespan=lifespan,
        responses={413: TOO_LARGE},
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(HttpGuard, max_body_bytes=config.max_body_bytes)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.include_router(auth_router, responses=ERRORS)
    app.include_router(router, responses=ERRORS)
    app.include_router(actions_router, responses={**ERRORS, **CONFLICT})
    app.include_router(borrowers_router, responses=ERRORS)
    app.include_router(portfolio_router)
    app.include_router(rules_router, responses={**ERRORS, **CONFLICT})
    app.include_router(notifications_router, responses=ERRORS)
    app.include_router(notification_channels_router, responses=ERRORS)
    app.include_router(assets_router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz", include_in_schema=False)
    def readyz(request: Request) -> JSONResponse:
        ready, body = readiness(_runtime(request))
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        runtime = _runtime(request)
        token = runtime.settings.metrics_token
        if token is not None and not hmac.compare_digest(
            request.headers.get("authorization", "").encode(),
            f"Bearer {token.get_secret_value()}".encode(),
        ):
            raise HTTPException(
                401, "a scrape token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        body = generate_latest(runtime.metrics_registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"))

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> FileResponse:
        types = {".js": "text/javascript", ".css": "text/css"}
        suffix = Path(name).suffix
        if not STATIC_NAME.fullmatch(name) or suffix not in types or not (STATIC / name).is_file():
            raise HTTPException(404, "not found")
        return FileResponse(str(STATIC / name), media_type=types[suffix])

    return app
