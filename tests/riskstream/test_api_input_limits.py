"""No input gives a 500: non-finite numbers, times out of range, event ids that are not
event ids, deeply nested bodies and rules texts beyond the TOML bounds are refused."""

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from devices.reading import Reading
from riskstream.api.app import create_app
from riskstream.service.runtime import Runtime
from riskstream.service.settings import ServiceSettings
from tests.riskstream.people import register_people
from tests.riskstream.rules_service import SAMPLE
from tests.riskstream.test_api_access import alert, login

T0 = 1_795_000_000.0
NON_FINITE = ["nan", "NaN", "inf", "-inf", "Infinity", "1e999", "-1e999"]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[TestClient, Runtime, dict[str, str]]]:
    db = tmp_path / "rs.db"
    register_people(db)
    rules = tmp_path / "rules.toml"
    shutil.copy(SAMPLE, rules)
    runtime = Runtime(ServiceSettings(database=str(db), deadletter=None, rules=rules))
    runtime.engines.of("bank-a").process(
        [Reading("bank-a", "b1-d1", T0, "weight_kg", 850_000.0, 1)]
    )
    runtime.engines.of("bank-a").wall_clock = lambda: T0  # no wall clock in the expectations
    runtime.publish([alert("bank-a", "b1")])
    with TestClient(create_app(runtime)) as client:
        yield client, runtime, login(client, "rita", "rita-password")


def refused(response: Any, status: int = 422) -> dict[str, Any]:
    """The JSON body of a refusal with ``status``; it must be valid JSON (no NaN)."""
    assert response.status_code == status
    body: dict[str, Any] = json.loads(response.text)  # strict: NaN is not JSON
    return body


@pytest.mark.parametrize(
    "path",
    [
        "/api/portfolio?min_score={}",
        "/api/borrowers/b1?start={}",
        "/api/borrowers/b1?end={}",
        "/api/devices/b1-d1/telemetry?metric=weight_kg&start={}",
        "/api/devices/b1-d1/telemetry?metric=weight_kg&end={}",
        "/api/devices/b1-d2/positions?start={}",
        "/api/devices/b1-d2/positions?end={}",
        "/api/alerts?since={}",
    ],
)
def test_non_finite_query_numbers_get_422(
    service: tuple[TestClient, Runtime, dict[str, str]], path: str
) -> None:
    client, _, rita = service
    for value in NON_FINITE:
        refused(client.get(path.format(value), headers=rita))


@pytest.mark.parametrize("value", ["-1", "1e308", "-1e308", "9000000001"])
def test_times_out_of_range_get_422(
    service: tuple[TestClient, Runtime, dict[str, str]], value: str
) -> None:
    client, _, rita = service
    for path in (
        "/api/devices/b1-d1/telemetry?metric=weight_kg&end={}",
        "/api/borrowers/b1?end={}",
        "/api/devices/b1-d2/positions?start={}",
    ):
        refused(client.get(path.format(value), headers=rita))


def post_json(client: TestClient, path: str, body: str, headers: dict[str, str]) -> Any:
    return client.post(path, content=body, headers={**headers, "content-type": "application/json"})


def test_non_finite_json_numbers_get_422(
    service: tuple[TestClient, Runtime, dict[str, str]],
) -> None:
    client, runtime, rita = service
    event = '{"borrower_id": "b1", "loan_id": "b1-l1", "event": "default", "ts": %s}'
    dry_run = '{"text": "[rules]", "days": %s}'
    for value in ("NaN", "Infinity", "-Infinity", "1e999", "-1e999"):
        body = refused(post_json(client, "/api/loan-events", event % value, rita))
        assert body["detail"][0]["loc"] == ["body", "ts"]
        assert body["detail"][0]["type"] == "finite_number"
        refused(post_json(client, "/api/rules/dry-run", dry_run % value, rita))
    assert runtime.loan_events.list("bank-a") == []


def test_loan_event_times_out_of_range_get_422(
    service: tuple[TestClient, Runtime, dict[str, str]],
) -> None:
    client, runtime, rita = service
    event = {"borrower_id": "b1", "loan_id": "b1-l1", "event": "payment_missed"}
    for ts in (1e308, -1e308, 0.0, 946_684_799.0, T0 + 86_400 + 1, 2**70):
        response = client.post("/api/loan-events", json={**event, "ts": ts}, headers=rita)
        assert refused(response)["detail"][0]["loc"] == ["body", "ts"]
    assert runtime.loan_events.list("bank-a") == []
    for ts in (946_684_800.0, T0 + 86_400):  # 2000-01-01, and one day after "now"
        response = client.post("/api/loan-events", json={**event, "ts": ts}, headers=rita)
        assert response.status_code == 201
    runtime.engines.of("bank-a").wall_clock = lambda: (
        T0 + 10 * 86_400
    )  # "now" is the later of wall and event time
    late = {**event, "ts": T0 + 10.5 * 86_400}
    assert client.post("/api/loan-events", json=late, headers=rita).status_code == 201


