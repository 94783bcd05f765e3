"""Alembic environment: the engine's connection is handed in by drafty_bird.data.engine.migrate."""

from alembic import context
from sqlmodel import SQLModel

from drafty_bird.data import models  # noqa: F401  (registers the tables on SQLModel.metadata)

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
