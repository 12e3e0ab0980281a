"""Anomaly detection on any series (`[rules.anomaly.series]`)."""

import math
import random
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from devices.reading import Reading
from riskstream.api.evidence import evidence_window
from riskstream.cli.app import build_app
from riskstream.engine.alerts import Alert
from riskstream.engine.core import Engine
from riskstream.errors import RulesFileError
from riskstream.rules.schema import parse_rules
from tests.riskstream.test_custom_rules import SAMPLE, fleet

T0 = 1_780_000_000.0 - 1_780_000_000.0 % 86400  # a UTC midnight
DAY = 86400.0
KEY = b"s" * 32
WATCH = """
[rules.anomaly.series]
enabled = true
metrics = ["level_pct"]
devices = ["silo-*"]
clear_after = "30m"
cooldown = "6h"
"""


def levels(days: float, seed: int, spikes: tuple[float, ...] = ()) -> list[tuple[float, float]]:
    """A daily cycle around 50 % with noise, every 3-7 min; +40 % for 15 min at ``spikes``
    (event times)."""
    rng = random.Random(seed)
    out, ts = [], T0
    while ts < T0 + days * DAY:
        value = 50 + 10 * math.sin(2 * math.pi * (ts - T0) / DAY) + rng.gauss(0, 1)
        if any(s <= ts < s + 900 for s in spikes):
            value += 40
        out.append((ts, value))
        ts += rng.uniform(180, 420)
    return out


def sample_with(table: str) -> str:
    """The sample rules file with ``table`` in place of its [rules.anomaly.series]."""
    text = SAMPLE.read_text()
    start = text.index("[rules.anomaly.series]")
    end = text.index("[alerts]\n", start)
    return text[:start] + table.lstrip() + "\n" + text[end:]


def engine(table: str = WATCH) -> Engine:
    text = sample_with(table) if table else SAMPLE.read_text()
    return Engine([fleet()], parse_rules(text), wall_clock=lambda: 0.0)


def feed(e: Engine, device: str, series: list[tuple[float, float]]) -> list[Alert]:
    changed: list[Alert] = []
    for i, (ts, value) in enumerate(series):
        changed += e.process([Reading("bank-a", device, ts, "level_pct", value, i + 1)])
    return [a for a in changed if a.kind == "anomaly"]


SPIKE = T0 + 9 * DAY + 12 * 3600


def test_a_spike_on_a_watched_series_opens_one_explained_alert_and_clears() -> None:
    e = engine()
    changed = feed(e, "silo-1", levels(10, 1, (SPIKE,)))
    assert {a.subject for a in changed} == {"silo-1/level_pct"}
    opened = [a for a in changed if a.status == "open"]
    assert SPIKE <= opened[0].opened_at < SPIKE + 900
    assert "expected" in opened[0].reasons[0] and "%" in opened[0].reasons[0]
    assert changed[-1].status == "resolved"
    assert feed(e, "silo-2", levels(10, 2)) == []  # its twin without a spike: quiet
    assert feed(e, "tank-1", levels(10, 1, (SPIKE,))) == []  # not selected


def test_the_evidence_charts_the_expected_band() -> None:
    e = engine()
    (alert, *_) = feed(e, "silo-1", levels(10, 1, (SPIKE,)))
    (chart,) = evidence_window(alert.to_dict(), e.index, e.rules, e.watermark)["charts"]
    assert (chart["metric"], chart["unit"]) == ("level_pct", "%")
    assert [line["label"] for line in chart["thresholds"]] == [
        "expected",
        "expected + band",
        "expected − band",
    ]


def test_a_recurrence_within_the_cooldown_opens_no_new_alert() -> None:
    twice = levels(10, 1, (SPIKE, SPIKE + 3 * 3600))
    opened = {a.id for a in feed(engine(), "silo-1", twice)}
    assert len(opened) == 1
    no_cooldown = engine(WATCH.replace('cooldown = "6h"', 'cooldown = "0s"'))
    assert len({a.id for a in feed(no_cooldown, "silo-1", twice)}) == 2


def test_off_by_default_and_when_disabled() -> None:
    series = levels(10, 1, (SPIKE,))
    assert feed(engine(""), "silo-1", series) == []
    assert feed(engine(WATCH.replace("enabled = true", "enabled = false")), "silo-1", series) == []


def test_a_checkpoint_resumes_the_models_with_identical_next_alerts(tmp_path: Path) -> None:
    series = levels(10, 1, (SPIKE,))
    whole = feed(engine(), "silo-1", series)
    first, second = engine(), engine()
    feed(first, "silo-1", series[: len(series) // 2])
    first.checkpoint(tmp_path / "e.ckpt", key=KEY)
    second.restore(tmp_path / "e.ckpt", key=KEY)
    rest = [
        a
        for a in (
            second.process([Reading("bank-a", "silo-1", ts, "level_pct", v, i + 1)])
            for i, (ts, v) in enumerate(series)
            if i >= len(series) // 2
        )
        for a in a
        if a.kind == "anomaly"
    ]
    assert [a.to_dict() for a in rest] == [a.to_dict() for a in whole]


def test_enabled_without_metrics_is_refused_naming_the_field() -> None:
    text = sample_with("[rules.anomaly.series]\nenabled = true\n")
    with pytest.raises(RulesFileError) as refused:
        parse_rules(text, "rules.toml")
    assert refused.value.field == "rules.anomaly.series.metrics"
    header = text.splitlines().index("[rules.anomaly.series]") + 1
    assert refused.value.line == header


def test_backtest_without_a_fleet_screens_every_series(tmp_path: Path) -> None:
    rows = [f"{ts},pump-3,pressure_bar,{v / 10:.4f}" for ts, v in levels(10, 5, (SPIKE,))]
    rows += [f"{ts},pump-4,pressure_bar,{v / 10:.4f}" for ts, v in levels(10, 6)]
    csv = tmp_path / "series.csv"
    csv.write_text("\n".join(["ts,device_id,metric,value", *rows]) + "\n")
    rules = tmp_path / "rules.toml"
    rules.write_text('[rules.anomaly.series]\nenabled = true\nmetrics = ["*"]\n')
    out = tmp_path / "alerts.jsonl"
    args = ["backtest", "--telemetry", str(csv), "--rules", str(rules), "--out", str(out)]
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    alerts = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [(a["kind"], a["subject"]) for a in alerts] == [("anomaly", "pump-3/pressure_bar")]
    assert "bar" in alerts[0]["reasons"][0]


def test_the_sample_files_defaults_are_the_models() -> None:
    from riskstream.rules.schema import RuleSet

    assert parse_rules(SAMPLE.read_text()).rules.anomaly.series == RuleSet().rules.anomaly.series
