"""The credit matrix: component scores and reasons, segments, weights handed over when a
component lacks data, the rules file's validation and the engine's matrix score."""

from pathlib import Path

import pytest

from devices.model import Borrower, Device, DeviceKind
from riskstream.engine.alerts import Alert
from riskstream.engine.core import Engine
from riskstream.engine.coverage import LotCoverage
from riskstream.errors import RulesFileError
from riskstream.rules.matrix import COMPONENTS, MatrixSettings, Weights
from riskstream.rules.schema import load_rules, parse_rules
from riskstream.scoring.components import BorrowerFacts, ComponentScore, components
from riskstream.scoring.matrix import combine, segment_of
from riskstream.scoring.repayment import RepaymentRecord
from tests.fleets import small_fleet
from tests.riskstream.test_engine import INSIDE, run

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "config" / "rules.toml"
DAY = 86_400.0


def alert(kind: str, severity: str, subject: str = "d1") -> Alert:
    return Alert(
        id=f"{kind}-{subject}",
        tenant="t",
        borrower_id="b1",
        loan_id=None,
        site_id=None,
        device_id=subject,
        kind=kind,
        subject=subject,
        severity=severity,  # type: ignore[arg-type]
        status="open",
        opened_at=0.0,
        detected_at=0.0,
        updated_at=0.0,
        score=0.0,
        reasons=[],
        evidence={},
        rule=kind,
    )


def facts(**changes: object) -> BorrowerFacts:
    base: dict[str, object] = {
        "alerts": [],
        "lots": [],
        "unit_values": {"c1": 8000.0},
        "currency": "EUR",
        "has_collateral": True,
        "has_production": True,
        "coverage_volatility": None,
        "history_days": 60.0,
        "min_history_days": 30.0,
        "repayment": RepaymentRecord(),
        "loan_events_known": True,
        "model_p": 0.25,
        "model_bad_outcomes": 3,
        "coverage_bands": [(1.1, 0.0), (1.0, 10.0), (0.9, 30.0), (0.0, 60.0)],
    }
    base.update(changes)
    return BorrowerFacts(**base)  # type: ignore[arg-type]


def by_name(parts: list[ComponentScore]) -> dict[str, ComponentScore]:
    return {p.name: p for p in parts}


def test_each_component_scores_its_own_evidence_with_reasons() -> None:
    record = RepaymentRecord()
    record.take("payment_missed", 10 * DAY)
    record.take("payment_missed", 40 * DAY)
    parts = by_name(
        components(
            facts(
                alerts=[
                    alert("inventory_below_pledge", "critical", "c1"),
                    alert("machine_idle", "warning"),
                    alert("collateral_moved_out_of_hours", "warning"),
                    alert("data_integrity", "info"),
                    alert("anomaly", "info"),
                    alert("my_custom_rule", "warning"),
                ],
                lots=[LotCoverage("c1", 0.95, 950.0, 1000.0, "t")],
                coverage_volatility=0.05,
                repayment=record,
            ),
            now=50 * DAY,
        )
    )
    assert list(parts) == list(COMPONENTS)
    collateral = parts["collateral"]
    # band [0.9, 30] of a top of 60 = 50, volatility 5 % of the 10 % full = 15, critical 70
    assert collateral.score == 100.0
    assert collateral.reasons == [
        "worst coverage 95% of pledge on lot c1: +50; value short of pledges 400,000 EUR",
        "stock volatility: daily change of coverage σ 5.0%: +15",
        "open critical alert inventory_below_pledge on c1: +70",
        "capped at 100",
    ]
    assert parts["operations"].score == 40.0
    assert parts["operations"].reasons == ["open warning alert machine_idle on d1: +40"]
    assert parts["conduct"].score == 55.0  # warning 40 + info 15
    assert parts["behaviour"].score == 55.0, "anomaly and custom rules: what rules do not name"
    assert parts["repayment"].score == 65.0  # 40 for the first miss, 25 for the next
    assert parts["repayment"].reasons == ["2 payment(s) missed in a row, not cured: 65 points"]
    assert parts["outcome_model"].score == 25.0
    assert all(p.has_data for p in parts.values())


