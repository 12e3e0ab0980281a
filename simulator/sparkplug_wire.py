"""Simulated devices as Sparkplug B edge nodes: births, data by alias, seq, deaths.

Each registered device publishes as the Sparkplug device its fleet file binds it to
(`devices.sparkplug.sparkplug_map`; by default device {device id} of edge node
{site id} in the lender's group). Per edge node: an NBIRTH (``bdSeq``, ``Node
Control/Rebirth``) before its first message; a DBIRTH before a device's first report,
naming each metric with its alias and datatype (Double); DDATA by alias only, each
metric with its timestamp (ms); one ``seq`` counter (0–255, wrapping) across the node
and its devices; a DDEATH when a device goes offline and an NDEATH (with the session's
``bdSeq``) at the end, which `simulator.sparkplug_wills` also registers as each
node's MQTT will before its birth. Forged messages are not sent: Sparkplug carries no signature.
Metrics a device sends that its birth did not name go by name. An NCMD
``Node Control/Rebirth`` request (`SparkplugPacker.take_command`, fed by the publisher's
subscription) makes the node born again before its next message, and so does the
primary host's STATE coming back online (`simulator.sparkplug_host`).
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError

from devices.errors import TopicError
from devices.sparkplug.datatypes import DataType
from devices.sparkplug.mapping import SparkplugMap
from devices.sparkplug.sparkplug_b_pb2 import Payload
from devices.sparkplug.topic import (
    BDSEQ_METRIC,
    NAMESPACE,
    REBIRTH_METRIC,
    MessageType,
    format_sparkplug_topic,
    parse_sparkplug_topic,
)
from simulator.message import Message
from simulator.wire import Packet

__all__ = ["SparkplugPacker"]


@dataclass
class _Node:
    """An edge node's session as its publisher keeps it."""

    bd_seq: int
    seq: int = 0
    aliases: dict[tuple[str, str], int] = field(default_factory=dict)
    born: set[str] = field(default_factory=set)
    last: dict[str, dict[str, float]] = field(default_factory=dict)
    """Each born device's latest value of every metric (Sparkplug names), for a rebirth."""

    def next_seq(self) -> int:
        self.seq = (self.seq + 1) % 256
        return self.seq


