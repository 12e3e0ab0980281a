"""The rules file reference, from the pydantic models of `riskstream.rules` and the
detector registry (`riskstream.detectors.registry`)."""

from riskstream.detectors.custom_rule import DEFAULT_REASONS, REASON_FIELDS
from riskstream.detectors.registry import BY_NAME, REGISTRY, DetectorSpec, detects
from riskstream.docs_gen.fields import model_sections
from riskstream.docs_gen.markdown import banner, code, table
from riskstream.rules.schema import TABLES, RuleSet

PATH = "docs/reference/rules-file.md"
_NOT_IN_REGISTRY_KINDS = {"anomaly.series": "series_anomaly"}
"""Tables whose detector raises kinds named elsewhere: table → registry name."""

INTRO = """\
# Rules file reference

Every table and key of the rules file (TOML), with its type, default, allowed range and
meaning, as the code validates them (`riskstream/rules/`). The user guide explains how
the rules work together: [Rules](../user-guide/rules.md),
[What the rules watch](../user-guide/detectors.md),
[Custom rules](../user-guide/custom-rules.md) and [Anomaly detection](../user-guide/anomaly.md);
`config/rules.toml` is the commented sample and the built-in default.

- *Detector* names the entry of the detector registry
  (`riskstream/detectors/registry.py`) that reads the table; *Detects* lists the
  simulator scenarios its alerts are matched to in an evaluation.
- A **duration** is `"90s"`, `"30m"`, `"2h"`, `"1d"`, `"1w"` or a number of seconds.
- Numbers must be written as numbers: `coverage_below = "0.9"` is refused.
- Any unknown table or key, wrong type or value out of range is refused with the file,
  the line and the field (`riskstream rules check FILE`); a running service keeps its
  last good rules.
"""


def _title(path: str, array: bool) -> str:
    if not path:
        return "Top level"
    return code(f"[[{path}]]" if array else f"[{path}]")


def _specs_of(table_key: str) -> list[DetectorSpec]:
    if table_key in _NOT_IN_REGISTRY_KINDS:
        return [BY_NAME[_NOT_IN_REGISTRY_KINDS[table_key]]]
    found = [spec for spec in REGISTRY if table_key in spec.kinds]
    if not found and table_key in BY_NAME:
        found = [BY_NAME[table_key]]
    return found


def _notes(path: str) -> list[str]:
    """What the registry says of a ``[rules.*]`` table: detector, overrides, scenarios."""
    if not path.startswith("rules."):
        return []
    key = path.removeprefix("rules.")
    parent, _, leaf = key.rpartition(".")
    notes: list[str] = []
    specs = _specs_of(key)
    if specs:
        notes.append("Detector " + ", ".join(code(s.name) for s in specs) + ".")
    fixed = sorted(TABLES[key].service_wide if key in TABLES else ())
    if key == "custom":
        notes.append("Not overridable: select with `tenants`, `devices` and `sites`.")
    elif parent in TABLES and leaf in TABLES[parent].service_wide:
        notes.append("Not overridable per lender or loan: it applies to the whole service.")
    elif fixed:
        keys = ", ".join(code(k) for k in fixed)
        notes.append(f"Overridable per lender and loan but for {keys} (whole service).")
    else:
        notes.append("Overridable per lender and loan.")
    scenarios = sorted({d.scenario for rows in detects().values() for d in rows if d.kind == key})
    if scenarios:
        notes.append("Detects " + ", ".join(code(s) for s in scenarios) + ".")
    return notes


def _extras(path: str) -> list[str]:
    if path != "rules.custom":
        return []
    rows = [[code(condition), code(reason)] for condition, reason in DEFAULT_REASONS.items()]
    return [
        "A `reason` template may use the fields "
        + ", ".join(code("{" + f.strip() + "}") for f in REASON_FIELDS.split(","))
        + ", with formats up to 40 characters wide. Without `reason`, each condition "
        "gives its own:",
        table(["condition", "default reason"], rows),
    ]


def _registry_table() -> str:
    rows = []
    for spec in REGISTRY:
        scenarios = sorted({d.scenario for d in spec.detects})
        rows.append(
            [
                code(spec.name),
                ", ".join(code(k) for k in spec.kinds) or "(named by its rules)",
                code(f"[rules.{spec.scoped}]") if spec.scoped else "–",
                "yes" if spec.routes else "no",
                "yes" if spec.tick else "no",
                ", ".join(code(s) for s in scenarios) or "–",
            ]
        )
    return table(
        ["detector", "alert kinds", "per-scope table", "takes readings", "timers", "detects"],
        rows,
    )


def _detected_by() -> str:
    rows = []
    for scenario, found in sorted(detects().items()):
        kinds = ", ".join(f"{code(d.kind)} on {code(d.subject)}" for d in found)
        rows.append([code(scenario), kinds])
    return table(["scenario", "alert kinds that detect it (and the subject they match)"], rows)


def render() -> str:
    """The whole page."""
    parts = [banner("riskstream/rules/ and riskstream/detectors/registry.py"), INTRO.strip()]
    parts += model_sections(RuleSet, "", title=_title, notes=_notes, extras=_extras)
    parts.append(
        "## Detectors\n\nEvery detector the engine runs, in registry order "
        "(`riskstream/detectors/registry.py`). *Per-scope table*: the `[rules.*]` table "
        "it reads per device when `[[overrides]]` apply; *timers*: it also runs on the "
        "clock (`tick`), not only on readings."
    )
    parts.append(_registry_table())
    parts.append(
        "## Which alerts detect which scenario\n\nThe evaluation "
        "(`riskstream evaluate`) matches alerts to injected events with this table, "
        "derived from the registry."
    )
    parts.append(_detected_by())
    return "\n\n".join(parts) + "\n"
