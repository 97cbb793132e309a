"""The database away (PostgreSQL restarting, as at a club's centre): the REST API
answers 503 with a time to come back, one line in the log and no traceback, and
answers again as soon as the database is back."""

from __future__ import annotations

import pytest

from tests.service_helpers import Service, free_port, pg_away, pg_database, write_config

pytestmark = pytest.mark.timeout(300)


def test_a_database_away_is_503_then_back(tmp_path):
    with pg_database() as db_url:
        port = free_port()
        svc = Service(write_config(tmp_path / "cfg.toml", db_url, [], port), port, tmp_path / "log")
        try:
            with svc.client() as c:
                made = c.post("/api/athletes", json={"name": "Ada", "body_mass_kg": 61}).json()
                with pg_away(db_url):
                    away = c.get("/api/athletes")
                    assert away.status_code == 503, away.text
                    assert "database is unavailable" in away.json()["detail"]
                    assert int(away.headers["retry-after"]) > 0
                back = c.get("/api/athletes")
                assert back.status_code == 200 and [a["id"] for a in back.json()] == [made["id"]]
        finally:
            svc.close()
        log = (tmp_path / "log").read_text()
        assert "the database is unavailable" in log and "Traceback" not in log