@pytest.mark.parametrize(
    "last_event_id",
    [b"9" * 5000, b"-1", b"abc", b"1.5", "²".encode(), b" ", str(2**62 + 1).encode(), b"1 2"],
)
def test_a_last_event_id_that_is_not_an_event_id_gets_422(
    service: tuple[TestClient, Runtime, dict[str, str]], last_event_id: bytes
) -> None:
    client, _, rita = service
    response = client.get("/api/alerts/stream", headers={**rita, "Last-Event-ID": last_event_id})
    assert refused(response)["detail"][0]["loc"] == ["header", "last-event-id"]


@pytest.mark.parametrize("after", ["9" * 5000, "-1", "x", "1e3", str(2**62 + 1)])
def test_an_after_that_is_not_an_event_id_gets_422(
    service: tuple[TestClient, Runtime, dict[str, str]], after: str
) -> None:
    client, _, rita = service
    refused(client.get(f"/api/alerts/stream?after={after}", headers=rita))


def test_deeply_nested_json_bodies_are_refused(
    service: tuple[TestClient, Runtime, dict[str, str]],
) -> None:
    client, runtime, rita = service
    for depth in (50, 900, 100_000):
        nested = "[" * depth + "]" * depth
        body = '{"borrower_id": ' + nested + ', "loan_id": "b1-l1", "event": "default", "ts": 1}'
        response = post_json(client, "/api/loan-events", body, rita)
        assert response.status_code in (400, 422)
        json.loads(response.text)
    assert runtime.loan_events.list("bank-a") == []


def test_strings_utf8_cannot_carry_and_huge_integers_get_422(
    service: tuple[TestClient, Runtime, dict[str, str]],
) -> None:
    client, runtime, rita = service
    surrogate = '{"borrower_id": "\\ud800", "loan_id": "b1-l1", "event": "default", "ts": 1e9}'
    body = refused(post_json(client, "/api/loan-events", surrogate, rita))
    assert body["detail"][0]["input"] == "\\ud800"  # escaped: UTF-8 cannot carry it
    huge = '{"text": "[rules]", "limit": ' + "9" * 4300 + "}"
    body = refused(post_json(client, "/api/rules/dry-run", huge, rita))
    assert body["detail"][0]["input"] == "<integer of 14285 bits>"
    too_long = '{"text": "[rules]", "limit": ' + "9" * 5000 + "}"  # int() refuses it
    refused(post_json(client, "/api/rules/dry-run", too_long, rita), 400)
    assert runtime.loan_events.list("bank-a") == []


RULES_BEYOND_BOUNDS = [
    ("a = " + "[" * 2000 + "]" * 2000, 1, None, "nested deeper than 32"),
    ("a = " + "{b = " * 400 + "1" + "}" * 400, 1, None, "nested deeper than 32"),
    ("rules" + ".x" * 3000 + " = 1", None, "rules" + ".x" * 32, "nested deeper than 32"),
    ("[rules.device_silent]\nmin_silence = " + "1" * 5000, 2, None, "too many digits"),
    (
        "[rules.values_stuck]\nmin_repeats = 0x" + "f" * 5000,
        2,
        "rules.values_stuck.min_repeats",
        "integer out of range",
    ),
    (
        "[rules.device_silent]\nmissed_intervals = nan",
        2,
        "rules.device_silent.missed_intervals",
        "must be finite",
    ),
]


@pytest.mark.parametrize(("text", "line", "field", "reason"), RULES_BEYOND_BOUNDS)
def test_rules_text_beyond_the_toml_bounds_gets_400_with_line_field_and_reason(
    service: tuple[TestClient, Runtime, dict[str, str]],
    text: str,
    line: int | None,
    field: str | None,
    reason: str,
) -> None:
    client, runtime, rita = service
    before = runtime.rules_keeper.current.version
    for method, path in (("POST", "/api/rules/dry-run"), ("PUT", "/api/rules")):
        response = client.request(method, path, json={"text": text}, headers=rita)
        body = refused(response, 400)
        assert set(body) == {"detail", "file", "line", "field", "reason"}
        assert (body["line"], body["field"]) == (line, field)
        assert reason in body["reason"]
    assert runtime.rules_keeper.current.version == before
