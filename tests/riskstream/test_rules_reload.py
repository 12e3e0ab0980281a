"""Live reload of the rules file in a running service, the rules API and its access rules."""

import os
from pathlib import Path

import pytest

from riskstream.service.runtime import Runtime
from tests.fleets import small_fleet
from tests.riskstream.rules_service import SAMPLE, client_of, eventually, login, register, settings
from tests.servers import Mosquitto

GOOD = ("coverage_below = 0.9", "coverage_below = 0.8")
BAD = ('for = "30m"', 'for = "30 minutes"')  # line 13, rules.inventory_below_pledge.for


def service_of_sample_rules(tmp_path: Path, broker: Mosquitto) -> tuple[Runtime, Path]:
    """A service of bank-a's small fleet reading a copy of the sample rules; (it, the copy)."""
    rules = tmp_path / "rules.toml"
    rules.write_text(SAMPLE.read_text())
    db = register(tmp_path, small_fleet("bank-a"))
    return Runtime(settings(tmp_path, db, broker.url, rules)), rules


def coverage_below(runtime: Runtime) -> float:
    return next(iter(runtime.engines.by_tenant.values())).inventory.rule.coverage_below


@pytest.mark.broker
async def test_file_edits_reload_live_and_bad_edits_keep_the_last_good_rules(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    runtime, rules = service_of_sample_rules(tmp_path, mosquitto)
    keeper = runtime.rules_keeper
    async with runtime.running(), client_of(runtime) as client:
        officer = await login(client, "anna")
        first = (await client.get("/api/rules", headers=officer)).json()
        assert first["version"] == 1 and first["source"] == "startup"
        assert first["text"] == SAMPLE.read_text() and first["last_error"] is None
        assert coverage_below(runtime) == 0.9

        rules.write_text(SAMPLE.read_text().replace(*GOOD))
        await eventually(lambda: keeper.current.version == 2)
        assert runtime.rules.rules.inventory_below_pledge.coverage_below == 0.8
        history = (await client.get("/api/rules/history", headers=officer)).json()
        assert history["total"] == 2
        assert [(v["version"], v["source"]) for v in history["items"]] == [
            (2, "file"),
            (1, "startup"),
        ]
        assert "text" not in history["items"][0]
        audited = runtime.audit.entries(tenant="bank-a", target="rules")
        assert audited[0]["action"] == "rules_applied"
        assert audited[0]["detail"]["version"] == 2 and audited[0]["detail"]["source"] == "file"

        rules.write_text(SAMPLE.read_text().replace(*GOOD).replace(*BAD))
        await eventually(lambda: keeper.last_error is not None)
        assert coverage_below(runtime) == 0.8  # the last good rules stay in force
        shown = (await client.get("/api/rules", headers=officer)).json()
        assert shown["version"] == 2 and "coverage_below = 0.8" in shown["text"]
        error = shown["last_error"]
        assert (error["file"], error["line"], error["field"]) == (
            str(rules),
            13,
            "rules.inventory_below_pledge.for",
        )
        assert "not a duration" in error["reason"] and error["source"] == "file"
        assert runtime.audit.entries(tenant="bank-a", target="rules")[0]["action"] == (
            "rules_rejected"
        )

        # an editor's save: a new file renamed over the old one
        saved = tmp_path / ".rules.toml.swp"
        saved.write_text(SAMPLE.read_text().replace("coverage_below = 0.9", "coverage_below = 0.7"))
        os.replace(saved, rules)
        await eventually(lambda: keeper.current.version == 3)
        assert coverage_below(runtime) == 0.7
        assert (await client.get("/api/rules", headers=officer)).json()["last_error"] is None
    assert runtime.rules_history.page()[0] == 3


@pytest.mark.broker
async def test_put_rules_is_for_risk_admins_and_validates(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    runtime, rules = service_of_sample_rules(tmp_path, mosquitto)
    async with runtime.running(), client_of(runtime) as client:
        proposed = {"text": SAMPLE.read_text().replace(*GOOD)}
        assert (await client.put("/api/rules", json=proposed)).status_code == 401
        for role_user in ("anna", "otto"):
            refused = await client.put(
                "/api/rules", json=proposed, headers=await login(client, role_user)
            )
            assert refused.status_code == 403, refused.text
            assert "risk admins own the rules" in refused.json()["detail"]
        assert coverage_below(runtime) == 0.9 and rules.read_text() == SAMPLE.read_text()

        admin = await login(client, "rita")
        bad = await client.put(
            "/api/rules", json={"text": proposed["text"].replace(*BAD)}, headers=admin
        )
        assert bad.status_code == 400
        body = bad.json()
        assert (body["line"], body["field"]) == (13, "rules.inventory_below_pledge.for")
        assert body["detail"].startswith(f"{rules}:13: rules.inventory_below_pledge.for: ")
        assert rules.read_text() == SAMPLE.read_text() and runtime.rules_keeper.last_error is None

        ok = await client.put("/api/rules", json=proposed, headers=admin)
        assert ok.status_code == 200, ok.text
        assert ok.json()["version"] == 2 and ok.json()["source"] == "api"
        assert ok.json()["actor"] == "rita"
        assert rules.read_text() == proposed["text"] and coverage_below(runtime) == 0.8
        entry = runtime.audit.entries(tenant="bank-a", target="rules")[0]
        assert (entry["actor"], entry["action"], entry["detail"]["version"]) == (
            "rita",
            "rules_applied",
            2,
        )
        await client.get("/api/rules", headers=admin)  # give the watcher time to see the write
        version = (await client.get("/api/rules/history/2", headers=admin)).json()
        assert version["text"] == proposed["text"]
    # the watcher saw the service's own write and made no further version of it
    assert runtime.rules_history.page()[0] == 2


async def test_built_in_rules_can_be_read_but_not_saved(tmp_path: Path) -> None:
    db = register(tmp_path, small_fleet("bank-a"))
    runtime = Runtime(settings(tmp_path, db, "mqtt://127.0.0.1:1", None))
    async with client_of(runtime) as client:
        admin = await login(client, "rita")
        shown = (await client.get("/api/rules", headers=admin)).json()
        assert shown["editable"] is False and shown["path"] is None
        assert shown["text"] == SAMPLE.read_text()
        refused = await client.put("/api/rules", json={"text": shown["text"]}, headers=admin)
        assert refused.status_code == 409 and "--rules FILE" in refused.json()["detail"]
