"""Readings to InfluxDB line protocol, the write format of InfluxDB 1.x, 2.x and VictoriaMetrics.

One point per (tenant, device, event time, seq): measurement `MEASUREMENT`, tags
``device_id`` and ``tenant`` (plus any static tags, e.g. VictoriaMetrics' ``db``), one
float field per metric and the integer field `SEQ_FIELD` when the device sent a seq::

    readings,device_id=lc-1,tenant=bank seq=42i,door_open=0.0,weight_kg=118250.0 1795671585123000

Consecutive readings of one message (same device, time and seq) share a line.
Timestamps are whole microseconds (``precision=us``): a float epoch carries no more.
Readings that line protocol cannot carry (non-finite value, a metric named like the
seq field, an empty id or one with a line break or backslash) are refused one by one with a
reason instead of failing the batch.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from devices.reading import Reading

MEASUREMENT = "readings"
SEQ_FIELD = "seq"

_TAG_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})


def micros(ts: float) -> int:
    """Epoch seconds as whole microseconds, the precision every write uses."""
    return round(ts * 1_000_000)


def escape_tag(text: str) -> str:
    """Escape a tag key, tag value or field key (commas, equals signs and spaces)."""
    return text.translate(_TAG_ESCAPES)


def _bad_id(text: str) -> bool:
    return not text or "\n" in text or "\r" in text or "\\" in text


@dataclass
class EncodedBatch:
    """A batch in line protocol, with the readings behind each line.

    Attributes:
        lines: one point per line, without the trailing newline.
        readings: the readings that were encoded, in line order.
        line_ends: for line ``i``, how many of ``readings`` lines ``0..i`` hold.
        refused: readings line protocol cannot carry, each with a short reason.
    """

    lines: list[str] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)
    line_ends: list[int] = field(default_factory=list)
    refused: list[tuple[Reading, str]] = field(default_factory=list)

    def chunks(self, max_lines: int) -> Iterable[tuple[bytes, list[Reading]]]:
        """Request bodies of at most ``max_lines`` points, each with its readings."""
        for first in range(0, len(self.lines), max_lines):
            last = min(first + max_lines, len(self.lines))
            start = self.line_ends[first - 1] if first else 0
            body = "\n".join(self.lines[first:last]).encode()
            yield body, self.readings[start : self.line_ends[last - 1]]


class LineEncoder:
    """Turns batches of readings into line protocol; caches the escaped series prefixes."""

    def __init__(self, static_tags: dict[str, str] | None = None) -> None:
        self._static = sorted((static_tags or {}).items())
        self._prefixes: dict[tuple[str, str], str | None] = {}
        self._fields: dict[str, str | None] = {}

    def _prefix(self, tenant: str, device_id: str) -> str | None:
        key = (tenant, device_id)
        if key not in self._prefixes:
            if _bad_id(tenant) or _bad_id(device_id):
                self._prefixes[key] = None
            else:
                tags = dict(self._static)
                tags["device_id"] = device_id
                tags["tenant"] = tenant
                pairs = sorted(tags.items())
                tag_text = ",".join(f"{escape_tag(k)}={escape_tag(v)}" for k, v in pairs)
                self._prefixes[key] = f"{MEASUREMENT},{tag_text} "
        return self._prefixes[key]

    def _field(self, metric: str) -> str | None:
        if metric not in self._fields:
            bad = _bad_id(metric) or metric == SEQ_FIELD or metric.startswith("_")
            self._fields[metric] = None if bad else escape_tag(metric)
        return self._fields[metric]

    def encode(self, batch: Sequence[Reading]) -> EncodedBatch:
        """Encode ``batch``; see the module docstring for the point layout."""
        out = EncodedBatch()
        key: tuple[str, str, float, int | None] | None = None
        head = tail = ""
        fields: dict[str, str] = {}
        for reading in batch:
            prefix = self._prefix(reading.tenant, reading.device_id)
            name = self._field(reading.metric)
            value = float(reading.value)
            if prefix is None:
                out.refused.append((reading, "bad_id"))
                continue
            if name is None:
                out.refused.append((reading, "reserved_metric"))
                continue
            if value - value != 0.0:
                out.refused.append((reading, "non_finite"))
                continue
            this = (reading.tenant, reading.device_id, reading.ts, reading.seq)
            if this != key or name in fields:
                if fields:
                    out.lines.append(head + ",".join(fields.values()) + tail)
                    out.line_ends.append(len(out.readings))
                key, fields = this, {}
                head = prefix
                seq = "" if reading.seq is None else f",{SEQ_FIELD}={int(reading.seq)}i"
                tail = f"{seq} {micros(reading.ts)}"
            fields[name] = f"{name}={value!r}"
            out.readings.append(reading)
        if fields:
            out.lines.append(head + ",".join(fields.values()) + tail)
            out.line_ends.append(len(out.readings))
        return out
