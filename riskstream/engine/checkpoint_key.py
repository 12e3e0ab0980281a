"""The secret key that authenticates engine checkpoints (see `riskstream.engine.checkpoint`).

The key is, first found:

1. ``RISKSTREAM_CHECKPOINT_KEY`` (the ``checkpoint_key`` setting), at least
   `MIN_KEY_CHARS` characters, e.g. the output of ``openssl rand -hex 32``;
2. the key file ``engine.key`` next to the checkpoint file. At the first start it is
   made with 32 random bytes in hex, mode 0600, by ``os.open(O_CREAT | O_EXCL)``: of two
   processes starting together one makes it and the other reads it.

Either way the key is the text's UTF-8 bytes, blanks around it dropped, so the contents
of a key file can be moved to the environment variable as they are. A key file that
group or others may use (it must be 0600), that cannot be read, or that holds no key
raises `CheckpointKeyError` naming the file. With another key the checkpoint written
before is refused (logged) and the engine starts fresh.
"""

import logging
import os
import secrets
import stat
import time
from pathlib import Path

from pydantic import SecretStr

from devices.private_files import create_private, make_private_dirs

log = logging.getLogger(__name__)

KEY_FILE = "engine.key"
ENV_VAR = "RISKSTREAM_CHECKPOINT_KEY"
MIN_KEY_CHARS = 32
NEW_KEY_BYTES = 32
KEY_FILE_WAIT_S = 1.0  # how long a key file just made by another process may stay empty
_POLL_S = 0.02
_MAX_KEY_FILE_BYTES = 4096


class CheckpointKeyError(OSError):
    """The checkpoint key file cannot be used; an OSError like the file errors behind it.

    Attributes:
        path: the key file.
        reason: what is wrong and what to do.
    """

    def __init__(self, path: Path | str, reason: str, what: str = "checkpoint key") -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{what} file {self.path}: {reason}")


def key_file_for(checkpoint: Path) -> Path:
    """Where the key file of the checkpoint file ``checkpoint`` lives."""
    return checkpoint.parent / KEY_FILE


def load_key(env_key: SecretStr | None, checkpoint: Path) -> bytes:
    """The checkpoint key: ``env_key`` if set, else the key file (made if missing).

    Raises:
        ValueError: ``env_key`` is shorter than `MIN_KEY_CHARS`.
        CheckpointKeyError: the key file cannot be used.
    """
    if env_key is not None:
        return key_from_environment(env_key, ENV_VAR)
    return key_in_file(key_file_for(checkpoint))


def key_from_environment(env_key: SecretStr, variable: str) -> bytes:
    """A key given in the environment variable ``variable``; ValueError if it is shorter
    than `MIN_KEY_CHARS`."""
    text = env_key.get_secret_value().strip()
    if len(text) < MIN_KEY_CHARS:
        raise ValueError(f"{variable} must have at least {MIN_KEY_CHARS} characters")
    return text.encode()


def key_in_file(path: Path, what: str = "checkpoint key") -> bytes:
    """The key held by the private key file ``path``, the file made with a random key
    first if there is none (also used for other service secrets of this kind, named
    ``what`` in errors).

    Raises:
        CheckpointKeyError: the key file cannot be used.
    """
    try:
        text = _key_file_text(path).strip()
    except CheckpointKeyError as exc:
        raise CheckpointKeyError(path, exc.reason, what) from None
    if len(text) < MIN_KEY_CHARS:
        raise CheckpointKeyError(
            path,
            f"holds no key of at least {MIN_KEY_CHARS} characters; delete it to have a new "
            "one made at the next start (what it protected is then refused once)",
            what,
        )
    return text.encode()


def _key_file_text(path: Path) -> str:
    """The key file's text, the file made first if there is none."""
    deadline = time.monotonic() + KEY_FILE_WAIT_S
    while True:
        text = _read_key_file(path)
        if text is None:
            text = _create_key_file(path)
        if (text is not None and len(text.strip()) >= MIN_KEY_CHARS) or (
            time.monotonic() >= deadline
        ):
            return text or ""
        time.sleep(_POLL_S)  # just made by another process, not yet written


def _read_key_file(path: Path) -> str | None:
    """The text of the key file at ``path``, None when there is none."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        if os.path.islink(path):
            raise CheckpointKeyError(path, "is a symbolic link to a missing file") from None
        return None
    except OSError as exc:
        raise CheckpointKeyError(path, f"cannot be read: {exc.strerror}") from exc
    try:
        _check_private(path, os.fstat(fd))
        data = os.read(fd, _MAX_KEY_FILE_BYTES)
    except CheckpointKeyError:
        raise
    except OSError as exc:
        raise CheckpointKeyError(path, f"cannot be read: {exc.strerror}") from exc
    finally:
        os.close(fd)
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise CheckpointKeyError(path, "is not UTF-8 text") from None


def _check_private(path: Path, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointKeyError(path, "is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise CheckpointKeyError(
            path,
            f"has mode {mode:04o}: group or others may use it; it must be 0600 "
            f"(run: chmod 600 {path}). If others could read it, delete it instead: a new "
            "key is made at the next start and the old checkpoint is refused",
        )


def _create_key_file(path: Path) -> str | None:
    """Make the key file with a new random key; None when another process made it first."""
    text = secrets.token_hex(NEW_KEY_BYTES)
    try:
        make_private_dirs(path.parent)
        f = create_private(path)
        if f is None:
            return None
        with f:
            f.write(f"{text}\n".encode())
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise CheckpointKeyError(path, f"cannot be created: {exc.strerror or exc}") from exc
    log.info("made a new key file %s", path)
    return text
