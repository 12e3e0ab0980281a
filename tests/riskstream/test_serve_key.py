"""`riskstream serve` with a checkpoint key file others may read stops at once, in one line."""

import os
from pathlib import Path

from typer.testing import CliRunner

from riskstream.cli.app import build_app


def test_serve_refuses_a_key_file_others_may_read(tmp_path: Path) -> None:
    key = tmp_path / "engine.key"
    key.write_text("a" * 64)
    os.chmod(key, 0o644)
    result = CliRunner().invoke(
        build_app(),
        ["serve", "--db", str(tmp_path / "rs.db"), "--port", "0"],
        env={"COLUMNS": "40"},
    )
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and str(key) in result.output.replace("\n", "")
    assert "chmod 600" in result.output.replace("\n", " ")
    assert "Traceback" not in result.output
