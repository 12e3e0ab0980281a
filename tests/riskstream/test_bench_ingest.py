"""`riskstream bench ingest`: rounds of every contender, ratios taken within a round."""

import re
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
import typer
from paho.mqtt.enums import CallbackAPIVersion
from rich.console import Console
from typer.testing import CliRunner

from riskstream.bench import ingest as bench_ingest
from riskstream.bench.ingest import Contender, Result, Rounds, _raw_paho, results_table
from riskstream.service.local_broker import local_mosquitto


def _contenders() -> list[Contender]:
    one = [("t", b"x")] * 10
    many = [("t", b"x")] * 2
    return [
        Contender("raw", one, 10, lambda _cid: 1.0),
        Contender("mine", one, 10, lambda _cid: 1.0, "≥ 80% of raw paho"),
        Contender("batched", many, 100, lambda _cid: 1.0, "≥ 100,000 readings/s"),
    ]


def test_ratios_are_taken_within_each_round_and_the_table_gives_their_median() -> None:
    rounds = Rounds()
    # round 1: a quiet machine; round 2: everything at half speed; round 3: raw slowed alone
    for raw_s, mine_s in ((1.0, 1.25), (2.0, 2.5), (4.0, 1.0)):
        rounds.add(Result("raw", 1000, 1000, raw_s))
        rounds.add(Result("mine", 1000, 1000, mine_s))
        rounds.add(Result("batched", 10, 500, 0.5))
    assert rounds.ratios("mine", "raw") == [0.8, 0.8, 4.0]
    assert rounds.median_rate("mine") == (800.0, 800.0)
    console = Console(width=200, record=True)
    console.print(results_table(_contenders(), rounds))
    text = console.export_text()
    lines = text.splitlines()
    mine = next(line for line in lines if line.startswith("│ mine"))
    assert re.search(r"│ 800\s+│ 800\s+│ 80% \(80%, 80%, 400%\)\s+│ ≥ 80% of raw paho", mine)
    batched = next(line for line in lines if line.startswith("│ batched"))
    # a batched contender has no ratio to one-reading raw paho: its readings/s only
    assert re.search(r"│ 20\s+│ 1,000\s+│\s+│ ≥ 100,000 readings/s", batched)
    assert "3 rounds, contenders alternating" in text


def test_bench_ingest_drains_every_contender_each_round_from_a_real_mosquitto(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bench_ingest, "console", Console(width=240))
    app = typer.Typer()
    bench = typer.Typer()
    bench_ingest.register(bench)
    app.add_typer(bench, name="bench")
    result = CliRunner().invoke(
        app, ["bench", "ingest", "--messages", "1000", "--batched", "100", "--repeat", "2"]
    )
    assert result.exit_code == 0, result.output
    assert "round 1/2" in result.output and "round 2/2" in result.output
    # every contender drained its backlog in both rounds (a line per drain)
    for name in (
        "raw paho (count only)",
        "aiomqtt (count only)",
        "riskstream ingest",
        "riskstream ingest+engine",
        "riskstream ingest, 50/message",
        "riskstream ingest+engine, 50/message",
    ):
        assert len(re.findall(rf"^  {re.escape(name)}: [\d,]+ msg/s", result.output, re.M)) == 2
    engine_row = next(
        line
        for line in result.output.splitlines()
        if line.startswith("│ riskstream ingest+engine ")
    )
    assert re.search(
        r"│ \d+% \(\d+%, \d+%\)\s+│ ≥ 80% of raw paho \(DESIGN.md's budget\)", engine_row
    )
    batched_row = next(
        line
        for line in result.output.splitlines()
        if line.startswith("│ riskstream ingest+engine, 50/message")
    )
    assert "≥ 100,000 readings/s (DESIGN.md's budget)" in batched_row


def test_a_drained_contender_leaves_no_session_to_queue_the_next_backlog(tmp_path: Path) -> None:
    payloads = [("rs/v1/t1/d1/telemetry", b"{}")] * 50
    with local_mosquitto(tmp_path) as port:
        bench_ingest._run("first", port, payloads, 50, lambda cid: _raw_paho(port, cid, 50))
        # a second contender's backlog: with the first's session kept, it would queue there
        bench_ingest._fill(port, payloads)
        present: list[bool] = []
        connected = threading.Event()

        def on_connect(_c: object, _u: object, flags: Any, *_rest: object) -> None:
            present.append(flags.session_present)
            connected.set()

        client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id="bench-first", clean_session=False
        )
        client.on_connect = on_connect
        client.connect("127.0.0.1", port)
        client.loop_start()
        try:
            assert connected.wait(10)
        finally:
            client.disconnect()
            client.loop_stop()
    assert present == [False]
