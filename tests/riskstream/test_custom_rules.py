"""User-defined rules (`[[rules.custom]]`): any metric of any device, no code."""

import time
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from devices.model import Device, DeviceKind, Fleet
from devices.reading import Reading
from devices.registry import Registry
from ingest.stores import open_store
from riskstream.api.app import create_app
from riskstream.api.evidence import evidence_window
from riskstream.engine.alerts import Alert
from riskstream.engine.core import Engine
from riskstream.errors import RulesFileError
from riskstream.rules.schema import RuleSet, parse_rules
from riskstream.service.database import open_service_database
from riskstream.service.runtime import Runtime
from riskstream.service.settings import ServiceSettings
from tests.fleets import small_fleet
from tests.riskstream.people import register_people
from tests.riskstream.test_api_access import login

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "rules.toml"
T0 = 1_780_000_000.0
KEY = b"k" * 32

SILO = """
[[rules.custom]]
name = "silo_level_low"
metric = "level_pct"
devices = ["silo-*"]
condition = "below"
threshold = 20.0
clear = 25.0
window = "10m"
aggregate = "mean"
for = "30m"
clear_after = "10m"
severity = "warning"
reason = "silo {device}: {metric} {value:.1f} {unit} below {threshold:g} {unit}"
"""

PRESSURE = """
[[rules.custom]]
name = "pressure_rising_fast"
metric = "pressure_bar"
device_kinds = ["generic"]
condition = "rate_above"
threshold = 2.0
window = "1h"
for = "15m"
severity = "critical"
"""


def fleet() -> Fleet:
    """`small_fleet` with generic sensors at b1's warehouse: two silos, a tank, a press."""
    base = small_fleet()
    b1 = base.borrowers[0]
    extra = [
        Device(id=i, kind=DeviceKind.GENERIC, site="b1-w1")
        for i in ("silo-1", "silo-2", "tank-1", "press-1")
    ]
    return base.model_copy(
        update={
            "borrowers": [
                b1.model_copy(update={"devices": [*b1.devices, *extra]}),
                *base.borrowers[1:],
            ]
        }
    )


def engine(extra: str) -> Engine:
    return Engine([fleet()], parse_rules(SAMPLE.read_text() + extra), wall_clock=lambda: 0.0)


def feed(e: Engine, device: str, metric: str, values: list[float], start: float) -> list[Alert]:
    """One reading a minute from ``start``; the changed alerts, ticking each minute."""
    changed: list[Alert] = []
    for i, value in enumerate(values):
        ts = start + 60.0 * i
        changed += e.process([Reading("bank-a", device, ts, metric, value, int(ts))])
        changed += e.tick(ts)
    return changed


def of_kind(alerts: list[Alert], kind: str) -> list[Alert]:
    return [a for a in alerts if a.kind == kind]


def silo_levels() -> list[float]:
    """1 h at 50 %, 1 h at 15 % (breach), 1 h hovering at 22 % (between threshold and
    clear), 1 h at 30 % (clear)."""
    return [50.0] * 60 + [15.0] * 60 + [22.0] * 60 + [30.0] * 60


def test_a_silo_below_its_band_opens_after_for_holds_in_the_hysteresis_and_clears() -> None:
    e = engine(SILO)
    changed = of_kind(feed(e, "silo-1", "level_pct", silo_levels(), T0), "silo_level_low")
    opened = [a for a in changed if a.status == "open"]
    resolved = [a for a in changed if a.status == "resolved"]
    assert len({a.id for a in changed}) == 1, "one alert, no flapping while at 22 %"
    first = opened[0]
    # the 10-min mean falls below 20 % a few minutes into the drop; 30 min later it opens
    assert T0 + 3600 < first.opened_at < T0 + 3600 + 600
    assert first.updated_at == pytest.approx(first.opened_at + 1800, abs=60)
    assert first.reasons == ["silo silo-1: level_pct 15.0 % below 20 %"]
    assert (first.device_id, first.borrower_id, first.severity) == ("silo-1", "b1", "warning")
    (end,) = resolved
    # back above 25 % (the mean) a few minutes after 3 h, then clear for 10 min
    assert T0 + 3 * 3600 + 600 <= end.resolved_at <= T0 + 3 * 3600 + 1200  # type: ignore[operator]


def test_only_the_selected_devices_are_watched() -> None:
    e = engine(SILO)
    changed = feed(e, "tank-1", "level_pct", silo_levels(), T0)
    assert of_kind(changed, "silo_level_low") == []
    scoped = engine(SILO.replace('devices = ["silo-*"]', 'tenants = ["bank-z"]'))
    assert of_kind(feed(scoped, "silo-1", "level_pct", silo_levels(), T0), "silo_level_low") == []


