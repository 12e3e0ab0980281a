"""The SQL database's schema: migrations build exactly the models' tables, and a database
made by the previous release (4f91c79, before migrations) is taken over as it is."""

import shutil
import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from typer.testing import CliRunner

from devices.registry import sql_url
from riskstream.api.app import create_app
from riskstream.cli.app import build_app
from riskstream.service.database import (
    DatabaseSchemaError,
    head_revision,
    open_service_database,
    service_metadata,
)
from riskstream.service.runtime import Runtime
from riskstream.service.settings import ServiceSettings

PREVIOUS_RELEASE = Path(__file__).parent / "data" / "release-4f91c79.db"


def revision_of(db: Path) -> str:
    (row,) = sqlite3.connect(db).execute("SELECT version_num FROM alembic_version").fetchall()
    return str(row[0])


def test_migrations_build_exactly_the_tables_of_the_models(tmp_path: Path) -> None:
    engine = open_service_database(tmp_path / "new.db")
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), service_metadata())
    assert differences == [], "a model changed without a migration in riskstream/migrations"
    assert revision_of(tmp_path / "new.db") == head_revision()


def test_the_previous_releases_database_is_taken_over(tmp_path: Path) -> None:
    db = tmp_path / "rs.db"
    shutil.copy(PREVIOUS_RELEASE, db)
    runtime = Runtime(ServiceSettings(database=str(db), deadletter=None, checkpoint_enabled=False))
    assert revision_of(db) == head_revision()
    with TestClient(create_app(runtime)) as client:
        login = client.post("/api/token", data={"username": "rita", "password": "rita-password"})
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        alerts = client.get("/api/alerts", headers=headers).json()["items"]
        assert [(a["borrower_id"], a["kind"]) for a in alerts] == [("b1", "inventory_below_pledge")]
        events = client.get("/api/borrowers/b1/risk", headers=headers)
        assert events.status_code == 200
    assert runtime.loan_events.list("bank-a")[0]["event"] == "payment_missed"
    verified = CliRunner().invoke(build_app(), ["audit", "verify", "--db", str(db)])
    assert verified.exit_code == 0, verified.output


def test_a_newer_riskstreams_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "rs.db"
    open_service_database(db)
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(DatabaseSchemaError, match="made by a newer riskstream"):
        open_service_database(db)
    refused = CliRunner().invoke(build_app(), ["db", "upgrade", "--db", str(db)])
    assert refused.exit_code == 2 and "newer riskstream" in refused.output
    status = CliRunner().invoke(build_app(), ["db", "status", "--db", str(db)])
    assert "schema revision 9999" in status.output
    serve = CliRunner().invoke(build_app(), ["serve", "--db", str(db), "--port", "0"])
    assert serve.exit_code == 2 and "newer riskstream" in serve.output
    assert "Traceback" not in serve.output


def test_db_status_and_upgrade_say_what_they_did(tmp_path: Path) -> None:
    db = tmp_path / "rs.db"
    shutil.copy(PREVIOUS_RELEASE, db)
    runner = CliRunner()
    before = runner.invoke(build_app(), ["db", "status", "--db", str(db)])
    assert "schema revision 0001" in before.output
    done = runner.invoke(build_app(), ["db", "upgrade", "--db", str(db)])
    assert done.exit_code == 0 and f"schema revision {head_revision()}" in done.output
    assert revision_of(db) == head_revision()
    fresh = runner.invoke(build_app(), ["db", "upgrade", "--db", str(tmp_path / "new.db")])
    assert "upgraded from empty" in fresh.output
    assert create_engine(sql_url(tmp_path / "new.db")).dialect.name == "sqlite"


def test_a_database_made_by_create_all_of_this_code_is_taken_as_the_newest(
    tmp_path: Path,
) -> None:
    db = tmp_path / "rs.db"
    engine = create_engine(sql_url(db))
    service_metadata().create_all(engine)  # as the devices layer's open_database does
    open_service_database(db)
    assert revision_of(db) == head_revision()
    previous = tmp_path / "old.db"
    shutil.copy(PREVIOUS_RELEASE, previous)
    open_service_database(previous)
    columns = {
        row[1] for row in sqlite3.connect(previous).execute("PRAGMA table_info(alert_changes)")
    }
    assert {"tenant", "tenant_seq"} <= columns
    (numbered,) = (
        sqlite3.connect(previous).execute("SELECT tenant, tenant_seq FROM alert_changes").fetchall()
    )
    assert numbered == ("bank-a", 1)


def test_ids_become_the_lenders_own_and_the_release_rows_are_kept(tmp_path: Path) -> None:
    db = tmp_path / "rs.db"
    shutil.copy(PREVIOUS_RELEASE, db)
    with sqlite3.connect(db) as old:
        old.execute(
            "INSERT INTO rules_versions (version, sha256, text, applied_at, source) "
            "VALUES (1, 'ab12', '[rules]', 1.5, 'startup')"
        )
        borrowers_before = old.execute("SELECT tenant, id, name FROM borrowers").fetchall()
        devices_before = old.execute("SELECT tenant, id, borrower_id FROM devices").fetchall()
        versions_before = old.execute("SELECT version, sha256 FROM rules_versions").fetchall()
    assert borrowers_before and devices_before and versions_before
    runtime = Runtime(ServiceSettings(database=str(db), deadletter=None, checkpoint_enabled=False))
    with sqlite3.connect(db) as new:
        assert new.execute("SELECT tenant, id, name FROM borrowers").fetchall() == borrowers_before
        assert (
            new.execute("SELECT tenant, id, borrower_id FROM devices").fetchall() == devices_before
        )
        versions = new.execute(
            "SELECT tenant, version, sha256 FROM rules_versions ORDER BY version"
        )
        assert versions.fetchall()[:1] == [("", v, sha) for v, sha in versions_before]
    (tenant,) = {t for t, _, _ in borrowers_before}
    fleet = runtime.registry.fleet(tenant)
    twin = fleet.model_copy(update={"tenant": fleet.tenant.model_copy(update={"id": "bank-z"})})
    runtime.registry.import_fleet(twin)  # the same borrower and device ids, another lender
    assert runtime.registry.fleet("bank-z").borrowers == fleet.borrowers
    ids = [(r.tenant, r.id) for r in runtime.registry.device_rows()]
    assert len(ids) == 2 * len(devices_before) and len(set(ids)) == len(ids)
    runtime.db.dispose()
