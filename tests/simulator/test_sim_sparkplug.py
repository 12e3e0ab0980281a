"""The simulator's Sparkplug B edge nodes, read back by ingest: every report arrives as
the readings it was, whatever the values, times and order (a codec round trip)."""

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from devices.sparkplug import sparkplug_map
from devices.sparkplug.sparkplug_b_pb2 import Payload
from ingest.deadletter import DeadLetterStore
from ingest.device_table import device_table
from ingest.metrics import IngestMetrics
from ingest.pipeline import IngestPipeline
from simulator.message import Message
from simulator.sparkplug_wire import SparkplugPacker
from tests.ingest.sparkplug_messages import NOW, T0, sparkplug_fleet

FLEET = sparkplug_fleet()
DEVICES = [d.id for d in FLEET.devices()]
MAPPING = sparkplug_map([FLEET])

reports = st.lists(
    st.tuples(
        st.sampled_from(DEVICES),
        st.integers(0, 86_400_000),  # ms after T0
        st.dictionaries(
            st.sampled_from(["weight_kg", "door_open", "lat_deg", "power_kw"]),
            st.floats(allow_nan=False, allow_infinity=False, width=64),
            min_size=1,
            max_size=3,
        ),
    ),
    max_size=40,
    unique_by=lambda report: (report[0], report[1]),  # one report per device and time:
)  # ingest takes a second (time, metric) of a device without seq as a duplicate


@settings(max_examples=60, deadline=None)
@given(reports=reports, offline=st.sets(st.sampled_from(DEVICES), max_size=2))
def test_every_report_comes_back_as_its_readings(
    reports: list[tuple[str, int, dict[str, float]]], offline: set[str]
) -> None:
    messages = [
        Message(T0 + ms / 1000, device, i + 1, values)
        for i, (device, ms, values) in enumerate(reports)
    ]
    messages += [Message(T0, device, 0, {}, "offline") for device in sorted(offline)]
    messages += [Message(T0 + 86_401 + i, d, 1, {"weight_kg": 1.0}) for i, d in enumerate(DEVICES)]
    pipeline = IngestPipeline(
        device_table([FLEET]),
        DeadLetterStore(None),
        IngestMetrics.create(CollectorRegistry()),
        sparkplug=MAPPING,
    )
    packets = list(SparkplugPacker(FLEET.tenant.id, MAPPING).packets(messages))
    for packet in packets:
        outcome = pipeline.handle(packet.topic, packet.payload, NOW + 86_500)
        assert outcome.rejected == []
        assert Payload.FromString(packet.payload).seq < 256
    sent = {
        (m.device_id, round(m.ts, 3), metric, value)
        for m in messages
        for metric, value in m.values.items()
    }
    got = {(r.device_id, round(r.ts, 3), r.metric, r.value) for r in pipeline.drain()}
    assert got == sent
    # every edge node ended with its NDEATH: all devices offline
    assert set(pipeline.status.values()) == {"offline"}
