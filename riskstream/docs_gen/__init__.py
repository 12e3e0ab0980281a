"""Reference pages generated from the code, so that they cannot drift from it.

`pages` renders each page (path under the repository → Markdown): the rules file
reference from the pydantic models of `riskstream.rules` and the detector registry, the
command reference from the `riskstream` command tree, the HTTP API reference from the
service's OpenAPI document, the service settings from their pydantic-settings class,
the fleet file reference from `devices.model`, and the user guide's "What the rules
watch" from the detector registry and each detector's guide.
``python -m riskstream.docs_gen`` (``make docs-gen``) writes them; ``--check`` names the
pages that differ from what the code gives now.

Tooling, not part of the service: nothing in riskstream imports this package (an
import-linter contract holds it).
"""

from pathlib import Path

from riskstream.docs_gen import (
    cli_page,
    detectors_page,
    fleet_page,
    http_page,
    rules_page,
    settings_page,
)

__all__ = ["REGENERATE", "pages", "stale", "write"]

REGENERATE = "make docs-gen  (or: python -m riskstream.docs_gen)"
"""The command that brings the generated pages up to date, for error messages."""


def pages() -> dict[str, str]:
    """Every generated page: path relative to the repository root → Markdown text."""
    return {
        rules_page.PATH: rules_page.render(),
        cli_page.PATH: cli_page.render(),
        http_page.PATH: http_page.render(),
        settings_page.PATH: settings_page.render(),
        fleet_page.PATH: fleet_page.render(),
        detectors_page.PATH: detectors_page.render(),
    }


def stale(root: Path) -> list[str]:
    """The generated pages under ``root`` that are missing or differ from `pages`."""
    found = []
    for path, content in pages().items():
        file = root / path
        if not file.is_file() or file.read_text(encoding="utf-8") != content:
            found.append(path)
    return found


def write(root: Path) -> list[str]:
    """Write every generated page under ``root``; returns the paths that changed."""
    changed = []
    for path, content in pages().items():
        file = root / path
        if file.is_file() and file.read_text(encoding="utf-8") == content:
            continue
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(content, encoding="utf-8")
        changed.append(path)
    return changed
