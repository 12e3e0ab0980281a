"""The dead-letter files stay within their bound however many refusals come."""

import hashlib
import os
import stat
from pathlib import Path

import orjson
import pytest

from ingest.deadletter import DeadLetterLimits, DeadLetterStore


def add(store: DeadLetterStore, payload: bytes, i: int = 0) -> None:
    store.add(
        received_at=float(i),
        topic="rs/v1/bank/d1/telemetry",
        reason="malformed",
        detail="x" * 2000,
        payload=payload,
    )


def test_a_record_keeps_the_cut_payload_with_its_full_size_and_sha256(tmp_path: Path) -> None:
    store = DeadLetterStore(tmp_path / "dead.jsonl", limits=DeadLetterLimits(payload_bytes=16))
    payload = b"\xff" + b"a" * 99
    add(store, payload)
    store.close()
    record = orjson.loads((tmp_path / "dead.jsonl").read_bytes())
    assert record["payload_bytes"] == 100
    assert record["payload_sha256"] == hashlib.sha256(payload).hexdigest()
    assert record["payload_cut"] is True
    assert record["payload_encoding"] == "base64"
    assert len(record["detail"]) == 500
    assert stat.S_IMODE(os.stat(tmp_path / "dead.jsonl").st_mode) == 0o600


def test_rotation_keeps_the_newest_files_and_counts_what_it_dropped(tmp_path: Path) -> None:
    path = tmp_path / "dead.jsonl"
    limits = DeadLetterLimits(max_file_bytes=64 * 1024, files=3, payload_bytes=1024)
    store = DeadLetterStore(path, limits=limits)
    refusals = 20_000
    for i in range(refusals):
        add(store, b"z" * 4096, i)
    store.close()
    files = store.files()
    assert [p.name for p in files] == ["dead.jsonl", "dead.jsonl.1", "dead.jsonl.2"]
    assert all(p.stat().st_size <= limits.max_file_bytes for p in files)
    kept = sum(len(p.read_bytes().splitlines()) for p in files)
    assert kept + store.dropped == refusals == store.written
    newest = orjson.loads(path.read_bytes().splitlines()[-1])
    assert newest["received_at"] == refusals - 1
    assert len(list(tmp_path.iterdir())) == 3


def test_a_reopened_store_knows_what_its_files_hold(tmp_path: Path) -> None:
    path = tmp_path / "dead.jsonl"
    limits = DeadLetterLimits(max_file_bytes=8192, files=2, payload_bytes=1024)
    first = DeadLetterStore(path, limits=limits)
    for i in range(40):
        add(first, b"p" * 1000, i)
    first.close()
    on_disk = sum(len(p.read_bytes().splitlines()) for p in first.files())
    second = DeadLetterStore(path, limits=limits)
    for i in range(40):
        add(second, b"p" * 1000, i)
    second.close()
    now_on_disk = sum(len(p.read_bytes().splitlines()) for p in second.files())
    assert on_disk + 40 == now_on_disk + second.dropped


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"max_file_bytes": 10}, "max_file_bytes"),
        ({"files": 0}, "files"),
        ({"payload_bytes": -1}, "payload_bytes"),
    ],
)
def test_limits_that_cannot_work_are_refused(limits: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DeadLetterLimits(**limits)
