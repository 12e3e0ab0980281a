"""Keyed hashes of the facts that identify pledged goods, as the cross-lender matcher sees them.

The platform hashes each lender's facts with its own secret (`riskstream.engine.platform_key`)
so that the matcher holds no serial, tag, place, weight or id in the clear, and a lender,
who lacks the key, cannot compute or test the hashes. Every hash is HMAC-SHA256 over the
fact's kind and value, cut to `DIGEST_BYTES` (a chance collision of two different facts
is about 2⁻¹²⁸ per pair).

Facts:

- a device serial (trimmed, upper case);
- an RFID tag (trimmed, upper case);
- a site's location cell: the earth cut into cells of `CELL_M` × `CELL_M` metres (north
  by east; the east scale is that of the middle of the site's whole degree of latitude).
  A lot gives its own cell and the 3 × 3 cells around it: two places within `CELL_M`
  metres of each other north and east (±2 % for the east scale) always share a cell
  with the other's neighbourhood; two places more than 2·`CELL_M` apart north or east
  never do, so a match means within 2·√2·`CELL_M` ≈ 141 m. Across a whole degree of
  latitude the east scale changes and two places 50 m apart may not match (about one
  site in 1,100 lies within 50 m of such a line).
- a weight change: the event-time bucket it happened in and its size as a signed number
  of steps on a logarithmic scale (each step a few per cent of the size, see
  `riskstream.engine.platform_match`); a change gives its own token and the 3 × 3 tokens
  one bucket and one step around it, so the same change weighed by two lenders' cells
  matches however the rounding falls.
"""

import hashlib
import hmac
import math
from dataclasses import dataclass

DIGEST_BYTES = 16
CELL_M = 50.0
M_PER_DEG_LAT = 111_320.0

Token = bytes
"""A keyed hash of one fact."""


@dataclass(frozen=True, slots=True)
class Near:
    """A fact's own token and the tokens of its neighbourhood (itself included)."""

    own: Token
    around: frozenset[Token]


class FactHasher:
    """Hashes identifying facts with the platform key; holds nothing else."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the platform key must have at least 16 bytes")
        self._key = key

    def __getstate__(self) -> None:
        raise TypeError("the platform key is never pickled into a checkpoint")

    def _token(self, *parts: object) -> Token:
        text = "\x1f".join(str(p) for p in parts).encode()
        return hmac.new(self._key, text, hashlib.sha256).digest()[:DIGEST_BYTES]

    def handle(self, kind: str, *ids: str) -> str:
        """An opaque, stable handle for a lender (``kind`` "lender") or a lot."""
        return self._token("handle", kind, *ids).hex()

    def serial(self, serial: str) -> Token:
        """The token of a device serial."""
        return self._token("serial", serial.strip().upper())

    def tag(self, tag: str) -> Token:
        """The token of an RFID tag."""
        return self._token("tag", tag.strip().upper())

    def place(self, lat: float, lon: float) -> Near:
        """The location cell of (``lat``, ``lon``) and the 3 × 3 cells around it."""
        band = math.floor(lat)
        east_m_per_deg = M_PER_DEG_LAT * math.cos(math.radians(band + 0.5))
        north, east = lat * M_PER_DEG_LAT / CELL_M, lon * east_m_per_deg / CELL_M
        row, col = math.floor(north), math.floor(east)
        around = frozenset(
            self._token("cell", band, row + dy, col + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
        )
        return Near(self._token("cell", band, row, col), around)

    def weight_change(self, bucket: int, steps: int) -> Near:
        """A weight change of ``steps`` rounding steps in event-time bucket ``bucket``, and
        the changes one bucket and one step around it."""
        around = frozenset(
            self._token("change", bucket + db, steps + ds) for db in (-1, 0, 1) for ds in (-1, 0, 1)
        )
        return Near(self._token("change", bucket, steps), around)
