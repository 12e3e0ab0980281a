"""Sparkplug sessions kept on disk: restored after an ingest restart, so redelivered data
is decoded once; never trusted blindly (checked on load, replaced by the node's next
birth or a death of another bdSeq)."""

import sqlite3
from pathlib import Path

import orjson
from prometheus_client import CollectorRegistry

from ingest.deadletter import DeadLetterStore
from ingest.device_table import device_table, seed_recent_readings
from ingest.metrics import IngestMetrics
from ingest.pipeline import IngestPipeline
from ingest.sparkplug.session_store import SessionStore
from ingest.stores import open_store
from tests.ingest.sparkplug_messages import (
    NOW,
    T0,
    dbirth,
    ddata,
    nbirth,
    ndeath,
    sparkplug_fleet,
    sparkplug_fleet_map,
    topic,
)

WEIGHT = {"weight_kg": (1, 118_000.0)}


def pipeline_of(tmp_path: Path, name: str = "dead.jsonl") -> IngestPipeline:
    return IngestPipeline(
        device_table([sparkplug_fleet()]),
        DeadLetterStore(tmp_path / name),
        IngestMetrics.create(CollectorRegistry()),
        sparkplug=sparkplug_fleet_map(),
    )


def restarted(tmp_path: Path, store: SessionStore, name: str) -> IngestPipeline:
    """A new ingest process: a fresh pipeline with the sessions read back from disk."""
    pipeline = pipeline_of(tmp_path, name)
    handler = pipeline.sparkplug
    handler.restore(store.load(handler.bound_edges, handler.map.bindings))
    return pipeline


def born_and_saved(tmp_path: Path, store: SessionStore, bd_seq: int = 7) -> IngestPipeline:
    pipeline = pipeline_of(tmp_path)
    pipeline.handle(topic("NBIRTH", device=None), nbirth(seq=0, bd_seq=bd_seq), NOW)
    pipeline.handle(topic("DBIRTH"), dbirth(1, WEIGHT), NOW)
    assert pipeline.handle(topic("DDATA"), ddata(2, {1: 1.0}, ts=T0 + 1), NOW).accepted == 1
    store.save(pipeline.sparkplug.changes())  # as the runner does once the batch is stored
    return pipeline


def test_redelivered_data_after_a_restart_is_decoded_once(tmp_path: Path) -> None:
    path = tmp_path / "sessions.sqlite"
    store = SessionStore(path)
    born_and_saved(tmp_path, store)
    store.close()
    assert path.stat().st_mode & 0o777 == 0o600
    again = restarted(tmp_path, SessionStore(path), "dead-2.jsonl")
    # seq 2 was stored and acknowledged-to-be: its redelivery is a duplicate; 3 and 4 are new
    old = again.handle(topic("DDATA"), ddata(2, {1: 1.0}, ts=T0 + 1), NOW)
    assert (old.accepted, old.duplicates, old.rejected) == (0, 1, [])
    for seq in (3, 4):
        outcome = again.handle(topic("DDATA"), ddata(seq, {1: float(seq)}, ts=T0 + seq), NOW)
        assert (outcome.accepted, outcome.rejected) == (1, [])
    assert [(r.device_id, r.value) for r in again.drain()] == [("b1-d1", 3.0), ("b1-d1", 4.0)]
    assert again.drain_commands() == []  # no rebirth asked
    assert not (tmp_path / "dead-2.jsonl").exists()


def test_without_the_file_the_old_behaviour_remains(tmp_path: Path) -> None:
    again = pipeline_of(tmp_path)
    refused = again.handle(topic("DDATA"), ddata(3, {1: 3.0}, ts=T0 + 3), NOW)
    assert refused.rejected == ["sparkplug_no_birth"]
    assert len(again.drain_commands()) == 1


def test_a_restored_session_gives_way_to_the_nodes_next_birth_or_death(tmp_path: Path) -> None:
    path = tmp_path / "sessions.sqlite"
    born_and_saved(tmp_path, SessionStore(path), bd_seq=7)
    # an NDEATH of another bdSeq: the stored session is not the node's; it ends
    again = restarted(tmp_path, SessionStore(path), "dead-2.jsonl")
    assert again.handle(topic("NDEATH", device=None), ndeath(9), NOW).rejected == [
        "sparkplug_stale_death"
    ]
    assert again.handle(topic("DDATA"), ddata(3, {1: 3.0}), NOW).rejected == ["sparkplug_no_birth"]
    # a new NBIRTH replaces a restored session, and the DBIRTH's new aliases rule
    other = restarted(tmp_path, SessionStore(path), "dead-3.jsonl")
    other.handle(topic("NBIRTH", device=None), nbirth(seq=0, bd_seq=8), NOW)
    other.handle(topic("DBIRTH"), dbirth(1, {"weight_kg": (5, 2.0)}), NOW)
    assert other.handle(topic("DDATA"), ddata(2, {1: 9.0}), NOW).rejected == ["unknown_alias"]
    assert other.handle(topic("DDATA"), ddata(3, {5: 9.0}, ts=T0 + 3), NOW).accepted == 1
    # and the NDEATH of the matching bdSeq ends a restored session as it would a live one
    born_and_saved(tmp_path, SessionStore(tmp_path / "other.sqlite"), bd_seq=3)
    third = restarted(tmp_path, SessionStore(tmp_path / "other.sqlite"), "dead-4.jsonl")
    assert third.handle(topic("NDEATH", device=None), ndeath(3), NOW).rejected == []
    assert third.status[("bank-a", "b1-d1")] == "offline"


