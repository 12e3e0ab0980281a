"""The same goods pledged to two lenders of one service: each is told, of its own lot only."""

import pickle
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from devices.model import Fleet
from devices.reading import Reading
from devices.registry import Registry
from riskstream.api.app import create_app
from riskstream.engine.lenders import LenderEngines
from riskstream.engine.pledge_facts import FactHasher
from riskstream.rules.schema import RuleSet, parse_rules
from riskstream.service.database import open_service_database
from riskstream.service.runtime import Runtime
from riskstream.service.settings import ServiceSettings
from tests.fleets import small_fleet
from tests.riskstream.people import register_people
from tests.riskstream.test_api_access import login

NOW = time.time()
T0 = 1_796_000_400.0  # a bucket boundary of 10 minutes
KEY = b"k" * 32
SERIAL = "HBM-C16-0042817"
HAMBURG = (53.5461, 9.9661)
ABOUT_30_M_AWAY = (53.5463, 9.9664)
TAGS = [f"E2801160600002{n:010d}" for n in range(40)]

# what bank-b registers: none of it may reach bank-a's users, and the reverse
B_IDS = ["bank-b", "nordic", "Nordic Metals AB", "nm-loan-9", "nm-lot-7", "nm-yard", "nm-cell-1"]
A_IDS = ["bank-a", "b1-c1", "b1-l1", "b1-w1", "b1-d1", "Copper Trading"]


def bank_a(
    serial: str | None = SERIAL,
    place: tuple[float, float] | None = HAMBURG,
    tags: list[str] | None = None,
) -> Fleet:
    """`small_fleet` with b1's warehouse located, its lot tagged and its cell's serial."""
    data = small_fleet("bank-a").model_dump()
    b1 = data["borrowers"][0]
    b1["sites"][0]["location"] = place
    b1["devices"][0]["serial"] = serial
    b1["loans"][0]["collateral"][0]["rfid_tags"] = tags or []
    return Fleet.model_validate(data)


def bank_b(
    serial: str | None = SERIAL,
    place: tuple[float, float] | None = ABOUT_30_M_AWAY,
    tags: list[str] | None = None,
) -> Fleet:
    """Another lender's borrower with a lot of (maybe) the same goods, under its own ids."""
    return Fleet.model_validate(
        {
            "tenant": {"id": "bank-b", "name": "Bank B"},
            "borrowers": [
                {
                    "id": "nordic",
                    "name": "Nordic Metals AB",
                    "loans": [
                        {
                            "id": "nm-loan-9",
                            "principal": 3_000_000,
                            "collateral": [
                                {
                                    "id": "nm-lot-7",
                                    "quantity": 1000,
                                    "unit": "t",
                                    "unit_value": 7900,
                                    "advance_rate": 0.6,
                                    "site": "nm-yard",
                                    "rfid_tags": tags or [],
                                }
                            ],
                        }
                    ],
                    "sites": [{"id": "nm-yard", "kind": "warehouse", "location": place}],
                    "devices": [
                        {
                            "id": "nm-cell-1",
                            "kind": "load_cell",
                            "site": "nm-yard",
                            "collateral": "nm-lot-7",
                            "serial": serial,
                        }
                    ],
                }
            ],
        }
    )


def engines(a: Fleet, b: Fleet, key: bytes = KEY) -> LenderEngines:
    return LenderEngines([a, b], RuleSet(), wall_clock=lambda: NOW, platform_key=key)


def kinds(alerts: list[Any]) -> set[tuple[str, str]]:
    return {(a.tenant, a.kind) for a in alerts if a.kind == "pledged_elsewhere"}


