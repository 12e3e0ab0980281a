"""Sparkplug B, the MQTT payload and topic namespace of industrial gateways (Eclipse
Sparkplug 3.0.0): what both sides need, so the simulator (a device) and ingest speak it alike.

- `sparkplug_b.proto` and its generated module `sparkplug_b_pb2` (the `Payload` message);
- `devices.sparkplug.topic`: the ``spBv1.0/{group}/{type}/{edge}[/{device}]`` grammar;
- `devices.sparkplug.datatypes`: the metric datatypes riskstream reads as numbers;
- `devices.sparkplug.mapping`: a fleet's (group, edge, device, metric) → device and metric;
- `devices.sparkplug.host_state`: the Primary Host Application's ``spBv1.0/STATE/{host}``.
"""

from devices.sparkplug.datatypes import NUMERIC_TYPES, DataType
from devices.sparkplug.host_state import HostState, parse_state, state_topic
from devices.sparkplug.mapping import Binding, SparkplugMap, sparkplug_map
from devices.sparkplug.topic import (
    NAMESPACE,
    REBIRTH_METRIC,
    SparkplugTopic,
    format_sparkplug_topic,
    parse_sparkplug_topic,
    sparkplug_subscriptions,
)

__all__ = [
    "NAMESPACE",
    "NUMERIC_TYPES",
    "REBIRTH_METRIC",
    "Binding",
    "DataType",
    "HostState",
    "SparkplugMap",
    "SparkplugTopic",
    "format_sparkplug_topic",
    "parse_sparkplug_topic",
    "parse_state",
    "sparkplug_map",
    "sparkplug_subscriptions",
    "state_topic",
]
