"""The Sparkplug host id options refuse what cannot be a STATE topic level, naming the
option or setting."""

from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from devices.fleet_file import save_fleet
from riskstream.cli.app import build_app
from riskstream.service.settings import ServiceSettings
from tests.ingest.sparkplug_messages import sparkplug_fleet


@pytest.mark.parametrize("host_id", ["a/b", "host+", "#", ""])
def test_a_host_id_that_is_no_topic_level_is_refused_by_the_settings(host_id: str) -> None:
    with pytest.raises(ValidationError) as info:
        ServiceSettings(sparkplug_host_id=host_id)
    assert info.value.errors()[0]["loc"] == ("sparkplug_host_id",)


def test_ingest_refuses_a_bad_host_id_before_connecting(tmp_path: Path) -> None:
    save_fleet(sparkplug_fleet(), tmp_path / "fleet.yaml")
    done = CliRunner().invoke(
        build_app(),
        [
            *("ingest", "--broker", "mqtt://127.0.0.1:1", "--fleet", str(tmp_path / "fleet.yaml")),
            *("--sparkplug-host-id", "plant/1"),
        ],
    )
    assert done.exit_code == 2
    assert "--sparkplug-host-id" in done.output and "host id 'plant/1'" in done.output


def test_simulate_takes_a_host_id_only_with_sparkplug(tmp_path: Path) -> None:
    save_fleet(sparkplug_fleet(), tmp_path / "fleet.yaml")
    base = ["simulate", "run", "--fleet", str(tmp_path / "fleet.yaml"), "--days", "0.01"]
    base += ["--broker", "mqtt://127.0.0.1:1", "--truth", str(tmp_path / "truth.jsonl")]
    alone = CliRunner().invoke(build_app(), [*base, "--sparkplug-host-id", "riskstream"])
    assert alone.exit_code == 2 and "--sparkplug-host-id is for --sparkplug" in alone.output
    bad = CliRunner().invoke(build_app(), [*base, "--sparkplug", "--sparkplug-host-id", "a#"])
    assert bad.exit_code == 2 and "--sparkplug-host-id" in bad.output
