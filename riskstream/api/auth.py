"""Authentication for the HTTP API: OAuth2 password flow issuing opaque bearer tokens.

``POST /api/token`` (form fields ``username``, ``password``) returns a bearer token;
every other ``/api`` route needs ``Authorization: Bearer TOKEN``. The live feed also
takes ``?access_token=TOKEN`` because a browser's EventSource cannot send headers.
``POST /api/logout`` ends the session of the token it is called with.

Logins are throttled (`riskstream.service.login_guard`: 429 with ``Retry-After`` after repeated
failures of a username or from an address, without checking the password) and at most
a few passwords are checked at a time (`riskstream.service.password_slots`: 503 with
``Retry-After`` when none is free within a second).
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm

from riskstream.api.views import ErrorOut
from riskstream.service.password_slots import SlotsBusyError
from riskstream.service.runtime import Runtime
from riskstream.service.users import MAX_PASSWORD_CHARS, StaleLoginError, User

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/token", auto_error=False)
router = APIRouter(prefix="/api")

MAX_LOGIN_NAME_CHARS = 256
"""A longer username is refused (422) without checking anything."""
AUDIT_NAME_CHARS = 128
"""A username typed at login is cut to this in the audit log."""

LOGIN_ERRORS: dict[int | str, dict[str, Any]] = {
    429: {
        "model": ErrorOut,
        "description": "too many failed logins for this user or from this address: "
        "wait Retry-After seconds",
    },
    503: {
        "model": ErrorOut,
        "description": "too many logins being checked at once: wait Retry-After seconds",
    },
}


def runtime_of(request: Request) -> Runtime:
    """The runtime the app serves."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def _unauthorized(message: str = "not authenticated: log in at POST /api/token") -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def current_user(request: Request, token: Annotated[str | None, Depends(oauth2)]) -> User:
    """The user behind the bearer token; 401 without a valid one."""
    if token is None:
        raise _unauthorized()
    user = runtime_of(request).users.user_for_token(token)
    if user is None:
        raise _unauthorized()
    request.state.token = token
    return user


def session_ended(request: Request, user: User) -> bool:
    """Whether the token this request was authenticated with no longer stands for ``user``
    as it was (revoked, expired, the user changed or removed): a long-lived response such
    as the live feed checks it now and then and stops."""
    token: str | None = getattr(request.state, "token", None)
    return token is None or runtime_of(request).users.user_for_token(token) != user


def stream_user(
    request: Request,
    token: Annotated[str | None, Depends(oauth2)],
    access_token: Annotated[str | None, Query(description="token, for EventSource")] = None,
) -> User:
    """Like `current_user`, also accepting ``?access_token=`` (EventSource sends no headers)."""
    return current_user(request, token or access_token)


CurrentUser = Annotated[User, Depends(current_user)]


def _throttled(runtime: Runtime, username: str, address: str) -> None:
    wait = runtime.login_guard.retry_after(username, address)
    if wait is not None:
        raise HTTPException(
            429,
            f"too many failed logins for this user or from this address: retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )


def _too_long(username: str, password: str) -> RequestValidationError | None:
    """A 422 shaped like FastAPI's own, without echoing the input, for an overlong field."""
    for field, value, limit in (
        ("username", username, MAX_LOGIN_NAME_CHARS),
        ("password", password, MAX_PASSWORD_CHARS),
    ):
        if len(value) > limit:
            return RequestValidationError(
                [
                    {
                        "type": "string_too_long",
                        "loc": ("body", field),
                        "msg": f"{field} has more than {limit} characters",
                        "input": None,
                    }
                ]
            )
    return None


async def _record_failure(runtime: Runtime, username: str, address: str, reason: str) -> None:
    name = username[:AUDIT_NAME_CHARS]
    await run_in_threadpool(
        runtime.audit.record,
        tenant="-",
        actor=name,
        action="login_failed",
        target=f"user:{name}",
        detail={"client": address[:64], "reason": reason},
    )


@router.post("/token", responses=LOGIN_ERRORS)
async def login(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> dict[str, Any]:
    """Exchange a username and password for a bearer token (audited; throttled)."""
    runtime = runtime_of(request)
    address = request.client.host if request.client else "-"
    username = form.username[:MAX_LOGIN_NAME_CHARS]
    _throttled(runtime, username, address)
    too_long = _too_long(form.username, form.password)
    if too_long is not None:
        runtime.login_guard.failed(username, address)
        await _record_failure(runtime, username, address, "too_long")
        raise too_long
    try:
        # the throttle is checked again whenever a slot frees: failures come in meanwhile
        async with runtime.password_slots.slot(lambda: _throttled(runtime, username, address)):
            user = await run_in_threadpool(runtime.users.authenticate, username, form.password)
            if user is None:
                runtime.login_guard.failed(username, address)
    except SlotsBusyError as busy:
        raise HTTPException(
            503,
            f"too many logins at once: retry in {busy.retry_after} s",
            headers={"Retry-After": str(busy.retry_after)},
        ) from None
    if user is None:
        await _record_failure(runtime, username, address, "wrong_password")
        raise _unauthorized("wrong username or password")
    runtime.login_guard.succeeded(username)
    try:
        token = await run_in_threadpool(runtime.users.issue_token, user)
    except StaleLoginError:
        raise _unauthorized("the user changed while logging in: log in again") from None
    await run_in_threadpool(
        runtime.audit.record,
        tenant=user.tenant,
        actor=user.username,
        action="login",
        target=f"user:{user.username}",
    )
    return {
        "access_token": token,
        "token_type": "bearer",
        "username": user.username,
        "role": user.role,
        "tenant": user.tenant,
    }


@router.post("/logout", status_code=204, response_class=Response)
def logout(
    request: Request, user: CurrentUser, token: Annotated[str | None, Depends(oauth2)]
) -> Response:
    """End this session: the bearer token is refused from now on (audited)."""
    runtime = runtime_of(request)
    if token is not None:
        runtime.users.revoke_token(token)
    runtime.audit.record(
        tenant=user.tenant, actor=user.username, action="logout", target=f"user:{user.username}"
    )
    return Response(status_code=204)


@router.get("/me")
def me(user: CurrentUser) -> dict[str, Any]:
    """Who the token belongs to."""
    return {
        "username": user.username,
        "tenant": user.tenant,
        "role": user.role,
        "portfolio": sorted(user.portfolio),
    }
