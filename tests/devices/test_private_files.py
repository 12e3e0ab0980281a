"""Data and secret files are made 0600, the directories riskstream makes for them 0700."""

import os
import stat
from pathlib import Path

import pytest

from devices.private_files import create_private, make_private_dirs, open_private
from devices.registry import Registry, open_database
from tests.fleets import small_fleet


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_only_the_directories_made_are_0700(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)
    (tmp_path / "shared").mkdir(mode=0o775)
    os.chmod(tmp_path / "shared", 0o775)
    make_private_dirs(tmp_path / "shared" / "a" / "b")
    assert mode(tmp_path / "shared" / "a") == mode(tmp_path / "shared" / "a" / "b") == 0o700
    assert (mode(tmp_path), mode(tmp_path / "shared")) == (0o755, 0o775)  # existed: left
    os.chmod(tmp_path / "shared" / "a", 0o750)
    make_private_dirs(tmp_path / "shared" / "a" / "b")  # all exist now: nothing changes
    assert mode(tmp_path / "shared" / "a") == 0o750


def test_private_files_are_0600_new_or_not_and_never_written_through_a_link(
    tmp_path: Path,
) -> None:
    path = tmp_path / "data"
    path.write_bytes(b"old")
    os.chmod(path, 0o644)
    with open_private(path) as f:
        f.write(b"new")
    assert (path.read_bytes(), mode(path)) == (b"new", 0o600)
    created = create_private(tmp_path / "made")
    assert created is not None
    created.close()
    assert mode(tmp_path / "made") == 0o600
    assert create_private(tmp_path / "made") is None  # exists: not opened, not changed
    (tmp_path / "link").symlink_to(tmp_path / "target")
    with pytest.raises(OSError):
        open_private(tmp_path / "link")
    assert not (tmp_path / "target").exists()


def test_the_sqlite_database_is_0600_in_a_0700_directory(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)
    db = tmp_path / "riskstream-data" / "rs.db"
    engine = open_database(str(db))
    Registry(engine).import_fleet(small_fleet())
    engine.dispose()
    assert mode(db) == 0o600
    assert mode(db.parent) == 0o700
    assert mode(tmp_path) == 0o755  # existed before: left alone
    assert Registry(open_database(db)).tenants() == ["bank-a"]  # the empty file was a database


def test_an_existing_database_file_is_opened_as_it_is(tmp_path: Path) -> None:
    db = tmp_path / "rs.db"
    open_database(db).dispose()
    os.chmod(db, 0o640)  # the operator's choice
    open_database(db).dispose()
    assert mode(db) == 0o640


def test_database_urls_and_memory_make_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    open_database(":memory:").dispose()
    open_database(f"sqlite:///{tmp_path}/by-url.db").dispose()  # SQLite makes it, as before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["by-url.db"]
