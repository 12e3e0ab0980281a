"""Webhooks end to end: a lender's risk admin registers an endpoint over the API; alert
changes reach a real HTTP receiver on loopback signed, filtered, retried with back-off
and dead-lettered after the last attempt; nothing crosses to another lender; pending
deliveries survive a restart. The outbox runs on a fake clock, stepped by the test."""

import asyncio
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from riskstream.engine.alerts import Alert
from riskstream.service.notify import DestinationRefusedError
from riskstream.service.runtime import Runtime
from riskstream.service.settings import ServiceSettings
from tests.riskstream.notify.receiver import receiving
from tests.riskstream.people import register_people
from tests.riskstream.rules_service import client_of
from tests.riskstream.test_api_access import alert

PASSWORDS = {"rita": "rita-password", "anna": "anna-password", "otto": "otto-password"}
PASSWORDS["bob"] = "bob-password!"
T0 = 1_800_000_000.0
WEBHOOK_KEY = SecretStr("test-webhook-key-" + "0" * 32)


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@contextmanager
def service(
    db: str, tmp_path: Path, attempts: int = 3, timeout_s: float = 10.0
) -> Iterator[tuple[Runtime, FakeClock]]:
    settings = ServiceSettings(
        database=db,
        deadletter=None,
        checkpoint_enabled=False,
        webhook_key=WEBHOOK_KEY,  # a database server has no directory for the key file
        spool_dir=tmp_path / "spool",
        webhook_allowed_destinations=["127.0.0.1/32"],
        webhook_max_attempts=attempts,
        webhook_backoff_s=10.0,
        webhook_timeout_s=timeout_s,
    )
    runtime = Runtime(settings)
    clock = FakeClock()
    runtime.notify.outbox.clock = clock
    runtime.notify.outbox.rng = random.Random(7)
    try:
        yield runtime, clock
    finally:
        runtime.db.dispose()


async def as_user(client: httpx.AsyncClient, name: str) -> dict[str, dict[str, str]]:
    response = await client.post("/api/token", data={"username": name, "password": PASSWORDS[name]})
    assert response.status_code == 200, response.text
    return {"headers": {"Authorization": f"Bearer {response.json()['access_token']}"}}


def warning(a: Alert) -> Alert:
    return replace(a, severity="warning")


async def test_changes_reach_the_lenders_receiver_signed_filtered_and_retried(
    service_db: str, tmp_path: Path
) -> None:
    register_people(service_db)  # type: ignore[arg-type]
    with service(service_db, tmp_path) as (runtime, clock):
        async with (
            receiving([500, 200]) as bank_a_receiver,
            receiving() as bank_b_receiver,
            client_of(runtime) as client,
        ):
            rita, bob = await as_user(client, "rita"), await as_user(client, "bob")
            anna, otto = await as_user(client, "anna"), await as_user(client, "otto")
            hook = {
                "url": f"{bank_a_receiver.base_url}/hook",
                "description": "core banking",
                "filters": {"severities": ["critical"], "borrowers": ["b1"]},
            }
            assert (
                await client.post("/api/notifications/webhooks", json=hook, **anna)
            ).status_code == 403
            created = await client.post("/api/notifications/webhooks", json=hook, **rita)
            assert created.status_code == 201, created.text
            endpoint = created.json()
            secret = endpoint["secret"]
            assert secret.startswith("whsec_")
            theirs = await client.post(
                "/api/notifications/webhooks", json={"url": bank_b_receiver.base_url}, **bob
            )
            assert theirs.status_code == 201

            for who in (rita, anna, otto):  # every role of bank-a reads the endpoints...
                listed = (await client.get("/api/notifications/webhooks", **who)).json()
                assert [e["id"] for e in listed] == [endpoint["id"]]
                assert "secret" not in listed[0]  # ...and nobody sees the secret again
            mine = f"/api/notifications/webhooks/{endpoint['id']}"
            for method in ("GET", "DELETE"):  # another lender's endpoint is as if none
                assert (await client.request(method, mine, **bob)).status_code == 404
            assert (await client.put(mine, json={"enabled": False}, **bob)).status_code == 404
            assert (await client.get(f"{mine}/deliveries", **bob)).status_code == 404

            await runtime.notify.outbox.step()  # the outbox starts at the newest change
            runtime.publish(
                [
                    alert("bank-a", "b1"),
                    alert("bank-a", "b2"),  # another borrower: filtered out
                    warning(alert("bank-a", "b1", "device_silent")),  # warning: filtered out
                    alert("bank-b", "x9"),
                ]
            )
            await runtime.notify.outbox.step()
            assert [r.status for r in bank_a_receiver.got] == [500]
            first = bank_a_receiver.got[0]
            assert first.path == "/hook" and first.verified(secret, clock.now)
            assert not first.verified(secret, clock.now + 301)  # a replay later is refused
            assert not first.verified("whsec_other", clock.now)
            assert first.json["event"] == "opened" and first.json["tenant"] == "bank-a"
            assert first.json["alert"]["id"] == "bank-a-b1-inventory_below_pledge"  # type: ignore[index]
            assert first.headers["x-riskstream-event"] == "opened"

            log = (await client.get(f"{mine}/deliveries", **rita)).json()
            assert [(d["state"], d["attempts"], d["last_status"]) for d in log] == [
                ("pending", 1, 500)
            ]
            assert T0 + 5 <= log[0]["next_attempt_at"] <= T0 + 10  # back-off 10 s, jittered
            assert log[0]["attempt_log"][0]["error"] == "HTTP 500"
            assert (await client.get(f"{mine}/deliveries", **anna)).status_code == 403

            await runtime.notify.outbox.step()  # not due yet
            assert len(bank_a_receiver.got) == 1
            clock.now += 10
            await runtime.notify.outbox.step()
            assert [r.status for r in bank_a_receiver.got] == [500, 200]
            assert bank_a_receiver.got[1].body == first.body  # the same change, signed anew
            assert (
                bank_a_receiver.got[1].headers["x-riskstream-delivery"]
                == first.headers["x-riskstream-delivery"]
            )

            acked = await client.post(
                "/api/alerts/bank-a-b1-inventory_below_pledge/ack",
                json={"comment": "on site"},
                **rita,
            )
            assert acked.status_code == 200
            bank_a_receiver.statuses = [200]
            await runtime.notify.outbox.step()
            assert bank_a_receiver.got[-1].json["event"] == "acknowledged"
            log = (await client.get(f"{mine}/deliveries", **otto)).json()
            assert [(d["event"], d["state"], d["attempts"]) for d in log] == [
                ("acknowledged", "delivered", 1),
                ("opened", "delivered", 2),
            ]

            assert [r.json["tenant"] for r in bank_b_receiver.got] == ["bank-b"]
            assert all(r.json["tenant"] == "bank-a" for r in bank_a_receiver.got)
            actions = [e["action"] for e in runtime.audit.entries(tenant="bank-a")]
            assert "webhook_create" in actions
            assert all(e["tenant"] == "bank-b" for e in runtime.audit.entries(tenant="bank-b"))


