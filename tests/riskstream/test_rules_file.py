from pathlib import Path

import pytest

from riskstream.errors import RulesFileError
from riskstream.rules_file import load_rules, parse_rules

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "rules.toml"


def test_sample_rules_file_loads() -> None:
    rules = load_rules(SAMPLE)
    inv = rules.rules.inventory_below_pledge
    assert inv.for_ == 1800.0 and inv.coverage_below == 0.9 and inv.severity == "critical"
    assert rules.rules.device_silent.min_silence == 600.0


def test_packaged_default_matches_sample() -> None:
    packaged = SAMPLE.parents[1] / "riskstream" / "data" / "rules.toml"
    assert packaged.read_text() == SAMPLE.read_text()


@pytest.mark.parametrize(
    ("edit", "line", "field", "reason"),
    [
        (
            ('for = "30m"', 'for = "30 minutes"'),
            13,
            "rules.inventory_below_pledge.for",
            "not a duration",
        ),
        (
            ("coverage_below = 0.9", "coverage_below = -1"),
            11,
            "rules.inventory_below_pledge.coverage_below",
            "greater than 0",
        ),
        (
            (
                'severity = "warning"\n\n[rules.device_silent]',
                'severity = "urgent"\n\n[rules.device_silent]',
            ),
            22,
            "rules.geofence_exit.severity",
            "urgent",
        ),
        (
            ("missed_intervals = 5", "missed_intervals = 5\nmised = 1"),
            29,
            "rules.device_silent.mised",
            "unknown field",
        ),
    ],
)
def test_errors_name_file_line_and_field(
    tmp_path: Path, edit: tuple[str, str], line: int, field: str, reason: str
) -> None:
    text = SAMPLE.read_text()
    assert edit[0] in text
    path = tmp_path / "rules.toml"
    path.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(RulesFileError) as info:
        load_rules(path)
    error = info.value
    assert (error.line, error.field) == (line, field)
    assert str(error).startswith(f"{path}:{line}: {field}: ")
    assert reason in str(error)


def test_toml_syntax_error_has_line() -> None:
    with pytest.raises(RulesFileError) as info:
        parse_rules("[rules.geofence_exit]\nfor = \n", "x.toml")
    assert info.value.line == 2


def test_unknown_table_is_refused() -> None:
    with pytest.raises(RulesFileError) as info:
        parse_rules("[rules.inventory]\nenabled = true\n", "x.toml")
    assert info.value.field == "rules.inventory" and info.value.line == 1
