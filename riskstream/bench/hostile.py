"""Hostile MQTT messages for `riskstream bench fuzz`: what an attacker with one registered
device, or a broken gateway, can send.

`hostile_pool` makes a deterministic pool (from a seed) of topic/payload pairs in the
families that once stopped ingest or could: random bytes; JSON of any shape, whole or
cut short; telemetry objects with hostile values (NaN and Infinity literals, numbers of
hundreds of digits, seq of 2^63 and below zero, times in year 1 or far ahead, bad
metric names, wrong signatures); arrays and objects nested thousands deep; InfluxDB line
protocol edge cases (overflowing integers and timestamps, non-ASCII digits, strings,
escapes); oversized payloads; topics of other lenders, unknown devices and no grammar.
"""

import json
import random
from collections.abc import Callable

TENANT = "bench-bank"
POISONED = "mallory"
"""The registered device (with a secret) whose topic carries the hostile payloads."""

HOSTILE_NUMBERS = [
    # each broke, or could break, a decoder, a converter or a store
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"1e400",
    b"-1e400",
    b"9" * 400,
    b"-" + b"9" * 311,
    b"9223372036854775808",
    b"-9223372036854775809",
    b"18446744073709551616",
    b"-1",
    b"0",
    b"1.5",
    b"1e-400",
]
_TIMES = [b"-1e300", b'"0001-01-01T00:00:00+14:00"', b'"2026-13-45T99:00:00Z"', b"1e12", b"0"]
_LINE_VALUES = ["1", "1i", "t", '"s"', "nan", "inf", "1e400", "²", "١٢٣", "9" * 30 + "i", "1_0"]
_LINE_TIMES = ["", " " + "9" * 400, " ²", " -1", " x", " 99999999999999999999"]


def _random_bytes(rng: random.Random) -> bytes:
    return rng.randbytes(rng.randint(0, 300))


def _json_value(rng: random.Random, depth: int = 0) -> object:
    roll = rng.random()
    if depth > 3 or roll < 0.4:
        return rng.choice([None, True, 1, -(2**70), 1e308, "x" * rng.randint(0, 20), 0.5])
    if roll < 0.7:
        return [_json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {str(rng.randint(0, 99)): _json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def _json_any(rng: random.Random) -> bytes:
    text = json.dumps(_json_value(rng)).encode()
    return text if rng.random() < 0.5 else text[: rng.randint(0, len(text))]


def _telemetry(rng: random.Random) -> bytes:
    ts = rng.choice(_TIMES)
    seq = rng.choice(HOSTILE_NUMBERS)
    value = rng.choice(HOSTILE_NUMBERS)
    metric = rng.choice([b"weight_kg", b"Weight KG", b"seq", b"", b"a" * 200])
    sig = rng.choice([b"", b',"sig":"00"', b',"sig":1'])
    one = b'{"ts":%s,"seq":%s,"values":{"%s":%s}%s}' % (ts, seq, metric, value, sig)
    return one if rng.random() < 0.5 else b"[" + b",".join([one] * rng.randint(1, 50)) + b"]"


def _nested(rng: random.Random) -> bytes:
    depth = rng.choice([17, 100, 1001, 5000])
    if rng.random() < 0.5:
        return b"[" * depth + b"1" + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


def _line_protocol(rng: random.Random) -> bytes:
    fields = ",".join(
        f"{rng.choice(['weight_kg', 'seq', 'x', 'a b'])}={rng.choice(_LINE_VALUES)}"
        for _ in range(rng.randint(1, 3))
    )
    return f"m,device_id={rng.choice([POISONED, 'zz'])} {fields}{rng.choice(_LINE_TIMES)}".encode()


_OVERSIZED = b"[" + b"1," * 150_000 + b"1]"


def _oversized(rng: random.Random) -> bytes:
    return _OVERSIZED  # one object, however often the pool holds it


FAMILIES: dict[str, Callable[[random.Random], bytes]] = {
    "random-bytes": _random_bytes,
    "json": _json_any,
    "telemetry": _telemetry,
    "nested": _nested,
    "line-protocol": _line_protocol,
    "oversized": _oversized,
}
_OTHER_TOPICS = [
    f"rs/v1/other-bank/{POISONED}/telemetry",
    f"rs/v1/{TENANT}/ghost/telemetry",
    f"rs/v1//{POISONED}/telemetry",
    "rs/v1/+/#/telemetry",
    "garbage",
    "rs/v1/" + "x" * 300 + "/d/telemetry",
]


def hostile_pool(size: int, seed: int) -> list[tuple[str, bytes]]:
    """``size`` hostile (topic, payload) pairs, the same for the same seed."""
    rng = random.Random(seed)
    names = sorted(FAMILIES)
    pool = []
    own_topic = f"rs/v1/{TENANT}/{POISONED}/telemetry"
    for i in range(size):
        family = FAMILIES[names[i % len(names)]]
        topic = own_topic if rng.random() < 0.85 else rng.choice(_OTHER_TOPICS)
        pool.append((topic, family(rng)))
    return pool