def test_repayment_record_cures_and_defaults() -> None:
    record = RepaymentRecord()
    assert record.score(0.0) == (0.0, ["no missed payment in the last 365 days: 0 points"])
    record.take("payment_missed", 0.0)
    record.take("cured", DAY)
    assert record.score(2 * DAY)[0] == 15.0
    assert record.score(400 * DAY)[0] == 0.0, "a cured miss over a year old counts no more"
    record.take("default", 3 * DAY)
    assert record.score(4 * DAY) == (100.0, ["a loan is in default: 100 points"])


def test_components_without_data_say_why() -> None:
    parts = by_name(
        components(
            facts(
                has_production=False,
                history_days=12.5,
                loan_events_known=False,
                model_bad_outcomes=0,
                has_collateral=False,
            ),
            now=0.0,
        )
    )
    lacking = {name: p.reasons for name, p in parts.items() if not p.has_data}
    assert lacking == {
        "collateral": ["no pledged collateral"],
        "operations": ["no production line"],
        "behaviour": ["12.5 days of data, under 30 days"],
        "repayment": ["no loan events received from the lender"],
        "outcome_model": ["no bad outcome learned yet"],
    }
    assert parts["conduct"].has_data


def test_weight_of_a_component_without_data_goes_to_the_others() -> None:
    parts = [
        ComponentScore("collateral", 80.0, True, ["x"]),
        ComponentScore("operations", 0.0, False, ["no production line"]),
        ComponentScore("conduct", 40.0, True, ["y"]),
        ComponentScore("behaviour", 0.0, True, ["z"]),
        ComponentScore("repayment", 0.0, True, ["r"]),
        ComponentScore("outcome_model", 50.0, True, ["m"]),
    ]
    matrix = combine("default", Weights(), parts)
    rows = {row.component: row for row in matrix.rows}
    assert rows["operations"].weight == 0.2 and rows["operations"].weight_used == 0.0
    assert rows["collateral"].weight_used == pytest.approx(0.30 / 0.80, abs=1e-4)
    assert sum(row.weight_used for row in matrix.rows) == pytest.approx(1.0, abs=1e-3)
    # (0.30·80 + 0.15·40 + 0.10·50) / 0.80
    assert matrix.score == pytest.approx((24 + 6 + 5) / 0.8, abs=0.1)
    assert matrix.notes == [
        "operations lacks data (no production line): its weight 20% goes to the others"
    ]


def test_first_matching_segment_gives_the_weights() -> None:
    rules = parse_rules(
        """
[[scoring.matrix.segments]]
name = "new"
max_history_days = 30
weights = { collateral = 1, operations = 0, conduct = 0, behaviour = 0, repayment = 0, outcome_model = 0 }

[[scoring.matrix.segments]]
name = "large traders"
industry = ["metals trading"]
size = ["large"]
fields = { timezone = ["Europe/Berlin"] }
weights = { collateral = 0, operations = 0, conduct = 1, behaviour = 0, repayment = 0, outcome_model = 0 }
"""
    )
    matrix = rules.scoring.matrix

    def borrower(principal: float, industry: str = "metals trading") -> Borrower:
        return Borrower.model_validate(
            {
                "id": "b",
                "industry": industry,
                "timezone": "Europe/Berlin",
                "loans": [{"id": "l", "principal": principal}],
            }
        )

    assert segment_of(matrix, borrower(2e7), 10.0)[0] == "new"
    assert segment_of(matrix, borrower(2e7), 30.0)[0] == "large traders"
    assert segment_of(matrix, borrower(5e6), 30.0)[0] == "default", "medium size"
    assert segment_of(matrix, borrower(2e7, "chemicals"), 90.0)[0] == "default"


