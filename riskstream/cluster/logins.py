"""NATS logins: a user name and its password, kept in files only their owner may read.

`riskstream cluster up` writes one login file per user into ``DIR/logins/`` (mode 0600,
JSON ``{"user": ..., "password": ...}``); a worker or API process reads its own with
``--nats-login FILE``, or takes ``RISKSTREAM_NATS_USER`` and ``RISKSTREAM_NATS_PASSWORD``
from the environment. A password is generated once and kept: running ``cluster up`` again
changes none. A login file that others may read is refused, as ssh refuses such a key.
"""

import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from riskstream.cluster.errors import ClusterLoginFileError

USER_ENV = "RISKSTREAM_NATS_USER"
PASSWORD_ENV = "RISKSTREAM_NATS_PASSWORD"  # noqa: S105 (the variable's name, not a password)
LOGINS_DIR = "logins"
PASSWORD_BYTES = 24
MAX_FILE_BYTES = 4096


@dataclass(frozen=True)
class NatsLogin:
    """A user of the cluster's NATS servers and its password."""

    user: str
    password: str

    def __repr__(self) -> str:  # never the password, in logs or tracebacks
        return f"NatsLogin(user={self.user!r}, password=***)"

    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments of ``nats.connect`` for this login."""
        return {"user": self.user, "password": self.password}


def new_login(user: str) -> NatsLogin:
    return NatsLogin(user, secrets.token_urlsafe(PASSWORD_BYTES))


def login_path(directory: Path, user: str) -> Path:
    return directory / LOGINS_DIR / f"{user}.json"


def write_login(path: Path, login: NatsLogin) -> None:
    """Write ``login`` to ``path``, created with mode 0600 (never readable by others,
    not even for a moment)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    text = json.dumps({"user": login.user, "password": login.password}) + "\n"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(text)


def read_login(path: Path) -> NatsLogin:
    """The login in ``path``; ClusterLoginFileError naming the file and the reason."""
    try:
        info = path.stat()
    except OSError as exc:
        raise ClusterLoginFileError(path, exc.strerror or str(exc)) from None
    if not stat.S_ISREG(info.st_mode):
        raise ClusterLoginFileError(path, "not a regular file")
    if info.st_mode & 0o077:
        raise ClusterLoginFileError(
            path,
            f"others may read it (mode {stat.S_IMODE(info.st_mode):04o}); chmod 600 {path}",
        )
    if info.st_size > MAX_FILE_BYTES:
        raise ClusterLoginFileError(path, f"larger than {MAX_FILE_BYTES} bytes")
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ClusterLoginFileError(path, f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ClusterLoginFileError(path, 'not a JSON object {"user": ..., "password": ...}')
    for field in ("user", "password"):
        value = data.get(field)
        if not isinstance(value, str) or not value or len(value) > 256:
            raise ClusterLoginFileError(path, f"field {field!r} is missing or not a short text")
    return NatsLogin(data["user"], data["password"])


def login_from_environment(environ: dict[str, str] | None = None) -> NatsLogin | None:
    """The login in `USER_ENV` and `PASSWORD_ENV`, or None when neither is set."""
    env = os.environ if environ is None else environ
    user, password = env.get(USER_ENV, ""), env.get(PASSWORD_ENV, "")
    if not user and not password:
        return None
    if not user or not password:
        missing = USER_ENV if not user else PASSWORD_ENV
        raise ClusterLoginFileError(None, f"{missing} is not set (set both or neither)")
    return NatsLogin(user, password)


def chosen_login(
    path: Path | None, user: str | None = None, password: str | None = None
) -> NatsLogin | None:
    """The login in the file ``path`` if given, else ``user`` and ``password`` (both or
    neither), else None."""
    if path is not None:
        return read_login(path)
    if not user and not password:
        return None
    if not user or not password:
        raise ClusterLoginFileError(None, "a NATS user needs both a user name and a password")
    return NatsLogin(user, password)


def ensure_logins(directory: Path, users: list[str]) -> dict[str, NatsLogin]:
    """The login of each user in ``users``: read from ``directory/logins/`` when there,
    else generated and written there."""
    found: dict[str, NatsLogin] = {}
    for user in users:
        path = login_path(directory, user)
        if path.exists():
            found[user] = read_login(path)
        else:
            found[user] = new_login(user)
            write_login(path, found[user])
    return found


def known_users(directory: Path) -> list[str]:
    """The users that have a login file in ``directory/logins/``."""
    folder = directory / LOGINS_DIR
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json"))