class SparkplugPacker:
    """Turns one lender's messages into Sparkplug B packets."""

    def __init__(self, tenant: str, mapping: SparkplugMap, bd_seq: int = 0) -> None:
        """Pack for ``tenant`` as its fleet's ``mapping`` binds its devices."""
        self.tenant = tenant
        self.bd_seq = bd_seq
        self.skipped = 0
        """Messages not sent: forged ones, and those of devices bound to no address."""
        self._address: dict[str, tuple[str, str, str | None, dict[str, str]]] = {}
        for (group, edge, device), binding in mapping.bindings.items():
            if binding.tenant != tenant or binding.device_id in self._address:
                continue
            names = {v: k for k, v in (binding.metrics or {}).items()}
            self._address[binding.device_id] = (group, edge, device, names)
        self._nodes: dict[tuple[str, str], _Node] = {}
        self._rebirths: set[tuple[str, str]] = set()
        self.rebirths = 0
        """Rebirths sent on request."""

    def rebirth_all(self) -> None:
        """Every edge node born so far is born again before its next message."""
        self._rebirths.update(self._nodes)

    def command_topics(self) -> list[str]:
        """The NCMD topics of this lender's edge nodes (to subscribe to)."""
        groups = sorted({group for group, _, _, _ in self._address.values()})
        return [f"{NAMESPACE}/{group}/NCMD/+" for group in groups]

    def take_command(self, topic: str, payload: bytes) -> None:
        """Note an NCMD; a ``Node Control/Rebirth`` = true makes the node born again
        before its next message. Anything else, or what cannot be read, is passed over."""
        try:
            parsed = parse_sparkplug_topic(topic)
            command = Payload.FromString(payload)
        except (TopicError, DecodeError):
            return
        if parsed.message_type != "NCMD":
            return
        if any(m.name == REBIRTH_METRIC and m.boolean_value for m in command.metrics):
            self._rebirths.add((parsed.group, parsed.edge))

    def _birth(self, group: str, edge: str, ts: float) -> tuple[_Node, Packet]:
        node = self._nodes[(group, edge)] = _Node(self.bd_seq)
        ms = round(ts * 1000)
        payload = Payload(timestamp=ms, seq=0)
        payload.metrics.add(
            name=BDSEQ_METRIC, timestamp=ms, datatype=DataType.UINT64, long_value=node.bd_seq
        )
        payload.metrics.add(
            name=REBIRTH_METRIC, timestamp=ms, datatype=DataType.BOOLEAN, boolean_value=False
        )
        topic = format_sparkplug_topic(group, "NBIRTH", edge)
        return node, Packet(topic, payload.SerializeToString(), False, 0, ts)

    def packets(self, messages: Iterable[Message]) -> Iterator[Packet]:
        """The packets of ``messages`` in send order, then every edge node's NDEATH."""
        clock = float("-inf")
        for m in messages:
            clock = max(clock, m.ts)
            if self._rebirths:
                yield from self._reborn(clock)
            found = self._address.get(m.device_id)
            if found is None or m.kind == "forged":
                self.skipped += 1
                continue
            group, edge, device, names = found
            node = self._nodes.get((group, edge))
            if node is None:
                node, packet = self._birth(group, edge, clock)
                yield packet
            key = device or ""
            if m.kind == "online":
                continue
            if m.kind == "offline":
                if device is not None and key in node.born:
                    node.born.discard(key)
                    payload = Payload(timestamp=round(m.ts * 1000), seq=node.next_seq())
                    topic = format_sparkplug_topic(group, "DDEATH", edge, device)
                    yield Packet(topic, payload.SerializeToString(), False, 0, clock)
                continue
            ms = round(m.ts * 1000)
            if device is not None and key not in node.born:
                node.born.add(key)
                yield self._device_birth(node, group, edge, device, names, m, ms, clock)
                continue  # the birth carries this report's values
            payload = Payload(timestamp=ms, seq=node.next_seq())
            last = node.last.setdefault(key, {})
            for metric, value in m.values.items():
                name = names.get(metric, metric)
                last[name] = value
                alias = node.aliases.get((key, name))
                if alias is None:
                    payload.metrics.add(
                        name=name, timestamp=ms, datatype=DataType.DOUBLE, double_value=value
                    )
                else:
                    payload.metrics.add(alias=alias, timestamp=ms, double_value=value)
            kind: MessageType = "NDATA" if device is None else "DDATA"
            topic = format_sparkplug_topic(group, kind, edge, device)
            yield Packet(topic, payload.SerializeToString(), False, len(m.values), clock)
        yield from self.deaths(clock)

    def _device_birth(
        self,
        node: _Node,
        group: str,
        edge: str,
        device: str,
        names: dict[str, str],
        m: Message,
        ms: int,
        clock: float,
    ) -> Packet:
        payload = Payload(timestamp=ms, seq=node.next_seq())
        last = node.last.setdefault(device, {})
        for metric, value in m.values.items():
            name = names.get(metric, metric)
            last[name] = value
            alias = node.aliases.setdefault((device, name), len(node.aliases) + 1)
            payload.metrics.add(
                name=name, alias=alias, timestamp=ms, datatype=DataType.DOUBLE, double_value=value
            )
        topic = format_sparkplug_topic(group, "DBIRTH", edge, device)
        return Packet(topic, payload.SerializeToString(), False, len(m.values), clock)

    def _reborn(self, ts: float) -> Iterator[Packet]:
        """The NBIRTH and DBIRTHs of each node that asked for a rebirth: the same
        ``bdSeq`` (the same connection), ``seq`` from 0, every alias and latest value."""
        ms = round(ts * 1000)
        for group, edge in sorted(self._rebirths):
            node = self._nodes.get((group, edge))
            if node is None:
                continue  # not born yet: its first message brings its birth
            born, last = node.born, node.last
            _, packet = self._birth(group, edge, ts)
            fresh = self._nodes[(group, edge)]
            fresh.aliases, fresh.born, fresh.last = node.aliases, born, last
            self.rebirths += 1
            yield packet
            for device in sorted(born):
                payload = Payload(timestamp=ms, seq=fresh.next_seq())
                for name, value in last.get(device, {}).items():
                    alias = fresh.aliases.setdefault((device, name), len(fresh.aliases) + 1)
                    payload.metrics.add(
                        name=name,
                        alias=alias,
                        timestamp=ms,
                        datatype=DataType.DOUBLE,
                        double_value=value,
                    )
                topic = format_sparkplug_topic(group, "DBIRTH", edge, device)
                yield Packet(topic, payload.SerializeToString(), False, 0, ts)
        self._rebirths.clear()

    def _death(self, group: str, edge: str, bd_seq: int, ts: float) -> Packet:
        payload = Payload(timestamp=round(ts * 1000))
        payload.metrics.add(name=BDSEQ_METRIC, datatype=DataType.UINT64, long_value=bd_seq)
        topic = format_sparkplug_topic(group, "NDEATH", edge)
        return Packet(topic, payload.SerializeToString(), False, 0, ts)

    def deaths(self, ts: float) -> Iterator[Packet]:
        """Every edge node's NDEATH, with its session's ``bdSeq`` (what its will says)."""
        for (group, edge), node in self._nodes.items():
            yield self._death(group, edge, node.bd_seq, ts)
        self._nodes.clear()

    def wills(self, ts: float) -> list[tuple[str, str, bytes]]:
        """(client id = edge node id, topic, payload) of every edge node's NDEATH, to
        register as MQTT wills before the births (`simulator.sparkplug_wills`)."""
        edges = sorted({(group, edge) for group, edge, _, _ in self._address.values()})
        wills = []
        for group, edge in edges:
            death = self._death(group, edge, self.bd_seq, ts)
            wills.append((edge, death.topic, death.payload))
        return wills
