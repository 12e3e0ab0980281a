"""Every `--help` reads well at 80 columns: paragraphs flowed, examples kept as written,
no line over 80 characters, no markup or placeholders leaking."""

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from riskstream.cli import build_app


def commands() -> list[list[str]]:
    def walk(command: Any, path: list[str]) -> list[list[str]]:
        found = [path]
        if hasattr(command, "commands"):  # a group (typer carries its own click)
            for name, sub in sorted(command.commands.items()):
                found += walk(sub, [*path, name])
        return found

    return walk(typer.main.get_command(build_app()), [])


@pytest.mark.parametrize("path", commands(), ids=lambda p: " ".join(p) or "riskstream")
def test_help_fits_80_columns_and_leaks_nothing(path: list[str]) -> None:
    result = CliRunner().invoke(
        build_app(), [*path, "--help"], env={"COLUMNS": "80"}, terminal_width=80
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    too_long = [line for line in lines if len(line) > 80]
    assert not too_long, too_long
    assert "<bool>" not in result.output and "\x1b[" not in result.output
    assert "([])" not in result.output  # "[[rules.custom]]" must not be eaten as markup


def test_examples_keep_their_lines() -> None:
    result = CliRunner().invoke(build_app(), ["demo", "--help"], terminal_width=80)
    assert "  Examples:\n    riskstream demo\n    riskstream demo --duration 120" in result.output
