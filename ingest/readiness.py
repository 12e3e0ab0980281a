"""Is ingest doing its job? The checks behind ``GET /readyz``, for `riskstream serve` and
for a standalone `riskstream ingest` (on its ``--metrics-port``).

Ready means: connected to the broker, the MQTT loop and the batch writer running, the
store taking writes, no fatal ingest error, and (when ``max_silence_s`` is set) a message
handled within that many seconds. Nothing here names a lender or a device.
"""

from typing import Any

from ingest.spool import SpoolingStore
from ingest.subscriber import IngestRunner


def ingest_readiness(
    runner: IngestRunner | None, max_silence_s: float | None, failure: str | None
) -> tuple[bool, dict[str, Any]]:
    """Whether ingest is ready, and a body with each check and the figures behind them."""
    if runner is None:
        return False, {"ready": False, "checks": {"ingest_started": False}}
    age = runner.last_message_age()
    checks = {
        "broker_connected": runner.connected.is_set(),
        "ingest_loop_alive": runner.loop_alive and failure is None,
        "store_writable": runner.write_failed is None,
        "messages_flowing": max_silence_s is None or age <= max_silence_s,
    }
    store = runner.store
    ready = all(checks.values())
    return ready, {
        "ready": ready,
        "checks": checks,
        "ingest_last_message_age_seconds": round(age, 3),
        "ready_max_silence_seconds": max_silence_s,
        "ingest_loop_restarts": runner.loop_restarts,
        "spool_batches": store.spooled_batches if isinstance(store, SpoolingStore) else 0,
        "store_error": runner.write_failed,
        "ingest_error": failure,
        "engine_errors": runner.sink_errors,
    }
