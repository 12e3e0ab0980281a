"""From (topic, payload) to validated readings, refusing bad input with a reason.

`IngestPipeline.handle` never raises: it counts a refusal under its reason, keeps it
in the dead-letter store and goes on, so one broken device never stops the others.
Anything unforeseen that goes wrong with one message (a bug, a library's exception) is
refused as ``internal_error`` with the exception's class, and only that message is
lost. Event times must lie between the oldest accepted time (`OLDEST_ACCEPTED_TS`,
2000-01-01, or the store's retention when that is shorter) and the future limit.
Accepted readings wait in a buffer until `drain` hands them to the writer as one
batch. Duplicates (QoS 1 redeliveries, gateway resends) are dropped and counted;
sequence gaps are counted per device as a data-quality signal.
"""

import json
import logging
import math
import re
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from devices.errors import TopicError
from devices.reading import Reading
from devices.signing import verify
from devices.sparkplug.mapping import SparkplugMap
from devices.sparkplug.topic import NAMESPACE
from devices.topics import DEFAULT_PREFIX, parse_topic
from ingest.codec import MAX_PAYLOAD_BYTES, DecodedObject, decode_payload, event_time
from ingest.deadletter import DeadLetterStore
from ingest.errors import RejectedInputError
from ingest.integrity import MAX_PENDING_SIGNALS, IntegrityKind, IntegritySignal
from ingest.line_protocol import decode_line_protocol
from ingest.metrics import IngestMetrics
from ingest.sequence import SequenceTracker
from ingest.sparkplug.handler import SparkplugHandler

SPARKPLUG_HEAD = f"{NAMESPACE}/"

log = logging.getLogger(__name__)

METRIC_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_FUTURE_SKEW_S = 300.0
OLDEST_ACCEPTED_TS = 946_684_800.0
"""2000-01-01T00:00:00Z: no telemetry of a live device is older than this."""
INTERNAL_ERROR_LOG_EVERY_S = 60.0
RESERVED_METRICS = frozenset({"seq", "ts", "sig"})
TOPIC_CACHE_SIZE = 1_000_000


def sequence_key(tenant: str, device_id: str) -> str:
    """The key of a device's sequence state: two lenders may use the same device id, and
    neither segment can hold a ``/`` (the topic grammar's separator)."""
    return sys.intern(f"{tenant}/{device_id}")


@dataclass(frozen=True, slots=True)
class DeviceAuth:
    """What ingest must know to accept a device's messages."""

    secret: str | None = None
    signature_required: bool = False