def test_a_pressure_rising_faster_than_its_rate_alerts() -> None:
    e = engine(PRESSURE)
    steady = [5.0] * 120
    ramp = [5.0 + 10.0 * i / 60 for i in range(60)]  # 10 bar/h
    changed = of_kind(feed(e, "press-1", "pressure_bar", steady + ramp, T0), "pressure_rising_fast")
    assert changed and changed[0].severity == "critical"
    assert "bar/h" in changed[0].reasons[0] and "above 2 bar/h" in changed[0].reasons[0]
    calm = engine(PRESSURE)
    slow = [5.0 + 1.0 * i / 60 for i in range(180)]  # 1 bar/h: within the rule
    assert of_kind(feed(calm, "press-1", "pressure_bar", slow, T0), "pressure_rising_fast") == []


def test_missing_and_unchanged_series_alert_on_time() -> None:
    rules = """
[[rules.custom]]
name = "silo_not_reporting"
metric = "level_pct"
devices = ["silo-2"]
condition = "missing_for"
duration = "2h"

[[rules.custom]]
name = "silo_gauge_frozen"
metric = "level_pct"
devices = ["silo-1"]
condition = "unchanged_for"
duration = "3h"
"""
    e = engine(rules)
    feed(e, "silo-2", "level_pct", [40.0] * 10, T0)
    assert of_kind(e.tick(T0 + 2 * 3600), "silo_not_reporting") == []
    (missing,) = of_kind(e.tick(T0 + 9 * 60 + 2 * 3600 + 1), "silo_not_reporting")
    assert missing.opened_at == T0 + 9 * 60 + 2 * 3600
    back = of_kind(feed(e, "silo-2", "level_pct", [41.0], T0 + 4 * 3600), "silo_not_reporting")
    assert [a.status for a in back] == ["resolved"]

    frozen = of_kind(feed(e, "silo-1", "level_pct", [33.0] * 240, T0), "silo_gauge_frozen")
    assert frozen and frozen[0].opened_at == T0 + 3 * 3600


def test_the_evidence_charts_the_metric_with_its_threshold_lines() -> None:
    e = engine(SILO)
    (alert, *_) = of_kind(feed(e, "silo-1", "level_pct", silo_levels()[:150], T0), "silo_level_low")
    body = evidence_window(alert.to_dict(), e.index, e.rules, e.watermark)
    (chart,) = body["charts"]
    assert (chart["device_id"], chart["metric"], chart["unit"]) == ("silo-1", "level_pct", "%")
    assert [line["value"] for line in chart["thresholds"]] == [20.0, 25.0]


def test_a_checkpoint_resumes_custom_rules_with_identical_next_alerts(tmp_path: Path) -> None:
    levels = silo_levels()
    whole = engine(SILO)
    expected = feed(whole, "silo-1", "level_pct", levels, T0)
    first = engine(SILO)
    feed(first, "silo-1", "level_pct", levels[:90], T0)  # mid-breach, not yet open
    first.checkpoint(tmp_path / "e.ckpt", key=KEY)
    resumed = engine(SILO)
    resumed.restore(tmp_path / "e.ckpt", key=KEY)
    got = feed(resumed, "silo-1", "level_pct", levels[90:], T0 + 90 * 60)
    assert [a.to_dict() for a in of_kind(got, "silo_level_low")] == [
        a.to_dict() for a in of_kind(expected, "silo_level_low")
    ]


@pytest.mark.parametrize(
    ("change", "field", "line"),
    [
        (("threshold = 20.0\n", ""), "rules.custom.0.threshold", 1),
        (("clear = 25.0", "clear = 15.0"), "rules.custom.0.clear", 7),
        (('name = "silo_level_low"', 'name = "geofence_exit"'), "rules.custom.0.name", 2),
        (('condition = "below"', 'condition = "sideways"'), "rules.custom.0.condition", 5),
        (("{threshold:g}", "{limit}"), "rules.custom.0.reason", 13),
        (('window = "10m"', 'window = "soon"'), "rules.custom.0.window", 8),
    ],
)
def test_a_bad_custom_rule_is_refused_naming_line_and_field(
    change: tuple[str, str], field: str, line: int
) -> None:
    head = SAMPLE.read_text()
    text = head + SILO.replace(*change)
    with pytest.raises(RulesFileError) as refused:
        parse_rules(text, "rules.toml")
    assert refused.value.field == field
    assert refused.value.line == len(head.splitlines()) + 1 + line


