"""Webhook signing secrets sealed at rest: AES-GCM under a key outside the database, bound
to the endpoint's row, sealed for existing rows by migration 0005 (SQLite and PostgreSQL),
a clear error when the key is missing or wrong, never shown again by the API."""

import os
from pathlib import Path

import pytest
from alembic import command
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import text
from typer.testing import CliRunner

from riskstream.api.app import create_app
from riskstream.cli.app import build_app
from riskstream.service.database import _config, connect, open_service_database, upgrade
from riskstream.service.notify.channels import open_webhook_store
from riskstream.service.notify.errors import WebhookKeyError
from riskstream.service.notify.filters import Filters
from riskstream.service.notify.secret_box import SecretBox, is_sealed
from riskstream.service.runtime import Runtime
from riskstream.service.settings import ServiceSettings
from tests.riskstream.people import register_people

KEY = "k" * 40
OTHER_KEY = "o" * 40
CLEAR_SECRET = "whsec_from-before-sealing-0123456789abcdefghijklmnopq"
T0 = 1_800_000_000.0


def settings_for(db: str, key: str | None = KEY) -> ServiceSettings:
    return ServiceSettings(
        database=db,
        deadletter=None,
        checkpoint_enabled=False,
        webhook_allowed_destinations=["127.0.0.1/32"],
        webhook_key=None if key is None else SecretStr(key),
    )


def raw_secrets(db: str) -> dict[str, str]:
    engine = connect(db)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT id, secret FROM webhook_endpoints")).all()
        return {str(endpoint_id): str(secret) for endpoint_id, secret in rows}
    finally:
        engine.dispose()


def test_a_sealed_secret_opens_only_with_its_key_and_for_its_row() -> None:
    box = SecretBox(KEY.encode())
    sealed = box.seal("e1", "whsec_abc")
    assert is_sealed(sealed) and "whsec_abc" not in sealed
    assert box.seal("e1", "whsec_abc") != sealed  # a fresh nonce each time
    assert box.open("e1", sealed) == "whsec_abc"
    with pytest.raises(WebhookKeyError, match="not the one it was sealed with"):
        SecretBox(OTHER_KEY.encode()).open("e1", sealed)
    with pytest.raises(WebhookKeyError, match="does not open"):  # moved to another row
        box.open("e2", sealed)
    middle = len(sealed) // 2  # a character of the ciphertext, not of the padding
    flipped = sealed[:middle] + ("A" if sealed[middle] != "A" else "B") + sealed[middle + 1 :]
    with pytest.raises(WebhookKeyError):
        box.open("e1", flipped)
    with pytest.raises(WebhookKeyError, match="not sealed"):
        box.open("e1", "whsec_in_clear")
    with pytest.raises(WebhookKeyError):
        box.open("e1", "aesgcm1:!!not-base64!!")


