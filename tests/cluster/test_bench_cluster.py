"""`riskstream bench cluster` itself, small: every probe's alert reaches the API's live
feed through the cluster as through single-process `serve` (a cluster whose API tier
put other rules in force than the workers' measured nothing: 0 readings/s)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.cluster


def test_every_probe_alert_arrives_through_serve_and_the_cluster(tmp_path: Path) -> None:
    args = ["--risk-workers", "1", "--devices", "100", "--probes", "10", "--burst", "2"]
    done = subprocess.run(
        [sys.executable, "-m", "riskstream", "bench", "cluster", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    timed = {
        m["name"]: int(m["probes"])
        for line in lines
        if (
            m := re.match(
                r"(?P<name>[^:]+): [\d,]+ readings/s .* over (?P<probes>\d+) probes", line
            )
        )
    }
    assert timed == {"serve": 10, "cluster, 1 ingest + 1 risk worker": 10}, done.stdout
    assert "missing" not in done.stdout
    table = re.compile(r"^(serve|cluster, [^:]+?)\s+([\d,]+)\s+[\d.]+×\s+\d+\s+\d+$")
    rows = [m.groups() for line in lines if (m := table.match(line))]
    assert [name for name, _ in rows] == list(timed), done.stdout
    assert all(int(rate.replace(",", "")) > 0 for _, rate in rows), rows
