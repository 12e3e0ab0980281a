"""NATS users on the cluster `riskstream cluster up` makes: a lender's devices publish only
their own telemetry and status over MQTT and read nothing; the workers reach only their
streams and buckets; a login that is wrong, or a login file others may read, is refused
with a reason."""

import asyncio
import json
import os
import re
import threading
import time
from pathlib import Path

import nats
import nats.errors
import nats.js.errors
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from typer.testing import CliRunner

from riskstream.cli import build_app
from riskstream.cluster import layout
from riskstream.cluster.connection import connect_cluster
from riskstream.cluster.errors import ClusterLoginFileError, ClusterLoginRefusedError
from riskstream.cluster.layout import (
    ALERTS_STREAM,
    INGEST_SUBJECT_PREFIX,
    MQTT_STREAM,
    RISK_STREAM,
    TELEMETRY_SOURCE_DELIVER,
    TELEMETRY_STREAM,
)
from riskstream.cluster.logins import (
    NatsLogin,
    chosen_login,
    login_from_environment,
    read_login,
    write_login,
)
from riskstream.cluster.nats_servers import NatsCluster
from riskstream.cluster.permissions import (
    ROLE_RESOURCES,
    device_permissions,
    role_permissions,
)
from riskstream.engine.checkpoint_key import ENV_VAR
from tests.paho_publisher import publish_all, sequenced_payloads
from tests.servers import admin_options, device_login

WAIT_S = 30.0

# -- without servers ---------------------------------------------------------------------


def test_every_stream_and_bucket_of_the_layout_belongs_to_a_role() -> None:
    names = {
        value
        for name, value in vars(layout).items()
        if name.endswith(("_STREAM", "_BUCKET")) and isinstance(value, str)
    }
    names.discard(MQTT_STREAM)  # nats-server's own; no role reads it
    used = {resource.name for resources in ROLE_RESOURCES.values() for resource in resources}
    assert names - used == set(), "give each new stream or bucket a line in ROLE_RESOURCES"


def test_devices_may_publish_only_their_lenders_topics_and_read_nothing() -> None:
    device = device_permissions("bank-a")
    assert device.publish == ["rs.v1.bank-a.*.telemetry", "rs.v1.bank-a.*.status"]
    assert device.subscribe == [] and device.subscribe_denied == [">"]
    assert device.connection_types == ("MQTT",)
    for role in ("ingest", "risk", "api"):
        worker = role_permissions(role)
        assert worker.connection_types == ("STANDARD",)
        assert "rs.v1.>" in worker.publish_denied  # no role speaks for a device
        assert f"{TELEMETRY_SOURCE_DELIVER.rsplit('.', 1)[0]}.>" in worker.publish_denied
        # only ingest reads the devices' telemetry (its QoS 0 relay), and only it may put
        # relayed QoS 0 telemetry into the telemetry stream
        relay = role == "ingest"
        assert worker.subscribe == ["_INBOX.>", *(["rs.v1.*.*.telemetry"] if relay else [])]
        assert ("rs.qos0.>" in worker.publish_denied) is not relay
        assert not any(".STREAM.DELETE." in s or ".STREAM.UPDATE." in s for s in worker.publish)
        assert not any(".STREAM.CREATE." in s for s in worker.publish)


@pytest.mark.parametrize("tenant", ["a.b", "*", ">", "bank a", "", "x/y", "x" * 129])
def test_a_tenant_id_that_is_not_one_subject_token_gets_no_device_user(tenant: str) -> None:
    with pytest.raises(ValueError, match="one subject token"):
        device_permissions(tenant)


def test_a_bad_tenant_is_one_line_and_nothing_is_written(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        build_app(),
        ["cluster", "up", "--dir", str(tmp_path / "c"), "--base-port", "0", "--tenant", "a.b"],
    )
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --tenant: tenant 'a.b' cannot")
    assert not (tmp_path / "c").exists()


def test_a_login_file_is_written_for_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "logins" / "risk.json"
    write_login(path, NatsLogin("risk", "s3cret-pw"))
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(path.parent).st_mode & 0o777 == 0o700
    assert read_login(path) == NatsLogin("risk", "s3cret-pw")
    assert "s3cret-pw" not in repr(read_login(path))


