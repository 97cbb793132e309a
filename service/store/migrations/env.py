"""Alembic environment: runs on the connection the service hands it.

The service calls `Store.migrate()`, which opens an async connection and runs
the migrations through `connection.run_sync`, so SQLite and PostgreSQL take
one code path. For a developer, `alembic -c service/store/alembic.ini revision
--autogenerate -m "..."` works against STRIDESYNC_DATABASE__URL (default: a
local SQLite file).
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from service.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER TABLE on SQLite
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_standalone() -> None:
    url = os.environ.get("STRIDESYNC_DATABASE__URL", "sqlite+aiosqlite:///stridesync.db")
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(_run)
    await engine.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_run_standalone())
