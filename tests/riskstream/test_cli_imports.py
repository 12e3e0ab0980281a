"""`riskstream` starts without importing what only the engine's models use.

river's drift, anomaly and linear-model modules (and scipy with them) took about a
second to import, which every command paid at start, `--help` and `devices import`
included; they are imported where a model is built. This checks what is imported, not
how long it takes (timing belongs to benchmarks)."""

import subprocess
import sys

HEAVY = ("river.drift", "river.anomaly", "river.linear_model", "river.stats", "scipy")


def test_the_command_line_starts_without_river_models_or_scipy() -> None:
    probe = (
        "import sys, riskstream.cli.app\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == ""


def test_an_engine_still_builds_its_river_models_when_used() -> None:
    probe = (
        "import sys\n"
        "from riskstream.scoring.outcome_model import OutcomeModel\n"
        "from riskstream.rules.settings import ModelSettings\n"
        "OutcomeModel(ModelSettings())\n"
        "print('river.linear_model' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "True"
