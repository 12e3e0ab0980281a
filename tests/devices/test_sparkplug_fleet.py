"""The fleet file's ``sparkplug`` section: validated with the field at fault, and a group
is one lender's only."""

from pathlib import Path

import pytest
import yaml

from devices.errors import FleetFileError, SparkplugGroupError
from devices.fleet_file import dump_fleet, load_fleet
from devices.registry import Registry, open_database
from devices.sparkplug import Binding, sparkplug_map
from tests.ingest.sparkplug_messages import sparkplug_fleet


def write(tmp_path: Path, section: object) -> Path:
    data = yaml.safe_load(dump_fleet(sparkplug_fleet()))
    data["sparkplug"] = section
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_default_binding_is_site_edge_and_device_id(tmp_path: Path) -> None:
    fleet = load_fleet(write(tmp_path, {}))
    mapping = sparkplug_map([fleet])
    assert mapping.groups == {"bank-a": "bank-a"}
    assert mapping.bindings[("bank-a", "b1-w1", "b1-d1")] == Binding("bank-a", "b1-d1")
    assert mapping.address_of("bank-a", "b1-d1") == ("bank-a", "b1-w1", "b1-d1")


def test_explicit_nodes_and_metric_names(tmp_path: Path) -> None:
    section = {
        "group": "Plant Hamburg",
        "nodes": [
            {"edge": "plc-7", "device_id": "b1-d1", "metrics": {"Net Weight": "weight_kg"}},
        ],
    }
    path = write(tmp_path, section)
    with pytest.raises(FleetFileError) as failed:
        load_fleet(path)  # "Plant Hamburg" has a space: not an id
    assert str(failed.value).startswith(f"{path}: sparkplug.group: ")
    section["group"] = "plant-hh"
    fleet = load_fleet(write(tmp_path, section))
    binding = sparkplug_map([fleet]).bindings[("plant-hh", "plc-7", None)]
    assert binding.metric_name("Net Weight") == "weight_kg"
    assert binding.metric_name("Tare") is None


@pytest.mark.parametrize(
    ("nodes", "field", "words"),
    [
        ([{"edge": "e", "device_id": "nope"}], "", "nope is not a registered device"),
        (
            [{"edge": "e", "device_id": "b1-d1"}, {"edge": "e", "device_id": "b2-d1"}],
            "",
            "listed twice",
        ),
        ([{"edge": "a/b", "device_id": "b1-d1"}], "sparkplug.nodes.0.edge", "pattern"),
        (
            [{"edge": "e", "device_id": "b1-d1", "metrics": {"W": "Weight KG"}}],
            "sparkplug.nodes.0.metrics.W",
            "pattern",
        ),
        ([{"edge": "e", "device_id": "b1-d1", "colour": 1}], "sparkplug.nodes.0.colour", ""),
    ],
)
def test_bad_sections_name_the_field(
    tmp_path: Path, nodes: list[dict[str, object]], field: str, words: str
) -> None:
    path = write(tmp_path, {"nodes": nodes})
    with pytest.raises(FleetFileError) as failed:
        load_fleet(path)
    assert (failed.value.field or "") == field
    assert words in failed.value.reason


def test_two_lenders_cannot_share_a_group(tmp_path: Path) -> None:
    a = sparkplug_fleet("bank-a")
    b = sparkplug_fleet("bank-b", group="bank-a")
    with pytest.raises(SparkplugGroupError, match="'bank-a' is claimed by both"):
        sparkplug_map([a, b])
    registry = Registry(open_database(tmp_path / "r.db"))
    registry.import_fleet(a)
    with pytest.raises(SparkplugGroupError):
        registry.import_fleet(b)
    assert registry.tenants() == ["bank-a"]
    registry.import_fleet(a)  # the same lender again is no clash
