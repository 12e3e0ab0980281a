"""Once several lenders share the service, a lender's risk admin changes only its own
overrides of the rules, and is told nothing about another lender's."""

from pathlib import Path

import httpx

from riskstream.database import open_service_database
from riskstream.runtime import Runtime
from riskstream.users import UserStore
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


async def test_a_lender_changes_only_its_own_overrides(tmp_path: Path) -> None:
    runtime = two_lenders(tmp_path)
    base = SAMPLE.read_text()
    async with client_of(runtime) as client:
        bob = {"headers": await login_bob(client)}
        rita = {"headers": await login(client, "rita")}

        async def put(text: str, who: dict[str, dict[str, str]]) -> tuple[int, dict[str, object]]:
            response = await client.put("/api/rules", json={"text": text}, **who)
            return response.status_code, response.json()

        status, body = await put(base.replace("coverage_below = 0.9", "coverage_below = 0.5"), bob)
        assert (status, body["field"]) == (400, "rules")
        assert 'tenant = "bank-b"' in str(body["reason"])
        status, body = await put(base + override("bank-a"), bob)
        assert (status, body["field"]) == (400, "overrides.0.tenant")
        for loan in ("b1-l1", "no-such-loan"):  # another lender's loan, or none: same answer
            status, body = await put(base + override("bank-b", loan), bob)
            assert (status, body["field"], body["reason"]) == (
                400,
                "overrides.0.loan",
                "not a loan of your lender",
            )
        assert runtime.rules.overrides == []

        status, body = await put(base + override("bank-b"), bob)
        assert status == 200, body
        assert body["warnings"] == ["overrides.0 (tenant 'bank-b') matches no registered loan"]
        shown_to_rita = (await client.get("/api/rules", **rita)).json()
        assert shown_to_rita["warnings"] == []
        assert runtime.engines.of("bank-a").inventory.rule.enabled  # bank-a's alerts untouched

        status, body = await put(base, rita)  # rita would drop bob's override
        assert (status, body["field"]) == (400, "overrides")
        status, body = await put(base + override("bank-b") + override("bank-a", "b1-l1"), rita)
        assert status == 200, body
        assert [(o.tenant, o.loan) for o in runtime.rules.overrides] == [
            ("bank-b", None),
            ("bank-a", "b1-l1"),
        ]


async def login_bob(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.post(
        "/api/token", data={"username": "bob", "password": "bob-password!"}
    )
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
