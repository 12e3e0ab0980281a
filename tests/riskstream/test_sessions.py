"""Sessions end when they should: password, role, lender or portfolio changed, user
removed, logout, expiry; overlong logins refused without hashing; audit text cut."""

from collections.abc import Iterator

import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from pydantic import ValidationError
from typer.testing import CliRunner

from riskstream.api.app import create_app
from riskstream.api.auth import CurrentUser, session_ended
from riskstream.cli.app import build_app
from riskstream.service.database import open_service_database
from riskstream.service.runtime import Runtime
from riskstream.service.settings import ServiceSettings
from riskstream.service.users import Role, StaleLoginError, User, UserStore
from tests.riskstream.people import register_people
from tests.riskstream.test_api_access import login

T0 = 1_795_000_000.0


class FakeClock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def service(service_db: str) -> Iterator[tuple[TestClient, Runtime, str]]:
    db = service_db
    register_people(db)
    runtime = Runtime(ServiceSettings(database=str(db), deadletter=None))
    with TestClient(create_app(runtime)) as client:
        yield client, runtime, db


def me(client: TestClient, headers: dict[str, str]) -> int:
    return client.get("/api/me", headers=headers).status_code


def actions(runtime: Runtime) -> list[tuple[str, str, str]]:
    return [(e["actor"], e["action"], e["target"]) for e in runtime.audit.entries()]


@pytest.mark.parametrize(
    ("password", "tenant", "role", "portfolio"),
    [
        ("anna-new-password", "bank-a", "loan_officer", ["b1"]),  # new password
        ("anna-password", "bank-a", "risk_admin", ["b1"]),  # new role
        ("anna-password", "bank-b", "loan_officer", ["b1"]),  # moved to another lender
        ("anna-password", "bank-a", "loan_officer", ["b1", "b2"]),  # new portfolio
    ],
    ids=["password", "role", "tenant", "portfolio"],
)
def test_replacing_a_user_revokes_every_earlier_token(
    service: tuple[TestClient, Runtime, str],
    password: str,
    tenant: str,
    role: Role,
    portfolio: list[str],
) -> None:
    client, runtime, _ = service
    first, second = login(client, "anna", "anna-password"), login(client, "anna", "anna-password")
    rita = login(client, "rita", "rita-password")
    assert me(client, first) == me(client, second) == 200

    ended = runtime.users.add("anna", password, tenant, role, portfolio)

    assert ended == 2
    assert me(client, first) == me(client, second) == 401
    assert client.get("/api/alerts", headers=first).status_code == 401
    assert me(client, rita) == 200  # other people keep their sessions
    fresh = client.get("/api/me", headers=login(client, "anna", password)).json()
    assert (fresh["tenant"], fresh["role"], fresh["portfolio"]) == (tenant, role, portfolio)


def test_old_password_stops_working_after_a_change(
    service: tuple[TestClient, Runtime, str],
) -> None:
    client, runtime, _ = service
    runtime.users.add("anna", "anna-new-password", "bank-a", "loan_officer", ["b1"])
    old = client.post("/api/token", data={"username": "anna", "password": "anna-password"})
    assert old.status_code == 401


