"""The service's SQL database, kept at the schema this riskstream expects (Alembic).

Registry, users, tokens, alerts, audit log, loan events and rules versions share one
database (SQLite by default). `open_service_database` brings it to the newest schema
before anything uses it:

- an empty database is built by the migrations from the first one (``0001``);
- a database of a riskstream from before migrations (tables, no ``alembic_version``)
  is recognised as the ``0001`` schema, stamped, and upgraded from there; one whose
  tables are already those of this code (made by ``create_all``, e.g. by the devices
  layer's `devices.registry.open_database`) gets the tables it lacks and is stamped as
  the newest;
- a database at an older revision is upgraded, and the log says from which to which;
- a database made by a newer riskstream (a revision this one does not know) is refused
  with `DatabaseSchemaError`, so an old binary never writes a schema it does not know.

``riskstream db status`` and ``riskstream db upgrade`` do the same by hand. New schema
changes are new files in ``riskstream/migrations/versions/`` (``alembic revision
--autogenerate`` against `service_metadata`, then read and test what it wrote).
"""

import logging
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, create_engine, inspect
from sqlalchemy.exc import InterfaceError, OperationalError

from devices.registry import Base, shown_url, sql_url

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
BASELINE = "0001"
"""The schema of every riskstream before migrations (up to 4f91c79)."""


class DatabaseSchemaError(RuntimeError):
    """The database's schema is not one this riskstream can use or upgrade."""


class DatabaseUnavailableError(RuntimeError):
    """The database cannot be reached or opened (the message hides any password)."""


def connect(path_or_url: str | Path) -> Engine:
    """An engine on the database, checked by opening one connection;
    `DatabaseUnavailableError` naming the database and the driver's reason if it fails."""
    engine = create_engine(sql_url(path_or_url))
    try:
        engine.connect().close()
    except (OperationalError, InterfaceError) as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseUnavailableError(
            f"cannot open the database {shown_url(path_or_url)}: {reason}"
        ) from None
    return engine


def service_metadata() -> MetaData:
    """Every table of the service (importing the modules that define them)."""
    import riskstream.rules.history
    import riskstream.service.alert_store
    import riskstream.service.audit
    import riskstream.service.loan_events
    import riskstream.service.notify.mail_store
    import riskstream.service.notify.mqtt_store
    import riskstream.service.notify.webhook_store
    import riskstream.service.users  # noqa: F401

    return Base.metadata


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest schema revision this riskstream knows."""
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None
    return head


def _stored_revision(engine: Engine) -> tuple[str | None, bool]:
    """(the revision written in the database, whether it has any table)."""
    with engine.connect() as connection:
        stored = MigrationContext.configure(connection).get_current_revision()
        return stored, bool(inspect(connection).get_table_names())


def current_revision(engine: Engine) -> str | None:
    """The database's revision; `BASELINE` for one from before migrations, None if empty."""
    stored, has_tables = _stored_revision(engine)
    if stored is None and has_tables:
        return BASELINE
    return stored


def _tables_are_the_models(connection: Connection) -> bool:
    """Whether every table the database has is as this code's models define it (tables
    it lacks aside): an unversioned database made by ``create_all``, not by a release
    from before migrations."""
    differences = compare_metadata(MigrationContext.configure(connection), service_metadata())
    return all(isinstance(d, tuple) and d[0] == "add_table" for d in differences)


def upgrade(engine: Engine, webhook_key: bytes | None = None) -> tuple[str | None, str]:
    """Bring the database to the newest schema; return (revision before, revision after).

    ``webhook_key`` seals webhook secrets stored in clear by a riskstream before 0005;
    without it the migration takes ``RISKSTREAM_WEBHOOK_KEY`` or the key file next to the
    database (`riskstream.service.notify.secret_box`), and only if there is one to seal.
    """
    stored, has_tables = _stored_revision(engine)
    before = BASELINE if stored is None and has_tables else stored
    head = head_revision()
    known = {s.revision for s in ScriptDirectory(str(MIGRATIONS)).walk_revisions()}
    if before is not None and before not in known:
        raise DatabaseSchemaError(
            f"the database is at schema revision {before!r}, made by a newer riskstream "
            f"(this one knows up to {head!r}); upgrade riskstream, or use a copy of the "
            "database from before"
        )
    if stored == head:
        return before, head
    with engine.begin() as connection:
        config = _config()
        config.attributes["connection"] = connection
        config.attributes["webhook_key"] = webhook_key
        if stored is None and has_tables:
            if _tables_are_the_models(connection):  # made by create_all of this code
                service_metadata().create_all(connection)
                command.stamp(config, "head")
                return before, head
            command.stamp(config, BASELINE)  # a release from before migrations
        command.upgrade(config, "head")
    if before != head:
        log.info("database schema upgraded from %s to %s", before or "empty", head)
    return before, head


def open_service_database(path_or_url: str | Path, webhook_key: bytes | None = None) -> Engine:
    """Open the service's database (creating a SQLite file 0600 if needed) at the newest
    schema; `DatabaseSchemaError` when it is a newer riskstream's."""
    engine = connect(path_or_url)
    upgrade(engine, webhook_key)
    return engine
