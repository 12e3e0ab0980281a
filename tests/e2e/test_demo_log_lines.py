"""`riskstream demo` into a pipe (a log file, a service manager): the URL and login at once,
then plain status lines while it runs; never a live screen."""

import subprocess
import sys
from pathlib import Path


def test_the_demo_writes_its_url_at_once_then_status_lines(tmp_path: Path) -> None:
    args = ["--duration", "14", "--port", "0", "--data-dir", str(tmp_path / "demo")]
    demo = subprocess.Popen(
        [sys.executable, "-m", "riskstream", "demo", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert demo.stdout is not None
        first = demo.stdout.readline()
        assert demo.poll() is None, "the URL came only when the demo ended"
        assert first.startswith("dashboard http://127.0.0.1:")
        assert first.rstrip().endswith("log in demo / riskstream-demo")
        rest = demo.stdout.read()
        assert demo.wait(timeout=120) == 0, rest
    finally:
        if demo.poll() is None:
            demo.kill()
    lines = [first, *rest.splitlines()]
    status = [line for line in lines if line.startswith("running ")]
    assert len(status) >= 2 and all("readings " in s and "open alerts " in s for s in status)
    assert lines[-1].startswith("demo finished after ")
    assert "\x1b[" not in "".join(lines) and "╭" not in "".join(lines)
