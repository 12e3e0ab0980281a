"""`riskstream bench fuzz`: hostile messages never fault the handler, valid ones all pass."""

from pathlib import Path

import typer
from typer.testing import CliRunner

from riskstream.bench import fuzz as bench_fuzz
from riskstream.bench.hostile import FAMILIES, hostile_pool


def test_the_hostile_pool_is_the_same_for_a_seed_and_covers_every_family() -> None:
    assert hostile_pool(60, 3) == hostile_pool(60, 3)
    assert hostile_pool(60, 3) != hostile_pool(60, 4)
    assert len(FAMILIES) == 6


def test_bench_fuzz_counts_refusals_and_accepts_every_valid_reading(tmp_path: Path) -> None:
    app = typer.Typer()
    bench = typer.Typer()
    bench_fuzz.register(bench)
    app.add_typer(bench, name="bench")
    result = CliRunner().invoke(
        app,
        ["bench", "fuzz", "--messages", "4000", "--deadletter-dir", str(tmp_path / "dead")],
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "valid readings accepted │ 1,000 of 1,000" in text
    assert "refused: malformed" in text and "refused: bad_schema" in text
    assert "internal_error" not in text
    assert "messages/s" in text and "MiB" in text
    assert (tmp_path / "dead" / "deadletter.jsonl").stat().st_size > 0
