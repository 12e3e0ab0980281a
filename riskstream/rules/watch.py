"""Live reload: watch the rules file and hand every change to the `RulesKeeper`.

The file's directory is watched, not the file itself, because editors save by writing
a new file and renaming it over the old one, which ends a watch on the old inode.
Changes are debounced (`DEBOUNCE_MS`), so a save in several writes is read once.
"""

import asyncio
import logging
import os
from pathlib import Path

from watchfiles import Change, awatch

from riskstream.rules.keeper import RulesKeeper

log = logging.getLogger(__name__)

DEBOUNCE_MS = 300
STEP_MS = 50


async def watch_rules(keeper: RulesKeeper, stop: asyncio.Event) -> None:
    """Reload the keeper's rules file whenever it changes, until ``stop`` is set."""
    if keeper.path is None:
        return
    target = str(keeper.path.absolute())

    def is_target(_change: Change, path: str) -> bool:
        return os.path.normpath(path) == os.path.normpath(target)

    directory = Path(target).parent
    log.info("watching %s for rules changes", target)
    async for _changes in awatch(
        directory,
        watch_filter=is_target,
        debounce=DEBOUNCE_MS,
        step=STEP_MS,
        stop_event=stop,
        recursive=False,
    ):
        keeper.reload_file()
