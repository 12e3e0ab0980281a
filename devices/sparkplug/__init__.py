"""Sparkplug B, the MQTT payload and topic namespace of industrial gateways (Eclipse
Sparkplug 3.0.0): what both sides need, so the simulator (a device) and ingest speak it alike.

- `sparkplug_b.proto` and its generated module `sparkplug_b_pb2` (the `Payload` message);
- `devices.sparkplug.topic`: the ``spBv1.0/{group}/{type}/{edge}[/{device}]`` grammar;
- `devices.sparkplug.datatypes`: the metric datatypes riskstream reads as numbers;
- `devices.sparkplug.mapping`: a fleet's (group, edge, device, metric) → device and metric.
"""

from devices.sparkplug.datatypes import NUMERIC_TYPES, DataType
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
    "SparkplugMap",
    "SparkplugTopic",
    "format_sparkplug_topic",
    "parse_sparkplug_topic",
    "sparkplug_map",
    "sparkplug_subscriptions",
]