@dataclass
class MessageOutcome:
    """What became of one message: readings accepted, duplicates, refusals by reason."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[str] = field(default_factory=list)


DeviceTable = Mapping[tuple[str, str], DeviceAuth]


def _as_table(
    devices: DeviceTable | Iterable[tuple[str, str]],
) -> dict[tuple[str, str], DeviceAuth]:
    if isinstance(devices, Mapping):
        return dict(devices)
    return {key: DeviceAuth() for key in devices}


class IngestPipeline:
    """Validates messages from registered devices and buffers the accepted readings."""

    def __init__(
        self,
        known_devices: DeviceTable | Iterable[tuple[str, str]],
        deadletter: DeadLetterStore,
        metrics: IngestMetrics,
        *,
        prefix: str = DEFAULT_PREFIX,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
        max_future_skew_s: float = MAX_FUTURE_SKEW_S,
        oldest_ts: float = OLDEST_ACCEPTED_TS,
        retention_s: float | None = None,
        sparkplug: SparkplugMap | None = None,
    ) -> None:
        self._devices = _as_table(known_devices)
        self.sparkplug = SparkplugHandler(sparkplug or SparkplugMap({}, {}), max_payload_bytes)
        self._deadletter = deadletter
        self.metrics = metrics
        self._prefix = prefix
        self._max_payload_bytes = max_payload_bytes
        self._max_future_skew_s = max_future_skew_s
        self._oldest_ts = oldest_ts
        self._retention_s = retention_s
        self._floor = oldest_ts
        self._internal_errors_logged_at = -math.inf
        self._buffer: list[Reading] = []
        self._topics: dict[str, tuple[str, str, str, str] | TopicError] = {}
        self.sequences = SequenceTracker()
        self._received = self._accepted = self._duplicates = 0
        self._good_metrics: set[str] = set()
        self.status: dict[tuple[str, str], str] = {}
        self._signals: list[IntegritySignal] = []
        self.signals_dropped = 0
        self._deadletters_dropped = deadletter.dropped

    def set_known_devices(self, known_devices: DeviceTable | Iterable[tuple[str, str]]) -> None:
        """Replace the table of (tenant, device_id) allowed to publish."""
        self._devices = _as_table(known_devices)

    def set_sparkplug(self, mapping: SparkplugMap) -> None:
        """Replace the Sparkplug bindings (`devices.sparkplug.sparkplug_map`)."""
        self.sparkplug.set_map(mapping)

    @property
    def buffered(self) -> int:
        """Readings accepted and not yet drained."""
        return len(self._buffer)

    def drain(self) -> list[Reading]:
        """Take the buffered readings (the next batch) and publish the counts to metrics."""
        batch, self._buffer = self._buffer, []
        self.sync_metrics()
        return batch

    def drain_signals(self) -> list[IntegritySignal]:
        """Take the data-integrity signals noted since the last call (`ingest.integrity`)."""
        signals, self._signals = self._signals, []
        return signals

    def _signal(
        self,
        tenant: str,
        device_id: str,
        kind: IntegrityKind,
        now: float,
        ts: float | None = None,
        count: int = 1,
    ) -> None:
        if len(self._signals) >= MAX_PENDING_SIGNALS:
            self.signals_dropped += 1
            return
        self._signals.append(IntegritySignal(tenant, device_id, kind, now, ts, count))

    def sync_metrics(self) -> None:
        """Add the per-message counts kept since the last call to the Prometheus counters.

        Counting in plain integers on the hot path and publishing once per batch saves a
        locked counter update per message.
        """
        received, accepted, duplicates = self._received, self._accepted, self._duplicates
        self._received = self._accepted = self._duplicates = 0
        if received:
            self.metrics.received.inc(received)
        if accepted:
            self.metrics.accepted.inc(accepted)
        if duplicates:
            self.metrics.duplicates.inc(duplicates)
        dropped = self._deadletter.dropped - self._deadletters_dropped
        if dropped:
            self._deadletters_dropped += dropped
            self.metrics.deadletters_dropped.inc(dropped)

    def _topic(self, topic: str) -> tuple[str, str, str, str]:
        cached = self._topics.get(topic)
        if cached is None:
            try:
                parsed = parse_topic(topic, self._prefix)
                key = sequence_key(parsed.tenant, parsed.device_id)
                cached = (parsed.tenant, parsed.device_id, parsed.kind, key)
            except TopicError as exc:
                cached = exc
            if len(self._topics) >= TOPIC_CACHE_SIZE:
                self._topics.clear()
            self._topics[topic] = cached
        if isinstance(cached, TopicError):
            raise RejectedInputError("bad_topic", str(cached))
        return cached

    def handle(self, topic: str, payload: bytes, now: float) -> MessageOutcome:
        """Validate one MQTT message received at wall time ``now``; never raises."""
        self._received += 1
        outcome = MessageOutcome()
        try:
            if self._retention_s is not None:  # the oldest event time accepted now
                self._floor = max(self._oldest_ts, now - self._retention_s)
            self._handle(topic, payload, now, outcome)
        except Exception as exc:  # containment: one message, one refusal
            self._internal_error(outcome, topic, payload, now, exc)
        if outcome.accepted:
            self._accepted += outcome.accepted
        if outcome.duplicates:
            self._duplicates += outcome.duplicates
        return outcome

    def _internal_error(
        self, outcome: MessageOutcome, topic: str, payload: bytes, now: float, exc: Exception
    ) -> None:
        detail = f"{type(exc).__name__}: {exc}"[:500]
        monotonic = time.monotonic()
        if monotonic - self._internal_errors_logged_at >= INTERNAL_ERROR_LOG_EVERY_S:
            self._internal_errors_logged_at = monotonic
            log.error(
                "ingest: a message on %r failed unexpectedly: %s", topic[:200], detail, exc_info=exc
            )
        try:
            self._reject(outcome, topic, payload, now, RejectedInputError("internal_error", detail))
        except Exception:  # the dead-letter file failed
            outcome.rejected.append("internal_error")
            log.exception("ingest: cannot dead-letter a message")

    def _handle(self, topic: str, payload: bytes, now: float, outcome: MessageOutcome) -> None:
        if topic.startswith(SPARKPLUG_HEAD):
            self._handle_sparkplug(topic, payload, now, outcome)
            return
        try:
            tenant, device_id, kind, key = self._topic(topic)
            auth = self._devices.get((tenant, device_id))
            if auth is None:
                raise RejectedInputError(
                    "unknown_device",
                    f"device {device_id!r} is not registered for tenant {tenant!r}",
                )
            if kind == "status":
                self.status[(tenant, device_id)] = payload[:32].decode("utf-8", "replace")
                return
            try:
                objects = self._decode(payload, device_id, auth, now)
            except RejectedInputError as exc:
                if exc.reason == "missing_signature":
                    self._signal(tenant, device_id, "missing_signature", now)
                raise
        except RejectedInputError as exc:
            self._reject(outcome, topic, payload, now, exc)
            return
        for obj in objects:
            if isinstance(obj, RejectedInputError):
                self._reject(outcome, topic, payload, now, obj)
                if obj.reason == "bad_signature":
                    self._signal(tenant, device_id, "bad_signature", now)
                elif obj.reason == "missing_signature":
                    self._signal(tenant, device_id, "missing_signature", now)
                continue
            self._accept(obj, tenant, device_id, key, topic, payload, now, outcome)

    def _handle_sparkplug(
        self, topic: str, payload: bytes, now: float, outcome: MessageOutcome
    ) -> None:
        tenant_of_group = self.sparkplug.tenant_of(topic)
        try:
            result = self.sparkplug.handle(topic, payload, now)
        except RejectedInputError as exc:
            self._reject(outcome, topic, payload, now, exc, tenant_of_group)
            return
        if result.duplicate:
            outcome.duplicates += 1
        if result.ignored:
            self.metrics.rejected.labels(reason="sparkplug_ignored_type").inc(result.ignored)
        for tenant, device_id, status in result.status:
            self.status[(tenant, device_id)] = status
            if status == "offline":
                self._signal(tenant, device_id, "offline", now)
        for item in result.items:
            if isinstance(item, RejectedInputError):
                self._reject(outcome, topic, payload, now, item, tenant_of_group)
                continue
            binding, obj = item
            if (binding.tenant, binding.device_id) not in self._devices:
                unknown = RejectedInputError(
                    "unknown_device",
                    f"device {binding.device_id!r} is not registered for {binding.tenant!r}",
                )
                self._reject(outcome, topic, payload, now, unknown, tenant_of_group)
                continue
            key = sequence_key(binding.tenant, binding.device_id)
            self._accept(obj, binding.tenant, binding.device_id, key, topic, payload, now, outcome)

    def drain_commands(self) -> list[tuple[str, bytes]]:
        """Take the MQTT messages ingest must publish (Sparkplug rebirth requests)."""
        return self.sparkplug.drain_commands()

    def _decode(
        self, payload: bytes, device_id: str, auth: DeviceAuth, now: float
    ) -> list[DecodedObject | RejectedInputError]:
        first = payload[:1]
        if first not in (b"{", b"["):
            first = payload.lstrip()[:1]
        if first not in (b"{", b"["):
            if len(payload) > self._max_payload_bytes:
                raise RejectedInputError(
                    "payload_too_large", f"{len(payload)} bytes > {self._max_payload_bytes}"
                )
            if auth.signature_required:
                raise RejectedInputError(
                    "missing_signature", "line protocol cannot carry the required signature"
                )
            return list(decode_line_protocol(payload, device_id, now))
        objects = decode_payload(payload, self._max_payload_bytes)
        if not auth.signature_required and (
            objects[0].sig is None if len(objects) == 1 else not any(o.sig for o in objects)
        ):
            return list(objects)
        return self._check_signatures(payload, objects, auth)

    def _check_signatures(
        self, payload: bytes, objects: list[DecodedObject], auth: DeviceAuth
    ) -> list[DecodedObject | RejectedInputError]:
        raws = _raw_objects(payload)
        if len(raws) != len(objects):
            raise RejectedInputError("malformed", "the payload's objects cannot be told apart")
        checked: list[DecodedObject | RejectedInputError] = []
        for obj, raw_obj in zip(objects, raws, strict=True):
            if obj.sig is None:
                if auth.signature_required:
                    checked.append(
                        RejectedInputError(
                            "missing_signature", "this tenant requires signed payloads"
                        )
                    )
                else:
                    checked.append(obj)
            elif auth.secret is None:
                if auth.signature_required:
                    checked.append(
                        RejectedInputError("bad_signature", "the device has no registered secret")
                    )
                else:
                    checked.append(obj)
            elif verify(raw_obj, auth.secret):
                checked.append(obj)
            else:
                checked.append(
                    RejectedInputError(
                        "bad_signature", "HMAC-SHA256 does not match the device secret"
                    )
                )
        return checked

    def _accept(
        self,
        obj: DecodedObject,
        tenant: str,
        device_id: str,
        key: str,
        topic: str,
        payload: bytes,
        now: float,
        outcome: MessageOutcome,
    ) -> None:
        ts_raw = obj.ts
        if type(ts_raw) is float and self._floor <= ts_raw <= now + self._max_future_skew_s:
            ts = ts_raw  # the common case, without the call and its checks
        else:
            try:
                ts = event_time(ts_raw)
                if ts > now + self._max_future_skew_s:
                    raise RejectedInputError(
                        "future_timestamp",
                        f"ts {ts:.3f} is {ts - now:.0f} s ahead of the receiver's clock",
                    )
                if ts < self._floor:
                    raise RejectedInputError(
                        "old_timestamp",
                        f"ts {ts:.3f} is before the oldest accepted time {self._floor:.0f}",
                    )
            except RejectedInputError as exc:
                self._reject(outcome, topic, payload, now, exc)
                return
        seq = obj.seq
        if seq is not None:
            verdict, gap = self.sequences.check(key, seq, ts, now)
            if gap:
                self.metrics.gaps.inc(gap)
                self._signal(tenant, device_id, "gap", now, ts, gap)
            if verdict == "conflict":
                self._signal(tenant, device_id, "conflict", now, ts)
            elif verdict == "duplicate":
                outcome.duplicates += 1
                return
            elif verdict == "replayed":
                self._signal(tenant, device_id, "replayed", now, ts)
                self._reject(
                    outcome,
                    topic,
                    payload,
                    now,
                    RejectedInputError(
                        "replayed_seq", f"seq {seq} is older than the device's recent messages"
                    ),
                )
                return
        good_metrics = self._good_metrics
        buffer = self._buffer
        isfinite = math.isfinite
        for metric, value in obj.values.items():
            if metric in good_metrics and isfinite(value) and seq is not None:
                buffer.append(Reading(tenant, device_id, ts, metric, value, seq))
                outcome.accepted += 1
            else:
                self._accept_checked(
                    obj, tenant, device_id, key, topic, payload, now, outcome, ts, metric, value
                )

    def _accept_checked(
        self,
        obj: DecodedObject,
        tenant: str,
        device_id: str,
        key: str,
        topic: str,
        payload: bytes,
        now: float,
        outcome: MessageOutcome,
        ts: float,
        metric: str,
        value: float,
    ) -> None:
        """One value that is not on the fast path: a new metric name, not finite, or no seq."""
        if metric not in self._good_metrics and (
            not METRIC_NAME.match(metric) or metric in RESERVED_METRICS
        ):
            bad_name = RejectedInputError(
                "bad_metric", f"metric name {metric!r} is not snake_case, or is reserved"
            )
            self._reject(outcome, topic, payload, now, bad_name)
        elif not math.isfinite(value):
            bad_value = RejectedInputError("non_finite", f"{metric} = {value!r}")
            self._reject(outcome, topic, payload, now, bad_value)
        elif obj.seq is None and self.sequences.check_unsequenced(key, ts, metric) == "duplicate":
            outcome.duplicates += 1
        else:
            if metric not in self._good_metrics and len(self._good_metrics) < 100_000:
                self._good_metrics.add(metric)
            self._buffer.append(Reading(tenant, device_id, ts, metric, value, obj.seq))
            outcome.accepted += 1

    def refuse_reading(self, reading: Reading, reason: str, exc: Exception, now: float) -> None:
        """Dead-letter one reading that was accepted but could not be kept (the store
        refused it), under ``reason``, as a one-reading JSON payload on its topic."""
        topic = f"{self._prefix}/{reading.tenant}/{reading.device_id}/telemetry"
        record = {"ts": reading.ts, "seq": reading.seq, "values": {reading.metric: reading.value}}
        payload = json.dumps(record, default=str).encode()
        detail = f"{type(exc).__name__}: {exc}"
        refusal = RejectedInputError(reason, detail)
        self._reject(MessageOutcome(), topic, payload, now, refusal, reading.tenant)

    def _reject(
        self,
        outcome: MessageOutcome,
        topic: str,
        payload: bytes,
        now: float,
        exc: RejectedInputError,
        tenant: str | None = None,
    ) -> None:
        outcome.rejected.append(exc.reason)
        self.metrics.rejected.labels(reason=exc.reason).inc()
        parsed = (tenant, "", "", "") if tenant is not None else self._topics.get(topic)
        self._deadletter.add(
            received_at=now,
            topic=topic,
            reason=exc.reason,
            detail=exc.detail,
            payload=payload,
            tenant=parsed[0] if isinstance(parsed, tuple) else None,
        )


def _raw_objects(payload: bytes) -> list[Any]:
    """The payload's objects as plain JSON, for the signature check (which signs them as
    sent). NaN/Infinity literals, which orjson refuses, are read by the json module."""
    try:
        raw: Any = orjson.loads(payload)
    except orjson.JSONDecodeError:
        try:
            raw = json.loads(payload)
        except (ValueError, RecursionError) as exc:
            raise RejectedInputError("malformed", f"not JSON: {exc}"[:200]) from None
    return raw if isinstance(raw, list) else [raw]
