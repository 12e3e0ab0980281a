"""Signatures of webhook deliveries: HMAC-SHA256 over the timestamp and the body.

A delivery carries ``X-Riskstream-Timestamp`` (epoch seconds, an integer) and
``X-Riskstream-Signature: v1=HEX``, where HEX is the HMAC-SHA256, keyed with the
endpoint's secret, of ``TIMESTAMP.BODY`` (the timestamp's digits, a full stop, then the
exact bytes of the body). A receiver recomputes it and refuses a timestamp too far from
its clock, so that a recorded delivery cannot be replayed later.
"""

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Riskstream-Timestamp"
SIGNATURE_HEADER = "X-Riskstream-Signature"
DELIVERY_HEADER = "X-Riskstream-Delivery"
EVENT_HEADER = "X-Riskstream-Event"
SCHEME = "v1"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The value of the signature header for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SCHEME}={mac.hexdigest()}"


def verify(
    secret: str,
    timestamp_header: str,
    signature_header: str,
    body: bytes,
    now: float,
    *,
    tolerance_s: float = 300.0,
) -> bool:
    """Whether a delivery is authentic and fresh: what a receiver checks."""
    try:
        timestamp = int(timestamp_header)
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), signature_header.strip())