async def test_a_receiver_that_keeps_failing_gets_dead_letters_that_can_be_resent(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "rs.db")  # PostgreSQL runs the outbox in the tests above and below
    register_people(db)  # type: ignore[arg-type]
    with service(db, tmp_path, attempts=2) as (runtime, clock):
        async with receiving([503]) as receiver, client_of(runtime) as client:
            rita, bob = await as_user(client, "rita"), await as_user(client, "bob")
            hook = {"url": receiver.base_url}
            endpoint = (await client.post("/api/notifications/webhooks", json=hook, **rita)).json()
            await runtime.notify.outbox.step()
            runtime.publish([alert("bank-a", "b1")])
            await runtime.notify.outbox.step()
            clock.now += 3600
            await runtime.notify.outbox.step()
            assert [r.status for r in receiver.got] == [503, 503]
            dead = (await client.get("/api/notifications/dead-letters", **rita)).json()
            assert [(d["state"], d["attempts"], d["last_status"]) for d in dead] == [
                ("dead", 2, 503)
            ]
            assert (await client.get("/api/notifications/dead-letters", **bob)).json() == []
            resend = f"/api/notifications/dead-letters/{dead[0]['id']}/resend"
            assert (await client.post(resend, **bob)).status_code == 404
            receiver.statuses = [200]
            again = await client.post(resend, **rita)
            assert again.status_code == 200 and again.json()["state"] == "pending"
            await runtime.notify.outbox.step()
            assert [r.status for r in receiver.got] == [503, 503, 200]
            assert (await client.get("/api/notifications/dead-letters", **rita)).json() == []
            assert (await client.post(resend, **rita)).status_code == 404  # not dead any more

            redirecting = await client.put(
                f"/api/notifications/webhooks/{endpoint['id']}",
                json={"url": f"{receiver.base_url}/moved"},
                **rita,
            )
            assert redirecting.status_code == 200
            receiver.statuses = [302]
            tried = await client.post(f"/api/notifications/webhooks/{endpoint['id']}/test", **rita)
            assert tried.json()["status_code"] == 302
            assert "redirects are not followed" in tried.json()["error"]
            assert receiver.got[-1].path == "/moved" and len(receiver.got) == 4