def weigh(
    e: LenderEngines, moves_kg: list[float], start: float = T0, weight: float = 1_000_000.0
) -> list[Any]:
    """Both lots weighed every minute for 10 minutes per step, each step's weight being
    ``weight`` plus the running sum of ``moves_kg`` (the same goods: the same changes on
    both lenders' cells, give or take 40 kg of noise)."""
    changed: list[Any] = []
    for step, move in enumerate([0.0, *moves_kg, 0.0]):  # the last step closes the bucket
        weight += move
        for minute in range(10):
            ts = start + step * 600 + minute * 60
            batch = [
                Reading("bank-a", "b1-d1", ts, "weight_kg", weight + 20.0),
                Reading("bank-b", "nm-cell-1", ts + 3.0, "weight_kg", weight - 20.0),
            ]
            changed += e.process(batch)
    return changed + e.tick(start + (len(moves_kg) + 2) * 600)


@pytest.fixture
def two_lenders(tmp_path: Path) -> Iterator[tuple[TestClient, Runtime]]:
    """One service hosting bank-a and bank-b, whose lots b1-c1 and nm-lot-7 share a load
    cell's serial and lie about 30 m apart."""
    db = tmp_path / "rs.db"
    register_people(db)
    registry = Registry(open_service_database(db))
    registry.import_fleet(bank_a())
    registry.import_fleet(bank_b())
    runtime = Runtime(
        ServiceSettings(
            database=str(db),
            deadletter=tmp_path / "dead.jsonl",
            checkpoint=tmp_path / "engine.ckpt",
        )
    )
    with TestClient(create_app(runtime)) as client:
        yield client, runtime


def test_both_lenders_are_told_of_their_own_lot_and_nothing_of_the_other(
    two_lenders: tuple[TestClient, Runtime],
) -> None:
    client, runtime = two_lenders
    payload = orjson.dumps({"ts": NOW - 60, "seq": 1, "values": {"weight_kg": 1_000_000.0}})
    runtime.pipeline.handle("rs/v1/bank-a/b1-d1/telemetry", payload, NOW)
    runtime.on_batch(runtime.pipeline.drain())
    rita, bob = login(client, "rita", "rita-password"), login(client, "bob", "bob-password!")

    def pledged(headers: dict[str, str]) -> list[dict[str, Any]]:
        items = client.get("/api/alerts", headers=headers).json()["items"]
        return [a for a in items if a["kind"] == "pledged_elsewhere"]

    (mine,) = pledged(rita)
    (theirs,) = pledged(bob)
    assert (mine["tenant"], mine["borrower_id"], mine["loan_id"]) == ("bank-a", "b1", "b1-l1")
    assert (theirs["tenant"], theirs["borrower_id"]) == ("bank-b", "nordic")
    assert mine["severity"] == theirs["severity"] == "critical"
    assert mine["evidence"]["facts"] == ["device_serial", "site_location"]
    assert mine["evidence"]["device_serials"] == [{"device_id": "b1-d1", "serial": SERIAL}]
    assert mine["evidence"]["site_location"] == list(HAMBURG)
    assert theirs["evidence"]["device_serials"] == [{"device_id": "nm-cell-1", "serial": SERIAL}]
    assert theirs["evidence"]["site_location"] == list(ABOUT_30_M_AWAY)

    for headers, foreign in ((rita, B_IDS), (bob, A_IDS)):
        window = client.get(f"/api/alerts/{pledged(headers)[0]['id']}/evidence", headers=headers)
        assert window.status_code == 200, window.text
        text = orjson.dumps(
            [
                client.get("/api/alerts", headers=headers).json(),
                client.get(f"/api/alerts/{pledged(headers)[0]['id']}", headers=headers).json(),
                client.get(
                    f"/api/alerts/{pledged(headers)[0]['id']}/evidence", headers=headers
                ).json(),
            ]
        ).decode()
        for word in foreign:
            assert word not in text
    for coordinate in (*ABOUT_30_M_AWAY, *HAMBURG):
        assert (str(coordinate) in orjson.dumps(mine).decode()) == (coordinate in HAMBURG)

    # each lender works its own alert: bank-b resolving its own leaves bank-a's open
    done = client.post(
        f"/api/alerts/{theirs['id']}/resolve", headers=bob, json={"comment": "site visit booked"}
    )
    assert done.status_code == 200, done.text
    assert client.post(
        f"/api/alerts/{mine['id']}/ack", headers=bob, json={"comment": "not mine"}
    ).status_code in (403, 404)
    assert pledged(rita)[0]["status"] == "open"
    assert pledged(bob)[0]["status"] == "resolved"


