"""Small Markdown writers shared by the generated reference pages."""

import re
from collections.abc import Iterable, Sequence

_CODE = re.compile(r"(`+)(.+?)\1")
_SPECIAL = re.compile(r"([\\*_\[\]])")


def _plain(value: str) -> str:
    return _SPECIAL.sub(r"\\\1", value).replace("<", "&lt;").replace(">", "&gt;")


def text(value: str) -> str:
    """Prose as one line of Markdown: code spans (`x`, ``x``) kept, everything else
    literal (emphasis marks, brackets and HTML escaped)."""
    flat = " ".join(value.split())
    out: list[str] = []
    at = 0
    for match in _CODE.finditer(flat):
        out += [_plain(flat[at : match.start()]), match.group(0)]
        at = match.end()
    out.append(_plain(flat[at:]))
    return "".join(out)


def code(value: object) -> str:
    """``value`` as inline code (backticks inside it are widened around)."""
    shown = str(value)
    fence = "``" if "`" in shown else "`"
    pad = " " if shown.startswith("`") or shown.endswith("`") else ""
    return f"{fence}{pad}{shown}{pad}{fence}"


def cell(value: str) -> str:
    """A table cell: pipes escaped outside code spans (Python-Markdown keeps those inside
    as they are), never empty."""
    out: list[str] = []
    at = 0
    for match in _CODE.finditer(value):
        out += [value[at : match.start()].replace("|", "\\|"), match.group(0)]
        at = match.end()
    out.append(value[at:].replace("|", "\\|"))
    return "".join(out) or " "


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A Markdown table; the cells are Markdown already (see `cell`)."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def slug(heading: str) -> str:
    """The anchor MkDocs' table of contents gives ``heading`` (Python-Markdown's slugify)."""
    value = re.sub(r"[^\w\s-]", "", heading).strip().lower()
    return re.sub(r"[-\s]+", "-", value)


def banner(source: str) -> str:
    """The first line of a generated page: where it comes from and how to renew it."""
    return (
        f"<!-- Generated from {source} by `make docs-gen` (python -m riskstream.docs_gen). "
        "Do not edit by hand: change the code and regenerate. -->"
    )
