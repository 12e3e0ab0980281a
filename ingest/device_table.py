"""Which devices may publish, with their secrets: built from the registered fleets."""

from collections.abc import Iterable

from devices.model import Fleet
from ingest.pipeline import DeviceAuth, IngestPipeline, sequence_key
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
