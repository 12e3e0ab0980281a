"""Once several lenders share the service, each lender's risk admins keep rules of their
own, which reach no other lender; nothing tells one lender of another's rules."""

from pathlib import Path

import httpx

from riskstream.service.database import open_service_database
from riskstream.service.runtime import Runtime
from riskstream.service.users import UserStore
from tests.fleets import small_fleet
from tests.riskstream.rules_service import SAMPLE, client_of, login, register, settings

DISABLE = """
[[overrides]]
tenant = "{tenant}"{loan}
[overrides.rules.inventory_below_pledge]
enabled = false
"""


def override(tenant: str, loan: str | None = None) -> str:
    return DISABLE.format(tenant=tenant, loan=f'\nloan = "{loan}"' if loan else "")


def two_lenders(tmp_path: Path) -> Runtime:
    """bank-a with its fleet and users; bank-b, a lender with a risk admin, bob."""
    rules = tmp_path / "rules.toml"
    rules.write_text(SAMPLE.read_text())
    db = register(tmp_path, small_fleet("bank-a"))
    UserStore(open_service_database(db)).add("bob", "bob-password!", "bank-b", "risk_admin")
    return Runtime(settings(tmp_path, db, "mqtt://127.0.0.1:9", rules))


async def test_each_lender_keeps_rules_of_its_own_that_reach_no_other(tmp_path: Path) -> None:
    runtime = two_lenders(tmp_path)
    base = SAMPLE.read_text()
    service_version = runtime.rules_keeper.current.version
    async with client_of(runtime) as client:
        bob = {"headers": await login_bob(client)}
        rita = {"headers": await login(client, "rita")}

        async def put(text: str, who: dict[str, dict[str, str]]) -> tuple[int, dict[str, object]]:
            response = await client.put("/api/rules", json={"text": text}, **who)
            return response.status_code, response.json()

        status, body = await put(base + override("bank-a"), bob)
        assert (status, body["field"]) == (400, "overrides.0.tenant")
        for loan in ("b1-l1", "no-such-loan"):  # another lender's loan, or none: same answer
            status, body = await put(base + override("bank-b", loan), bob)
            assert (status, body["field"], body["reason"]) == (
                400,
                "overrides.0.loan",
                "not a loan of your lender",
            )
        assert not runtime.lender_rules.has_own("bank-b")

        looser = base.replace("coverage_below = 0.9", "coverage_below = 0.5")
        status, body = await put(looser + override("bank-b"), bob)
        assert status == 200, body
        assert (body["scope"], body["version"], body["text"]) == (
            "lender",
            1,
            looser + override("bank-b"),
        )
        assert body["warnings"] == []  # bank-b has no fleet: its engine has nothing to match
        assert SAMPLE.read_text() == (tmp_path / "rules.toml").read_text()  # the file is kept
        assert runtime.rules_keeper.current.version == service_version
        bank_a = runtime.engines.of("bank-a")
        assert bank_a.inventory.rule.coverage_below == 0.9 and bank_a.inventory.rule.enabled

        shown_to_rita = (await client.get("/api/rules", **rita)).json()
        assert (shown_to_rita["scope"], shown_to_rita["editable"]) == ("service", True)
        assert shown_to_rita["text"] == base and shown_to_rita["warnings"] == []
        history = (await client.get("/api/rules/history", **bob)).json()
        assert [(v["scope"], v["version"], v["actor"]) for v in history["items"]] == [
            ("lender", 1, "bob")
        ]
        rita_history = (await client.get("/api/rules/history", **rita)).json()
        assert {v["scope"] for v in rita_history["items"]} == {"service"}
        assert (await client.get("/api/rules/history/1", **rita)).json()["scope"] == "service"
        bob_audit = (await client.get("/api/audit", **bob)).json()
        rita_audit = (await client.get("/api/audit", **rita)).json()
        assert any(e["action"] == "rules_applied" and e["actor"] == "bob" for e in bob_audit)
        assert not any(e["actor"] == "bob" for e in rita_audit)

        status, body = await put(base + override("bank-a", "b1-l1"), rita)
        assert status == 200, body
        assert (body["scope"], body["version"]) == ("lender", 1)
        assert runtime.engines.of("bank-a").scope.by_loan  # the loan override is in force
        assert SAMPLE.read_text() == (tmp_path / "rules.toml").read_text()


async def test_the_service_rules_are_shown_without_other_lenders_overrides(
    tmp_path: Path,
) -> None:
    runtime = two_lenders(tmp_path)
    operator_text = SAMPLE.read_text() + override("bank-b") + override("bank-a", "b1-l1")
    (tmp_path / "rules.toml").write_text(operator_text)
    assert runtime.rules_keeper.reload_file() is not None
    async with client_of(runtime) as client:
        rita = (await client.get("/api/rules", headers=await login(client, "rita"))).json()
        bob = (await client.get("/api/rules", headers=await login_bob(client))).json()
    assert override("bank-b") not in rita["text"] and override("bank-a", "b1-l1") in rita["text"]
    assert rita["sha256"] != runtime.rules_keeper.current.sha256
    assert override("bank-a", "b1-l1") not in bob["text"] and override("bank-b") in bob["text"]
    assert "b1-l1" not in bob["text"]
    assert runtime.engines.of("bank-a").scope.by_loan  # bank-a's override is in force


async def login_bob(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.post(
        "/api/token", data={"username": "bob", "password": "bob-password!"}
    )
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