def test_a_login_file_others_may_read_or_malformed_is_refused_with_the_reason(
    tmp_path: Path,
) -> None:
    path = tmp_path / "risk.json"
    write_login(path, NatsLogin("risk", "pw"))
    os.chmod(path, 0o644)
    with pytest.raises(ClusterLoginFileError, match=r"others may read it \(mode 0644\); chmod 600"):
        read_login(path)
    for text, reason in [
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"user": "risk"}', "'password' is missing"),
        ('{"user": 7, "password": "x"}', "'user' is missing or not a short text"),
    ]:
        path.write_text(text)
        os.chmod(path, 0o600)
        with pytest.raises(ClusterLoginFileError, match=re.escape(reason)) as caught:
            read_login(path)
        assert str(path) in str(caught.value)
    with pytest.raises(ClusterLoginFileError, match="No such file"):
        read_login(tmp_path / "missing.json")


def test_a_login_from_the_environment_needs_both_halves() -> None:
    assert login_from_environment({}) is None
    both = {"RISKSTREAM_NATS_USER": "api", "RISKSTREAM_NATS_PASSWORD": "pw"}
    assert login_from_environment(both) == NatsLogin("api", "pw")
    with pytest.raises(ClusterLoginFileError, match="RISKSTREAM_NATS_PASSWORD is not set"):
        login_from_environment({"RISKSTREAM_NATS_USER": "api"})
    with pytest.raises(ClusterLoginFileError, match="both a user name and a password"):
        chosen_login(None, None, "pw")


def test_the_worker_command_refuses_a_readable_login_file_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(ENV_VAR, "k" * 40)
    path = tmp_path / "risk.json"
    path.write_text(json.dumps({"user": "risk", "password": "pw"}))
    os.chmod(path, 0o640)
    result = CliRunner().invoke(
        build_app(),
        ["worker", "risk", "--nats", "nats://127.0.0.1:1", "--nats-login", str(path)],
    )
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        f"error: --nats-login {path}: others may read it (mode 0640); chmod 600 {path}"
    ]


def test_node_configs_hold_every_user_and_only_their_owner_reads_them(tmp_path: Path) -> None:
    cluster = NatsCluster.plan(tmp_path, 3, 4222)
    cluster.add_tenants(["bank-a"])
    cluster.save()
    config = cluster.config_path(1).read_text()
    assert os.stat(cluster.config_path(1)).st_mode & 0o777 == 0o600
    for user in ("admin", "ingest", "risk", "api", "devices-bank-a"):
        assert f'user: "{user}", password: "{cluster.login(user).password}"' in config
    route = cluster.login("route")
    assert f'"nats://route:{route.password}@127.0.0.1:4233"' in config
    assert 'allowed_connection_types: ["MQTT"]' in config
    again = NatsCluster.load(tmp_path)
    assert again.save() == []  # passwords kept: the configs do not change
    assert again.device_users == ["devices-bank-a"]


# -- on the session's cluster ------------------------------------------------------------


class _Device:
    """One MQTT connection that records what the broker answered."""

    def __init__(self, port: int, login: tuple[str, str], client_id: str) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.username_pw_set(*login)
        self.connected = threading.Event()
        self.refused: list[str] = []
        self.granted: dict[int, list[bool]] = {}
        self.acked: set[int] = set()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = lambda _c, _u, mid, _rc, _p: self.acked.add(mid)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_connect(self, _c: object, _u: object, _f: object, reason: object, _p: object) -> None:
        if getattr(reason, "is_failure", False):
            self.refused.append(str(reason))
        self.connected.set()

    def _on_subscribe(
        self, _c: object, _u: object, mid: int, reasons: list[object], _p: object
    ) -> None:
        self.granted[mid] = [not getattr(r, "is_failure", True) for r in reasons]

    def publish(self, topic: str, payload: bytes) -> int:
        info = self.client.publish(topic, payload, qos=1)
        _wait_for(lambda: info.mid in self.acked, f"PUBACK of {topic}")
        return info.mid

    def subscribe(self, topic: str) -> list[bool]:
        _result, mid = self.client.subscribe(topic, qos=1)
        _wait_for(lambda: mid in self.granted, f"SUBACK of {topic}")
        return self.granted[mid]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"no {what} within {WAIT_S:g} s"
        time.sleep(0.02)


