"""The committed generated module is what protoc makes of the committed .proto, and the
Sparkplug topic grammar round-trips."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.errors import TopicError
from devices.sparkplug import SparkplugTopic, format_sparkplug_topic, parse_sparkplug_topic
from devices.sparkplug.sparkplug_b_pb2 import Payload

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "devices" / "sparkplug"


def test_generated_module_is_what_the_command_makes(tmp_path: Path) -> None:
    copy = tmp_path / "devices" / "sparkplug"
    copy.mkdir(parents=True)
    shutil.copy(HERE / "sparkplug_b.proto", copy)
    shutil.copy(ROOT / "scripts" / "gen-sparkplug-proto.sh", tmp_path)
    subprocess.run(
        ["sh", str(tmp_path / "gen-sparkplug-proto.sh")],
        cwd=tmp_path,
        env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"},
        check=True,
    )
    for name in ("sparkplug_b_pb2.py", "sparkplug_b_pb2.pyi"):
        assert (copy / name).read_text() == (HERE / name).read_text(), (
            f"{name} is stale: run scripts/gen-sparkplug-proto.sh"
        )


def test_field_numbers_are_the_specifications() -> None:
    metric = Payload.Metric.DESCRIPTOR.fields_by_name
    assert {n: metric[n].number for n in ("name", "alias", "timestamp", "datatype")} == {
        "name": 1,
        "alias": 2,
        "timestamp": 3,
        "datatype": 4,
    }
    assert metric["double_value"].number == 13 and metric["boolean_value"].number == 14
    top = Payload.DESCRIPTOR.fields_by_name
    assert (top["timestamp"].number, top["metrics"].number, top["seq"].number) == (1, 2, 3)


sparkplug_ids = st.text(
    st.characters(blacklist_characters="/+#", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=30,
)


@given(
    group=sparkplug_ids,
    edge=sparkplug_ids,
    device=sparkplug_ids,
    kind=st.sampled_from(["NBIRTH", "NDATA", "NDEATH", "NCMD", "DBIRTH", "DDATA", "DDEATH"]),
)
def test_format_then_parse_round_trips(group: str, edge: str, device: str, kind: str) -> None:
    dev = device if kind.startswith("D") else None
    topic = format_sparkplug_topic(group, kind, edge, dev)  # type: ignore[arg-type]
    assert parse_sparkplug_topic(topic) == SparkplugTopic(group, kind, edge, dev)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "topic",
    [
        "spBv1.0/STATE/host",
        "spBv2.0/g/NDATA/e",
        "spBv1.0/g/DDATA/e",
        "spBv1.0/g/NDATA/e/d",
        "spBv1.0/g/NDATA/e/d/x",
        "spBv1.0//NDATA/e",
        "spBv1.0/g/NDATA/" + "e" * 200,
    ],
)
def test_bad_topics_say_why(topic: str) -> None:
    with pytest.raises(TopicError):
        parse_sparkplug_topic(topic)
