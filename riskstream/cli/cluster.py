"""`riskstream cluster up|status|down`: a NATS JetStream cluster on this machine."""

import asyncio
import time
from pathlib import Path
from typing import Annotated

import nats.errors
import typer
from rich.markup import escape

from riskstream.cli.ports import port_problem
from riskstream.cli.terminal import command_console
from riskstream.cluster.errors import ClusterError, ClusterNotFoundError
from riskstream.cluster.layout import (
    ALERTS_STREAM,
    CHECKPOINTS_BUCKET,
    LEASES_BUCKET,
    RISK_STREAM,
    SETTINGS_BUCKET,
    TELEMETRY_STREAM,
)
from riskstream.cluster.logins import LOGINS_DIR
from riskstream.cluster.nats_servers import LAYOUT_FILE, MAX_NODES, NatsCluster
from riskstream.cluster.permissions import ADMIN, ROLES
from riskstream.cluster.topology import MAX_PARTITIONS, prepare_cluster

console = command_console()
err = command_console(stderr=True)
cluster_app = typer.Typer(
    help="A NATS JetStream cluster on this machine, for scaling out: up, status, down.",
    no_args_is_help=True,
)

DEFAULT_DIR = Path("riskstream-data/nats-cluster")
DEFAULT_NODES = 3
DEFAULT_BASE_PORT = 4222

DirOpt = Annotated[
    Path, typer.Option("--dir", help="directory of the nodes' configs, data, logs and pids")
]


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False)


def _existing(directory: Path) -> NatsCluster | None:
    if not (directory / LAYOUT_FILE).exists():
        return None
    try:
        return NatsCluster.load(directory)
    except ClusterError as exc:
        raise _fail(str(exc)) from None


def _loaded(directory: Path) -> NatsCluster:
    try:
        return NatsCluster.load(directory)
    except ClusterNotFoundError:
        raise _fail(f"{directory} holds no cluster; start one with riskstream cluster up") from None
    except ClusterError as exc:
        raise _fail(str(exc)) from None


def _the_cluster(directory: Path, nodes: int | None, base_port: int | None) -> NatsCluster:
    """The cluster already in ``directory`` (which must agree with what was asked), or a
    new plan."""
    cluster = _existing(directory)
    if cluster is None:
        try:
            return NatsCluster.plan(
                directory,
                DEFAULT_NODES if nodes is None else nodes,
                DEFAULT_BASE_PORT if base_port is None else base_port,
            )
        except ClusterError as exc:
            raise _fail(str(exc)) from None
    if (nodes is not None and nodes != cluster.nodes) or (
        base_port is not None and base_port != cluster.base_port
    ):
        raise _fail(
            f"{directory} holds a cluster of {cluster.nodes} nodes from base port "
            f"{cluster.base_port}; leave out --nodes and --base-port to start it again, "
            "or choose another --dir"
        )
    return cluster


def _check_ports(cluster: NatsCluster) -> None:
    """One line and exit 2 when a port of a node to start cannot be listened on."""
    for node in cluster.node_numbers:
        if cluster.running(node):
            continue
        for port in cluster.ports[node - 1].all():
            problem = port_problem("127.0.0.1", port)
            if problem is not None:
                raise _fail(f"{problem}; choose another --base-port (0: any free ports)")


