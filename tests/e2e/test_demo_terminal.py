"""`riskstream demo` on a terminal 80 columns wide: the live screen fits the terminal."""

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def _run_on_terminal(args: list[str], cwd: Path, columns: int) -> str:
    """Run a command on a pseudo-terminal `columns` wide; everything it wrote, escapes and all."""
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in {"COLUMNS", "LINES", "NO_COLOR"}}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen(
        args, stdin=follower, stdout=follower, stderr=follower, cwd=cwd, env=env
    )
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: the command ended
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait(timeout=30) == 0, b"".join(chunks).decode(errors="replace")[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(leader)
    return b"".join(chunks).decode(errors="replace")


def test_the_live_screen_fits_an_80_column_terminal(tmp_path: Path) -> None:
    args = ["--duration", "12", "--port", "0", "--data-dir", str(tmp_path / "demo")]
    out = _run_on_terminal([sys.executable, "-m", "riskstream", "demo", *args], tmp_path, 80)
    lines = [line.rstrip() for line in ESCAPES.sub("", out).replace("\r", "\n").split("\n")]
    assert any("╭" in line for line in lines), "no live screen on a terminal"
    login = [line for line in lines if "dashboard http://127.0.0.1:" in line]
    assert login and all("log in demo / riskstream-demo" in line for line in login)
    too_wide = [line for line in lines if len(line) > 80]
    assert not too_wide, too_wide[:3]
