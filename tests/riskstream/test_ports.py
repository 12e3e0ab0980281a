"""A port that cannot be listened on stops `demo` and `serve` in one line, exit code 2."""

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskstream.cli import build_app
from riskstream.cli.ports import port_problem


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


@pytest.mark.parametrize("command", ["demo", "serve"])
def test_a_port_in_use_is_named_in_one_line(
    command: str, taken_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = [command, "--port", str(taken_port)]
    result = CliRunner().invoke(
        build_app(), [*args, "--duration", "1"] if command == "demo" else args
    )
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert lines == [
        f"error: port {taken_port} on 127.0.0.1 is already in use by another program; "
        "choose another with --port (and --host for another address)"
    ]
    assert not (tmp_path / "riskstream-demo").exists()  # nothing was started or written


def test_a_free_port_and_port_0_are_fine(taken_port: int) -> None:
    assert port_problem("127.0.0.1", 0) is None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    assert port_problem("127.0.0.1", free) is None
    assert port_problem("127.0.0.1", taken_port) is not None
    assert "not an address of this machine" in str(port_problem("192.0.2.1", 8000))
