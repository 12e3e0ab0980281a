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


def test_an_engine_imports_its_river_models_when_it_is_built() -> None:
    # not at their first use mid-stream: a live service would stall for that second
    probe = (
        "import sys\n"
        "from riskstream.engine.core import Engine\n"
        "from riskstream.rules.schema import RuleSet\n"
        "before = [m for m in sys.modules if m.startswith('river.')]\n"
        "Engine([], RuleSet())\n"
        f"print(not any(m in before for m in {HEAVY[:4]!r}),\n"
        f"      all(m in sys.modules for m in {HEAVY[:4]!r}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == ["True", "True"]
