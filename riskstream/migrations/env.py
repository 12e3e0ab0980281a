"""Alembic's environment for riskstream: run on the connection that
`riskstream.service.database` hands in."""

from alembic import context

from riskstream.service.database import service_metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=service_metadata(),
    render_as_batch=True,  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
