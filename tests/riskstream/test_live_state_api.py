"""The borrower answers of an API process on a cluster (`serve --nats`), from the live
states it holds and the alerts in its database: the same shapes and figures as the
engine they came from, with the state's age; a loan officer still sees only their
portfolio. The states are taken by the API's own cache, as its watch of the bucket
takes them (the watch itself runs against real servers in
``tests/cluster/test_live_state.py``)."""

from pathlib import Path

import msgspec
import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from devices.reading import Reading
from riskstream.api import live_view
from riskstream.api.app import create_app
from riskstream.api.views import BorrowerRiskOut, BorrowerRow
from riskstream.cluster.layout import live_state_key
from riskstream.engine.alerts import Alert
from riskstream.engine.coverage_history import BUCKET_S, LotHistory
from riskstream.engine.live_state import borrower_state, encode_state
from riskstream.service.runtime import Runtime
from riskstream.service.settings import ServiceSettings
from tests.riskstream.people import register_people
from tests.riskstream.test_api_access import login

T0 = 1_795_000_000.0
SENT = T0 + 30.0


def _alert(borrower_id: str, severity: str, status: str = "open") -> Alert:
    return Alert(
        id=f"{borrower_id}-{severity}", tenant="bank-a", borrower_id=borrower_id,
        loan_id=None, site_id=None, device_id=None, kind="inventory_below_pledge",
        subject=f"{borrower_id}-c1", severity=severity, status=status, opened_at=T0,
        detected_at=T0, updated_at=T0, score=50.0, reasons=["low"], evidence={},
        rule="rules.inventory_below_pledge",
    )  # fmt: skip


@pytest.fixture
def both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Runtime, Runtime]:
    """(one process whose engine took the readings, an API process of a cluster that
    holds that engine's states), on the same people and fleet."""
    register_people(tmp_path / "one.db")
    register_people(tmp_path / "api.db")
    one = Runtime(ServiceSettings(database=str(tmp_path / "one.db"), deadletter=None))
    api = Runtime(
        ServiceSettings(
            database=str(tmp_path / "api.db"), deadletter=None, nats="nats://127.0.0.1:9"
        )
    )
    engine = one.engines.of("bank-a")
    engine.process(
        [
            Reading("bank-a", "b1-d1", T0, "weight_kg", 850_000.0, 1),
            Reading("bank-a", "b2-d1", T0, "weight_kg", 500_000.0, 1),
        ]
    )
    assert api.cluster is not None
    for borrower_id in ("b1", "b2"):
        one.engines.of("bank-a").borrower_risk(borrower_id)  # as one process's page records
        state = msgspec.structs.replace(
            borrower_state(engine, borrower_id), published_at=SENT, worker="r7"
        )
        assert api.cluster.live.take(live_state_key("bank-a", borrower_id), encode_state(state))
    api.alerts.save([_alert("b1", "critical"), _alert("b1", "warning", "acknowledged")])
    api.alerts.save([_alert("b2", "info", "resolved")])
    monkeypatch.setattr(live_view, "wall_clock", lambda: SENT + 12.5)
    return one, api


def _engine_fields(body: dict[str, object]) -> dict[str, object]:
    keys = ("score", "computed_at", "reasons", "components", "matrix", "collateral", "exposure")
    return {k: body[k] for k in keys}


def test_the_borrower_page_of_a_cluster_shows_the_engines_figures_and_their_age(
    both: tuple[Runtime, Runtime],
) -> None:
    one, api = both
    with TestClient(create_app(one)) as single, TestClient(create_app(api)) as cluster:
        _compare(single, cluster)


def _compare(single: TestClient, cluster: TestClient) -> None:
    rita_one = login(single, "rita", "rita-password")
    rita = login(cluster, "rita", "rita-password")
    mine = cluster.get("/api/borrowers/b1", headers=rita).json()
    same = single.get("/api/borrowers/b1", headers=rita_one).json()
    assert _engine_fields(mine) == _engine_fields(same)
    assert mine["score_history"] == same["score_history"] == [{"ts": T0, "value": 60.0}]
    assert mine["live_state"] == {
        "source": "risk_worker", "worker": "r7", "published_at": SENT, "age_s": 12.5,
        "stale_after_s": 120.0, "stale": False,
    }  # fmt: skip
    assert same["live_state"]["source"] == "engine"
    assert mine["window_end"] == T0 + 1.0  # the state's event time, not the wall clock
    risk = cluster.get("/api/borrowers/b1/risk", headers=rita).json()
    assert (risk["score"], risk["history"]) == (60.0, [{"ts": T0, "score": 60.0}])
    assert {a["id"] for a in risk["open_alerts"]} == {"b1-critical", "b1-warning"}
    rows = {r["borrower_id"]: r for r in cluster.get("/api/borrowers", headers=rita).json()}
    assert (rows["b1"]["open_alerts"], rows["b2"]["open_alerts"]) == (2, 0)
    page = cluster.get("/api/portfolio", headers=rita).json()
    page_one = single.get("/api/portfolio", headers=rita_one).json()
    assert page["event_time"] == T0
    assert page["open_alerts"] == {"critical": 1, "warning": 1, "info": 0, "total": 2}
    assert [r["borrower_id"] for r in page["items"]] == [
        r["borrower_id"] for r in page_one["items"]
    ]
    assert [r["coverage"] for r in page["items"]] == [r["coverage"] for r in page_one["items"]]
    critical = cluster.get("/api/portfolio?severity=critical", headers=rita).json()
    assert [r["borrower_id"] for r in critical["items"]] == ["b1"]


