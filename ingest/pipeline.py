"""From (topic, payload) to validated readings, refusing bad input with a reason.

`IngestPipeline.handle` never raises on bad input: it counts the refusal under its
reason, keeps it in the dead-letter store and goes on, so one broken device never
stops the others. Accepted readings wait in a buffer until `drain` hands them to the
writer as one batch.
"""

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from devices.errors import TopicError
from devices.reading import Reading
from devices.topics import DEFAULT_PREFIX, parse_topic
from ingest.codec import MAX_PAYLOAD_BYTES, decode_payload, event_time
from ingest.deadletter import DeadLetterStore
from ingest.errors import RejectedInputError
from ingest.metrics import IngestMetrics

METRIC_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_FUTURE_SKEW_S = 300.0


@dataclass
class MessageOutcome:
    """What became of one message: readings accepted and refusals by reason."""

    accepted: int = 0
    rejected: list[str] = field(default_factory=list)


class IngestPipeline:
    """Validates messages from registered devices and buffers the accepted readings."""

    def __init__(
        self,
        known_devices: Iterable[tuple[str, str]],
        deadletter: DeadLetterStore,
        metrics: IngestMetrics,
        *,
        prefix: str = DEFAULT_PREFIX,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
        max_future_skew_s: float = MAX_FUTURE_SKEW_S,
    ) -> None:
        self._known = set(known_devices)
        self._deadletter = deadletter
        self.metrics = metrics
        self._prefix = prefix
        self._max_payload_bytes = max_payload_bytes
        self._max_future_skew_s = max_future_skew_s
        self._buffer: list[Reading] = []
        self.status: dict[tuple[str, str], str] = {}

    def set_known_devices(self, known_devices: Iterable[tuple[str, str]]) -> None:
        """Replace the set of (tenant, device_id) allowed to publish."""
        self._known = set(known_devices)

    @property
    def buffered(self) -> int:
        """Readings accepted and not yet drained."""
        return len(self._buffer)

    def drain(self) -> list[Reading]:
        """Take the buffered readings (the next batch)."""
        batch, self._buffer = self._buffer, []
        return batch

    def handle(self, topic: str, payload: bytes, now: float) -> MessageOutcome:
        """Validate one MQTT message received at wall time ``now``."""
        self.metrics.received.inc()
        outcome = MessageOutcome()
        try:
            parsed = parse_topic(topic, self._prefix)
        except TopicError as exc:
            self._reject(outcome, topic, payload, now, RejectedInputError("bad_topic", str(exc)))
            return outcome
        key = (parsed.tenant, parsed.device_id)
        if key not in self._known:
            detail = f"device {parsed.device_id!r} is not registered for tenant {parsed.tenant!r}"
            self._reject(outcome, topic, payload, now, RejectedInputError("unknown_device", detail))
            return outcome
        if parsed.kind == "status":
            self.status[key] = payload[:32].decode("utf-8", "replace")
            return outcome
        try:
            objects = decode_payload(payload, self._max_payload_bytes)
        except RejectedInputError as exc:
            self._reject(outcome, topic, payload, now, exc)
            return outcome
        for obj in objects:
            try:
                ts = event_time(obj.ts)
                if ts > now + self._max_future_skew_s:
                    raise RejectedInputError(
                        "future_timestamp",
                        f"ts {ts:.3f} is {ts - now:.0f} s ahead of the receiver's clock",
                    )
            except RejectedInputError as exc:
                self._reject(outcome, topic, payload, now, exc)
                continue
            for metric, value in obj.values.items():
                if not METRIC_NAME.match(metric):
                    bad_name = RejectedInputError(
                        "bad_metric", f"metric name {metric!r} is not snake_case"
                    )
                    self._reject(outcome, topic, payload, now, bad_name)
                elif not math.isfinite(value):
                    bad_value = RejectedInputError("non_finite", f"{metric} = {value!r}")
                    self._reject(outcome, topic, payload, now, bad_value)
                else:
                    reading = Reading(parsed.tenant, parsed.device_id, ts, metric, value, obj.seq)
                    self._buffer.append(reading)
                    outcome.accepted += 1
        self.metrics.accepted.inc(outcome.accepted)
        return outcome

    def _reject(
        self,
        outcome: MessageOutcome,
        topic: str,
        payload: bytes,
        now: float,
        exc: RejectedInputError,
    ) -> None:
        outcome.rejected.append(exc.reason)
        self.metrics.rejected.labels(reason=exc.reason).inc()
        self._deadletter.add(
            received_at=now, topic=topic, reason=exc.reason, detail=exc.detail, payload=payload
        )
