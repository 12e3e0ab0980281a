"""The documentation: generated reference pages up to date, a short README whose quick
start does not change, and a site that builds strictly and loads nothing from outside."""

import difflib
import functools
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from pydantic import BaseModel

from devices.model import Fleet
from riskstream.docs_gen import REGENERATE, pages
from riskstream.rules.schema import RuleSet
from riskstream.service.settings import ServiceSettings
from tests.conftest import SERVER_MARKERS

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

QUICK_START = """\
```sh
make demo    # installs riskstream into .venv and runs the demo: open http://127.0.0.1:8000/
make test    # installs system packages and the test tools, runs lint, import contracts, types and every test
```
"""

SERVERS_NAMED = ("mosquitto", "InfluxDB", "VictoriaMetrics", "PostgreSQL", "Chromium", "openssl")
"""What scripts/system-deps.sh installs, as the README names it."""


@functools.cache
def _generated() -> dict[str, str]:
    return pages()


@pytest.mark.parametrize("path", sorted(_generated()))
def test_generated_page_is_up_to_date(path: str) -> None:
    wanted = _generated()[path]
    file = ROOT / path
    assert file.is_file(), f"{path} is missing: generate it with {REGENERATE}"
    committed = file.read_text(encoding="utf-8")
    if committed != wanted:
        diff = difflib.unified_diff(
            committed.splitlines(), wanted.splitlines(), "committed", "from the code", lineterm=""
        )
        shown = "\n".join(list(diff)[:40])
        pytest.fail(f"{path} is stale: regenerate it with {REGENERATE}\n{shown}")


def _undescribed(model: type[BaseModel], path: str = "") -> list[str]:
    found = []
    for name, info in model.model_fields.items():
        key = f"{path}.{info.alias or name}" if path else info.alias or name
        ann = info.annotation
        nested = [a for a in (ann, *getattr(ann, "__args__", ())) if isinstance(a, type)]
        models = [a for a in nested if issubclass(a, BaseModel)]
        if models:
            found += _undescribed(models[0], key)
        elif not info.description:
            found.append(key)
    return found


@pytest.mark.parametrize("model", [RuleSet, Fleet, ServiceSettings], ids=lambda m: m.__name__)
def test_every_documented_key_has_a_description(model: type[BaseModel]) -> None:
    missing = _undescribed(model)
    assert not missing, f"give these fields a Field(description=...): {missing}"


def test_readme_is_a_short_front_door_with_the_quick_start_unchanged() -> None:
    text = README.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) < 200, f"README.md has {len(lines)} lines; keep it under 200"
    assert QUICK_START in text, "the quick start's two commands changed"
    flowed = " ".join(text.split())
    assert "with `apt-get` (root, or `sudo`)" in flowed
    missing = [name for name in SERVERS_NAMED if name not in flowed]
    assert not missing, f"the README does not say that make test installs {missing}"
    (without_servers,) = re.findall(r'pytest -m "([^"]+)"', flowed)
    # the cluster's nats-server comes with pip install: no root needed
    markers = {*SERVER_MARKERS.values(), "browser"} - {"cluster"}
    assert {f"not {m}" for m in markers} == set(without_servers.split(" and ")), (
        "the README's command for a machine without root must leave out every server marker"
    )
    assert "](docs/img/portfolio.png)" in text


def test_readme_links_reach_files() -> None:
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if not re.match(r"[a-z]+://", t)]
    assert len(local) > 20
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, missing


LOADS = {"link": "href", "script": "src", "img": "src", "iframe": "src", "source": "src"}
"""The attribute of each tag whose URL a browser fetches by itself."""


class _AssetLinks(HTMLParser):
    """Every URL a page loads by itself: stylesheets, scripts, images, frames."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = LOADS.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.urls.append(value)


def test_the_site_builds_strictly_and_loads_nothing_from_outside(tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict"]
    command += ["--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(site)]
    built = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    pages_built = sorted(site.rglob("*.html"))
    assert len(pages_built) > 25
    outside = []
    for page in pages_built:
        parser = _AssetLinks()
        parser.feed(page.read_text(encoding="utf-8"))
        outside += [
            f"{page.relative_to(site)}: {url}"
            for url in parser.urls
            if re.match(r"(https?:)?//", url, re.IGNORECASE)
        ]
    assert not outside, outside
    for sheet in site.rglob("*.css"):
        imported = re.findall(r"(?:@import|url\()\s*[\"']?(https?:)?//", sheet.read_text())
        assert not imported, f"{sheet.name} loads from outside"
    assert (site / "search" / "search_index.js").is_file(), "offline search index missing"
    assert (site / "img" / "portfolio.png").is_file()