def test_the_database_holds_no_secret_and_the_api_shows_it_once(
    service_db: str, tmp_path: Path
) -> None:
    register_people(service_db)  # type: ignore[arg-type]
    runtime = Runtime(settings_for(service_db))
    try:
        with TestClient(create_app(runtime)) as client:
            token = client.post(
                "/api/token", data={"username": "rita", "password": "rita-password"}
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            created = client.post(
                "/api/notifications/webhooks",
                json={"url": "http://127.0.0.1:9/hook"},
                headers=headers,
            )
            assert created.status_code == 201, created.text
            endpoint_id, secret = created.json()["id"], created.json()["secret"]
            for path in (
                "/api/notifications/webhooks",
                f"/api/notifications/webhooks/{endpoint_id}",
            ):
                shown = client.get(path, headers=headers)
                assert shown.status_code == 200 and secret not in shown.text
        stored = raw_secrets(service_db)[endpoint_id]
        assert is_sealed(stored) and secret not in stored
        assert runtime.notify.webhooks.secret_of("bank-a", endpoint_id) == secret
        assert runtime.notify.webhooks.active_endpoints()[0][1] == secret
    finally:
        runtime.db.dispose()
    with pytest.raises(WebhookKeyError, match="not the one it was sealed with"):
        Runtime(settings_for(service_db, OTHER_KEY))


def test_a_swapped_secret_is_refused_at_start(tmp_path: Path) -> None:
    db = str(tmp_path / "rs.db")
    engine = open_service_database(db)
    store = open_webhook_store(engine, settings_for(db))
    first, _ = store.create("bank-a", "http://127.0.0.1:9/a", "", Filters(), "rita", T0)
    second, _ = store.create("bank-b", "http://127.0.0.1:9/b", "", Filters(), "bob", T0)
    with engine.begin() as connection:  # bank-b's row gets bank-a's sealed secret
        connection.execute(
            text("UPDATE webhook_endpoints SET secret = :s WHERE id = :i"),
            {"s": raw_secrets(db)[first.id], "i": second.id},
        )
    with pytest.raises(WebhookKeyError, match=f"endpoint {second.id}'s secret does not open"):
        open_webhook_store(engine, settings_for(db))
    engine.dispose()


def test_the_key_file_is_made_once_and_its_loss_is_an_error(tmp_path: Path) -> None:
    db = str(tmp_path / "data" / "rs.db")
    (tmp_path / "data").mkdir()
    engine = open_service_database(db)
    store = open_webhook_store(engine, settings_for(db, None))
    key_file = tmp_path / "data" / "webhook.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    _, secret = store.create("bank-a", "http://127.0.0.1:9/a", "", Filters(), "rita", T0)
    (endpoint_id,) = raw_secrets(db)
    assert open_webhook_store(engine, settings_for(db, None)).secret_of("bank-a", endpoint_id) == (
        secret
    )
    key_file.unlink()
    with pytest.raises(WebhookKeyError, match=f"key file {key_file} is missing"):
        open_webhook_store(engine, settings_for(db, None))
    assert not key_file.exists()  # no new key that opens nothing is made
    key_file.write_text(OTHER_KEY)
    os.chmod(key_file, 0o600)
    with pytest.raises(WebhookKeyError, match="not the one it was sealed with"):
        open_webhook_store(engine, settings_for(db, None))
    engine.dispose()
    served = CliRunner().invoke(build_app(), ["serve", "--db", db, "--port", "1"])
    assert served.exit_code == 2
    assert "not the one it was sealed with" in served.output


def database_at_0004_with_a_clear_secret(db: str) -> None:
    engine = connect(db)
    with engine.begin() as connection:
        config = _config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
        connection.execute(
            text(
                "INSERT INTO webhook_endpoints (id, tenant, url, secret, description, enabled, "
                "filters, created_at, created_by) VALUES ('e0', 'bank-a', 'http://127.0.0.1:9/', "
                ":secret, '', true, '{}', 1.0, 'rita')"
            ),
            {"secret": CLEAR_SECRET},
        )
    engine.dispose()


def test_migration_0005_seals_the_secrets_stored_in_clear(service_db: str) -> None:
    database_at_0004_with_a_clear_secret(service_db)
    engine = connect(service_db)
    assert upgrade(engine, KEY.encode()) == ("0004", "0005")
    stored = raw_secrets(service_db)["e0"]
    assert is_sealed(stored) and CLEAR_SECRET not in stored
    assert open_webhook_store(engine, settings_for(service_db)).secret_of("bank-a", "e0") == (
        CLEAR_SECRET
    )
    with engine.begin() as connection:  # and back, for a downgrade
        config = _config()
        config.attributes["connection"] = connection
        config.attributes["webhook_key"] = KEY.encode()
        command.downgrade(config, "0004")
    assert raw_secrets(service_db)["e0"] == CLEAR_SECRET
    engine.dispose()


def test_db_upgrade_seals_with_the_key_file_next_to_the_sqlite_database(tmp_path: Path) -> None:
    db = str(tmp_path / "rs.db")
    database_at_0004_with_a_clear_secret(db)
    done = CliRunner().invoke(build_app(), ["db", "upgrade", "--db", db])
    assert done.exit_code == 0, done.output
    assert "upgraded from 0004 to schema revision 0005" in done.output
    key = (tmp_path / "webhook.key").read_text().strip().encode()
    assert SecretBox(key).open("e0", raw_secrets(db)["e0"]) == CLEAR_SECRET