def test_custom_kinds_take_cooldowns_but_no_overrides() -> None:
    cooled = parse_rules(SILO + '[alerts.cooldown]\nsilo_level_low = "1h"\n')
    assert cooled.alerts.cooldown_of("silo_level_low") == 3600.0
    with pytest.raises(RulesFileError, match="cannot be overridden"):
        parse_rules(SILO + '[[overrides]]\ntenant = "bank-a"\n[overrides.rules.custom]\nx = 1\n')
    assert RuleSet().rules.custom == []


def test_live_a_custom_alert_is_explained_and_charted_through_the_api(tmp_path: Path) -> None:
    db = tmp_path / "rs.db"
    register_people(db)
    Registry(open_service_database(db)).import_fleet(fleet())
    rules = tmp_path / "rules.toml"
    rules.write_text(SAMPLE.read_text() + SILO)
    runtime = Runtime(
        ServiceSettings(database=str(db), rules=rules, deadletter=None, checkpoint_enabled=False)
    )
    runtime.store = open_store(f"duckdb:///{tmp_path}/t.duckdb")
    start = time.time() - 4 * 3600
    for i, level in enumerate(silo_levels()[:150]):
        ts = start + 60.0 * i
        payload = orjson.dumps({"ts": ts, "seq": i + 1, "values": {"level_pct": level}})
        runtime.pipeline.handle("rs/v1/bank-a/silo-1/telemetry", payload, time.time())
        batch = runtime.pipeline.drain()
        runtime.store.write(batch)
        runtime.on_batch(batch)
    with TestClient(create_app(runtime)) as client:
        rita = login(client, "rita", "rita-password")
        items = client.get("/api/alerts", headers=rita, params={"status": "open"}).json()["items"]
        (alert,) = [a for a in items if a["kind"] == "silo_level_low"]
        # at 22 %, held open by the hysteresis: the last value in breach, and a note
        assert alert["reasons"] == [
            "silo silo-1: level_pct 19.5 % below 20 %",
            "now 22 %: open until back to 25 % (hysteresis)",
        ]
        evidence = client.get(f"/api/alerts/{alert['id']}/evidence", headers=rita).json()
        (chart,) = evidence["charts"]
        assert (chart["metric"], chart["unit"]) == ("level_pct", "%")
        series = client.get(
            "/api/devices/silo-1/telemetry",
            headers=rita,
            params={"metric": "level_pct", "start": evidence["start"], "end": evidence["end"]},
        ).json()
        assert min(p["value"] for p in series["points"]) == pytest.approx(15.0)
        risk = client.get("/api/borrowers/b1/risk", headers=rita).json()
        assert any("silo_level_low" in r for r in risk["reasons"])


def test_the_sample_files_custom_rule_examples_parse_as_written() -> None:
    text = SAMPLE.read_text()
    examples = text[text.index('# [[rules.custom]]\n# name = "silo_level_low"') :]
    uncommented = "\n".join(line[2:] for line in examples.splitlines() if line.startswith("# "))
    parsed = parse_rules(text + "\n" + uncommented)
    assert [r.name for r in parsed.rules.custom] == ["silo_level_low", "pressure_rising_fast"]


@pytest.mark.parametrize(
    "template",
    ["{value:>1000000000}", "{metric.__class__}", "{value!r}", "{value:{threshold}}", "{", "{0}"],
)
def test_a_reason_template_can_only_fill_its_fields_plainly(template: str) -> None:
    """A 1 GB reason per alert, or a walk through Python objects, is refused up front."""
    text = SILO.replace(
        'reason = "silo {device}: {metric} {value:.1f} {unit} below {threshold:g} {unit}"',
        f"reason = {template!r}",
    )
    with pytest.raises(RulesFileError) as refused:
        parse_rules(text, "rules.toml")
    assert refused.value.field == "rules.custom.0.reason"


def test_a_window_is_bounded_in_time_and_in_values() -> None:
    with pytest.raises(RulesFileError) as refused:
        parse_rules(SILO.replace('window = "10m"', 'window = "8d"'), "rules.toml")
    assert refused.value.field == "rules.custom.0.window"
    e = engine(SILO.replace('window = "10m"', 'window = "7d"'))
    feed(e, "silo-1", "level_pct", [50.0] * 12_000, T0)  # a reading a minute for 8 days
    assert len(e.custom.series[("silo_level_low", "silo-1")].window) == 10_000
