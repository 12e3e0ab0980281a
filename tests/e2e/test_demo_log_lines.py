"""`riskstream demo` into a pipe (a log file, a service manager): the URL and login at once,
then plain status lines while it runs; never a live screen."""

import signal
import subprocess
import sys
from pathlib import Path

import pytest


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


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell does for a background job


@pytest.mark.parametrize(
    ("sent", "started_with_sigint_ignored"),
    [(signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=["sigint-to-a-background-job", "sigterm"],
)
def test_a_signal_stops_the_whole_demo_and_it_says_what_it_did(
    tmp_path: Path, sent: signal.Signals, started_with_sigint_ignored: bool
) -> None:
    args = ["--port", "0", "--data-dir", str(tmp_path / "demo")]  # no --duration: runs on
    demo = subprocess.Popen(
        [sys.executable, "-m", "riskstream", "demo", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        preexec_fn=_ignore_sigint if started_with_sigint_ignored else None,
    )
    try:
        assert demo.stdout is not None
        assert demo.stdout.readline().startswith("dashboard http://127.0.0.1:")
        while not demo.stdout.readline().startswith("running "):
            assert demo.poll() is None
        demo.send_signal(sent)
        rest, _ = demo.communicate(timeout=120)  # raises if the demo runs on
        assert demo.returncode == 0, rest
    finally:
        if demo.poll() is None:
            demo.kill()
    assert rest.splitlines()[-1].startswith("demo finished after "), rest
    assert "Traceback" not in rest
