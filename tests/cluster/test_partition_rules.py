"""Rules that travel in a risk partition's stream, without a server: in force from the
first device message after the telemetry sequence number they name, wherever they land
among the readings; kept by the partition's checkpoint (in force or still waiting); and
refused (the rules before staying in force) when the text is not valid or a lender's
rules name another lender."""

import pytest

from devices.model import KG_PER_UNIT, DeviceKind, Fleet
from devices.reading import Reading
from riskstream.cluster.messages import RiskMessage, decode_risk, encode_rules
from riskstream.cluster.partition_engine import PartitionEngine
from riskstream.engine.alerts import Alert
from riskstream.rules.keeper import built_in_text
from riskstream.rules.schema import RuleSet, parse_rules
from simulator import generate_fleet

START = 1_795_000_000.0
KEY = b"k" * 32
LOOSE = ("coverage_below = 0.8", "clear_above = 0.82")
TIGHT = ("coverage_below = 0.9", "clear_above = 0.95")


def rules_text(bounds: tuple[str, str]) -> str:
    """The built-in rules with the inventory table's bounds ``bounds``."""
    head, table = built_in_text().split("[rules.inventory_below_pledge]\n", 1)
    for line, wanted in zip(TIGHT, bounds, strict=True):
        assert line in table
        table = table.replace(line, wanted, 1)
    return f"{head}[rules.inventory_below_pledge]\n{table}"


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return generate_fleet(1, 4)


def cell_and_kg(fleet: Fleet) -> tuple[str, float]:
    borrower = fleet.borrowers[0]
    lots = {c.id: c for loan in borrower.loans for c in loan.collateral}
    cell = next(
        d
        for d in borrower.devices
        if d.kind is DeviceKind.LOAD_CELL
        and d.collateral in lots
        and lots[d.collateral].unit in KG_PER_UNIT
    )
    lot = lots[cell.collateral or ""]
    return cell.id, 0.85 * lot.quantity * KG_PER_UNIT[lot.unit]


def readings(fleet: Fleet, first: int, count: int) -> list[RiskMessage]:
    cell, kg = cell_and_kg(fleet)
    return [
        RiskMessage(
            [Reading(fleet.tenant.id, cell, START + 60.0 * n, "weight_kg", kg, n + 1)],
            source=0,
            seq=n + 1,
        )
        for n in range(first, first + count)
    ]


def feed(engine: PartitionEngine, messages: list[RiskMessage], first_seq: int) -> list[Alert]:
    changed: list[Alert] = []
    for offset, message in enumerate(messages):
        changed += engine.apply(message, first_seq + offset)
    return changed


def inventory(changed: list[Alert]) -> list[Alert]:
    return [a for a in changed if a.kind == "inventory_below_pledge"]


def fresh(fleet: Fleet) -> PartitionEngine:
    return PartitionEngine(0, 1, [fleet], parse_rules(rules_text(LOOSE)), sources=1)


def tight_message(scope: str = "", text: str | None = None, after: int = 0) -> RiskMessage:
    return decode_risk(encode_rules(scope, 2, rules_text(TIGHT) if text is None else text, after))


def test_rules_in_the_stream_apply_from_their_place_on(fleet: Fleet) -> None:
    engine = fresh(fleet)
    assert inventory(feed(engine, readings(fleet, 0, 90), 1)) == []
    feed(engine, [tight_message(after=90)], 91)
    assert engine.rules_in_force == {"": (2, rules_text(TIGHT))}
    raised = inventory(feed(engine, readings(fleet, 90, 60), 92))
    assert raised, "the tight rules raise on 85 %"
    assert raised[0].opened_at == START + 60.0 * 90, "from the first reading after them"


def test_rules_that_overtake_readings_wait_for_the_messages_they_follow(fleet: Fleet) -> None:
    """The API tier's rules reach the risk stream before the last device messages sent
    before the change: those are still judged under the rules before."""
    engine = fresh(fleet)
    early = [*readings(fleet, 0, 60), tight_message(after=90), *readings(fleet, 60, 90)]
    raised = inventory(feed(engine, early, 1))
    assert raised and raised[0].opened_at == START + 60.0 * 90


def test_a_lenders_rules_apply_to_its_engine(fleet: Fleet) -> None:
    engine = fresh(fleet)
    feed(engine, [tight_message(fleet.tenant.id)], 1)
    assert (
        engine.engines.own_rules[fleet.tenant.id].rules.inventory_below_pledge.coverage_below == 0.9
    )
    assert inventory(feed(engine, readings(fleet, 0, 60), 2))


def test_the_next_owner_starts_on_the_rules_the_stream_put_in_force(fleet: Fleet) -> None:
    first = fresh(fleet)
    feed(first, [*readings(fleet, 0, 10), tight_message(after=10)], 1)
    saved = first.checkpoint(KEY)
    second = fresh(fleet)
    second.restore(saved, KEY)
    assert second.rules_in_force == first.rules_in_force
    raised = inventory(feed(second, readings(fleet, 10, 60), 12))
    assert raised and raised[0].opened_at == START + 600.0


def test_rules_still_waiting_survive_a_checkpoint(fleet: Fleet) -> None:
    first = fresh(fleet)
    feed(first, [*readings(fleet, 0, 10), tight_message(after=20)], 1)
    assert first.rules_in_force == {}
    second = fresh(fleet)
    second.restore(first.checkpoint(KEY), KEY)
    raised = inventory(feed(second, readings(fleet, 10, 70), 12))
    assert raised and raised[0].opened_at == START + 60.0 * 20


@pytest.mark.parametrize(
    ("scope", "text"),
    [
        ("", "[rules.inventory_below_pledge]\ncoverage_below = 7\n"),
        ("", "not = [toml"),
        ("demo-bank", '[[overrides]]\ntenant = "another-bank"\n[overrides.rules.inventory_below_pledge]\ncoverage_below = 0.99\n'),
    ],
)  # fmt: skip
def test_rules_refused_leave_the_rules_before_in_force(fleet: Fleet, scope: str, text: str) -> None:
    engine = fresh(fleet)
    before = engine.engines.rules_of(fleet.tenant.id)
    feed(engine, [tight_message(scope, text)], 1)
    assert engine.rules_in_force == {}
    assert engine.engines.rules_of(fleet.tenant.id) is before
    assert inventory(feed(engine, readings(fleet, 0, 90), 2)) == []
    assert isinstance(before, RuleSet)
