"""Alert changes numbered per lender: ``alert_changes.tenant`` and ``tenant_seq``.

Revision ID: 0002
Revises: 0001

The live feed's event ids were the service's change numbers, so a lender could read from
their gaps how many alert changes other lenders had. Each change now also carries its
lender and a number counted per lender from 1 (the feed's new event ids). Existing
changes are numbered in the order they were made; their lender is read from the alert
each change holds.
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alert_changes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tenant", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("tenant_seq", sa.Integer(), nullable=True))
    changes = sa.table(
        "alert_changes",
        sa.column("seq", sa.Integer),
        sa.column("data", sa.Text),
        sa.column("tenant", sa.String),
        sa.column("tenant_seq", sa.Integer),
    )
    connection = op.get_bind()
    numbered: dict[str, int] = {}
    rows = connection.execute(sa.select(changes.c.seq, changes.c.data).order_by(changes.c.seq))
    for seq, data in rows.fetchall():
        tenant = str(json.loads(data).get("tenant", ""))
        numbered[tenant] = numbered.get(tenant, 0) + 1
        connection.execute(
            changes.update()
            .where(changes.c.seq == seq)
            .values(tenant=tenant, tenant_seq=numbered[tenant])
        )
    with op.batch_alter_table("alert_changes", schema=None) as batch_op:
        batch_op.alter_column("tenant", existing_type=sa.String(length=128), nullable=False)
        batch_op.alter_column("tenant_seq", existing_type=sa.Integer(), nullable=False)
        batch_op.create_unique_constraint("uq_alert_changes_tenant", ["tenant", "tenant_seq"])


def downgrade() -> None:
    with op.batch_alter_table("alert_changes", schema=None) as batch_op:
        batch_op.drop_constraint("uq_alert_changes_tenant", type_="unique")
        batch_op.drop_column("tenant_seq")
        batch_op.drop_column("tenant")
