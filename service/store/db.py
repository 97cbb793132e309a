"""The database: one async SQLAlchemy engine, SQLite (WAL) on the Pi or PostgreSQL.

Nothing here blocks the event loop: aiosqlite runs SQLite in a thread of its
own and asyncpg is asynchronous. SQLite is opened in WAL mode with
``synchronous=FULL`` (a commit is on the card before it returns: with a
commit about twice a second this costs little, and a power cut loses no
committed chunk), ``foreign_keys=ON`` and a busy timeout, so the API's reads
never wait for the recorder's writes.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from firmware_bridge.errors import StridesyncError

log = logging.getLogger("stridesync.store")

MIGRATIONS = Path(__file__).parent / "migrations"


class error(StridesyncError):
    """A database that cannot be opened; one line for the user."""


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    for pragma in (
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=FULL",
        "PRAGMA foreign_keys=ON",
        "PRAGMA busy_timeout=5000",
    ):
        cur.execute(pragma)
    cur.close()


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = make_url(url).get_backend_name()
        if self.dialect == "sqlite":
            path = make_url(url).database
            if path and path != ":memory:":
                try:
                    Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise error(f"database {path}: {exc.strerror or exc}") from None
        self.engine: AsyncEngine = create_async_engine(url, pool_pre_ping=True)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.session = async_sessionmaker(self.engine, expire_on_commit=False)

    async def open(self) -> None:
        """Connect and bring the schema up to date."""
        try:
            async with self.engine.begin() as conn:
                await conn.run_sync(_upgrade)
        except OSError as exc:
            raise error(f"database {self._where()}: {exc.strerror or exc}") from None
        except Exception as exc:
            if type(exc).__module__.startswith(("sqlalchemy", "asyncpg", "sqlite3")):
                raise error(f"database {self._where()}: {exc}".splitlines()[0]) from None
            raise
        log.info("database %s ready", self._where())

    async def ping(self) -> None:
        """A round trip to the database; raises what the driver raises."""
        async with self.session() as s:
            await s.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()

    async def integrity_ok(self) -> bool:
        if self.dialect != "sqlite":
            return True
        async with self.engine.connect() as conn:
            return (await conn.execute(text("PRAGMA integrity_check"))).scalar() == "ok"

    def _where(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)


def _upgrade(connection) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")
