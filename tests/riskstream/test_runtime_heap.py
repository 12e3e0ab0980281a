"""The service freezes its long-lived objects out of the cycle collector's full scans,
without keeping an engine it replaced alive, and unfreezes everything when it stops."""

import gc
import weakref
from pathlib import Path

import pytest

from tests.riskstream.test_service_checkpoint import service
from tests.servers import Mosquitto


@pytest.mark.broker
async def test_the_running_service_freezes_its_heap_and_frees_a_replaced_engine(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    runtime = service(tmp_path, mosquitto.url)
    async with runtime.running():
        assert gc.get_freeze_count() > 0
        replaced = weakref.ref(runtime.engines)
        runtime.reload_fleets()  # the engine is rebuilt: the old one (a cycle) must go
        assert replaced() is None
        assert runtime.engines is not None and gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
