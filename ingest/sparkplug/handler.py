"""From a Sparkplug B message to telemetry objects of registered devices.

`SparkplugHandler.handle` parses the topic, finds the lender by the group
(`devices.sparkplug.SparkplugMap`), decodes the payload, runs the edge node's session
(`ingest.sparkplug.session`) and resolves each metric: its name (from the message or
from the alias its birth certificate defined), its riskstream device and metric name,
its value and its timestamp (the metric's, else the payload's, in ms). What it cannot
take it returns as `RejectedInputError`s, one per metric, or raises for the whole
message; the pipeline counts and dead-letters them. Rebirth requests (NCMD) wait in
`commands` for the MQTT client to publish.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from devices.errors import TopicError
from devices.sparkplug.mapping import Binding, SparkplugMap
from devices.sparkplug.sparkplug_b_pb2 import Payload
from devices.sparkplug.topic import (
    BDSEQ_METRIC,
    SparkplugTopic,
    format_sparkplug_topic,
    parse_sparkplug_topic,
)
from ingest.codec import DecodedObject
from ingest.errors import RejectedInputError
from ingest.sparkplug.codec import Metric, decode_sparkplug, metric_value, rebirth_request
from ingest.sparkplug.session import NODE, DeviceState, EdgeSession, Verdict
from ingest.sparkplug.session_store import SessionChange, devices_json

REBIRTH_EVERY_S = 5.0
"""Ask one edge node for a rebirth at most this often (wall seconds)."""
MAX_SESSIONS = 100_000
MAX_PENDING_COMMANDS = 10_000
MAX_DEVICES_PER_NODE = 10_000
TOPIC_CACHE_SIZE = 100_000
RESERVED_PREFIXES = ("Node Control/", "Properties/", "Device Control/")

Item = tuple[Binding, DecodedObject] | RejectedInputError


@dataclass
class SparkplugResult:
    """What one Sparkplug message gave.

    Attributes:
        items: telemetry objects of bound devices, and per-metric refusals.
        duplicate: the message repeats the last ``seq`` (a QoS 1 redelivery).
        status: (tenant, device_id, ``online`` | ``offline``) changes from births and deaths.
        ignored: metrics of a type riskstream does not read (text, datasets, …).
    """

    items: list[Item] = field(default_factory=list)
    duplicate: bool = False
    status: list[tuple[str, str, str]] = field(default_factory=list)
    ignored: int = 0


def _bd_seq(metrics: Iterable[Metric]) -> int | None:
    for metric in metrics:
        if metric.name == BDSEQ_METRIC and metric.WhichOneof("value") in (
            "long_value",
            "int_value",
        ):
            return int(getattr(metric, metric.WhichOneof("value")))
    return None


def _bound_edges(mapping: SparkplugMap) -> frozenset[tuple[str, str]]:
    return frozenset((group, edge) for group, edge, _ in mapping.bindings)


class SparkplugHandler:
    """Keeps the session of every edge node the fleets bind (and of no other, so what a
    stranger sends costs no memory); never raises but `RejectedInputError`."""

    def __init__(self, mapping: SparkplugMap, max_payload_bytes: int) -> None:
        self.map = mapping
        self._edges = _bound_edges(mapping)
        self.max_payload_bytes = max_payload_bytes
        self.sessions: dict[tuple[str, str], EdgeSession] = {}
        self.commands: list[tuple[str, bytes]] = []
        self.commands_dropped = 0
        self._topics: dict[str, SparkplugTopic | TopicError] = {}
        self._changed: set[tuple[str, str]] = set()
        self._reborn: set[tuple[str, str]] = set()

    def restore(self, sessions: dict[tuple[str, str], EdgeSession]) -> None:
        """Take sessions read back from disk (`ingest.sparkplug.session_store`)."""
        for key, session in sessions.items():
            if key in self._edges:
                self.sessions[key] = session

    def restored_devices(self) -> list[tuple[str, str]]:
        """(tenant, device id) of every bound device in the sessions read back from disk."""
        found = []
        for (group, edge), session in self.sessions.items():
            if not session.restored:
                continue
            for device in session.devices:
                binding = self.map.bindings.get((group, edge, device or None))
                if binding is not None:
                    found.append((binding.tenant, binding.device_id))
        return found

    def changes(self) -> list[SessionChange]:
        """What changed in the sessions since the last call, to save with the readings."""
        changes = []
        for key in self._changed:
            session = self.sessions.get(key)
            if session is None:
                continue
            devices = devices_json(session) if key in self._reborn else None
            changes.append(
                SessionChange(key[0], key[1], session.bd_seq, session.seq, session.alive, devices)
            )
        self._changed.clear()
        self._reborn.clear()
        return changes

    @property
    def bound_edges(self) -> frozenset[tuple[str, str]]:
        """The (group, edge node) pairs the fleets bind."""
        return self._edges

    def set_map(self, mapping: SparkplugMap) -> None:
        """Replace the bindings (the registry changed); sessions go on."""
        self.map = mapping
        self._edges = _bound_edges(mapping)

    def tenant_of(self, topic: str) -> str | None:
        """The lender whose group a Sparkplug topic names, if any (for dead letters)."""
        parsed = self._topic(topic)
        return None if isinstance(parsed, TopicError) else self.map.groups.get(parsed.group)

    def _topic(self, topic: str) -> SparkplugTopic | TopicError:
        parsed = self._topics.get(topic)
        if parsed is None:
            try:
                parsed = parse_sparkplug_topic(topic)
            except TopicError as exc:
                parsed = exc
            if len(self._topics) >= TOPIC_CACHE_SIZE:
                self._topics.clear()
            self._topics[topic] = parsed
        return parsed

    def drain_commands(self) -> list[tuple[str, bytes]]:
        """Take the (topic, payload) commands to publish (rebirth requests)."""
        commands, self.commands = self.commands, []
        return commands

    def _session(self, group: str, edge: str) -> EdgeSession:
        session = self.sessions.get((group, edge))
        if session is None:
            if len(self.sessions) >= MAX_SESSIONS:
                raise RejectedInputError(
                    "too_many_edge_nodes", f"more than {MAX_SESSIONS:,} Sparkplug edge nodes"
                )
            session = self.sessions[(group, edge)] = EdgeSession()
        return session

    def _ask_rebirth(self, session: EdgeSession, group: str, edge: str, now: float) -> None:
        if not session.may_ask_rebirth(now, REBIRTH_EVERY_S):
            return
        if len(self.commands) >= MAX_PENDING_COMMANDS:
            self.commands_dropped += 1
            return
        self.commands.append((format_sparkplug_topic(group, "NCMD", edge), rebirth_request(now)))

    def handle(self, topic: str, payload: bytes, now: float) -> SparkplugResult:
        """Take one message received at wall time ``now``."""
        parsed = self._topic(topic)
        if isinstance(parsed, TopicError):
            raise RejectedInputError("bad_topic", str(parsed))
        result = SparkplugResult()
        kind = parsed.message_type
        if kind in ("NCMD", "DCMD"):
            return result  # commands to edge nodes (our own rebirth requests among them)
        group, edge = parsed.group, parsed.edge
        tenant = self.map.groups.get(group)
        if tenant is None:
            raise RejectedInputError(
                "unknown_device", f"Sparkplug group {group!r} is not registered by any lender"
            )
        if (group, edge) not in self._edges:  # no state is kept for what nobody registered
            raise RejectedInputError(
                "unknown_device",
                f"edge node {edge[:80]!r} of group {group!r} is bound to no registered device",
            )
        message = decode_sparkplug(payload, self.max_payload_bytes)
        session = self._session(group, edge)
        self._changed.add((group, edge))
        if kind not in ("NDATA", "DDATA"):
            self._reborn.add((group, edge))
        seq = message.seq if message.HasField("seq") else None
        if kind == "NBIRTH":
            if seq is None:
                raise RejectedInputError("bad_schema", "NBIRTH without seq")
            state = session.birth(_bd_seq(message.metrics), seq)
            self._metrics(result, message, state, group, edge, None, birth=True)
            return result
        if kind == "NDEATH":
            bd_seq = _bd_seq(message.metrics)
            if not session.matches_death(bd_seq):
                raise RejectedInputError(
                    "sparkplug_stale_death",
                    f"NDEATH bdSeq {bd_seq} does not end the session of bdSeq {session.bd_seq}",
                )
            for born in session.end():
                self._status(result, group, edge, born, "offline")
            self._status(result, group, edge, None, "offline")
            return result
        was_alive = session.alive
        verdict = session.step(seq)
        if verdict is Verdict.DUPLICATE:
            result.duplicate = True
            return result
        if verdict is Verdict.REBIRTH:
            self._reborn.add((group, edge))
            self._ask_rebirth(session, group, edge, now)
            if not was_alive:
                raise RejectedInputError(
                    "sparkplug_no_birth", f"{kind} of edge node {edge!r} before its NBIRTH"
                )
            raise RejectedInputError(
                "sparkplug_seq_gap",
                f"{kind} seq {seq} after {session.seq}: messages lost; rebirth requested",
            )
        device = parsed.device
        if kind == "DBIRTH":
            assert device is not None
            if (group, edge, device) not in self.map.bindings:
                raise RejectedInputError(
                    "unknown_device",
                    f"device {device[:80]!r} of edge node {edge!r} is bound to no registered "
                    "device",
                )
            if device not in session.devices and len(session.devices) > MAX_DEVICES_PER_NODE:
                raise RejectedInputError(
                    "too_many_devices", f"more than {MAX_DEVICES_PER_NODE:,} devices on {edge!r}"
                )
            state = session.devices[device] = DeviceState()
            self._metrics(result, message, state, group, edge, device, birth=True)
        elif kind == "DDEATH":
            assert device is not None
            session.devices.pop(device, None)
            self._status(result, group, edge, device, "offline")
        else:
            found = session.devices.get(device or NODE)
            if found is None:
                self._ask_rebirth(session, group, edge, now)
                raise RejectedInputError(
                    "sparkplug_no_birth", f"DDATA of device {device!r} before its DBIRTH"
                )
            self._metrics(result, message, found, group, edge, device, birth=False)
        return result

    def _status(
        self, result: SparkplugResult, group: str, edge: str, device: str | None, status: str
    ) -> None:
        binding = self.map.bindings.get((group, edge, device))
        if binding is not None:
            result.status.append((binding.tenant, binding.device_id, status))

    def _metrics(
        self,
        result: SparkplugResult,
        message: Payload,
        state: DeviceState,
        group: str,
        edge: str,
        device: str | None,
        *,
        birth: bool,
    ) -> None:
        binding = self.map.bindings.get((group, edge, device))
        if birth:
            self._status(result, group, edge, device, "online")
        payload_ts = message.timestamp if message.HasField("timestamp") else None
        by_ts: dict[float, dict[str, float]] = {}
        unbound = 0
        for metric in message.metrics:
            name = self._name(metric, state, birth)
            if name is None:
                result.items.append(
                    RejectedInputError("unknown_alias", f"alias {metric.alias} has no birth name")
                )
                continue
            if name == BDSEQ_METRIC or name.startswith(RESERVED_PREFIXES) or metric.is_null:
                continue
            if binding is None:
                unbound += 1
                continue
            target = binding.metric_name(name)
            if target is None:
                result.items.append(
                    RejectedInputError(
                        "unmapped_metric", f"{name[:80]!r} of {binding.device_id} is not mapped"
                    )
                )
                continue
            datatype = (
                metric.datatype if metric.HasField("datatype") else state.datatypes.get(name, 0)
            )
            try:
                value = metric_value(metric, datatype)
            except RejectedInputError as exc:
                if exc.reason == "sparkplug_ignored_type":
                    result.ignored += 1
                else:
                    result.items.append(exc)
                continue
            ts_ms = metric.timestamp if metric.HasField("timestamp") else payload_ts
            if ts_ms is None:
                result.items.append(
                    RejectedInputError("bad_timestamp", f"{name[:80]!r} has no timestamp")
                )
                continue
            by_ts.setdefault(ts_ms / 1000.0, {})[target] = value
        if unbound:
            where = f"edge node {edge!r}" + (f" device {device!r}" if device else "")
            result.items.append(
                RejectedInputError(
                    "unknown_device",
                    f"{where} of group {group!r} is bound to no registered device "
                    f"({unbound} metrics)",
                )
            )
        if binding is not None:
            for ts, values in by_ts.items():
                result.items.append((binding, DecodedObject(ts, values)))

    @staticmethod
    def _name(metric: Metric, state: DeviceState, birth: bool) -> str | None:
        if metric.HasField("name"):
            name: str = metric.name
            if birth:
                if metric.HasField("alias"):
                    state.aliases[metric.alias] = name
                if metric.HasField("datatype"):
                    state.datatypes[name] = metric.datatype
            return name
        if metric.HasField("alias"):
            return state.aliases.get(metric.alias)
        return None
