"""Device ids that collide with riskstream's own topics are refused everywhere."""

from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry

from devices.errors import FleetFileError, ReservedDeviceIdError, TopicError
from devices.fleet_file import load_fleet, save_fleet
from devices.model import Device, Fleet
from devices.registry import Registry, open_database
from devices.topics import alert_topic, alerts_topic, format_topic, parse_topic
from ingest.deadletter import DeadLetterStore
from ingest.metrics import IngestMetrics
from ingest.pipeline import IngestPipeline
from tests.fleets import small_fleet

NOW = 1_795_000_000.0


def fleet_with_device_id(device_id: str) -> Fleet:
    fleet = small_fleet()
    dumped = fleet.model_dump(mode="json")
    dumped["borrowers"][0]["devices"][0]["id"] = device_id
    return Fleet.model_validate(dumped)


@pytest.mark.parametrize("device_id", ["alerts", "Alerts", "ALERTS"])
def test_fleet_file_with_a_reserved_device_id_names_file_field_and_reason(
    tmp_path: Path, device_id: str
) -> None:
    path = tmp_path / "fleet.yaml"
    save_fleet(small_fleet(), path)
    path.write_text(path.read_text().replace("id: b1-d1", f"id: {device_id}", 1))
    with pytest.raises(FleetFileError) as info:
        load_fleet(path)
    message = str(info.value)
    assert str(path) in message
    assert info.value.field == "borrowers.0.devices.0.id"
    assert f"device id {device_id!r} is reserved" in message
    assert "alerts" in message and "choose another id" in message


@pytest.mark.parametrize("device_id", ["alerts-1", "my.alerts", "alert", "alertss"])
def test_ids_that_only_look_like_the_reserved_one_are_fine(device_id: str) -> None:
    assert fleet_with_device_id(device_id).devices()[0].id == device_id


def test_registry_refuses_a_fleet_built_without_validation(tmp_path: Path) -> None:
    fleet = small_fleet()
    unchecked = Device.model_construct(**{**fleet.borrowers[0].devices[0].__dict__, "id": "alerts"})
    fleet.borrowers[0].devices[0] = unchecked
    registry = Registry(open_database(tmp_path / "r.db"))
    with pytest.raises(ReservedDeviceIdError) as info:
        registry.import_fleet(fleet)
    assert info.value.device_id == "alerts" and info.value.tenant == "bank-a"
    assert registry.tenants() == []  # nothing of the fleet was stored


@pytest.mark.parametrize("device_id", ["alerts", "aLeRtS"])
def test_topic_grammar_has_no_device_topic_under_the_alerts_level(device_id: str) -> None:
    with pytest.raises(TopicError, match="reserved"):
        format_topic("bank", device_id)
    with pytest.raises(TopicError, match="reserved"):
        parse_topic(f"rs/v1/bank/{device_id}/telemetry")


def test_alert_topics_are_formatted_by_the_grammar() -> None:
    assert alerts_topic("rs/v1", "bank") == "rs/v1/bank/alerts"
    assert alert_topic("rs/v1", "bank", "a-17") == "rs/v1/bank/alerts/a-17"
    with pytest.raises(TopicError):
        alerts_topic("rs/+", "bank")


def test_ingest_refuses_a_device_publishing_under_the_alerts_level(tmp_path: Path) -> None:
    """Even when an old registry still lists a device ``alerts``, its messages are refused."""
    registry = CollectorRegistry()
    dead = tmp_path / "dead.jsonl"
    pipeline = IngestPipeline(
        [("bank", "alerts"), ("bank", "d1")], DeadLetterStore(dead), IngestMetrics.create(registry)
    )
    body = orjson.dumps({"ts": NOW - 5, "seq": 1, "values": {"weight_kg": 1.0}})
    outcome = pipeline.handle("rs/v1/bank/alerts/telemetry", body, NOW)
    assert outcome.rejected == ["bad_topic"]
    assert pipeline.handle("rs/v1/bank/d1/telemetry", body, NOW).accepted == 1
    assert [r.device_id for r in pipeline.drain()] == ["d1"]
    record = orjson.loads(dead.read_text().splitlines()[0])
    assert record["reason"] == "bad_topic" and "reserved" in record["detail"]
