"""200 concurrent wrong logins against the real service (uvicorn on 127.0.0.1) while a
logged-in user calls GET /api/me: every call is answered, no 5xx but the documented 503,
at most `SLOTS` password checks at a time, and the flood is refused with Retry-After.

The latency bounds here only tell an answering service from a blocked one, whatever
else loads the machine (the suite runs in two processes): nine calls in ten within 2 s,
and none held for half the flood, as a blocked event loop would hold them. The p99 <
250 ms target is measured by ``riskstream bench login``.
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from riskstream.api.app import create_app
from riskstream.bench.login import FloodResult, run_flood
from riskstream.service import login_guard, password_slots
from riskstream.service.local_broker import free_port
from riskstream.service.runtime import Runtime
from riskstream.service.settings import ServiceSettings
from riskstream.service.users import User
from tests.riskstream.people import register_people

pytestmark = pytest.mark.slow

LOGINS = 200
ME_BOUND_MS = 2000.0


@contextmanager
def serving(runtime: Runtime) -> Iterator[str]:
    """The app on a free loopback port, uvicorn in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


class CheckCounter:
    """Wraps `UserStore.authenticate`: how many password checks, and most at once."""

    def __init__(self, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._authenticate = runtime.users.authenticate
        monkeypatch.setattr(runtime.users, "authenticate", self)

    def __call__(self, username: str, password: str) -> User | None:
        with self._lock:
            self.calls += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return self._authenticate(username, password)
        finally:
            with self._lock:
                self.in_flight -= 1


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    db = tmp_path / "rs.db"
    register_people(db)
    return Runtime(ServiceSettings(database=str(db), deadletter=None))


def token_of(base_url: str, user: str, password: str) -> str:
    answer = httpx.post(
        f"{base_url}/api/token", data={"username": user, "password": password}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def assert_me_kept_answering(result: FloodResult) -> None:
    print(  # the figure for the record (pytest -s); the bench has the target
        f"\nGET /api/me during {LOGINS} wrong logins: {len(result.me_ms)} calls, "
        f"p99 {result.me_percentile_ms(0.99):.1f} ms, max {max(result.me_ms):.1f} ms; "
        f"logins {dict(result.login_statuses)} in {result.flood_s:.2f} s"
    )
    assert result.me_ms, "no GET /api/me call was made during the flood"
    assert set(result.me_statuses) == {200}, result.me_statuses
    assert result.me_percentile_ms(0.9) < ME_BOUND_MS
    assert max(result.me_ms) < result.flood_s * 1000.0 / 2
    assert result.refusals_without_retry_after == 0


def test_a_flood_of_wrong_logins_is_throttled_and_me_keeps_answering(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(password_slots, "WAIT_S", 30.0)  # no guess is refused as busy here
    runtime.login_guard.clock = lambda: 1000.0  # frozen: a back-off lasts the whole flood
    checks = CheckCounter(runtime, monkeypatch)
    with serving(runtime) as base_url:
        token = token_of(base_url, "anna", "anna-password")
        result = run_flood(base_url, token, LOGINS, username="rita")
        right = httpx.post(
            f"{base_url}/api/token", data={"username": "rita", "password": "rita-password"}
        )

    assert_me_kept_answering(result)
    most_checked = login_guard.FREE_FAILURES + password_slots.SLOTS - 1
    assert set(result.login_statuses) <= {401, 429}, result.login_statuses
    assert result.login_statuses[401] == checks.calls - 1  # anna's login was checked too
    assert result.login_statuses[401] <= most_checked
    assert result.login_statuses[429] >= LOGINS - most_checked
    assert checks.max_in_flight <= password_slots.SLOTS
    assert right.status_code == 429 and right.headers["retry-after"].isdigit()
    failed = [e for e in runtime.audit.entries() if e["action"] == "login_failed"]
    assert len(failed) == result.login_statuses[401]  # refusals do not flood the audit log


def test_a_flood_from_many_addresses_is_bounded_by_the_password_slots(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(login_guard, "FREE_FAILURES", 1 << 30)  # as if every guess came
    monkeypatch.setattr(password_slots, "WAIT_S", 0.3)  # from an address of its own
    checks = CheckCounter(runtime, monkeypatch)
    with serving(runtime) as base_url:
        token = token_of(base_url, "anna", "anna-password")
        result = run_flood(base_url, token, LOGINS, username="rita")

    assert_me_kept_answering(result)
    assert set(result.login_statuses) <= {401, 503}, result.login_statuses
    assert result.login_statuses[503] > 0
    assert result.login_statuses[401] == checks.calls - 1
    assert checks.max_in_flight <= password_slots.SLOTS
