"""TOML within bounds: nesting, integer size, finite numbers; rules text that breaks
them is refused with a reason (and a line where one can be told), never a crash."""

import tomllib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskstream.errors import RulesFileError
from riskstream.rules.schema import parse_rules
from riskstream.rules.toml_guard import MAX_DEPTH, MAX_INT, TomlLimitError, load_toml


def nested_array(depth: int) -> str:
    return "a = " + "[" * depth + "1" + "]" * depth


def nested_inline(depth: int) -> str:
    return "a = " + "{b = " * depth + "1" + "}" * depth


@pytest.mark.parametrize("make", [nested_array, nested_inline])
def test_nesting_up_to_the_bound_parses_and_beyond_is_refused_with_its_line(
    make: Callable[[int], str],
) -> None:
    load_toml(make(MAX_DEPTH))
    with pytest.raises(TomlLimitError, match="nested deeper than 32") as refused:
        load_toml("x = 1\n" + make(MAX_DEPTH + 1))
    assert refused.value.line == 2
    for depth in (500, 100_000):  # tomllib's own recursion would fail at a few hundred
        with pytest.raises(TomlLimitError):
            load_toml(make(depth))


def test_brackets_in_strings_and_comments_do_not_count() -> None:
    deep = "[" * 100
    text = (
        f"a = \"{deep}\"\nb = '{deep}'\n# {deep}\n"
        f'c = """\n{deep} \\""" {deep}\n"""\n'
        f"d = '''\n{deep}\n'''\ne = [\"]\", '[', \"\"\"x\"\"\"]\n"
    )
    assert load_toml(text)["e"] == ["]", "[", "x"]


def test_deep_tables_and_dotted_keys_are_refused() -> None:
    with pytest.raises(TomlLimitError, match="nested deeper") as refused:
        load_toml("a" + ".a" * 5000 + " = 1")
    assert refused.value.keys == ["a"] * (MAX_DEPTH + 1)
    with pytest.raises(TomlLimitError, match="nested deeper"):
        load_toml("[" + ".".join(["t"] * 40) + "]")


def test_integers_beyond_64_bits_and_non_finite_floats_are_refused() -> None:
    assert load_toml(f"a = {MAX_INT}\nb = -{MAX_INT}")["a"] == MAX_INT
    with pytest.raises(TomlLimitError, match="too many digits") as refused:
        load_toml("x = 1\na = " + "1" * 5000)  # int() refuses over 4,300 digits
    assert refused.value.line == 2
    for text in (f"a = {MAX_INT + 1}", "a = 0x" + "f" * 5000, "[t]\na = [1, -" + "9" * 40 + "]"):
        with pytest.raises(TomlLimitError, match="integer out of range"):
            load_toml(text)
    for literal in ("nan", "+inf", "-inf", "1e999"):
        with pytest.raises(TomlLimitError, match="must be finite") as refused:
            load_toml(f"[t]\na = {{b = {literal}}}")
        assert refused.value.keys == ["t", "a", "b"]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="[]{}\"'#=a1.,\n \\x_-", max_size=300))
def test_any_text_parses_or_is_refused_cleanly(text: str) -> None:
    try:
        load_toml(text)
    except (tomllib.TOMLDecodeError, TomlLimitError):
        pass


@pytest.mark.parametrize(
    ("text", "line", "field", "reason"),
    [
        (nested_array(2000), 1, None, "arrays or inline tables nested deeper than 32 levels"),
        ("[rules.device_silent]\nmin_silence = " + "1" * 5000, 2, None, "too many digits"),
        (
            "[rules.values_stuck]\nmin_repeats = 0x" + "f" * 5000,
            2,
            "rules.values_stuck.min_repeats",
            "integer out of range",
        ),
        (
            "[rules.cold_chain_excursion]\ntolerance_c = inf",
            2,
            "rules.cold_chain_excursion.tolerance_c",
            "must be finite",
        ),
        (
            "[rules.inventory_below_pledge]\nfor = '" + "9" * 400 + "s'",
            2,
            "rules.inventory_below_pledge.for",
            "finite number",
        ),
        ('[rules]\n"²" = 1', 2, "rules.²", "unknown field"),
        ('[rules]\n"' + "9" * 5000 + '" = 1', 2, "rules." + "9" * 5000, "unknown field"),
    ],
)
def test_rules_text_beyond_the_bounds_is_refused_with_line_field_and_reason(
    text: str, line: int, field: str | None, reason: str
) -> None:
    with pytest.raises(RulesFileError) as refused:
        parse_rules(text, "rules.toml")
    assert refused.value.line == line
    assert refused.value.field == field
    assert reason in refused.value.reason
    assert len(refused.value.reason) < 300
