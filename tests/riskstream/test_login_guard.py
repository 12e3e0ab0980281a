"""Login throttling (back-off per username and per address) and the password-check slots."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from riskstream.api.app import create_app
from riskstream.service import login_guard, password_slots
from riskstream.service.login_guard import LoginGuard, address_key
from riskstream.service.password_slots import PasswordSlots, SlotsBusyError
from riskstream.service.runtime import Runtime
from riskstream.service.settings import ServiceSettings
from tests.riskstream.people import register_people


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(guard: LoginGuard, times: int, user: str = "anna", address: str = "10.0.0.1") -> None:
    for _ in range(times):
        guard.failed(user, address)


def test_back_off_starts_after_five_failures_and_doubles_up_to_the_cap() -> None:
    clock = FakeClock()
    guard = LoginGuard(clock)
    fail(guard, 4)
    assert guard.retry_after("anna", "10.0.0.1") is None
    waits = []
    for _ in range(14):
        fail(guard, 1)
        waits.append(guard.retry_after("anna", "10.0.0.1"))
    assert waits[:5] == [1, 2, 4, 8, 16]
    assert waits[-1] == 900  # 15 min, however many failures
    clock.now += 899.5
    assert guard.retry_after("anna", "10.0.0.1") == 1  # whole seconds, rounded up
    clock.now += 0.5
    assert guard.retry_after("anna", "10.0.0.1") is None


def test_username_and_address_count_separately() -> None:
    clock = FakeClock()
    guard = LoginGuard(clock)
    for i in range(5):
        guard.failed("anna", f"10.0.0.{i}")  # one user from five addresses
    assert guard.retry_after("anna", "192.168.1.1") == 1
    assert guard.retry_after("rita", "10.0.0.1") is None
    for i in range(5):
        guard.failed(f"user{i}", "10.9.9.9")  # five users from one address
    assert guard.retry_after("rita", "10.9.9.9") == 1
    assert guard.retry_after("rita", "10.9.9.8") is None


def test_success_clears_the_username_but_not_the_address() -> None:
    clock = FakeClock()
    guard = LoginGuard(clock)
    fail(guard, 5)
    clock.now += 1
    guard.succeeded("anna")
    assert guard.retry_after("anna", "10.0.0.2") is None
    guard.failed("anna", "10.0.0.2")
    assert guard.retry_after("anna", "10.0.0.2") is None  # anna starts again from zero
    guard.failed("rita", "10.0.0.1")
    assert guard.retry_after("rita", "10.0.0.1") == 2  # the address's sixth failure


def test_failures_are_forgotten_after_a_quiet_hour() -> None:
    clock = FakeClock()
    guard = LoginGuard(clock)
    fail(guard, 5)
    clock.now += login_guard.FORGET_AFTER_S
    assert guard.retry_after("anna", "10.0.0.1") is None
    fail(guard, 1)
    assert guard.retry_after("anna", "10.0.0.1") is None
    assert guard.tracked() == (1, 1)


def test_memory_is_bounded_whatever_an_attacker_sends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(login_guard, "MAX_KEYS", 100)
    clock = FakeClock()
    guard = LoginGuard(clock)
    for i in range(5000):
        guard.failed(f"guess-{i}", f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
        clock.now += 0.01
    assert guard.tracked() == (100, 100)
    fail(guard, 5, user="guess-4999", address="10.0.19.135")
    assert guard.retry_after("guess-4999", "10.0.0.0") is not None  # recent keys are kept


def test_ipv6_clients_count_per_64_network() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::2")
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("192.0.2.7") == "192.0.2.7"
    assert address_key(None) == "-"
    assert address_key("testclient") == "testclient"


@pytest.fixture
def throttled(tmp_path: Path) -> Iterator[tuple[TestClient, Runtime, FakeClock]]:
    db = tmp_path / "rs.db"
    register_people(db)
    runtime = Runtime(ServiceSettings(database=str(db), deadletter=None))
    clock = FakeClock()
    runtime.login_guard.clock = clock
    with TestClient(create_app(runtime)) as client:
        yield client, runtime, clock


def post_login(client: TestClient, user: str, password: str) -> tuple[int, str | None]:
    response = client.post("/api/token", data={"username": user, "password": password})
    return response.status_code, response.headers.get("retry-after")


def test_login_is_refused_with_429_after_five_failures(
    throttled: tuple[TestClient, Runtime, FakeClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, runtime, clock = throttled
    for i in range(5):
        assert post_login(client, "anna", f"wrong-{i}") == (401, None)

    checked: list[str] = []
    authenticate = runtime.users.authenticate

    def counting(username: str, password: str) -> object:
        checked.append(username)
        return authenticate(username, password)

    monkeypatch.setattr(runtime.users, "authenticate", counting)
    assert post_login(client, "anna", "wrong-again") == (429, "1")
    assert post_login(client, "anna", "anna-password") == (429, "1")  # right, but not checked
    assert checked == []
    clock.now += 0.4
    response = client.post("/api/token", data={"username": "anna", "password": "anna-password"})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert "retry in 1 s" in response.json()["detail"]

    clock.now += 0.6  # the back-off is over
    assert post_login(client, "anna", "anna-password") == (200, None)
    assert checked == ["anna"]
    assert [e["action"] for e in runtime.audit.entries()].count("login_failed") == 5


def test_back_off_doubles_and_a_success_clears_only_the_username(
    throttled: tuple[TestClient, Runtime, FakeClock],
) -> None:
    client, _, clock = throttled
    for i in range(5):
        post_login(client, "anna", f"wrong-{i}")
    clock.now += 1
    assert post_login(client, "anna", "wrong-5") == (401, None)
    assert post_login(client, "anna", "anna-password") == (429, "2")
    clock.now += 2
    assert post_login(client, "anna", "anna-password") == (200, None)
    # anna is cleared, but this address has 6 failures: the next one blocks it 4 s
    assert post_login(client, "rita", "wrong") == (401, None)
    assert post_login(client, "rita", "rita-password") == (429, "4")
    clock.now += 4
    assert post_login(client, "rita", "rita-password") == (200, None)


def test_one_address_guessing_many_usernames_is_throttled(
    throttled: tuple[TestClient, Runtime, FakeClock],
) -> None:
    client, _, _ = throttled
    for name in ("anna", "rita", "otto", "bob", "nobody"):
        assert post_login(client, name, "password-guess")[0] == 401
    assert post_login(client, "somebody-else", "password-guess") == (429, "1")


async def test_slots_limit_concurrent_checks_and_refuse_after_the_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(password_slots, "WAIT_S", 0.05)
    slots = PasswordSlots()
    held = asyncio.Event()
    release = asyncio.Event()

    async def hold() -> None:
        async with slots.slot():
            held.set()
            await release.wait()

    holders = [asyncio.create_task(hold()) for _ in range(password_slots.SLOTS)]
    await held.wait()
    await asyncio.sleep(0)
    assert slots.busy == password_slots.SLOTS
    with pytest.raises(SlotsBusyError) as busy:
        async with slots.slot():
            pass
    assert busy.value.retry_after == password_slots.RETRY_AFTER_S
    release.set()
    await asyncio.gather(*holders)
    async with slots.slot():
        assert slots.busy == 1
    assert slots.busy == 0


async def test_a_waiter_rechecks_when_a_slot_frees(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(password_slots, "SLOTS", 1)
    monkeypatch.setattr(password_slots, "WAIT_S", 5.0)
    slots = PasswordSlots()
    blocked = False

    class ThrottledError(Exception):
        pass

    def recheck() -> None:
        if blocked:
            raise ThrottledError

    release = asyncio.Event()

    async def hold() -> None:
        async with slots.slot():
            await release.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(slots.slot(recheck).__aenter__())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    blocked = True  # e.g. the holder's login failed for the fifth time
    release.set()
    with pytest.raises(ThrottledError):
        await asyncio.wait_for(waiter, 1.0)
    await holder
    assert slots.busy == 0