async def _subject_count(js: nats.js.JetStreamContext, stream: str, subject: str) -> int:
    info = await js.stream_info(stream, subjects_filter=subject)
    return sum((info.state.subjects or {}).values())


async def test_a_device_login_publishes_its_telemetry_and_nothing_else(
    nats_cluster: NatsCluster,
) -> None:
    nc = await nats.connect(servers=nats_cluster.nats_urls, **admin_options(nats_cluster))
    js = nc.jetstream(timeout=5.0)
    stored_of = f"{INGEST_SUBJECT_PREFIX}.*.bank-b.>"
    try:
        risk_before = await _subject_count(js, RISK_STREAM, "rs.risk.3")
        alerts_before = (await js.stream_info(ALERTS_STREAM)).state.messages
        stranger_before = await _subject_count(
            js, TELEMETRY_STREAM, f"{INGEST_SUBJECT_PREFIX}.*.bank-a.>"
        )
        device = await asyncio.to_thread(
            _Device, nats_cluster.ports[1].mqtt, device_login(nats_cluster, "bank-b"), "bank-b-gw"
        )
        try:
            await asyncio.to_thread(device.connected.wait, WAIT_S)
            assert device.refused == []
            forged = json.dumps({"v": 1, "partition": 3, "readings": []}).encode()
            await asyncio.to_thread(device.publish, "rs/risk/3", forged)
            await asyncio.to_thread(device.publish, "rs/alerts/bank-a", forged)
            await asyncio.to_thread(device.publish, "rs/v1/bank-a/d1/telemetry", b'{"ts": 1}')
            for topic in ("rs/sourcing/telemetry", "rs/#", "#", "rs/v1/bank-b/+/telemetry"):
                assert await asyncio.to_thread(device.subscribe, topic) == [False], topic
            payload = b'{"ts": 1700000000.0, "seq": 1, "values": {"weight_kg": 5.0}}'
            await asyncio.to_thread(device.publish, "rs/v1/bank-b/gw-1/telemetry", payload)
        finally:
            await asyncio.to_thread(device.close)
        # its own telemetry is stored; what it sent before it on the same connection is
        # handled by then, and none of it was taken
        deadline = time.monotonic() + WAIT_S
        while await _subject_count(js, TELEMETRY_STREAM, stored_of) < 1:
            assert time.monotonic() < deadline, "the device's own telemetry was not stored"
            await asyncio.sleep(0.1)
        assert await _subject_count(js, TELEMETRY_STREAM, stored_of) == 1
        assert await _subject_count(js, RISK_STREAM, "rs.risk.3") == risk_before
        assert (await js.stream_info(ALERTS_STREAM)).state.messages == alerts_before
        assert (
            await _subject_count(js, TELEMETRY_STREAM, f"{INGEST_SUBJECT_PREFIX}.*.bank-a.>")
            == stranger_before
        )
    finally:
        await nc.close()


def test_a_wrong_device_password_or_a_worker_user_over_mqtt_is_refused(
    nats_cluster: NatsCluster,
) -> None:
    port = nats_cluster.ports[0].mqtt
    user, _password = device_login(nats_cluster, "bank-b")
    for login in [(user, "wrong-password"), ("ingest", nats_cluster.login("ingest").password)]:
        device = _Device(port, login, f"refused-{login[0]}")
        try:
            assert device.connected.wait(WAIT_S)
            assert device.refused[:1] == ["Not authorized"], login[0]
        finally:
            device.close()
    # and the same device publishes once the password is right
    messages = sequenced_payloads("bank-b", ("gw-2",), per_device=3, start_ts=1.7e9)
    assert (
        publish_all(port, messages, 100.0, "bank-b-ok", device_login(nats_cluster, "bank-b")) == 3
    )


