"""The lease loop both kinds of worker run: renew, start what was gained, stop what was
lost or is surplus, give back what stopped on its own, and hand everything back at the
end. A worker supplies how to start and how to stop one partition."""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import nats.errors
from nats.aio.client import Client

from riskstream.cluster.leases import RENEW_EVERY_S, PartitionLeases

log = logging.getLogger(__name__)

CLUSTER_ERRORS: tuple[type[Exception], ...] = (nats.errors.Error, OSError, TimeoutError)
"""What a request meets while the cluster, or the way to it, is down."""

Start = Callable[[int, asyncio.Event], Awaitable[asyncio.Task[None]]]
"""Begins working a partition; the task ends soon after the event is set, its state
saved."""


class PartitionSupervisor:
    """Keeps one worker's partitions in step with its leases."""

    def __init__(self, leases: PartitionLeases, start: Start, finish_wait_s: float) -> None:
        self.leases = leases
        self._start = start
        self._finish_wait_s = finish_wait_s
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self._stops: dict[int, asyncio.Event] = {}
        self._renewal_failing = False

    @property
    def label(self) -> str:
        return f"{self.leases.role} worker {self.leases.worker_id}"

    async def run(self, stop: asyncio.Event, nc: Client) -> None:
        """Renew until ``stop``; then hand every partition back, saving their state when
        the cluster can be reached."""
        while not stop.is_set():
            await self.step()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RENEW_EVERY_S)
        await self.hand_back_all(nc)

    async def step(self) -> None:
        """One renewal and what follows from it. A renewal that fails (the cluster is
        unreachable) is said once; the partitions pause on their own meanwhile, since
        their leases are no longer fresh."""
        try:
            changes = await self.leases.renew()
        except CLUSTER_ERRORS as exc:
            if not self._renewal_failing:
                log.warning("%s cannot renew its leases (%r); retrying", self.label, exc)
            self._renewal_failing = True
            return
        if self._renewal_failing:
            log.info("%s renewed its leases again", self.label)
        self._renewal_failing = False
        for partition in changes.lost:
            self._stops.pop(partition, None)
            task = self.tasks.pop(partition, None)
            if task is not None:
                task.cancel()
        for partition in changes.surplus:
            await self._finish_partition(partition)
            await self._release(partition)
        for partition in changes.gained:
            stop = asyncio.Event()
            try:
                self.tasks[partition] = await self._start(partition, stop)
                self._stops[partition] = stop
            except CLUSTER_ERRORS as exc:
                log.error("%s could not start partition %d (%r)", self.label, partition, exc)
                await self._release(partition)
        for partition, task in list(self.tasks.items()):
            if task.done():
                why = "cancelled" if task.cancelled() else repr(task.exception())
                log.error(
                    "%s: partition %d stopped (%s): giving it back", self.label, partition, why
                )
                self.tasks.pop(partition)
                self._stops.pop(partition, None)
                await self._release(partition)

    async def _finish_partition(self, partition: int) -> None:
        """Ask the partition to save its state and stop; cancel it if it takes too long
        (the next owner reads on from its last saved state)."""
        task = self.tasks.pop(partition, None)
        stop = self._stops.pop(partition, None)
        if task is None or stop is None:
            return
        stop.set()
        try:
            await asyncio.wait_for(task, self._finish_wait_s)
        except (TimeoutError, asyncio.CancelledError):
            pass
        except Exception as exc:  # it stopped on its own: the next owner reads on
            log.error(
                "%s: partition %d stopped with %r before it was handed back",
                self.label,
                partition,
                exc,
            )

    async def _release(self, partition: int) -> None:
        with contextlib.suppress(*CLUSTER_ERRORS):  # unreleased, the lease expires anyway
            await self.leases.release(partition)

    async def hand_back_all(self, nc: Client) -> None:
        """Stop every partition: gracefully while the cluster answers, else at once (the
        next owner reads on from the last saved state)."""
        if nc.is_connected:
            for partition in sorted(self.tasks):
                await self._finish_partition(partition)
            with contextlib.suppress(*CLUSTER_ERRORS):
                await self.leases.release_all()
        else:
            log.warning(
                "%s stops without the cluster: partitions %s not saved on the way out; "
                "their next owners read on from the last saved state",
                self.label,
                sorted(self.tasks),
            )
        for task in self.tasks.values():
            task.cancel()
        self.tasks.clear()
        self._stops.clear()


async def close_quietly(nc: Client) -> None:
    """Close a connection whose server may be gone."""
    with contextlib.suppress(*CLUSTER_ERRORS, asyncio.CancelledError):
        await nc.close()
