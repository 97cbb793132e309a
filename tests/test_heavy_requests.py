"""Heavy viewer requests (rescores, reports) run one at a time, in the order they came
(service/api/heavy.py): eight at once took the API to 6.4 s and made the live engine
shed its trace (issue 31, item 9)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from service.api import sessions
from tests.service_helpers import ADMIN, VIEWER, running

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(300)]


async def test_rescores_and_reports_queue_one_at_a_time(tmp_path, monkeypatch):
    inside, most, order = 0, 0, []

    async def slow_rescore(store, row):
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        order.append(row.id)
        await asyncio.sleep(0.05)  # a yield point: a second request could get in here
        inside -= 1
        return [], []

    monkeypatch.setattr(sessions, "rescore_stored", slow_rescore)
    async with running(tmp_path) as (_app, addr):
        admin = {"Authorization": f"Bearer {ADMIN}"}
        viewer = {"Authorization": f"Bearer {VIEWER}"}
        async with httpx.AsyncClient(base_url=f"http://{addr}", timeout=120) as c:
            a = (
                await c.post("/api/athletes", json={"name": "A", "body_mass_kg": 70}, headers=admin)
            ).json()
            ids = []
            for _ in range(3):
                s = (
                    await c.post("/api/sessions", json={"athlete_id": a["id"]}, headers=admin)
                ).json()
                await c.post(f"/api/sessions/{s['id']}/stop", headers=admin)
                ids.append(s["id"])
            tries = [
                c.post(f"/api/sessions/{sid}/rescore", json={}, headers=viewer) for sid in ids * 3
            ]
            reports = [c.get(f"/api/athletes/{a['id']}/report", headers=viewer) for _ in range(2)]
            answers = await asyncio.gather(*tries, *reports)
    assert [r.status_code for r in answers] == [200] * len(answers), [r.text for r in answers]
    assert answers[-1].headers["content-type"] == "application/pdf"
    assert most == 1 and len(order) == 9  # never two rescores at once, all of them done
