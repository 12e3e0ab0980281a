"""Files that hold data or secrets: created mode 0600, in directories riskstream makes 0700.

Modes are given to ``os.open`` and ``os.mkdir`` and then set exactly with
``os.fchmod``/``os.chmod`` (the umask can only take bits away); the process umask is
never changed. A directory that already exists (a home, ``/tmp``, a mount point) is
left as it is: only the directories made here are set to 0700.
"""

import os
from pathlib import Path
from typing import BinaryIO

FILE_MODE = 0o600
DIR_MODE = 0o700
_NEW = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC


def make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and its missing parents with mode 0700; leave existing ones."""
    missing: list[Path] = []
    current = directory
    while not current.exists() and current.parent != current:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            os.mkdir(path, DIR_MODE)
        except FileExistsError:
            continue  # made meanwhile by someone else: not ours to change
        os.chmod(path, DIR_MODE)


def _set_private(fd: int) -> int:
    try:
        os.fchmod(fd, FILE_MODE)
    except OSError:
        os.close(fd)
        raise
    return fd


def open_private(path: Path) -> BinaryIO:
    """Open ``path`` for writing from empty, mode 0600 whether it is new or not.

    A symbolic link at ``path`` is refused (OSError) rather than written through.
    """
    fd = _set_private(os.open(path, _NEW | os.O_TRUNC, FILE_MODE))
    return os.fdopen(fd, "wb")


def create_private(path: Path) -> BinaryIO | None:
    """Create ``path`` with mode 0600 and open it for writing; None when it exists.

    Creation is atomic (``O_CREAT | O_EXCL``): of two processes, one creates the file
    and the other gets None.
    """
    try:
        fd = os.open(path, _NEW | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return None
    return os.fdopen(_set_private(fd), "wb")
