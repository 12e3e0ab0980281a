"""Shared by the poison-payload tests: the corpus of payloads that once broke ingest, and
a pipeline with a signing device, a plain device and a device of another tenant."""

from dataclasses import dataclass
from pathlib import Path

import orjson
from prometheus_client import CollectorRegistry

from ingest.deadletter import DeadLetterStore
from ingest.metrics import IngestMetrics
from ingest.pipeline import DeviceAuth, IngestPipeline

CORPUS = Path(__file__).parent / "corpus"
NOW = 1_795_000_000.0
POISONED = "d1"
"""The device whose topic the corpus payloads are published on (it has a secret)."""


@dataclass(frozen=True)
class Poison:
    """One corpus payload and the reason it must be refused with."""

    name: str
    reason: str
    payload: bytes


def corpus() -> list[Poison]:
    """Every file ``REASON--what-it-is.bin`` in the corpus folder."""
    items = []
    for path in sorted(CORPUS.glob("*.bin")):
        reason, _, name = path.stem.partition("--")
        items.append(Poison(name, reason, path.read_bytes()))
    return items


def devices() -> dict[tuple[str, str], DeviceAuth]:
    return {
        ("bank", POISONED): DeviceAuth(secret="s3cret"),
        ("bank", "d2"): DeviceAuth(),
        ("other-bank", "d9"): DeviceAuth(),
    }


def make_pipeline(deadletter: DeadLetterStore | None = None) -> IngestPipeline:
    return IngestPipeline(
        devices(), deadletter or DeadLetterStore(None), IngestMetrics.create(CollectorRegistry())
    )


def valid(device: str, seq: int, ts: float) -> bytes:
    return orjson.dumps({"ts": ts, "seq": seq, "values": {"weight_kg": 1000.0 + seq}})


def topic(device: str, tenant: str = "bank") -> str:
    return f"rs/v1/{tenant}/{device}/telemetry"