def test_cli_passwd_revokes_tokens_and_is_audited(
    service: tuple[TestClient, Runtime, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, runtime, db = service
    anna = login(client, "anna", "anna-password")
    monkeypatch.setenv("RISKSTREAM_NEW_PASSWORD", "anna-passwd-2")

    done = CliRunner().invoke(build_app(), ["users", "passwd", "anna", "--db", str(db)])

    assert done.exit_code == 0, done.output
    assert "1 session(s) ended" in done.output
    assert me(client, anna) == 401
    assert me(client, login(client, "anna", "anna-passwd-2")) == 200
    assert ("cli", "password_changed", "user:anna") in actions(runtime)


def test_cli_add_replacing_a_user_ends_its_sessions(
    service: tuple[TestClient, Runtime, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, runtime, db = service
    anna = login(client, "anna", "anna-password")
    monkeypatch.setenv("RISKSTREAM_NEW_PASSWORD", "anna-password")
    args = ["users", "add", "anna", "--tenant", "bank-b", "--role", "loan_officer"]

    done = CliRunner().invoke(build_app(), [*args, "--db", str(db)])

    assert done.exit_code == 0, done.output
    assert "1 session(s) ended" in done.output
    assert me(client, anna) == 401
    added = [e for e in runtime.audit.entries() if e["action"] == "user_added"]
    assert added[0]["tenant"] == "bank-b" and added[0]["detail"]["sessions_ended"] == 1


def test_cli_passwd_says_what_is_wrong(
    service: tuple[TestClient, Runtime, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, db = service
    runner = CliRunner()
    monkeypatch.setenv("RISKSTREAM_NEW_PASSWORD", "short")
    short = runner.invoke(build_app(), ["users", "passwd", "anna", "--db", str(db)])
    assert short.exit_code == 2 and "at least 8 characters" in short.output
    monkeypatch.setenv("RISKSTREAM_NEW_PASSWORD", "long-enough-password")
    nobody = runner.invoke(build_app(), ["users", "passwd", "nobody", "--db", str(db)])
    assert nobody.exit_code == 1 and "no user 'nobody'" in nobody.output
    assert "riskstream users list" in nobody.output


def test_cli_remove_ends_sessions_and_logins(service: tuple[TestClient, Runtime, str]) -> None:
    client, runtime, db = service
    anna = login(client, "anna", "anna-password")
    runner = CliRunner()

    done = runner.invoke(build_app(), ["users", "remove", "anna", "--db", str(db)])

    assert done.exit_code == 0, done.output
    assert "removed" in done.output
    assert me(client, anna) == 401
    again = client.post("/api/token", data={"username": "anna", "password": "anna-password"})
    assert again.status_code == 401
    assert ("cli", "user_removed", "user:anna") in actions(runtime)
    listed = runner.invoke(build_app(), ["users", "list", "--db", str(db)])
    assert "anna" not in listed.output and "rita" in listed.output
    twice = runner.invoke(build_app(), ["users", "remove", "anna", "--db", str(db)])
    assert twice.exit_code == 1 and "no user 'anna'" in twice.output


def test_logout_revokes_only_the_current_token(service: tuple[TestClient, Runtime, str]) -> None:
    client, runtime, _ = service
    laptop, phone = login(client, "anna", "anna-password"), login(client, "anna", "anna-password")

    out = client.post("/api/logout", headers=laptop)

    assert out.status_code == 204 and out.content == b""
    assert me(client, laptop) == 401
    assert client.post("/api/logout", headers=laptop).status_code == 401
    assert me(client, phone) == 200
    assert ("anna", "logout", "user:anna") in actions(runtime)
    assert client.post("/api/logout").status_code == 401


def test_tokens_expire_after_the_configured_lifetime(service_db: str) -> None:
    db = service_db
    register_people(db)
    runtime = Runtime(ServiceSettings(database=str(db), deadletter=None, token_lifetime_s=60))
    clock = FakeClock()
    runtime.users.clock = clock
    assert runtime.users.token_lifetime_s == 60
    with TestClient(create_app(runtime)) as client:
        anna = login(client, "anna", "anna-password")
        clock.now += 59.0
        assert me(client, anna) == 200
        clock.now += 1.0
        assert me(client, anna) == 401


def test_token_lifetime_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKSTREAM_TOKEN_LIFETIME_S", "900")
    assert ServiceSettings().token_lifetime_s == 900
    with pytest.raises(ValidationError, match="token_lifetime_s"):
        ServiceSettings(token_lifetime_s=0)


def test_a_user_changed_during_login_gets_no_token(service_db: str) -> None:
    db = service_db
    register_people(db)
    users = UserStore(open_service_database(db))
    checked = users.authenticate("anna", "anna-password")
    assert isinstance(checked, User)
    users.add("anna", "anna-password", "bank-b", "loan_officer", ["b1"])  # moved meanwhile
    with pytest.raises(StaleLoginError):
        users.issue_token(checked)
    users.remove("rita")
    rita = User("rita", "bank-a", "risk_admin", frozenset())
    with pytest.raises(StaleLoginError):
        users.issue_token(rita)


def test_overlong_login_is_refused_without_hashing(
    service: tuple[TestClient, Runtime, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, runtime, _ = service

    def no_hashing(username: str, password: str) -> None:
        raise AssertionError("a password was checked")

    monkeypatch.setattr(runtime.users, "authenticate", no_hashing)
    huge = "x" * 1_000_000
    for form in (
        {"username": huge, "password": "whatever1"},
        {"username": "anna", "password": huge},
    ):
        response = client.post("/api/token", data=form)
        assert response.status_code == 422
        assert len(response.content) < 1000  # the input is not echoed
    assert "characters" in response.json()["detail"][0]["msg"]


def test_login_failures_are_audited_with_the_username_cut(
    service: tuple[TestClient, Runtime, str],
) -> None:
    client, runtime, _ = service
    long_name = "m" * 200
    assert (
        client.post("/api/token", data={"username": long_name, "password": "x" * 9}).status_code
        == 401
    )
    assert (
        client.post("/api/token", data={"username": "z" * 1_000_000, "password": "y"}).status_code
        == 422
    )
    failed = [e for e in runtime.audit.entries() if e["action"] == "login_failed"]
    assert len(failed) == 2
    for entry in failed:
        assert len(entry["actor"]) == 128
        assert entry["target"] == f"user:{entry['actor']}"
        assert entry["detail"]["client"] == "testclient"
    assert {e["detail"]["reason"] for e in failed} == {"wrong_password", "too_long"}
    assert runtime.audit.verify().ok


def test_a_long_response_can_tell_that_its_session_ended(service_db: str) -> None:
    db = service_db
    register_people(db)
    runtime = Runtime(ServiceSettings(database=str(db), deadletter=None))
    app = create_app(runtime)

    @app.get("/test/session")
    def session(request: Request, user: CurrentUser) -> list[bool]:
        before = session_ended(request, user)
        runtime.users.add("anna", "anna-password", "bank-b", "loan_officer", ["b1"])
        return [before, session_ended(request, user)]

    with TestClient(app) as client:
        anna = login(client, "anna", "anna-password")
        assert client.get("/test/session", headers=anna).json() == [False, True]
