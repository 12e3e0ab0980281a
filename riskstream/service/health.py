"""Is the service alive, and is it doing its job? (``GET /healthz`` and ``GET /readyz``)

Both answer without a login and say nothing about any lender: a load balancer, a
supervisor or Kubernetes probes them. ``/healthz`` is the process answering at all;
``/readyz`` is `ingest.readiness.ingest_readiness` for the service's ingest, with
``ready_max_silence_s`` from the settings.
"""

from typing import Any

from ingest.readiness import ingest_readiness
from riskstream.service.runtime import Runtime


def readiness(runtime: Runtime) -> tuple[bool, dict[str, Any]]:
    """Whether the service is ready, and the checks with their figures."""
    return ingest_readiness(
        runtime.ingest, runtime.settings.ready_max_silence_s, runtime.ingest_failed
    )
