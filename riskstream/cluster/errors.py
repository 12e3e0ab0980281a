"""What can go wrong with a NATS JetStream cluster, each error carrying what it is about."""

from pathlib import Path


class ClusterError(Exception):
    """Base of the cluster package's errors."""


class ClusterNotFoundError(ClusterError):
    """``directory`` holds no cluster written by `riskstream cluster up`."""

    def __init__(self, directory: Path) -> None:
        super().__init__(f"{directory} holds no cluster (riskstream cluster up writes one)")
        self.directory = directory


class ClusterLayoutError(ClusterError):
    """A cluster directory's ``cluster.json`` is unreadable, or asked for another shape."""


class ClusterStartError(ClusterError):
    """A node did not start, or JetStream did not get a meta leader in time."""

    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message if log is None else f"{message}; see {log}")
        self.log = log


class ClusterSettingsError(ClusterError):
    """The cluster's fixed settings are missing, malformed, or asked to change."""


class ClusterUnreachableError(ClusterError):
    """No NATS server of the cluster answered when the process started."""

    def __init__(self, servers: list[str], cause: BaseException) -> None:
        reason = str(cause) or type(cause).__name__
        super().__init__(
            f"no NATS server answered at {', '.join(servers)} ({reason}); is the cluster "
            "up? (riskstream cluster status --dir DIR shows its URLs)"
        )
        self.servers = servers


class ClusterLoginFileError(ClusterError):
    """A NATS login file (or the environment's login) cannot be used; ``path`` is None
    for the environment."""

    def __init__(self, path: Path | None, reason: str) -> None:
        super().__init__(f"{path}: {reason}" if path is not None else reason)
        self.path = path
        self.reason = reason


class ClusterLoginRefusedError(ClusterError):
    """The cluster's NATS servers refused this process's login (no such user, wrong
    password, or a user not allowed this kind of connection)."""

    def __init__(self, servers: list[str], user: str | None) -> None:
        who = f"user {user!r}" if user else "a connection without a user"
        super().__init__(
            f"the NATS servers at {', '.join(servers)} refused {who} (Authorization "
            "Violation); give the login file riskstream cluster up wrote "
            "(--nats-login DIR/logins/ROLE.json)"
        )
        self.servers = servers
        self.user = user
