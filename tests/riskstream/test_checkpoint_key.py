"""The checkpoint key: from the environment, else a private key file made at first start."""

import os
import re
import stat
import threading
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from riskstream.engine import checkpoint_key
from riskstream.engine.checkpoint_key import CheckpointKeyError, key_file_for, load_key
from riskstream.service.settings import ServiceSettings


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_key_file_is_made_once_0600_in_a_0700_directory(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)
    checkpoint = tmp_path / "data" / "state" / "engine.ckpt"
    key = load_key(None, checkpoint)
    key_file = tmp_path / "data" / "state" / "engine.key"
    assert key_file_for(checkpoint) == key_file
    assert re.fullmatch(r"[0-9a-f]{64}\n", key_file.read_text())
    assert key == key_file.read_text().strip().encode()
    assert mode(key_file) == 0o600
    assert mode(tmp_path / "data") == mode(tmp_path / "data" / "state") == 0o700
    assert mode(tmp_path) == 0o755  # existed before: left alone
    assert load_key(None, checkpoint) == key  # read, not made again
    assert load_key(None, tmp_path / "other" / "engine.ckpt") != key


def test_an_existing_key_file_is_used_as_it_is(tmp_path: Path) -> None:
    key_file = tmp_path / "engine.key"
    key_file.write_text("  my own key of more than thirty-two characters \n")
    os.chmod(key_file, 0o600)
    assert (
        load_key(None, tmp_path / "engine.ckpt") == b"my own key of more than thirty-two characters"
    )
    os.chmod(key_file, 0o400)  # read-only for its owner is private too
    assert load_key(None, tmp_path / "engine.ckpt").startswith(b"my own key")


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    start = threading.Barrier(8)
    keys: list[bytes] = []

    def first_start() -> None:
        start.wait()
        keys.append(load_key(None, tmp_path / "engine.ckpt"))

    threads = [threading.Thread(target=first_start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(keys) == 8 and len(set(keys)) == 1


def test_the_environment_key_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKSTREAM_CHECKPOINT_KEY", "e" * 40)
    settings = ServiceSettings()
    assert load_key(settings.checkpoint_key, tmp_path / "engine.ckpt") == b"e" * 40
    assert not (tmp_path / "engine.key").exists()
    assert "e" * 40 not in repr(settings)  # a secret: not shown
    monkeypatch.setenv("RISKSTREAM_CHECKPOINT_KEY", "short")
    with pytest.raises(ValidationError, match="checkpoint_key"):
        ServiceSettings()
    with pytest.raises(ValueError, match="RISKSTREAM_CHECKPOINT_KEY must have at least 32"):
        load_key(SecretStr(" short "), tmp_path / "engine.ckpt")


@pytest.mark.parametrize("bad_mode", [0o644, 0o640, 0o604, 0o660])
def test_a_key_file_group_or_others_may_use_is_refused_naming_it(
    tmp_path: Path, bad_mode: int
) -> None:
    load_key(None, tmp_path / "engine.ckpt")
    key_file = tmp_path / "engine.key"
    os.chmod(key_file, bad_mode)
    with pytest.raises(CheckpointKeyError) as caught:
        load_key(None, tmp_path / "engine.ckpt")
    assert caught.value.path == key_file
    assert str(caught.value).startswith(f"checkpoint key file {key_file}: has mode 0{bad_mode:o}")
    assert f"must be 0600 (run: chmod 600 {key_file})" in str(caught.value)
    assert isinstance(caught.value, OSError)  # the runtime's save logs it, never raises


def test_an_unreadable_or_empty_key_file_is_refused_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "engine.key"
    key_file.symlink_to(key_file)  # a loop: cannot be opened, even by root
    with pytest.raises(CheckpointKeyError, match=re.escape(f"{key_file}: cannot be read")):
        load_key(None, tmp_path / "engine.ckpt")
    key_file.unlink()
    key_file.mkdir()
    with pytest.raises(CheckpointKeyError, match="is not a regular file"):
        load_key(None, tmp_path / "engine.ckpt")
    key_file.rmdir()
    monkeypatch.setattr(checkpoint_key, "KEY_FILE_WAIT_S", 0.05)
    key_file.touch(mode=0o600)  # left by a start that crashed before writing the key
    with pytest.raises(CheckpointKeyError, match="holds no key of at least 32 characters"):
        load_key(None, tmp_path / "engine.ckpt")


def test_a_key_file_that_cannot_be_made_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def read_only_directory(path: Path) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(checkpoint_key, "create_private", read_only_directory)
    key_file = tmp_path / "engine.key"
    with pytest.raises(CheckpointKeyError, match=re.escape(f"{key_file}: cannot be created")):
        load_key(None, tmp_path / "engine.ckpt")
    monkeypatch.undo()
    key_file.symlink_to(tmp_path / "gone")
    with pytest.raises(CheckpointKeyError, match="is a symbolic link to a missing file"):
        load_key(None, tmp_path / "engine.ckpt")