async def test_nats_logins_that_are_wrong_or_a_devices_are_refused(
    nats_cluster: NatsCluster,
) -> None:
    urls = nats_cluster.nats_urls
    device = nats_cluster.login("devices-bank-b")  # MQTT only
    for login in (NatsLogin("risk", "wrong"), device, None):
        with pytest.raises(ClusterLoginRefusedError, match="refused") as caught:
            await connect_cluster(urls, "refused", first_attempts=1, login=login)
        assert (login.password if login else "wrong") not in str(caught.value)


async def test_a_worker_user_reaches_only_its_own_streams(nats_cluster: NatsCluster) -> None:
    errors: list[str] = []

    async def note(exc: Exception) -> None:
        errors.append(str(exc))

    nc = await nats.connect(
        servers=nats_cluster.nats_urls,
        error_cb=note,
        **nats_cluster.login("risk").connect_options(),
    )
    try:
        js = nc.jetstream(timeout=2.0)
        assert (await js.stream_info(RISK_STREAM)).config.name == RISK_STREAM
        for forbidden in (
            js.stream_info(TELEMETRY_STREAM),  # not the risk role's
            js.delete_stream(ALERTS_STREAM),
            js.purge_stream(RISK_STREAM),
        ):
            with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
                await forbidden
        await nc.subscribe(TELEMETRY_SOURCE_DELIVER)  # every device's messages
        await nc.publish("rs.v1.bank-b.gw-9.telemetry", b"{}")  # speaking for a device
        await nc.flush()
        deadline = time.monotonic() + WAIT_S
        while len(errors) < 5 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        said = [e.lower() for e in errors]  # nats-py lowercases the server's -ERR
        assert any(
            f'permissions violation for subscription to "{TELEMETRY_SOURCE_DELIVER}"' in e
            for e in said
        ), errors
        assert any(
            'permissions violation for publish to "rs.v1.bank-b.gw-9.telemetry"' in e for e in said
        ), errors
    finally:
        await nc.close()
    admin = await nats.connect(servers=nats_cluster.nats_urls, **admin_options(nats_cluster))
    try:
        assert (await admin.jetstream().stream_info(ALERTS_STREAM)).config.name == ALERTS_STREAM
    finally:
        await admin.close()


def test_a_lender_added_to_a_running_cluster_gets_its_device_user_without_a_restart(
    nats_cluster: NatsCluster,
) -> None:
    pids = [nats_cluster.pid(node) for node in nats_cluster.node_numbers]
    assert nats_cluster.add_tenants(["bank-late"]) == ["devices-bank-late"]
    assert nats_cluster.start() == []  # every node runs: none started, configs reloaded
    assert [nats_cluster.pid(node) for node in nats_cluster.node_numbers] == pids
    login = device_login(nats_cluster, "bank-late")
    deadline = time.monotonic() + WAIT_S
    while True:  # each node reloads its config on SIGHUP, a moment after
        device = _Device(nats_cluster.ports[2].mqtt, login, "bank-late-gw")
        try:
            assert device.connected.wait(WAIT_S)
            if not device.refused:
                break
        finally:
            device.close()
        assert time.monotonic() < deadline, f"devices-bank-late refused: {device.refused}"
        time.sleep(0.2)
    messages = sequenced_payloads("bank-late", ("gw-1",), per_device=2, start_ts=1.7e9)
    assert publish_all(nats_cluster.ports[2].mqtt, messages, 100.0, "bank-late-ok", login) == 2


def test_a_worker_whose_login_is_refused_says_so_in_one_line(
    nats_cluster: NatsCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(ENV_VAR, "k" * 40)
    path = tmp_path / "risk.json"
    write_login(path, NatsLogin("risk", "not-the-password"))
    urls = ",".join(nats_cluster.nats_urls)
    result = CliRunner().invoke(
        build_app(), ["worker", "risk", "--nats", urls, "--nats-login", str(path)]
    )
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    assert "refused user 'risk' (Authorization Violation)" in errors[0]
    assert "not-the-password" not in result.output and "Traceback" not in result.output