def test_a_restart_keeps_the_alert_and_the_match(tmp_path: Path) -> None:
    ckpt = tmp_path / "engine.ckpt"
    tags = TAGS[:20]
    before = engines(bank_a(None, None, tags), bank_b(None, None, tags))
    assert not kinds(weigh(before, [-30_000.0, -25_000.0]))  # tags and 2 moves: not enough
    before.checkpoint(ckpt, {"fleets": "f"}, key=KEY)

    after = engines(bank_a(None, None, tags), bank_b(None, None, tags))
    after.restore(ckpt, {"fleets": "f"}, key=KEY)
    changed = weigh(after, [-18_000.0], start=T0 + 4 * 600, weight=945_000.0)
    assert kinds(changed) == {("bank-a", "pledged_elsewhere"), ("bank-b", "pledged_elsewhere")}
    (alert,) = [a for a in changed if a.tenant == "bank-a" and a.kind == "pledged_elsewhere"]
    assert alert.evidence["facts"] == ["rfid_tags", "weight_changes"]
    assert alert.evidence["rfid_tags_shared"] == 20
    moves = [round(c["change_kg"], -3) for c in alert.evidence["weight_changes"]]
    assert moves == [-30_000.0, -25_000.0, -18_000.0]

    again = engines(bank_a(None, None, tags), bank_b(None, None, tags))
    after.checkpoint(ckpt, {"fleets": "f"}, key=KEY)
    again.restore(ckpt, {"fleets": "f"}, key=KEY)
    assert not kinds(again.tick(T0 + 8 * 600))  # restored as it was: nothing new to tell
    assert {a.kind for a in again.open_alerts()} >= {"pledged_elsewhere"}


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (bank_a(serial="A-1"), bank_b(serial="B-2")),  # the same place only
        (bank_a(place=(53.60, 9.90)), bank_b()),  # the same serial, 7 km apart
        (bank_a(None, None, TAGS[:2]), bank_b(None, None, TAGS[:2])),  # 2 tags, no more
        (bank_a(None, HAMBURG, TAGS[:20]), bank_b(None, ABOUT_30_M_AWAY, TAGS[16:40])),
    ],
    ids=["place-only", "serial-only", "two-tags", "tags-below-share"],
)
def test_one_weak_fact_alone_raises_nothing(a: Fleet, b: Fleet) -> None:
    e = engines(a, b)
    assert not kinds(weigh(e, [-30_000.0]))
    assert not kinds(e.open_alerts())


def test_moves_at_other_times_are_not_moving_together() -> None:
    tags = TAGS[:20]
    e = engines(bank_a(None, None, tags), bank_b(None, None, tags))
    changed: list[Any] = []
    for step, (a_kg, b_kg) in enumerate([(0, 0), (-30_000, 0), (0, -30_000), (-20_000, 0)]):
        for minute in range(10):
            ts = T0 + step * 600 + minute * 60
            changed += e.process(
                [
                    Reading("bank-a", "b1-d1", ts, "weight_kg", 1e6 + a_kg * (step > 0)),
                    Reading("bank-b", "nm-cell-1", ts, "weight_kg", 1e6 + b_kg * (step > 0)),
                ]
            )
    assert not kinds(changed + e.tick(T0 + 3_000))


