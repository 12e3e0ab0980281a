"""Sparkplug B messages for tests, built field by field with the generated module."""

from devices.model import Fleet, Sparkplug
from devices.sparkplug import DataType, SparkplugMap, sparkplug_map
from devices.sparkplug.sparkplug_b_pb2 import Payload
from tests.fleets import small_fleet

GROUP = "bank-a"
T0 = 1_790_000_000.0
NOW = T0 + 10.0


def sparkplug_fleet(tenant: str = "bank-a", **section: object) -> Fleet:
    """`small_fleet` with a ``sparkplug`` section (default: every device bound by site)."""
    fleet = small_fleet(tenant)
    return fleet.model_copy(update={"sparkplug": Sparkplug.model_validate(section)})


def sparkplug_fleet_map(tenant: str = "bank-a") -> SparkplugMap:
    return sparkplug_map([sparkplug_fleet(tenant)])


def nbirth(seq: int = 0, bd_seq: int = 0, ts: float = T0) -> bytes:
    ms = int(ts * 1000)
    p = Payload(timestamp=ms, seq=seq)
    p.metrics.add(name="bdSeq", datatype=DataType.UINT64, long_value=bd_seq, timestamp=ms)
    p.metrics.add(
        name="Node Control/Rebirth", datatype=DataType.BOOLEAN, boolean_value=False, timestamp=ms
    )
    return p.SerializeToString()


def ndeath(bd_seq: int) -> bytes:
    p = Payload(timestamp=int(T0 * 1000))
    p.metrics.add(name="bdSeq", datatype=DataType.UINT64, long_value=bd_seq)
    return p.SerializeToString()


def dbirth(seq: int, metrics: dict[str, tuple[int, float]], ts: float = T0) -> bytes:
    """``metrics``: name → (alias, value), all Double."""
    ms = int(ts * 1000)
    p = Payload(timestamp=ms, seq=seq)
    for name, (alias, value) in metrics.items():
        p.metrics.add(name=name, alias=alias, datatype=DataType.DOUBLE, double_value=value)
    return p.SerializeToString()


def ddata(seq: int, values: dict[int, float], ts: float = T0) -> bytes:
    """``values``: alias → value, Double by the birth's datatype, timestamped per metric."""
    ms = int(ts * 1000)
    p = Payload(timestamp=ms, seq=seq)
    for alias, value in values.items():
        p.metrics.add(alias=alias, double_value=value, timestamp=ms)
    return p.SerializeToString()


def topic(kind: str, edge: str = "b1-w1", device: str | None = "b1-d1") -> str:
    tail = "" if device is None else f"/{device}"
    return f"spBv1.0/{GROUP}/{kind}/{edge}{tail}"
