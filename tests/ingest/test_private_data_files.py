"""Telemetry on disk (DuckDB file, spooled batches) is 0600, in directories made 0700."""

import os
import stat
from pathlib import Path

from devices.reading import Reading
from ingest.spool import DiskSpool, SpoolingStore
from ingest.stores import open_store
from ingest.stores.duckdb_store import DuckDBStore
from ingest.stores.errors import StoreRejectedError

BATCH = [Reading("bank", "d1", 1000.0 + i, "weight_kg", float(i), i) for i in range(5)]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_duckdb_file_is_0600_in_a_0700_directory(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)
    path = tmp_path / "riskstream-data" / "telemetry.duckdb"
    store = open_store(f"duckdb://{path}")
    assert store.write(BATCH) == 5
    store.close()
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert mode(tmp_path) == 0o755  # existed before: left alone
    os.chmod(path, 0o640)  # an existing file is the operator's: opened as it is
    reopened = DuckDBStore(path)
    assert reopened.count() == 5
    reopened.close()
    assert mode(path) == 0o640


def test_spooled_batches_are_0600_in_0700_directories(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)
    directory = tmp_path / "data" / "spool"
    spool = DiskSpool(directory)
    assert spool.append(BATCH) and spool.append(BATCH[:2])
    spool.replace_head(BATCH[3:])  # rewritten through a temporary file
    files = sorted(directory.glob("*.batch"))
    assert len(files) == 2
    assert {mode(f) for f in files} == {0o600}
    assert mode(directory) == mode(directory.parent) == 0o700
    assert mode(tmp_path) == 0o755  # existed before: left alone


def test_a_stale_temporary_spool_file_readable_by_others_is_not_reused_as_is(
    tmp_path: Path,
) -> None:
    spool = DiskSpool(tmp_path)
    stale = tmp_path / f"{0:016d}.tmp"  # as a crash left it, after the spool was opened
    stale.write_bytes(b"x")
    os.chmod(stale, 0o644)
    assert spool.append(BATCH)
    assert [mode(f) for f in tmp_path.glob("*.batch")] == [0o600]


class Refusing:
    """A backend that refuses every batch for good (kept under ``rejected/``)."""

    def write(self, batch: list[Reading]) -> int:
        raise StoreRejectedError("test", "bad rows", 400, batch)

    def close(self) -> None:
        """Nothing to close."""


def test_rejected_batches_are_kept_0600_in_a_0700_directory(tmp_path: Path) -> None:
    store = SpoolingStore(Refusing(), tmp_path / "spool")  # type: ignore[arg-type]
    assert store.write(BATCH) == 0
    rejected = tmp_path / "spool" / "rejected"
    assert mode(rejected) == 0o700
    assert [mode(f) for f in rejected.glob("*.batch")] == [0o600]
