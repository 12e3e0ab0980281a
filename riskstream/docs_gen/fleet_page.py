"""The fleet file reference, from the pydantic models of `devices.model`."""

from devices.model import METRICS, DeviceKind, Fleet, SiteKind
from riskstream.docs_gen.fields import model_sections
from riskstream.docs_gen.markdown import banner, code, table

PATH = "docs/reference/fleet-file.md"
SINGLE_TABLES = frozenset({"sparkplug"})
"""Tables under the top level that are one table, not a list of them."""

INTRO = """\
# Fleet file reference

Every key of a fleet file (YAML), as `devices/model.py` validates it when the file is
imported (`riskstream devices import FILE`) or read (`riskstream ingest --fleet FILE`,
`riskstream backtest --fleet FILE`). [Fleet files](../user-guide/fleet-files.md) in the
user guide shows a whole one. A file is refused with its path and the field at fault;
ids, and the sites and collateral that devices and collateral name, are checked.
"""


def _title(path: str, array: bool) -> str:
    if not path:
        return "Top level"
    parts = path.split(".")
    return code(
        ".".join(p if p in SINGLE_TABLES else f"{p}[]" for p in parts[:-1])
        + ("." if len(parts) > 1 else "")
        + parts[-1]
        + ("[]" if array else "")
    )


def _kinds() -> str:
    rows = [
        [code(kind.value), ", ".join(code(m) for m in METRICS[kind]) or "any"]
        for kind in DeviceKind
    ]
    return table(["device kind", "metrics it sends"], rows)


def render() -> str:
    """The whole page."""
    parts = [banner("devices/model.py"), INTRO.strip()]
    parts += model_sections(Fleet, "", title=_title)
    parts.append("## Device kinds and their metrics")
    parts.append(
        "What each device kind is expected to send (`devices.model.METRICS`); any device "
        "may send other snake_case metrics, which ingest stores and custom rules and "
        "anomaly detection can watch. Site kinds: "
        + ", ".join(code(k.value) for k in SiteKind)
        + "."
    )
    parts.append(_kinds())
    return "\n\n".join(parts) + "\n"
