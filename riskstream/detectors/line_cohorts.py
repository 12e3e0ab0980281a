"""Cohorts of production lines: one lender's lines of one industry in one hemisphere.

A plant's season is not its own: the mills of one industry in one climate press the same
harvest, and their output rises and falls together, year after year. A business winding
down is one borrower's. So a line's movement is judged against the concurrent movement
of its peers: the same lender's other lines whose borrowers are of the same industry
(the fleet file's ``industry``, compared without case) on the same side of the equator
(the site's ``location``; lines without one are peers of each other). A line whose
borrower names no industry has no peers. Only the lender's own lines are peers: nothing
of one lender's data moves another lender's alerts.

A cohort of thousands of lines would cost a judgement thousands of look-ups, so a line
takes at most `MAX_PEERS` peers (the next ones after it in id order, round the cohort:
every line is some lines' peer).
"""

from collections.abc import Iterable

from riskstream.engine.fleet_index import FleetIndex

__all__ = ["MAX_PEERS", "cohort_of", "peers_of"]

MAX_PEERS = 24

CohortKey = tuple[str, str, str]


def cohort_of(index: FleetIndex, device_id: str) -> CohortKey | None:
    """(tenant, industry, hemisphere) of a line's device; None without an industry."""
    device = index.devices[device_id]
    borrower = index.borrower_records.get(device.borrower_id)
    industry = borrower.industry.strip().casefold() if borrower is not None else ""
    if not industry:
        return None
    site = index.sites.get(device.site_id)
    location = site.location if site is not None else None
    hemisphere = "" if location is None else ("south" if location[0] < 0 else "north")
    return device.tenant, industry, hemisphere


def peers_of(index: FleetIndex, device_ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Each device's peers among ``device_ids`` (one device per line): up to
    `MAX_PEERS` other devices of its cohort, from other borrowers."""
    cohorts: dict[CohortKey, list[str]] = {}
    for device_id in device_ids:
        key = cohort_of(index, device_id)
        if key is not None:
            cohorts.setdefault(key, []).append(device_id)
    peers: dict[str, tuple[str, ...]] = {}
    for members in cohorts.values():
        members.sort()
        for i, device_id in enumerate(members):
            borrower = index.devices[device_id].borrower_id
            ring = members[i + 1 :] + members[:i]
            # the borrower's own other lines would share its decline, not take it out
            others = [d for d in ring if index.devices[d].borrower_id != borrower]
            peers[device_id] = tuple(others[:MAX_PEERS])
    return peers
