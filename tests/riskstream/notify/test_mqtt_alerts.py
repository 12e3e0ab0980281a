"""Alert changes over MQTT through a real mosquitto with the shipped ACL: a lender that
turns it on gets every change at rs/v1/TENANT/alerts (QoS 1) and the open alerts retained
per alert; its plant system reads them; another lender's plant system and any device
read nothing of it, even subscribed to everything."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import orjson
import pytest

from riskstream.service.runtime import Runtime
from riskstream.service.settings import ServiceSettings
from tests.ingest.test_broker_security import SHIPPED_ACL, password_file
from tests.mosquitto_control import ControlledMosquitto
from tests.riskstream.notify.test_webhooks import WEBHOOK_KEY, as_user
from tests.riskstream.people import register_people
from tests.riskstream.rules_service import client_of
from tests.riskstream.test_api_access import alert

pytestmark = pytest.mark.broker

LOGINS = {
    "riskstream-alerts": "alerts-pw",
    "bank-a": "plant-a-pw",
    "bank-b": "plant-b-pw",
    "bank-b/x9-d1": "device-pw",
}


@contextlib.asynccontextmanager
async def listening(
    port: int, user: str, topics: list[str]
) -> AsyncIterator[list[aiomqtt.Message]]:
    """Messages ``user`` receives on ``topics``, gathered in the background."""
    got: list[aiomqtt.Message] = []
    async with aiomqtt.Client("127.0.0.1", port, username=user, password=LOGINS[user]) as client:
        for topic in topics:
            await client.subscribe(topic, qos=1)

        async def gather() -> None:
            async for message in client.messages:
                got.append(message)

        task = asyncio.create_task(gather())
        try:
            yield got
        finally:
            task.cancel()


async def until(check: object, within_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "not in time"
        await asyncio.sleep(0.02)


async def test_a_lenders_alerts_reach_its_plant_system_and_no_one_else(tmp_path: Path) -> None:
    passwd = password_file(tmp_path / "passwd", LOGINS)
    broker = ControlledMosquitto(
        tmp_path,
        f"password_file {passwd}\nacl_file {SHIPPED_ACL}\n",
        persistent=False,
        anonymous=False,
    )
    broker.start()
    db = str(tmp_path / "rs.db")
    register_people(db)  # type: ignore[arg-type]
    runtime = Runtime(
        ServiceSettings(
            database=db,
            deadletter=None,
            checkpoint_enabled=False,
            webhook_key=WEBHOOK_KEY,  # a database server has no directory for the key file
            broker=broker.url,
            alerts_mqtt_username="riskstream-alerts",
            alerts_mqtt_password="alerts-pw",  # type: ignore[arg-type]
        )
    )
    stop = asyncio.Event()
    publisher = asyncio.create_task(runtime.notify.mqtt_publisher.run(stop, runtime.notifier))
    try:
        async with client_of(runtime) as client:
            rita, bob = await as_user(client, "rita"), await as_user(client, "bob")
            anna = await as_user(client, "anna")
            on = {"enabled": True, "retained": True}
            assert (await client.put("/api/notifications/mqtt", json=on, **anna)).status_code == 403
            answer = await client.put("/api/notifications/mqtt", json=on, **rita)
            assert answer.json()["topic"] == "rs/v1/bank-a/alerts"
            assert (await client.get("/api/notifications/mqtt", **bob)).json()["enabled"] is False
            audited = runtime.audit.entries(tenant="bank-a", target="notifications:mqtt")
            assert [(e["actor"], e["detail"]) for e in audited] == [("rita", on)]
            await until(lambda: runtime.notify.mqtt_alerts.cursor("mqtt") is not None)

            everything = ["#", "rs/v1/+/alerts", "rs/v1/bank-a/alerts/#"]
            async with (
                listening(broker.port, "bank-a", ["rs/v1/bank-a/alerts"]) as plant_a,
                listening(broker.port, "bank-b", everything) as plant_b,
                listening(broker.port, "bank-b/x9-d1", everything) as device,
            ):
                await asyncio.sleep(0.2)
                runtime.publish([alert("bank-a", "b1"), alert("bank-a", "b2")])
                runtime.publish([alert("bank-b", "x9")])  # bank-b has not turned MQTT on
                await until(lambda: len(plant_a) == 2)
                bodies = [orjson.loads(m.payload) for m in plant_a]  # type: ignore[arg-type]
                assert [(b["event"], b["alert"]["borrower_id"]) for b in bodies] == [
                    ("opened", "b1"),
                    ("opened", "b2"),
                ]
                assert all(m.qos == 1 for m in plant_a)
                resolved = await client.post(
                    "/api/alerts/bank-a-b2-inventory_below_pledge/resolve",
                    json={"comment": "counted on site"},
                    **rita,
                )
                assert resolved.status_code == 200
                await until(lambda: len(plant_a) == 3)
                await asyncio.sleep(0.3)  # time for anything misrouted to arrive
            assert plant_b == [] and device == []

            # a plant system that subscribes later gets the open alerts, retained
            async with listening(broker.port, "bank-a", ["rs/v1/bank-a/alerts/+"]) as late:
                await until(lambda: len(late) >= 1)
                await asyncio.sleep(0.3)
            assert [str(m.topic) for m in late] == [
                "rs/v1/bank-a/alerts/bank-a-b1-inventory_below_pledge"
            ]
            assert all(m.retain for m in late)
    finally:
        stop.set()
        await publisher
        runtime.db.dispose()
        broker.stop()
