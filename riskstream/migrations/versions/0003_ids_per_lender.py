"""Ids per lender: borrowers and devices keyed by (tenant, id); rules versions by scope.

Revision ID: 0003
Revises: 0002

Borrower and device ids were the primary keys of their tables, so a lender could not
register a borrower or device id another lender already used. They are now keyed by
(tenant, id), and a device names its borrower by (tenant, borrower_id). Rules versions
get the scope they belong to (``tenant``: "" for the service's rules file, a lender's id
for the lender's own rules) and are numbered per scope; existing versions are the
service's. Rows are copied as they are.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_BORROWER_COLUMNS = ("tenant", "id", "name", "industry")
_DEVICE_COLUMNS = (
    "tenant",
    "id",
    "borrower_id",
    "kind",
    "site_id",
    "collateral_id",
    "interval_s",
)
_RULES_COLUMNS = ("version", "sha256", "text", "applied_at", "source", "actor", "path")


def _rows(table: str, columns: tuple[str, ...]) -> list[dict[str, object]]:
    query = sa.text(f"SELECT {', '.join(columns)} FROM {table}")  # noqa: S608 (fixed names)
    return [dict(zip(columns, row, strict=True)) for row in op.get_bind().execute(query)]


def _borrowers(composite: bool) -> sa.Table:
    key = ("tenant", "id") if composite else ("id",)
    return op.create_table(
        "borrowers",
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("industry", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(["tenant"], ["tenants.id"]),
        sa.PrimaryKeyConstraint(*key),
    )


def _devices(composite: bool) -> sa.Table:
    columns: list[sa.schema.SchemaItem] = [
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("borrower_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=128), nullable=False),
        sa.Column("collateral_id", sa.String(length=128), nullable=True),
        sa.Column("interval_s", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["tenant"], ["tenants.id"]),
    ]
    if composite:
        columns += [
            sa.ForeignKeyConstraint(
                ["tenant", "borrower_id"],
                ["borrowers.tenant", "borrowers.id"],
                name="fk_devices_borrower",
            ),
            sa.PrimaryKeyConstraint("tenant", "id"),
        ]
    else:
        columns += [
            sa.ForeignKeyConstraint(["borrower_id"], ["borrowers.id"]),
            sa.PrimaryKeyConstraint("id"),
        ]
    return op.create_table("devices", *columns)


def _rules_versions(scoped: bool) -> sa.Table:
    columns: list[sa.schema.SchemaItem] = [
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("applied_at", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.Column("path", sa.Text(), nullable=True),
    ]
    if scoped:
        columns.insert(0, sa.Column("tenant", sa.String(length=128), nullable=False))
        columns.append(sa.PrimaryKeyConstraint("tenant", "version"))
    else:
        columns.append(sa.PrimaryKeyConstraint("version"))
    table = op.create_table("rules_versions", *columns)
    op.create_index("ix_rules_versions_sha256", "rules_versions", ["sha256"], unique=False)
    return table


def _rebuild(composite: bool) -> None:
    borrowers = _rows("borrowers", _BORROWER_COLUMNS)
    devices = _rows("devices", _DEVICE_COLUMNS)
    scoped_before = not composite  # downgrading: the versions have their scope
    rules = _rows("rules_versions", (("tenant",) if scoped_before else ()) + _RULES_COLUMNS)
    op.drop_table("devices")
    op.drop_table("borrowers")
    op.drop_table("rules_versions")
    if not composite:
        _refuse_shared_ids(borrowers, "borrower")
        _refuse_shared_ids(devices, "device")
        # a lender's own rules cannot be kept: the older schema has only the service's
        rules = [{k: v for k, v in r.items() if k != "tenant"} for r in rules if r["tenant"] == ""]
    op.bulk_insert(_borrowers(composite), borrowers)
    if not composite:
        op.create_index("ix_borrowers_tenant", "borrowers", ["tenant"], unique=False)
    op.bulk_insert(_devices(composite), devices)
    if composite:
        op.create_index("ix_devices_borrower", "devices", ["tenant", "borrower_id"], unique=False)
    else:
        op.create_index("ix_devices_borrower_id", "devices", ["borrower_id"], unique=False)
        op.create_index("ix_devices_tenant", "devices", ["tenant"], unique=False)
    if composite:
        rules = [{**r, "tenant": ""} for r in rules]
    op.bulk_insert(_rules_versions(composite), rules)


def _refuse_shared_ids(rows: list[dict[str, object]], label: str) -> None:
    seen: set[object] = set()
    for row in rows:
        if row["id"] in seen:
            raise RuntimeError(f"cannot downgrade: {label} id {row['id']!r} is used by two lenders")
        seen.add(row["id"])


def upgrade() -> None:
    _rebuild(composite=True)


def downgrade() -> None:
    _rebuild(composite=False)
