"""Which worker owns which partition: leases in a JetStream key-value bucket.

Every worker of a role (``risk``, ``ingest``) writes a heartbeat entry
``{role}.worker.{id}`` and one entry ``{role}.p{n}`` per partition it owns. The bucket's
entries expire `LEASE_TTL_S` after their last write, so a worker that dies loses its
heartbeat and its partitions without anyone deleting them. A lease is taken with a
create (it succeeds only when nobody holds the key) and kept with an update that names
the revision last written (compare-and-set): a worker that was too slow, and whose
partition someone else took meanwhile, learns that it lost it instead of overwriting.

Each worker holds at most its fair share, ``ceil(partitions / live workers)``; one that
holds more hands the surplus back (after saving the partitions' state), so a worker that
joins gets partitions within a renewal or two.
"""

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass, field

from nats.js.errors import BadRequestError, KeyNotFoundError, KeyWrongLastSequenceError, NoKeysError
from nats.js.kv import KeyValue

from riskstream.cluster.layout import LEASE_TTL_S

log = logging.getLogger(__name__)

FRESH_SHARE = 0.6
"""A worker works its partitions while its last renewal began less than this share of
`LEASE_TTL_S` ago."""
RENEW_EVERY_S = LEASE_TTL_S / 5


@dataclass
class LeaseChanges:
    """What one renewal found: partitions taken, lost, and to hand back."""

    gained: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    surplus: list[int] = field(default_factory=list)


class PartitionLeases:
    """The partitions one worker owns, renewed in the leases bucket."""

    def __init__(self, kv: KeyValue, role: str, worker_id: str, partitions: int) -> None:
        self.kv = kv
        self.role = role
        self.worker_id = worker_id
        self.partitions = partitions
        self.owned: dict[int, int] = {}
        """partition -> revision of our lease entry."""
        self.renewed_at = -math.inf
        """When the last renewal began (monotonic seconds)."""

    def _key(self, partition: int) -> str:
        return f"{self.role}.p{partition}"

    async def live_workers(self) -> int:
        """Workers of this role whose heartbeat has not expired (this one included)."""
        prefix = f"{self.role}.worker."
        try:
            keys = await self.kv.keys()
        except NoKeysError:
            return 1
        return max(1, sum(k.startswith(prefix) for k in keys))

    async def renew(self) -> LeaseChanges:
        """Write our heartbeat, keep our leases, take free partitions up to our share."""
        changes = LeaseChanges()
        began = time.monotonic()
        await self.kv.put(f"{self.role}.worker.{self.worker_id}", self.worker_id.encode())
        kept = await asyncio.gather(
            *(self._keep(partition, revision) for partition, revision in self.owned.items())
        )
        for partition, revision in kept:
            if revision is None:
                del self.owned[partition]
                changes.lost.append(partition)
                log.warning("%s worker %s lost partition %d", self.role, self.worker_id, partition)
            else:
                self.owned[partition] = revision
        self.renewed_at = began
        share = math.ceil(self.partitions / await self.live_workers())
        if len(self.owned) > share:
            changes.surplus = sorted(self.owned)[share:]
        for partition in range(self.partitions):
            if len(self.owned) >= share:
                break
            if partition in self.owned:
                continue
            try:
                self.owned[partition] = await self.kv.create(
                    self._key(partition), self.worker_id.encode()
                )
            except (KeyWrongLastSequenceError, BadRequestError):
                continue  # someone holds it
            changes.gained.append(partition)
        return changes

    async def _keep(self, partition: int, revision: int) -> tuple[int, int | None]:
        try:
            return partition, await self.kv.update(
                self._key(partition), self.worker_id.encode(), last=revision
            )
        except (KeyWrongLastSequenceError, KeyNotFoundError, BadRequestError):
            return partition, None

    def fresh(self) -> bool:
        """Whether the leases were renewed recently enough that no other worker can have
        taken them: a worker whose renewals are late stops working its partitions
        until it knows, so that two workers never work one partition at once."""
        return time.monotonic() - self.renewed_at < LEASE_TTL_S * FRESH_SHARE

    async def release(self, partition: int) -> None:
        """Hand a partition back (its state saved first by the caller)."""
        revision = self.owned.pop(partition, None)
        if revision is None:
            return
        # already lost: nothing of ours to delete
        with contextlib.suppress(KeyWrongLastSequenceError, KeyNotFoundError, BadRequestError):
            await self.kv.delete(self._key(partition), last=revision)

    async def release_all(self) -> None:
        """Hand back every partition and the heartbeat (a clean shutdown)."""
        for partition in sorted(self.owned):
            await self.release(partition)
        with contextlib.suppress(KeyNotFoundError, BadRequestError):
            await self.kv.delete(f"{self.role}.worker.{self.worker_id}")
