"""Authentication for the HTTP API: OAuth2 password flow issuing opaque bearer tokens.

``POST /api/token`` (form fields ``username``, ``password``) returns a bearer token;
every other ``/api`` route needs ``Authorization: Bearer TOKEN``. The live feed also
takes ``?access_token=TOKEN`` because a browser's EventSource cannot send headers.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm

from riskstream.runtime import Runtime
from riskstream.users import User

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/token", auto_error=False)
router = APIRouter(prefix="/api")


def runtime_of(request: Request) -> Runtime:
    """The runtime the app serves."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def _unauthorized() -> HTTPException:
    return HTTPException(
        401, "not authenticated: log in at POST /api/token", headers={"WWW-Authenticate": "Bearer"}
    )


def current_user(request: Request, token: Annotated[str | None, Depends(oauth2)]) -> User:
    """The user behind the bearer token; 401 without a valid one."""
    if token is None:
        raise _unauthorized()
    user = runtime_of(request).users.user_for_token(token)
    if user is None:
        raise _unauthorized()
    return user


def stream_user(
    request: Request,
    token: Annotated[str | None, Depends(oauth2)],
    access_token: Annotated[str | None, Query(description="token, for EventSource")] = None,
) -> User:
    """Like `current_user`, also accepting ``?access_token=`` (EventSource sends no headers)."""
    return current_user(request, token or access_token)


CurrentUser = Annotated[User, Depends(current_user)]


@router.post("/token")
def login(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> dict[str, Any]:
    """Exchange a username and password for a bearer token (audited)."""
    runtime = runtime_of(request)
    user = runtime.users.authenticate(form.username, form.password)
    if user is None:
        runtime.audit.record(
            tenant="-", actor=form.username, action="login_failed", target=f"user:{form.username}"
        )
        raise HTTPException(
            401, "wrong username or password", headers={"WWW-Authenticate": "Bearer"}
        )
    runtime.audit.record(
        tenant=user.tenant, actor=user.username, action="login", target=f"user:{user.username}"
    )
    return {
        "access_token": runtime.users.issue_token(user),
        "token_type": "bearer",
        "username": user.username,
        "role": user.role,
        "tenant": user.tenant,
    }


@router.get("/me")
def me(user: CurrentUser) -> dict[str, Any]:
    """Who the token belongs to."""
    return {
        "username": user.username,
        "tenant": user.tenant,
        "role": user.role,
        "portfolio": sorted(user.portfolio),
    }