@cluster_app.command("up")
def up(
    directory: DirOpt = DEFAULT_DIR,
    nodes: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=MAX_NODES,
            show_default=False,
            help=f"nats-server nodes (default {DEFAULT_NODES}; a cluster keeps its own)",
        ),
    ] = None,
    partitions: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=MAX_PARTITIONS,
            show_default=False,
            help="risk partitions of a new cluster (default 16; fixed once set)",
        ),
    ] = None,
    base_port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65535,
            show_default=False,
            help=f"first port (default {DEFAULT_BASE_PORT}; 0: any free ports)",
        ),
    ] = None,
    tenants: Annotated[
        list[str] | None,
        typer.Option(
            "--tenant",
            show_default=False,
            help="a lender whose devices may publish over MQTT: gives it the device user "
            "devices-TENANT (repeat for several; users once made are kept)",
        ),
    ] = None,
) -> None:
    """Start the nodes; create the streams and buckets.

    Starts a NATS JetStream cluster on 127.0.0.1, one nats-server per node, and
    creates riskstream's streams and buckets; the servers keep running after the
    command exits (riskstream cluster down stops them).

    Node K listens on base port + 10 (K - 1) for NATS clients, the next port for
    routes, the next for HTTP monitoring and the next for MQTT devices. Running it
    again starts the nodes that are not running, adds the device users of new
    --tenant lenders (running nodes reload their config) and changes nothing else.

    Every NATS and MQTT client must log in. The passwords are generated into
    DIR/logins/USER.json (mode 0600) and never printed: admin (streams and buckets),
    ingest, risk and api (give each process its file with --nats-login), and
    devices-TENANT for each lender's devices (MQTT user name and password; they may
    publish only rs/v1/TENANT/+/telemetry and rs/v1/TENANT/+/status).

    \b
    Examples:
      riskstream cluster up --nodes 3 --dir riskstream-data/nats-cluster \\
        --tenant demo-bank
      riskstream cluster up --base-port 0 --partitions 32 --dir /tmp/rs
    """
    cluster = _the_cluster(directory, nodes, base_port)
    _check_ports(cluster)
    try:
        cluster.add_tenants(tenants or [])
    except ValueError as exc:
        raise _fail(f"--tenant: {exc}") from None
    except ClusterError as exc:
        raise _fail(str(exc)) from None
    began = time.monotonic()
    try:
        with console.status(f"starting {cluster.nodes} nats-server nodes…"):
            started = cluster.start()
    except ClusterError as exc:
        cluster.stop()
        raise _fail(f"{exc}; every node is stopped again") from None
    ready_s = time.monotonic() - began
    try:
        admin = cluster.login(ADMIN)
        in_force = asyncio.run(
            prepare_cluster(cluster.nats_urls, cluster.replicas, partitions, login=admin)
        )
    except ClusterError as exc:
        raise _fail(str(exc)) from None
    except (OSError, nats.errors.Error) as exc:
        raise _fail(f"cannot set up streams and buckets: {exc!r}") from None
    already = cluster.nodes - len(started)
    note = f", {already} were running already" if already else ""
    _say(
        f"{cluster.nodes} nodes up in {cluster.directory} "
        f"(JetStream ready in {ready_s:.1f} s{note})"
    )
    _say(
        f"streams {TELEMETRY_STREAM}, {RISK_STREAM}, {ALERTS_STREAM}; buckets "
        f"{LEASES_BUCKET}, {CHECKPOINTS_BUCKET}, {SETTINGS_BUCKET}: "
        f"{cluster.replicas} replicas, {in_force} partitions"
    )
    _say(f"NATS: {','.join(cluster.nats_urls)}")
    _say(f"MQTT: {' '.join(cluster.mqtt_urls)}")
    devices = cluster.device_users
    _say(
        f"logins in {cluster.directory / LOGINS_DIR}: {', '.join(ROLES)}"
        + (f"; devices: {', '.join(devices)}" if devices else "; no device user (--tenant)")
    )
    _say(f"stop with: riskstream cluster down --dir {directory}")


@cluster_app.command("status")
def status(directory: DirOpt = DEFAULT_DIR) -> None:
    """Say for each node whether it runs, and its URLs.

    \b
    Example:
      riskstream cluster status --dir riskstream-data/nats-cluster
    """
    cluster = _loaded(directory)
    pids = {node: cluster.pid(node) for node in cluster.node_numbers}
    running = sum(pid is not None for pid in pids.values())
    _say(f"{cluster.directory}: {cluster.nodes} nodes, {running} running")
    for node, pid in pids.items():
        state = "stopped" if pid is None else f"running (pid {pid})"
        _say(
            f"node-{node}  {state:<20} {cluster.nats_urls[node - 1]}  "
            f"{cluster.mqtt_urls[node - 1]}  {cluster.monitor_url(node)}"
        )


@cluster_app.command("down")
def down(directory: DirOpt = DEFAULT_DIR) -> None:
    """Stop every node; the data stays.

    Each node gets SIGTERM, and SIGKILL if it has not exited after a wait.

    \b
    Example:
      riskstream cluster down --dir riskstream-data/nats-cluster
    """
    cluster = _loaded(directory)
    try:
        stopped = cluster.stop()
    except ClusterError as exc:
        raise _fail(str(exc)) from None
    if not stopped:
        _say(f"no node was running in {cluster.directory}")
        return
    names = ", ".join(f"node-{node}" for node in stopped)
    _say(f"stopped {names}; data kept in {cluster.directory}")


def register(app: typer.Typer) -> None:
    """Add the `cluster` group to the `riskstream` app."""
    app.add_typer(cluster_app, name="cluster")
