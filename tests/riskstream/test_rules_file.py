from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskstream.cli.app import app
from riskstream.errors import RulesFileError
from riskstream.rules.schema import RuleSet, load_rules, parse_rules
from simulator.catalog import HOLIDAYS
from simulator.fleetgen import REGIONS

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


def test_calendar_default_is_the_simulators_holidays() -> None:
    calendar = load_rules(SAMPLE).calendar
    assert calendar == RuleSet().calendar  # a file without [calendar] gets the same
    assert calendar.holidays == []
    by_timezone = {
        tz: [(int(d[:2]), int(d[3:])) for d in days] for tz, days in calendar.by_timezone.items()
    }
    assert by_timezone == {tz: list(days) for tz, days in HOLIDAYS.items()}
    assert {tz for _, _, tz in REGIONS} <= set(by_timezone)


def test_calendar_dates_every_year_one_year_and_by_timezone() -> None:
    calendar = parse_rules(
        '[calendar]\nholidays = ["12-24", "2026-02-17", 2027-02-06, "02-29"]\n'
        '[calendar.by_timezone]\n"Asia/Shanghai" = ["10-01"]\n'
    ).calendar
    assert calendar.is_holiday("Europe/Berlin", date(2031, 12, 24))
    assert calendar.is_holiday("UTC", date(2026, 2, 17))
    assert not calendar.is_holiday("UTC", date(2027, 2, 17))
    assert calendar.is_holiday("UTC", date(2027, 2, 6))  # an unquoted TOML date
    assert calendar.is_holiday("UTC", date(2028, 2, 29))
    assert calendar.is_holiday("Asia/Shanghai", date(2025, 10, 1))
    assert not calendar.is_holiday("Europe/Berlin", date(2025, 10, 1))
    assert not calendar.is_holiday("Europe/Berlin", date(2025, 10, 3))  # lists replaced


@pytest.mark.parametrize(
    ("edit", "at", "field", "reason"),
    [
        (
            ("holidays = []", 'holidays = ["12-24", "24-12"]'),
            "holidays =",
            "calendar.holidays.1",
            "not a date",
        ),
        (
            ('\n"Asia/Shanghai" = ["01-01"', '\n"Asia/Shanghai" = ["01-01", "2026-02-30"'),
            '"Asia/Shanghai"',
            "calendar.by_timezone.Asia/Shanghai.1",
            "not a date",
        ),
        (
            ('"Europe/Berlin" =', '"Europe/Berln" ='),
            '"Europe/Berln"',
            "calendar.by_timezone.Europe/Berln",
            "unknown IANA timezone",
        ),
        (("holidays = []", "holiday = []"), "holiday =", "calendar.holiday", "unknown field"),
    ],
)
def test_calendar_errors_name_file_line_and_field(
    tmp_path: Path, edit: tuple[str, str], at: str, field: str, reason: str
) -> None:
    text = SAMPLE.read_text()
    assert edit[0] in text
    text = text.replace(edit[0], edit[1], 1)
    line = next(n for n, t in enumerate(text.splitlines(), start=1) if t.startswith(at))
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(RulesFileError) as info:
        load_rules(path)
    assert (info.value.line, info.value.field) == (line, field)
    assert str(info.value).startswith(f"{path}:{line}: {field}: ")
    assert reason in str(info.value)


def test_rules_check_accepts_and_refuses_the_calendar(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["rules", "check", str(SAMPLE)])
    assert ok.exit_code == 0 and ": ok (" in ok.output
    assert "own lists for 12 timezones" in ok.output
    path = tmp_path / "rules.toml"
    path.write_text('[calendar]\nholidays = ["12-25", "12-32"]\n')
    bad = runner.invoke(app, ["rules", "check", str(path)])
    assert bad.exit_code == 2
    assert f"{path}:2: calendar.holidays.1: not a date" in bad.output.replace("\n", "")


def test_the_packaged_rules_file_and_the_models_defaults_agree() -> None:
    """One set of defaults: a service started without --rules (the packaged file) and
    code that builds `RuleSet()` judge alike."""
    from riskstream.rules.keeper import built_in_text

    assert parse_rules(built_in_text()) == RuleSet()


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    [
        ("coverage_below = 0.9", 'coverage_below = "0.9"', "coverage_below", "not str"),
        ("coverage_below = 0.9", "coverage_below = true", "coverage_below", "not bool"),
        ("min_repeats = 10", 'min_repeats = "10"', "min_repeats", "not str"),
        ("coverage_below = 0.9", "coverage_below = 0.99", "clear_above", "would flap"),
        ("coverage_below = 0.9", "coverage_below = 0.95", "clear_above", "would flap"),
        ("index_below = 0.7", "index_below = 0.85", "clear_above", "would flap"),
        ("clear_below = 0.035", "clear_below = 0.07", "clear_below", "would flap"),
    ],
)
def test_text_for_numbers_and_clear_levels_on_the_wrong_side_are_refused(
    old: str, new: str, field: str, reason: str
) -> None:
    sample = SAMPLE.read_text()
    assert old in sample
    text = sample.replace(old, new, 1)
    with pytest.raises(RulesFileError) as refused:
        parse_rules(text, "rules.toml")
    assert refused.value.field is not None and refused.value.field.endswith(field)
    assert reason in refused.value.reason
    assert refused.value.line is not None
    assert text.splitlines()[refused.value.line - 1].lstrip().startswith(field)
