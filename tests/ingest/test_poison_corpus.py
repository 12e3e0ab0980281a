"""Every payload that ever broke ingest is refused with its reason, and nothing else is lost."""

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from ingest.deadletter import DeadLetterStore
from ingest.metrics import IngestMetrics
from ingest.pipeline import IngestPipeline
from tests.ingest.poison import NOW, POISONED, Poison, corpus, devices, make_pipeline, topic, valid

CORPUS = corpus()


def test_the_corpus_is_there() -> None:
    assert len(CORPUS) >= 20
    assert {p.reason for p in CORPUS} >= {"malformed", "bad_schema", "old_timestamp"}


@pytest.mark.parametrize("poison", CORPUS, ids=[p.name for p in CORPUS])
def test_poison_is_refused_with_its_reason_between_valid_readings(poison: Poison) -> None:
    pipeline = make_pipeline()
    before = pipeline.handle(topic("d2"), valid("d2", 1, NOW - 5), NOW)
    outcome = pipeline.handle(topic(POISONED), poison.payload, NOW)
    after = pipeline.handle(topic("d2"), valid("d2", 2, NOW - 4), NOW)
    assert outcome.accepted == 0
    assert outcome.rejected and set(outcome.rejected) == {poison.reason}
    assert before.accepted == after.accepted == 1
    assert [r.seq for r in pipeline.drain()] == [1, 2]


def test_an_unforeseen_fault_refuses_only_that_message_as_internal_error() -> None:
    class Faulty(IngestPipeline):
        def _decode(self, payload: bytes, *args: Any) -> Any:
            if b"boom" in payload:
                raise ZeroDivisionError("a bug in a decoder")
            return super()._decode(payload, *args)

    dead = DeadLetterStore(None)
    registry = CollectorRegistry()
    pipeline = Faulty(devices(), dead, IngestMetrics.create(registry))
    outcome = pipeline.handle(topic("d2"), b'{"boom": 1}', NOW)
    assert outcome.rejected == ["internal_error"]
    assert dead.recent("bank")[-1]["detail"].startswith("ZeroDivisionError: a bug in a decoder")
    assert registry.get_sample_value("ingest_rejected_total", {"reason": "internal_error"}) == 1
    assert pipeline.handle(topic("d2"), valid("d2", 1, NOW - 1), NOW).accepted == 1


def test_the_oldest_accepted_time_follows_a_shorter_retention() -> None:
    pipeline = IngestPipeline(
        devices(),
        DeadLetterStore(None),
        IngestMetrics.create(CollectorRegistry()),
        retention_s=3600.0,
    )
    too_old = pipeline.handle(topic("d2"), valid("d2", 1, NOW - 3601), NOW)
    assert too_old.rejected == ["old_timestamp"]
    assert pipeline.handle(topic("d2"), valid("d2", 2, NOW - 3599), NOW).accepted == 1
    lenient = make_pipeline()  # 2000-01-01 when no retention is set
    assert lenient.handle(topic("d2"), valid("d2", 1, 946_684_801.0), NOW).accepted == 1
    assert lenient.handle(topic("d2"), valid("d2", 2, 946_684_799.0), NOW).rejected == [
        "old_timestamp"
    ]