@pytest.mark.parametrize(
    ("text", "line", "field", "reason"),
    [
        (
            "[scoring.matrix.default]\ncollateral = -1\n",
            2,
            "scoring.matrix.default.collateral",
            "greater than or equal to 0",
        ),
        (
            "[scoring.matrix.default]\ncollateral = 0\noperations = 0\nconduct = 0\n"
            "behaviour = 0\nrepayment = 0\noutcome_model = 0\n",
            1,
            "scoring.matrix.default",
            "at least one weight must be above 0",
        ),
        (
            '[scoring.matrix.default]\nconduct = "high"\n',
            2,
            "scoring.matrix.default.conduct",
            "number",
        ),
        (
            "[scoring.matrix.default]\ncolateral = 0.3\n",
            2,
            "scoring.matrix.default.colateral",
            "unknown",
        ),
        (
            '[scoring]\nscore_from = "x"\n\n[[scoring.matrix.segments]]\nname = "a"\n',
            2,
            "scoring.score_from",
            "scorecard",
        ),
        (
            '[scoring.matrix]\n\n[[scoring.matrix.segments]]\nname = "a"\n\n'
            '[[scoring.matrix.segments]]\nname = "b"\nsize = ["huge"]\n',
            8,
            "scoring.matrix.segments.1.size.0",
            "small",
        ),
        (
            '[[scoring.matrix.segments]]\nname = "a"\nfields = { colour = ["red"] }\n',
            3,
            "scoring.matrix.segments.0.fields",
            "unknown borrower field 'colour'",
        ),
        (
            '[[scoring.matrix.segments]]\nname = "a"\nmin_history_days = 30\n'
            "max_history_days = 10\n",
            1,
            "scoring.matrix.segments.0",
            "max_history_days must be above min_history_days",
        ),
        (
            '[[scoring.matrix.segments]]\nname = "a"\n[[scoring.matrix.segments]]\nname = "a"\n',
            4,
            "scoring.matrix.segments.1.name",
            "used twice",
        ),
    ],
)
def test_matrix_errors_name_file_line_and_field(
    tmp_path: Path, text: str, line: int, field: str, reason: str
) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(RulesFileError) as info:
        load_rules(path)
    assert (info.value.line, info.value.field) == (line, field), str(info.value)
    assert reason in str(info.value)
    assert str(info.value).startswith(f"{path}:{line}: {field}: ")


def test_shipped_matrix_files_load() -> None:
    assert load_rules(SAMPLE).scoring.matrix == MatrixSettings()
    segments = load_rules(ROOT / "config" / "matrix-segments.toml").scoring.matrix.segments
    assert [s.name for s in segments] == ["new", "traders", "manufacturers"]


def test_a_power_meter_gives_operations_data_and_the_engine_keeps_no_device_records() -> None:
    fleet = small_fleet()
    b1 = fleet.borrowers[0]
    meter = Device(id="b1-pm", kind=DeviceKind.POWER_METER, site="b1-w1", secret="s3cret")
    with_meter = b1.model_copy(update={"devices": [*b1.devices, meter]})
    fleet = fleet.model_copy(update={"borrowers": [with_meter, *fleet.borrowers[1:]]})
    engine = Engine([fleet], parse_rules(SAMPLE.read_text()), wall_clock=lambda: 42.0)
    run(engine, range(0, 10), 850.0, INSIDE)
    rows = {row["component"]: row for row in engine.borrower_risk("b1").matrix["components"]}
    assert rows["operations"]["has_data"], "a power meter is a production line's device"
    assert engine.index.borrower_records["b1"].devices == []  # no secret kept twice
    assert engine.index.device_kinds["b1"] >= {DeviceKind.POWER_METER}
    assert "b1-pm" in engine.index.devices


def test_engine_gives_every_borrower_its_matrix_and_can_make_it_the_headline() -> None:
    text = SAMPLE.read_text()
    engine = Engine([small_fleet()], parse_rules(text), wall_clock=lambda: 42.0)
    run(engine, range(0, 10), 850.0, INSIDE)  # 85 % coverage
    risk = engine.borrower_risk("b1")
    matrix = risk.matrix
    assert matrix["segment"] == "default"
    rows = {row["component"]: row for row in matrix["components"]}
    assert list(rows) == list(COMPONENTS)
    assert rows["collateral"]["score"] == 100.0  # the lowest coverage band
    assert not rows["operations"]["has_data"], "the small fleet has no production line"
    assert "operations lacks data (no production line)" in matrix["notes"][0]
    assert risk.score != matrix["score"], "the scorecard is the headline by default"

    headline = text.replace('score_from = "scorecard"', 'score_from = "matrix"')
    engine = Engine([small_fleet()], parse_rules(headline), wall_clock=lambda: 42.0)
    run(engine, range(0, 10), 850.0, INSIDE)
    risk = engine.borrower_risk("b1")
    assert risk.score == risk.matrix["score"]
    assert risk.reasons[0] == f"credit matrix {risk.score:g} (segment default)"