async def test_pending_deliveries_survive_a_restart(service_db: str, tmp_path: Path) -> None:
    register_people(service_db)  # type: ignore[arg-type]
    async with receiving() as receiver:
        with service(service_db, tmp_path) as (runtime, _):
            async with client_of(runtime) as client:
                rita = await as_user(client, "rita")
                hook = {"url": receiver.base_url}
                assert (
                    await client.post("/api/notifications/webhooks", json=hook, **rita)
                ).status_code == 201
            await runtime.notify.outbox.step()
            runtime.publish([alert("bank-a", "b1"), alert("bank-a", "b2")])
            await asyncio.to_thread(
                runtime.notify.outbox.fan_out
            )  # written, then the service stops
        assert receiver.got == []
        with service(service_db, tmp_path) as (restarted, _):
            await restarted.notify.outbox.step()
            await restarted.notify.outbox.step()
        borrowers = sorted(r.json["alert"]["borrower_id"] for r in receiver.got)  # type: ignore[index]
        assert borrowers == ["b1", "b2"]  # each once: the cursor was kept too


async def test_urls_the_service_must_not_call_are_refused(tmp_path: Path) -> None:
    db = str(tmp_path / "rs.db")
    register_people(db)  # type: ignore[arg-type]
    with service(db, tmp_path) as (runtime, _):
        runtime.notify.destinations = replace(runtime.notify.destinations, allowed=())
        async with client_of(runtime) as client:
            rita = await as_user(client, "rita")
            for url, why in (
                ("ftp://example.org/x", "only http:// and https://"),
                ("file:///etc/passwd", "only http:// and https://"),
                ("http:///nohost", "names no host"),
                ("http://user:pw@93.184.215.14/", "credentials"),
                ("http://127.0.0.1:8000/api", "loopback, private or reserved"),
                ("http://10.0.0.7/", "loopback, private or reserved"),
                ("http://169.254.169.254/latest/meta-data", "loopback, private or reserved"),
                ("http://[::ffff:127.0.0.1]/", "loopback, private or reserved"),
                ("http://[::1]/", "loopback, private or reserved"),
            ):
                answer = await client.post("/api/notifications/webhooks", json={"url": url}, **rita)
                assert answer.status_code == 400, url
                assert why in answer.json()["detail"], (url, answer.json())
            public = await client.post(
                "/api/notifications/webhooks", json={"url": "https://93.184.215.14/hook"}, **rita
            )
            assert public.status_code == 201
        allowed = replace(runtime.notify.destinations, allowed=("hooks.example.org", "10.0.0.0/8"))
        allowed.check("http://10.0.0.7/")
        for url in ("https://93.184.215.14/", "http://127.0.0.1/"):
            with pytest.raises(DestinationRefusedError, match="not among webhook_allowed"):
                allowed.check(url)


async def test_a_disabled_endpoint_waits_a_slow_receiver_is_cut_off_and_endpoints_are_capped(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "rs.db")
    register_people(db)  # type: ignore[arg-type]
    with service(db, tmp_path, timeout_s=0.5) as (runtime, _):
        async with receiving() as receiver, client_of(runtime) as client:
            rita = await as_user(client, "rita")
            hook = {"url": receiver.base_url}
            endpoint = (await client.post("/api/notifications/webhooks", json=hook, **rita)).json()
            mine = f"/api/notifications/webhooks/{endpoint['id']}"
            await runtime.notify.outbox.step()
            runtime.publish([alert("bank-a", "b1")])
            await asyncio.to_thread(runtime.notify.outbox.fan_out)  # queued, then disabled
            assert (await client.put(mine, json={"enabled": False}, **rita)).status_code == 200
            runtime.publish([alert("bank-a", "b2")])  # while disabled: not queued at all
            await runtime.notify.outbox.step()
            assert receiver.got == []
            [waiting] = (await client.get(f"{mine}/deliveries", **rita)).json()
            assert (waiting["state"], waiting["attempts"]) == ("pending", 0)
            assert (await client.put(mine, json={"enabled": True}, **rita)).status_code == 200
            await runtime.notify.outbox.step()
            assert [(r.status, r.json["alert"]["borrower_id"]) for r in receiver.got] == [  # type: ignore[index]
                (200, "b1")
            ]

            receiver.drip_s = 0.1  # 100 bytes over 10 s: each read is quick, the whole is not
            started = time.monotonic()
            tried = (await client.post(f"{mine}/test", **rita)).json()
            assert time.monotonic() - started < 5
            assert tried["error"] == "timeout: no whole answer within 0.5 s"

            for n in range(19):
                more = {"url": f"{receiver.base_url}/hook-{n}"}
                assert (
                    await client.post("/api/notifications/webhooks", json=more, **rita)
                ).status_code == 201
            over = await client.post("/api/notifications/webhooks", json=hook, **rita)
            assert over.status_code == 409 and "at most 20" in over.json()["detail"]
