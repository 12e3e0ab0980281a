"""The user guide's "What the rules watch", generated from the detector registry: every
detector's guide, every alert kind with its severity, matrix component and scenarios."""

from pathlib import Path

import pytest

from riskstream.detectors.inventory import InventoryDetector, InventoryRule
from riskstream.detectors.registry import REGISTRY, DetectorSpec, alert_kinds, detects
from riskstream.docs_gen import detectors_page
from riskstream.scoring.components import component_of_kind


def _summary_rows(page: str) -> dict[tuple[str, str], list[str]]:
    """(alert kind, detector) → the summary table's cells."""
    rows = {}
    for line in page.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            rows[cells[0].strip("`"), cells[4].strip("`")] = cells
    return rows


def test_every_alert_kind_has_a_row_with_its_component_severity_and_scenarios() -> None:
    rows = _summary_rows(detectors_page.render())
    assert alert_kinds() <= {kind for kind, _ in rows}
    for spec in REGISTRY:
        for kind, model in spec.tables.items():
            _, about, severity, component, _, scenarios = rows[kind, spec.name]
            assert component == f"`{component_of_kind(kind)}`" == f"`{model.matrix_component}`"
            assert severity == f"`{model.model_fields['severity'].default}`"
            assert about.rstrip(".") in " ".join((model.__doc__ or "").split())
            found = sorted({d.scenario for d in spec.detects if d.kind == kind})
            assert scenarios == (", ".join(f"`{s}`" for s in found) or "–")
            assert all(kind in {d.kind for d in detects()[s]} for s in found)
    # raised by the series detector too, under the production lines' table
    assert rows["anomaly", "series_anomaly"][3] == "`behaviour`"


def test_each_detector_has_its_section_under_its_area_in_registry_order() -> None:
    page = detectors_page.render()
    for area in dict.fromkeys(spec.area for spec in REGISTRY):
        assert f"\n## {area}\n" in page
    for spec in REGISTRY:
        heading = detectors_page.guide(spec).splitlines()[0]
        assert page.count(f"\n{heading}\n") == 1, heading
        assert f"*Detector `{spec.name}`: raises " in page
        section = page.index(f"\n## {spec.area}\n")
        assert page.index(f"\n{heading}\n") > section
    for area in dict.fromkeys(spec.area for spec in REGISTRY):
        starts = [page.index(detectors_page.guide(s)) for s in REGISTRY if s.area == area]
        assert starts == sorted(starts), area


def test_a_registered_detector_without_a_guide_is_refused_naming_the_file() -> None:
    spec = DetectorSpec.one_rule(
        "no_guide_here", "inventory_below_pledge", InventoryRule, InventoryDetector
    )
    with pytest.raises(
        detectors_page.GuideError, match=r"'no_guide_here' has no guide: write .*no_guide_here\.md"
    ):
        detectors_page.guide(spec)


def test_a_guide_must_open_with_its_heading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "inventory.md").write_text("Inventory below the pledge.\n", encoding="utf-8")
    monkeypatch.setattr(detectors_page, "GUIDES", tmp_path)
    with pytest.raises(detectors_page.GuideError, match="start with its heading"):
        detectors_page.guide(REGISTRY[1])


def test_the_page_keeps_the_anchors_other_pages_link_to() -> None:
    page = detectors_page.render()
    assert "\n## Sensors and data\n" in page  # docs/reference/mqtt.md, docs/operations/ingest.md
