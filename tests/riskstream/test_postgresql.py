"""The service's database on PostgreSQL: the same migrations as SQLite, and writers in
several processes (API processes behind a load balancer) that never collide."""

import threading
from collections.abc import Callable

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from riskstream.cli.app import build_app
from riskstream.engine.alerts import Alert
from riskstream.rules.history import RulesHistory
from riskstream.service.alert_store import AlertChangeRow, AlertStore
from riskstream.service.audit import AuditLog
from riskstream.service.database import head_revision, open_service_database, service_metadata
from tests.servers import PostgreSQL

pytestmark = pytest.mark.postgres

T0 = 1_795_000_000.0
WRITERS = 4
EACH = 25


def alert(tenant: str, n: int) -> Alert:
    return Alert(
        id=f"{tenant}-a{n}",
        tenant=tenant,
        borrower_id="b1",
        loan_id=None,
        site_id=None,
        device_id=None,
        kind="inventory_below_pledge",
        subject="b1-c1",
        severity="critical",
        status="open",
        opened_at=T0 + n,
        detected_at=T0 + n,
        updated_at=T0 + n,
        score=50.0,
        reasons=["inventory low"],
        evidence={},
        rule="rules.inventory_below_pledge",
    )


def at_once(url: str, write: Callable[[str, int, int], None]) -> None:
    """`WRITERS` threads, each with its own engine (its own connections, as separate
    processes would have), each calling ``write(url, writer, i)`` `EACH` times together."""
    start = threading.Barrier(WRITERS)
    failures: list[BaseException] = []

    def run(writer: int) -> None:
        start.wait()
        try:
            for i in range(EACH):
                write(url, writer, i)
        except BaseException as exc:  # reported by the test below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_migrations_build_exactly_the_models_tables_on_postgresql(postgresql: PostgreSQL) -> None:
    url = postgresql.create_database("migrations")
    engine = open_service_database(url)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), service_metadata()) == []
    status = CliRunner().invoke(build_app(), ["db", "status", "--db", url])
    assert status.exit_code == 0, status.output
    assert f"schema revision {head_revision()}, newest {head_revision()}: up to date" in (
        status.output
    )


def test_a_password_in_the_url_is_never_printed(postgresql: PostgreSQL) -> None:
    url = postgresql.create_database("secret").replace("riskstream@", "riskstream:s3cr3t-pw@")
    done = CliRunner().invoke(build_app(), ["db", "upgrade", "--db", url])
    assert done.exit_code == 0, done.output  # trust authentication ignores the password
    assert "s3cr3t-pw" not in done.output and "***" in done.output


def test_a_database_that_does_not_answer_is_one_line_with_exit_code_2(
    postgresql: PostgreSQL,
) -> None:
    url = postgresql.url("no_such_database")
    done = CliRunner().invoke(build_app(), ["db", "status", "--db", url])
    assert done.exit_code == 2, done.output
    assert done.output.startswith("error: cannot open the database postgresql+psycopg://")
    assert "no_such_database" in done.output and "Traceback" not in done.output


def test_concurrent_writers_number_a_lenders_changes_without_gaps_or_collisions(
    postgresql: PostgreSQL,
) -> None:
    url = postgresql.create_database("alerts_at_once")
    open_service_database(url)

    def write(url: str, writer: int, i: int) -> None:
        stores.setdefault(writer, AlertStore(create_engine(url)))
        stores[writer].save([alert("bank-a", writer * EACH + i), alert("bank-b", i)])

    stores: dict[int, AlertStore] = {}
    at_once(url, write)
    with create_engine(url).connect() as c:
        rows = c.execute(select(AlertChangeRow.tenant, AlertChangeRow.tenant_seq)).all()
    for tenant in ("bank-a", "bank-b"):
        numbers = sorted(n for t, n in rows if t == tenant)
        assert numbers == list(range(1, WRITERS * EACH + 1)), tenant
    feed = AlertStore(create_engine(url)).tenant_changes_after("bank-a", 0, limit=1000)
    assert len({a["id"] for _, a in feed}) == WRITERS * EACH


def test_concurrent_writers_keep_one_audit_chain_and_one_rules_history(
    postgresql: PostgreSQL,
) -> None:
    url = postgresql.create_database("audit_at_once")
    open_service_database(url)
    logs: dict[int, tuple[AuditLog, RulesHistory]] = {}

    def write(url: str, writer: int, i: int) -> None:
        engine = create_engine(url)
        log, history = logs.setdefault(writer, (AuditLog(engine), RulesHistory(engine)))
        log.record(tenant="bank-a", actor=f"admin-{writer}", action="test", target=str(i))
        history.record(f"# version of writer {writer}, step {i}\n", "api", scope="bank-a")

    at_once(url, write)
    verified = CliRunner().invoke(build_app(), ["audit", "verify", "--db", url])
    assert verified.exit_code == 0, verified.output
    assert f"{WRITERS * EACH} entries, hash chain verified" in verified.output
    total, versions = RulesHistory(create_engine(url)).page(limit=1000, scope="bank-a")
    assert sorted(v.version for v in versions) == list(
        range(1, WRITERS * EACH + 1)
    ) and total == len(versions)
