"""An installed Pi upgrades its database in place: a database made by an earlier
release, with athletes and sessions in it, is brought to the current schema by
the service at start (SQLite as on a Pi, and PostgreSQL)."""

from __future__ import annotations

import contextlib

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from service.store import Store
from service.store.db import MIGRATIONS
from tests.service_helpers import pg_database


def _to(revision: str):
    def upgrade(connection) -> None:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    return upgrade


@contextlib.contextmanager
def _database(kind: str, tmp_path):
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/old.db"
    else:
        with pg_database() as url:
            yield url


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
@pytest.mark.asyncio
async def test_a_database_of_the_release_before_club_mode_upgrades_with_its_rows(kind, tmp_path):
    with _database(kind, tmp_path) as url:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(_to("0002"))
            for i in (1, 2, 3):
                await conn.execute(
                    text(
                        "INSERT INTO athletes (id, name, body_mass_kg, height_m, notes, created_at)"
                        " VALUES (:i, :n, 70, 1.8, '', CURRENT_TIMESTAMP)"
                    ),
                    {"i": i, "n": f"Athlete {i}"},
                )
                await conn.execute(
                    text(
                        "INSERT INTO sessions (id, athlete_id, status, started_at, clock_origin_s,"
                        " notes, model_version, athlete_snapshot)"
                        " VALUES (:i, :i, 'stopped', CURRENT_TIMESTAMP, 1.0, '', '0.4', '{}')"
                    ),
                    {"i": i},
                )
        await engine.dispose()

        store = Store(url)
        await store.open()  # as the service does at start: up to the current schema
        async with store.engine.connect() as conn:
            for table in ("athletes", "sessions"):
                uuids = (await conn.execute(text(f"SELECT uuid FROM {table}"))).scalars().all()
                assert len(uuids) == 3 and len(set(uuids)) == 3 and all(len(u) == 36 for u in uuids)
            pending = "SELECT count(*) FROM sessions WHERE replicated_at IS NULL AND node IS NULL"
            assert (await conn.execute(text(pending))).scalar() == 3  # each to upload, once
        await store.close()
