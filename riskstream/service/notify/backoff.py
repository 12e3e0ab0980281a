"""When a failed delivery is tried again: exponential back-off with jitter, capped."""

import random


def retry_delay(attempts: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt (1 for the first).

    The ceiling doubles with each attempt from ``base_s`` up to ``cap_s``; the delay is
    drawn between half the ceiling and the ceiling ("equal jitter"), so receivers that
    failed together are not all retried at the same instant, and none sooner than half.
    """
    ceiling = min(cap_s, base_s * 2.0 ** max(attempts - 1, 0))
    return ceiling / 2 + rng.uniform(0.0, ceiling / 2)
