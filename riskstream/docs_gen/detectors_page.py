"""The user guide's "What the rules watch", from the detector registry: each detector's
kinds, rule tables, default severities, credit matrix components and the scenarios it
detects, with its own prose from ``riskstream/detectors/guides/<name>.md``."""

from pathlib import Path

from riskstream.detectors.registry import REGISTRY, DetectorSpec
from riskstream.docs_gen.markdown import banner, code, slug, table, text
from riskstream.rules.fields import RuleTable
from riskstream.scoring.components import component_of_kind

PATH = "docs/user-guide/detectors.md"
GUIDES = Path(__file__).resolve().parents[1] / "detectors" / "guides"

INTRO = """\
# What the rules watch

Each `[rules.*]` table of the rules file drives one detector. This page says what each
one watches and how it decides; the [rules file reference](../reference/rules-file.md)
lists every key with its default. Two more ways to watch sensors without writing code
are [custom rules](custom-rules.md) and [anomaly detection on any series](anomaly.md).

Every alert kind, with what raises it, its severity unless the rules file says
otherwise, the [credit matrix](credit-matrix.md#components) component its open alerts
count in, and the simulator scenarios the evaluation matches it to:
"""

LIFE = """\
Every alert waits for its condition to hold for the rule's `for`, and resolves itself
after the condition has stayed clear for its `clear_after`; see
[Alerts](../reference/alerts.md) for the life of an alert."""


class GuideError(RuntimeError):
    """A registered detector's guide is missing or does not start with its heading."""


def guide(spec: DetectorSpec) -> str:
    """The detector's own section, ``guides/<name>.md``: a ``### `` heading, then prose."""
    path = GUIDES / f"{spec.name}.md"
    if not path.is_file():
        raise GuideError(f"detector {spec.name!r} has no guide: write {path}")
    content = path.read_text(encoding="utf-8").strip()
    if not content.startswith("### "):
        raise GuideError(f"{path}: start with its heading, '### <what it watches>'")
    return content


def _severity(model: type[RuleTable]) -> str:
    field = model.model_fields.get("severity")
    return code(field.default) if field is not None else "–"


def _scenarios(spec: DetectorSpec, kind: str) -> str:
    found = sorted({d.scenario for d in spec.detects if d.kind == kind})
    return ", ".join(code(s) for s in found) or "–"


def _summary() -> str:
    rows = []
    for spec in REGISTRY:
        for kind, model in spec.tables.items():
            about = text((model.__doc__ or "").split("\n\n")[0])
            rows.append(_row(spec, code(kind), about, _severity(model), kind))
        if not spec.tables:
            title = guide(spec).splitlines()[0].removeprefix("### ")
            section = f"[{text(title)}](#{slug(title)})"
            for kind in spec.also_raises:
                rows.append(_row(spec, code(kind), section, "–", kind))
            if not spec.also_raises:
                rows.append(_row(spec, "named by each rule", section, "–", None))
    header = ["alert kind", "raised when", "severity", "matrix", "detector", "detects"]
    return table(header, rows)


def _row(
    spec: DetectorSpec, kind_cell: str, about: str, severity: str, kind: str | None
) -> list[str]:
    # the component scoring uses: a kind no rule table names counts as its fallback
    component = component_of_kind(kind or "")
    scenarios = _scenarios(spec, kind) if kind else "–"
    return [kind_cell, about, severity, code(component), code(spec.name), scenarios]


def _facts(spec: DetectorSpec) -> str:
    """What the registry says of a detector, under its prose."""
    if not spec.tables:
        raised = [
            f"{code(k)} (matrix component {code(component_of_kind(k))})" for k in spec.also_raises
        ]
        raises = ", ".join(raised) or (
            f"the kind each rule names (matrix component {code(component_of_kind(''))})"
        )
        described = "its table is described in the page linked above"
        return f"*Detector {code(spec.name)}: raises {raises}; {described}.*"
    kinds = []
    for kind, model in spec.tables.items():
        table_name = f"[rules.{kind}]"
        link = f"[{code(table_name)}](../reference/rules-file.md#{slug(table_name)})"
        kinds.append(f"{code(kind)} ({link}, matrix component {code(model.matrix_component)})")
    scenarios = sorted({d.scenario for d in spec.detects})
    found = ", ".join(code(s) for s in scenarios)
    detects = f"; detects {found}" if found else ""
    return f"*Detector {code(spec.name)}: raises {', '.join(kinds)}{detects}.*"


def _areas() -> dict[str, list[DetectorSpec]]:
    areas: dict[str, list[DetectorSpec]] = {}
    for spec in REGISTRY:
        areas.setdefault(spec.area, []).append(spec)
    return areas


def render() -> str:
    """The whole page."""
    parts = [banner("riskstream/detectors/registry.py and riskstream/detectors/guides/")]
    parts += [INTRO.strip(), _summary(), LIFE]
    for area, specs in _areas().items():
        parts.append(f"## {area}")
        for spec in specs:
            parts += [guide(spec), _facts(spec)]
    return "\n\n".join(parts) + "\n"
