"""Which devices may publish, with their secrets: built from the registered fleets."""

from collections.abc import Iterable

from devices.model import Fleet
from ingest.pipeline import DeviceAuth, IngestPipeline, sequence_key
from ingest.sequence import TS_MEMORY
from ingest.stores.base import SequencedStore, TelemetryStore


def device_table(fleets: Iterable[Fleet]) -> dict[tuple[str, str], DeviceAuth]:
    """(tenant, device_id) → secret and whether the tenant requires signatures."""
    table: dict[tuple[str, str], DeviceAuth] = {}
    for fleet in fleets:
        required = fleet.tenant.require_signature
        for device in fleet.devices():
            table[(fleet.tenant.id, device.id)] = DeviceAuth(device.secret, required)
    return table


def seed_sequences(pipeline: IngestPipeline, store: TelemetryStore) -> int:
    """Start de-duplication from what the store holds; return how many devices were seeded."""
    if not isinstance(store, SequencedStore):
        return 0
    marks = store.seq_high_water()
    for (tenant, device_id), (seq, ts) in marks.items():
        pipeline.sequences.seed(sequence_key(tenant, device_id), seq, ts)
    return len(marks)


RECENT_S = 300.0
"""How far back in event time the newest stored readings of a device are looked up."""


def seed_recent_readings(
    pipeline: IngestPipeline, store: TelemetryStore, devices: Iterable[tuple[str, str]]
) -> int:
    """Start the de-duplication of readings without ``seq`` (Sparkplug B) from the newest
    ones the store holds of ``devices`` (tenant, device id); return how many were seeded.

    The Sparkplug sessions are saved after a batch is stored: if ingest died in between,
    the broker redelivers that batch, and its readings, already in the store, are then
    recognised by (event time, metric) and dropped as duplicates.
    """
    seeded = 0
    for tenant, device_id in devices:
        recent: list[tuple[float, str]] = []
        for metric, (newest, _) in store.latest(device_id, tenant=tenant).items():
            series = store.query(
                device_id, metric, newest - RECENT_S, newest + 0.001, tenant=tenant
            )
            recent += [(ts, metric) for ts, _ in series[-TS_MEMORY:]]
        key = sequence_key(tenant, device_id)
        for ts, metric in sorted(recent)[-TS_MEMORY:]:
            pipeline.sequences.check_unsequenced(key, ts, metric)
            seeded += 1
    return seeded