def test_a_loan_officer_of_a_cluster_sees_only_their_portfolio_and_no_state_is_shown_unsent(
    both: tuple[Runtime, Runtime],
) -> None:
    _, api = both
    with TestClient(create_app(api)) as cluster:
        _officer(api, cluster)


def _officer(api: Runtime, cluster: TestClient) -> None:
    anna = login(cluster, "anna", "anna-password")  # officer of b1 only
    assert cluster.get("/api/borrowers/b2", headers=anna).status_code == 404
    assert [r["borrower_id"] for r in cluster.get("/api/borrowers", headers=anna).json()] == ["b1"]
    bob = login(cluster, "bob", "bob-password!")  # bank-b: no such borrower
    assert cluster.get("/api/borrowers/b1", headers=bob).status_code == 404
    assert api.cluster is not None
    api.cluster.live.take(live_state_key("bank-a", "b1"), None, "DEL")
    body = cluster.get("/api/borrowers/b1", headers=anna).json()
    assert body["live_state"]["source"] == "none" and body["collateral"][0]["on_hand"] is None
    assert body["live_state"]["stale"] is True


def test_a_borrower_with_no_state_sent_has_no_component_score_to_rank_or_filter_by(
    both: tuple[Runtime, Runtime],
) -> None:
    """Its matrix is a borrower without data's: components scored 0 "with data" would rank
    and pass a component filter as a real 0 does."""
    _, api = both
    assert api.cluster is not None
    with TestClient(create_app(api)) as cluster:
        rita = login(cluster, "rita", "rita-password")
        before = cluster.get("/api/portfolio?component=collateral", headers=rita).json()
        assert [r["borrower_id"] for r in before["items"]] == ["b1", "b2"]
        api.cluster.live.take(live_state_key("bank-a", "b2"), None, "DEL")
        rows = {
            r["borrower_id"]: r for r in cluster.get("/api/portfolio", headers=rita).json()["items"]
        }
        assert rows["b2"]["live_state"]["source"] == "none"
        assert set(rows["b2"]["component_scores"].values()) == {None}
        assert rows["b1"]["component_scores"]["collateral"] is not None
        only = cluster.get(
            "/api/portfolio?component=collateral&component_min=0", headers=rita
        ).json()
        assert [r["borrower_id"] for r in only["items"]] == ["b1"]
        ranked = cluster.get("/api/portfolio?sort=collateral", headers=rita).json()
        assert [r["borrower_id"] for r in ranked["items"]] == ["b1", "b2"]  # no data: last