def test_a_file_that_is_not_sqlite_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "sessions.sqlite"
    path.write_bytes(b"not a database" * 100)
    store = SessionStore(path)
    again = restarted(tmp_path, store, "dead.jsonl")
    assert again.sparkplug.sessions == {}
    assert (tmp_path / "sessions.sqlite.bad").read_bytes().startswith(b"not a database")
    born_and_saved(tmp_path, store)  # and the new file works
    assert len(SessionStore(path).load(again.sparkplug.bound_edges, [])) == 1


def test_every_stored_row_is_checked_and_a_bad_one_is_dropped_alone(tmp_path: Path) -> None:
    path = tmp_path / "sessions.sqlite"
    store = SessionStore(path)
    born_and_saved(tmp_path, store)
    good = sqlite3.connect(path).execute("SELECT devices FROM sparkplug_sessions").fetchone()[0]
    hostile = [
        ("bank-a", "b2-w1", 1, 300, 1, good),  # seq out of 0..255
        ("bank-a", "b2-w1", 1, 1, 1, "[]"),  # devices not an object
        ("bank-a", "b2-w1", 1, 1, 1, '{"": {"aliases": {"x": "w"}, "datatypes": {}}}'),
        ("bank-a", "b2-w1", 1, 1, 1, '{"": {"aliases": {"1": 5}, "datatypes": {}}}'),
        ("bank-a", "b2-w1", -1, 1, 1, good),  # bdSeq negative
        ("bank-a", "b2-w1", 1, 1, 7, good),  # alive not 0/1
        ("bank-a", "b2-w1", 1, 1, 1, "{" * 100_000),  # not JSON (and deep)
        ("bank-a", "b2-w1", 1, 1, 1, "{}"),  # alive without the node's own aliases
        ("bank-z", "b1-w1", 1, 1, 1, good),  # a group no fleet binds
        ("bank-a", "nobody", 1, 1, 1, good),  # an edge node no fleet binds
    ]
    loaded_counts = []
    for row in hostile:
        db = sqlite3.connect(path)
        db.execute("DELETE FROM sparkplug_sessions WHERE edge != 'b1-w1' OR grp != 'bank-a'")
        db.execute("INSERT INTO sparkplug_sessions VALUES (?, ?, ?, ?, ?, ?)", row)
        db.commit()
        db.close()
        again = restarted(tmp_path, SessionStore(path), "dead-2.jsonl")
        loaded_counts.append(sorted(again.sparkplug.sessions))
        outcome = again.handle(topic("DDATA"), ddata(3, {1: 3.0}, ts=T0 + 3), NOW)
        assert outcome.accepted == 1  # the good row still serves its edge node
    assert loaded_counts == [[("bank-a", "b1-w1")]] * len(hostile)


def test_devices_no_fleet_binds_any_more_are_not_restored(tmp_path: Path) -> None:
    path = tmp_path / "sessions.sqlite"
    store = SessionStore(path)
    born_and_saved(tmp_path, store)
    restored = SessionStore(path).load(frozenset({("bank-a", "b1-w1")}), [])
    devices = restored[("bank-a", "b1-w1")].devices
    assert list(devices) == [""]  # the node's own aliases; b1-d1 is bound no more
    raw = sqlite3.connect(path).execute("SELECT devices FROM sparkplug_sessions").fetchone()[0]
    assert orjson.loads(raw)["b1-d1"]["aliases"] == {"1": "weight_kg"}


def test_a_batch_stored_before_its_session_was_saved_is_not_stored_twice(
    tmp_path: Path,
) -> None:
    """The crash window: readings of seq 3 and 4 stored, ingest killed before it saved the
    sessions; the broker redelivers them, and the store's newest readings tell them."""
    path = tmp_path / "sessions.sqlite"
    sessions = SessionStore(path)
    first = born_and_saved(tmp_path, sessions)  # saved as of seq 2
    store = open_store(f"duckdb:///{tmp_path / 't.duckdb'}")
    try:
        store.write(first.drain())
        for seq in (3, 4):
            first.handle(topic("DDATA"), ddata(seq, {1: float(seq)}, ts=T0 + seq), NOW)
        store.write(first.drain())  # ... and killed here: the sessions still say seq 2
        again = restarted(tmp_path, SessionStore(path), "dead-2.jsonl")
        seeded = seed_recent_readings(again, store, again.sparkplug.restored_devices())
        assert seeded == 4  # the birth's reading and seq 2-4
        for seq in (3, 4):
            redelivered = again.handle(
                topic("DDATA"), ddata(seq, {1: float(seq)}, ts=T0 + seq), NOW
            )
            assert (redelivered.accepted, redelivered.duplicates) == (0, 1)
        new = again.handle(topic("DDATA"), ddata(5, {1: 5.0}, ts=T0 + 5), NOW)
        assert new.accepted == 1
        store.write(again.drain())
        values = sorted(v for _, v in store.query("b1-d1", "weight_kg", T0 - 10, T0 + 10))
        assert values == [1.0, 3.0, 4.0, 5.0, 118_000.0]
    finally:
        store.close()