def test_the_matcher_holds_hashes_only_and_they_change_with_the_key() -> None:
    tags = TAGS[:20]
    e = engines(bank_a(tags=tags), bank_b(tags=tags))
    weigh(e, [-30_000.0, -25_000.0, -18_000.0])
    held = pickle.dumps(e.platform.matcher.__dict__)
    for word in [*A_IDS, *B_IDS, SERIAL, TAGS[0], "53.546", "30000"]:
        assert word.encode() not in held
    one, other = FactHasher(KEY), FactHasher(b"another platform secret, 32 chars")
    assert one.serial(SERIAL) != other.serial(SERIAL)
    assert one.tag(TAGS[0]) != other.tag(TAGS[0])
    assert one.place(*HAMBURG).own != other.place(*HAMBURG).own
    assert one.handle("lot", "bank-a", "b1-c1") != other.handle("lot", "bank-a", "b1-c1")
    assert one.serial(SERIAL) == one.serial(SERIAL.lower() + " ")
    assert one.place(*HAMBURG).own in one.place(*ABOUT_30_M_AWAY).around
    assert one.place(*HAMBURG).own not in one.place(53.5461, 9.9661 + 0.0025).around  # 165 m


def test_lenders_matched_under_different_keys_do_not_match() -> None:
    """Hashes of a key do not meet hashes of another: a checkpoint's changes are only
    compared under the key they were made with."""
    a_side = FactHasher(KEY)
    b_side = FactHasher(b"another platform secret, 32 chars")
    assert a_side.weight_change(10, -120).own not in b_side.weight_change(10, -120).around


def test_a_lenders_own_rules_set_its_alerts_but_not_the_platforms_thresholds() -> None:
    weakened = parse_rules(
        "[rules.pledged_elsewhere]\nmin_shared_tags = 1\nmin_tag_share = 0.01\n"
        'severity = "warning"\nscore = 40.0\n'
    )
    silent = parse_rules("[rules.pledged_elsewhere]\nenabled = false\n")
    two_tags = (bank_a(None, HAMBURG, TAGS[:2]), bank_b(None, ABOUT_30_M_AWAY, TAGS[:2]))
    e = LenderEngines(
        two_tags, RuleSet(), {"bank-a": weakened}, wall_clock=lambda: NOW, platform_key=KEY
    )
    assert not kinds(weigh(e, [-30_000.0]))  # 2 tags stay below the platform's 3

    e = LenderEngines(
        (bank_a(), bank_b()),
        RuleSet(),
        {"bank-a": weakened, "bank-b": silent},
        wall_clock=lambda: NOW,
        platform_key=KEY,
    )
    changed = weigh(e, [])
    (alert,) = [a for a in changed if a.kind == "pledged_elsewhere"]
    assert (alert.tenant, alert.severity) == ("bank-a", "warning")
    assert alert.evidence["facts"] == ["device_serial", "site_location"]


def test_the_service_keeps_its_platform_key_across_restarts(tmp_path: Path) -> None:
    settings = ServiceSettings(
        database=str(tmp_path / "rs.db"),
        deadletter=tmp_path / "dead.jsonl",
        checkpoint=tmp_path / "state" / "engine.ckpt",
    )
    first, second = Runtime(settings), Runtime(settings)
    assert first.platform_key == second.platform_key
    key_file = tmp_path / "state" / "platform.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    other = ServiceSettings(
        database=str(tmp_path / "rs.db"),
        deadletter=tmp_path / "dead.jsonl",
        checkpoint=tmp_path / "other" / "engine.ckpt",
    )
    assert Runtime(other).platform_key != first.platform_key


def test_each_alert_is_dated_in_its_own_lenders_event_time() -> None:
    e = engines(bank_a(), bank_b())
    changed = e.process(
        [
            Reading("bank-b", "nm-cell-1", T0 + 7_200.0, "weight_kg", 1e6),
            Reading("bank-a", "b1-d1", T0, "weight_kg", 1e6),
        ]
    )
    opened = {a.tenant: a.opened_at for a in changed if a.kind == "pledged_elsewhere"}
    assert opened == {"bank-a": T0, "bank-b": T0 + 7_200.0}  # not bank-b's time at bank-a