def test_a_state_older_than_two_minutes_is_stale(
    both: tuple[Runtime, Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, api = both
    with TestClient(create_app(api)) as cluster:
        rita = login(cluster, "rita", "rita-password")
        seen = []
        for age in (0.0, live_view.STALE_AFTER_S, live_view.STALE_AFTER_S + 0.001, 86_400.0):
            monkeypatch.setattr(live_view, "wall_clock", lambda age=age: SENT + age)
            state = cluster.get("/api/borrowers/b1", headers=rita).json()["live_state"]
            seen.append((state["age_s"], state["stale"]))
            row = cluster.get("/api/portfolio", headers=rita).json()["items"][0]["live_state"]
            assert row["stale"] is state["stale"]
        assert seen == [(0.0, False), (120.0, False), (120.001, True), (86_400.0, True)]
        # a worker whose clock runs ahead: age 0, never negative
        monkeypatch.setattr(live_view, "wall_clock", lambda: SENT - 50.0)
        state = cluster.get("/api/borrowers/b1", headers=rita).json()["live_state"]
        assert (state["age_s"], state["stale"]) == (0.0, False)


def test_the_coverage_chart_of_a_cluster_comes_from_the_history_its_risk_worker_sent(
    both: tuple[Runtime, Runtime],
) -> None:
    one, api = both
    engine = one.engines.of("bank-a")
    engine.coverage.keep_history()
    every = BUCKET_S
    engine.process(
        [
            Reading("bank-a", "b1-d1", T0 + k * every, "weight_kg", 850_000.0 - 10_000 * k, 2 + k)
            for k in range(1, 5)
        ]
    )
    sent = borrower_state(engine, "b1")
    stray = LotHistory("b2-c1", T0, every, [0.5])  # another borrower's lot: never shown
    sent = msgspec.structs.replace(
        sent, published_at=SENT, worker="r7", coverage_history=[*sent.coverage_history, stray]
    )
    assert api.cluster is not None
    assert api.cluster.live.take(live_state_key("bank-a", "b1"), encode_state(sent))
    first = (T0 // every + 1) * every  # the bucket of the first reading after T0
    expected = [{"ts": first + k * every, "value": round(0.84 - 0.01 * k, 4)} for k in range(4)]
    with TestClient(create_app(api)) as cluster:
        rita = login(cluster, "rita", "rita-password")
        body = cluster.get("/api/borrowers/b1", headers=rita).json()
        assert body["coverage_history"] == [
            {"collateral_id": "b1-c1", "unit": "t", "points": expected}
        ]
        # a narrower window, and fewer points: each group's last value at its first bucket
        narrow = cluster.get(
            "/api/borrowers/b1",
            params={"start": first + every, "end": first + 4 * every, "points": 2},
            headers=rita,
        ).json()["coverage_history"][0]["points"]
        assert narrow == [
            {"ts": first + every, "value": 0.83},
            {"ts": first + 2 * every, "value": 0.81},
        ]
        other = cluster.get("/api/borrowers/b2", headers=rita).json()
        assert other["coverage_history"] == [
            {"collateral_id": "b2-c1", "unit": "t", "points": []}
        ]  # b2's own state has no history; b1's stray entry for b2-c1 is not b2's
        bob = login(cluster, "bob", "bob-password!")
        assert cluster.get("/api/borrowers/b1", headers=bob).status_code == 404


def _unsend(api: Runtime, borrower_id: str) -> None:
    """The bucket loses ``borrower_id``'s state: no risk worker has sent it (any more)."""
    assert api.cluster is not None
    api.cluster.live.take(live_state_key("bank-a", borrower_id), None, "DEL")


def test_a_borrower_with_no_state_sent_has_a_null_score_in_every_answer(
    both: tuple[Runtime, Runtime],
) -> None:
    """Not 0: a script that ranks or filters by score would read 0 as no risk."""
    _, api = both
    _unsend(api, "b1")
    with TestClient(create_app(api)) as cluster:
        rita = login(cluster, "rita", "rita-password")
        row = _rows(cluster.get("/api/portfolio", headers=rita).json())["b1"]
        assert (row["score"], row["matrix_score"], row["computed_at"]) == (None, None, None)
        assert row["reasons"] == [] and set(row["component_scores"].values()) == {None}
        assert row["segment"] == "default" and row["live_state"]["source"] == "none"
        listed = _rows(cluster.get("/api/borrowers", headers=rita).json())["b1"]
        assert (listed["score"], listed["computed_at"], listed["reasons"]) == (None, None, [])
        for path, history in (("/api/borrowers/b1", "score_history"), ("/api/borrowers/b1/risk", "history")):  # fmt: skip
            body = cluster.get(path, headers=rita).json()
            assert (body["score"], body["computed_at"], body[history]) == (None, None, []), path
            assert (body["reasons"], body["components"]) == ([], {}), path
            matrix = body["matrix"]
            assert (matrix["score"], matrix["notes"], matrix["segment"]) == (None, [], "default")
            assert [c["weight"] for c in matrix["components"]] == [0.3, 0.2, 0.15, 0.1, 0.15, 0.1]
            for part in matrix["components"]:
                assert (part["score"], part["weight_used"], part["contribution"]) == (None,) * 3
                assert (part["has_data"], part["reasons"]) == (False, [])


def _rows(items: object) -> dict[str, dict[str, object]]:
    rows = items["items"] if isinstance(items, dict) else items
    assert isinstance(rows, list)
    return {r["borrower_id"]: r for r in rows}


def test_a_live_state_has_its_score_and_a_stale_one_keeps_its_last(
    both: tuple[Runtime, Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    one, api = both
    with TestClient(create_app(api)) as cluster, TestClient(create_app(one)) as single:
        rita = login(cluster, "rita", "rita-password")
        for now, stale in ((SENT + 12.5, False), (SENT + 3600.0, True)):
            monkeypatch.setattr(live_view, "wall_clock", lambda now=now: now)
            row = _rows(cluster.get("/api/portfolio", headers=rita).json())["b1"]
            assert (row["score"], row["live_state"]["stale"]) == (60.0, stale)
            assert isinstance(row["matrix_score"], float) and row["computed_at"] == T0
            body = cluster.get("/api/borrowers/b1", headers=rita).json()
            assert (body["score"], body["computed_at"], body["live_state"]["stale"]) == (
                60.0,
                T0,
                stale,
            )
            assert isinstance(body["matrix"]["score"], float) and body["reasons"]
            assert cluster.get("/api/borrowers/b1/risk", headers=rita).json()["score"] == 60.0
        # one process: every borrower is scored, with or without data, as before
        rita_one = login(single, "rita", "rita-password")
        for row in single.get("/api/portfolio", headers=rita_one).json()["items"]:
            assert isinstance(row["score"], float) and isinstance(row["matrix_score"], float)
            assert row["live_state"]["source"] == "engine"
        assert single.get("/api/portfolio?min_score=0.1", headers=rita_one).json()["total"] == 1


def test_borrowers_with_no_state_sent_come_last_in_every_order_but_open_alerts(
    both: tuple[Runtime, Runtime],
) -> None:
    """b1 (60 points, two open alerts, the larger exposure at risk) is not sent any more;
    b2 (scored lower) ranks before it by every engine figure, after it by open alerts,
    which the API's database knows either way. A minimum score leaves b1 out."""
    _, api = both
    with TestClient(create_app(api)) as cluster:
        rita = login(cluster, "rita", "rita-password")

        def order(query: str = "") -> list[str]:
            page = cluster.get(f"/api/portfolio{query}", headers=rita).json()
            return [r["borrower_id"] for r in page["items"]]

        sorts = ("score", "matrix", "exposure_at_risk", "coverage", "collateral", "conduct")
        for sort in sorts:  # b1 is first by each while it is scored
            assert order(f"?sort={sort}") == ["b1", "b2"], sort
        _unsend(api, "b1")
        for sort in sorts:
            assert order(f"?sort={sort}") == ["b2", "b1"], sort
        assert order("?sort=open_alerts") == ["b1", "b2"]
        assert order("?min_score=0") == ["b2", "b1"]
        assert order("?min_score=0.001") == order("?min_score=100") == []  # b2 scores 0
        listed = cluster.get("/api/borrowers", headers=rita).json()
        assert [(r["borrower_id"], r["score"]) for r in listed] == [("b2", 0.0), ("b1", None)]
        ranks = cluster.get("/api/portfolio", headers=rita).json()["items"]
        assert [(r["borrower_id"], r["rank"], r["score"]) for r in ranks] == [
            ("b2", 1, 0.0),
            ("b1", 2, None),
        ]


def test_the_api_reference_says_what_a_null_score_means(both: tuple[Runtime, Runtime]) -> None:
    _, api = both
    with TestClient(create_app(api)) as cluster:
        schemas = cluster.get("/openapi.json").json()["components"]["schemas"]
    fields = [
        schemas["PortfolioRow"]["properties"]["score"],
        schemas["PortfolioRow"]["properties"]["matrix_score"],
        schemas["BorrowerDetail"]["properties"]["score"],
        schemas["BorrowerRow"]["properties"]["score"],
        schemas["BorrowerRiskOut"]["properties"]["score"],
        schemas["MatrixOut"]["properties"]["score"],
        schemas["MatrixComponent"]["properties"]["score"],
    ]
    for field in fields:
        assert {t.get("type") for t in field["anyOf"]} == {"number", "null"}, field
        assert "null: behind `serve --nats`, no risk worker has sent" in field["description"]
        assert "not 0, not low risk" in field["description"]


def test_the_list_and_risk_answers_of_a_cluster_match_their_models_scored_or_not(
    both: tuple[Runtime, Runtime],
) -> None:
    """Validated against their models and written out again, the answers come back as
    they were, whether the state was sent (scores) or not (nulls): every key declared."""
    _, api = both
    listed = TypeAdapter(list[BorrowerRow])
    with TestClient(create_app(api)) as cluster:
        rita = login(cluster, "rita", "rita-password")
        for sent in (True, False):
            if not sent:
                _unsend(api, "b1")
            body = cluster.get("/api/borrowers/b1/risk", headers=rita).json()
            assert (body["score"] is None, body["live_state"]["source"]) == (
                (False, "risk_worker") if sent else (True, "none")
            )
            assert len(body["open_alerts"]) == 2
            assert BorrowerRiskOut.model_validate(body).model_dump(mode="json") == body
            view = live_view.live_view(api, "bank-a", "b1")
            assert set(view.score_fields()) <= set(BorrowerRiskOut.model_fields)
            rows = cluster.get("/api/borrowers", headers=rita).json()
            assert listed.dump_python(listed.validate_python(rows), mode="json") == rows
            assert _rows(rows)["b1"]["score"] == (60.0 if sent else None)
