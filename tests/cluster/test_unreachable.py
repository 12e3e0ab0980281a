"""A worker or API process started against a cluster that does not answer says so in one
line and exits with code 2, instead of retrying for minutes with a traceback per try."""

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskstream.cli import build_app
from riskstream.engine.checkpoint_key import ENV_VAR


def _closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_worker_without_a_cluster_fails_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(ENV_VAR, "k" * 40)
    url = f"nats://127.0.0.1:{_closed_port()}"
    result = CliRunner().invoke(build_app(), ["worker", "risk", "--nats", url])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert f"no NATS server answered at {url}" in errors[0]
    assert "Traceback" not in result.output
