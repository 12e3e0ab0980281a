"""Webhook signing secrets sealed at rest (AES-GCM, the endpoint id as associated data,
under the webhook key kept outside the database); the secrets of existing endpoints are
sealed here.

Revision ID: 0005
Revises: 0004
"""

from pathlib import Path

import sqlalchemy as sa
from alembic import context, op

from riskstream.service.notify.secret_box import (
    SecretBox,
    env_webhook_key,
    is_sealed,
    load_webhook_key,
    webhook_key_file,
)

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ENDPOINTS = sa.table(
    "webhook_endpoints", sa.column("id", sa.String()), sa.column("secret", sa.Text())
)


def _box(may_create: bool) -> SecretBox:
    given = context.config.attributes.get("webhook_key")
    if given is not None:
        return SecretBox(given)
    url = op.get_bind().engine.url
    database = url.database if url.get_backend_name() == "sqlite" and url.database else ""
    key_file = webhook_key_file(database) if database else Path("riskstream-data/webhook.key")
    return SecretBox(load_webhook_key(env_webhook_key(), key_file, may_create=may_create))


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.alter_column(
            "secret", existing_type=sa.String(length=128), type_=sa.Text(), existing_nullable=False
        )
    bind = op.get_bind()
    rows = bind.execute(sa.select(ENDPOINTS.c.id, ENDPOINTS.c.secret)).all()
    clear = [(endpoint_id, secret) for endpoint_id, secret in rows if not is_sealed(secret)]
    if not clear:
        return
    box = _box(may_create=len(clear) == len(rows))
    for endpoint_id, secret in clear:
        bind.execute(
            ENDPOINTS.update()
            .where(ENDPOINTS.c.id == endpoint_id)
            .values(secret=box.seal(endpoint_id, secret))
        )


def downgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(ENDPOINTS.c.id, ENDPOINTS.c.secret)).all()
    sealed = [(endpoint_id, secret) for endpoint_id, secret in rows if is_sealed(secret)]
    if sealed:
        box = _box(may_create=False)
        for endpoint_id, secret in sealed:
            bind.execute(
                ENDPOINTS.update()
                .where(ENDPOINTS.c.id == endpoint_id)
                .values(secret=box.open(endpoint_id, secret))
            )
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.alter_column(
            "secret", existing_type=sa.Text(), type_=sa.String(length=128), existing_nullable=False
        )
