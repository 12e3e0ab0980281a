"""A throw-away mosquitto on a free loopback port, for benchmarks; and the machine's name."""

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MOSQUITTO_CANDIDATES = ("mosquitto", "/usr/sbin/mosquitto")


def mosquitto_binary() -> str:
    """Path of mosquitto; RuntimeError telling how to install it when missing."""
    for candidate in MOSQUITTO_CANDIDATES:
        found = shutil.which(candidate) or (candidate if Path(candidate).exists() else None)
        if found:
            return found
    raise RuntimeError("mosquitto is not installed (Debian: apt-get install mosquitto)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def local_mosquitto(workdir: Path) -> Iterator[int]:
    """Run mosquitto with riskstream's no-drop queue settings; yield its port."""
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "max_queued_messages 0\n"
        "max_inflight_messages 0\n"
        "persistence false\n"
        f"user {getpass.getuser()}\n"
    )
    with (workdir / "mosquitto.log").open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 (our config, mosquitto from PATH)
            [mosquitto_binary(), "-c", str(conf)], stdout=log, stderr=log
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise RuntimeError(f"mosquitto did not start; see {workdir}") from None
                    time.sleep(0.05)
            yield port
        finally:
            process.terminate()
            process.wait(10)


def machine() -> str:
    """``2 cores, <CPU model>``."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}"
