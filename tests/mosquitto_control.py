"""A mosquitto the test controls: restart on the same port, persistence, ACLs."""

import getpass
import subprocess
from pathlib import Path

from riskstream.service.local_broker import free_port, mosquitto_binary
from tests.servers import wait_for_port


class ControlledMosquitto:
    """mosquitto with a config of the test's choosing, restartable on the same port."""

    def __init__(
        self, workdir: Path, extra_config: str = "", persistent: bool = True, anonymous: bool = True
    ) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.conf = workdir / "mosquitto.conf"
        # mosquitto started as root drops to the "mosquitto" user, which cannot read or
        # write pytest's private temp dirs: keep the user running the tests.
        lines = [
            f"user {getpass.getuser()}",
            f"listener {self.port} 127.0.0.1",
            f"allow_anonymous {'true' if anonymous else 'false'}",
            "max_queued_messages 0",
            "max_inflight_messages 0",
        ]
        if persistent:
            lines += [
                "persistence true",
                f"persistence_location {workdir}/",
                "autosave_interval 1",
            ]
        self.conf.write_text("\n".join(lines) + "\n" + extra_config)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.workdir / "mosquitto.log").open("ab")
        self.process = subprocess.Popen(
            [mosquitto_binary(), "-c", str(self.conf)], stdout=log, stderr=log
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None
