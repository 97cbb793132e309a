"""What a club lane, a copied SD card or an athlete's name can put in front of the
centre's reports (issue 31): it is left out or shown, and every athlete's progress
and report still answer. A real service on SQLite; the rows put in as a lane's
messages would leave them."""

from __future__ import annotations

import io

import httpx
import pytest
from pypdf import PdfReader

from service.store import Rep, Session
from tests.service_helpers import ADMIN, running

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]

GOOD_REP = {"rep": 1, "steps": 20, "aligned_steps": 15, "f0_n": 600.0, "mss_m_s": 9.5,
            "pmax_w": 1400.0, "tau_s": 1.1, "min_contact_time_s": 0.1, "start_s": 0.0,
            "end_s": 6.0}  # fmt: skip


async def _session(store, athlete_id: int, status: str, snapshot, reps: list) -> None:
    async with store.session() as s, s.begin():
        row = Session(athlete_id=athlete_id, status=status, clock_origin_s=0.0,
                      model_version="0.5", athlete_snapshot=snapshot)  # fmt: skip
        s.add(row)
        await s.flush()
        for i, data in enumerate(reps, start=1):
            s.add(Rep(session_id=row.id, number=i, steps=20, data=data))


async def test_junk_from_a_lane_never_breaks_anyones_progress_or_report(tmp_path):
    async with running(tmp_path) as (app, addr):
        store = app.state.store
        auth = {"Authorization": f"Bearer {ADMIN}"}
        async with httpx.AsyncClient(base_url=f"http://{addr}", headers=auth, timeout=60) as c:
            ada = (await c.post("/api/athletes", json={"name": "Ada", "body_mass_kg": 70})).json()
            bob = (await c.post("/api/athletes", json={"name": "Bob", "body_mass_kg": 80})).json()
            good = {"body_mass_kg": 70.0, "height_m": 1.7}
            await _session(store, ada["id"], "stopped", good, [GOOD_REP, GOOD_REP])
            # A live "started" message makes a session with no snapshot, still recording;
            # a lane's PUT can hold an empty snapshot, a mass of 0, a number as text.
            await _session(store, bob["id"], "recording", {}, [GOOD_REP])
            await _session(store, bob["id"], "stopped", {}, [GOOD_REP])
            await _session(store, bob["id"], "stopped", {"body_mass_kg": 0}, [GOOD_REP])
            await _session(store, bob["id"], "stopped", good,
                           [{**GOOD_REP, "f0_n": "big"}, {"rep": "x"}, [1, 2]])  # fmt: skip
            for who in (ada, bob):
                progress = await c.get(f"/api/athletes/{who['id']}/progress")
                assert progress.status_code == 200, progress.text
                for fmt in ("html", "pdf"):
                    r = await c.get(f"/api/athletes/{who['id']}/report", params={"format": fmt})
                    assert r.status_code == 200, (who["name"], fmt, r.text[:300])
            # Ada's own session is counted; none of Bob's junk is a value.
            ada_f0 = (await c.get(f"/api/athletes/{ada['id']}/progress")).json()
            assert [s["reps"] for s in ada_f0["sessions"]] == [2]
            bob_f0 = (await c.get(f"/api/athletes/{bob['id']}/progress")).json()
            assert bob_f0["sessions"] == []


NAMES = ("Łukasz Kowalski", "Antonín Dvořák", "Şahin Yılmaz", "Γιάννης Παπαδόπουλος",
         "Ōsaka Tarō", "Иван Петров", "東京 太郎", "محمد علي", "Zoë 🏃")  # fmt: skip
READABLE = NAMES[:6]  # the scripts the shipped font covers: the PDF holds the text itself


async def test_the_pdf_report_renders_every_name_a_person_can_have(tmp_path):
    async with running(tmp_path) as (_app, addr):
        auth = {"Authorization": f"Bearer {ADMIN}"}
        async with httpx.AsyncClient(base_url=f"http://{addr}", headers=auth, timeout=60) as c:
            for name in NAMES:
                a = (await c.post("/api/athletes", json={"name": name, "body_mass_kg": 70})).json()
                r = await c.get(f"/api/athletes/{a['id']}/report", params={"format": "pdf"})
                assert r.status_code == 200, (name, r.text[:300])
                text = PdfReader(io.BytesIO(r.content)).pages[0].extract_text()
                if name in READABLE:
                    assert name in text, (name, text[:200])


async def test_exports_neutralise_cells_a_spreadsheet_would_run(tmp_path):
    """Values a lane uploaded (foot, limiter, source, model version) that start with
    =, +, - or @ go out as text (a leading quote), as OWASP recommends; numbers stay
    numbers, negative ones too."""
    import csv

    from service.store import Step

    async with running(tmp_path) as (app, addr):
        store = app.state.store
        auth = {"Authorization": f"Bearer {ADMIN}"}
        async with httpx.AsyncClient(base_url=f"http://{addr}", headers=auth, timeout=60) as c:
            a = (await c.post("/api/athletes", json={"name": "Eve", "body_mass_kg": 60})).json()
            await _session(store, a["id"], "stopped", {"body_mass_kg": 60.0}, [GOOD_REP])
            evil = {"n": 1, "type": "step", "foot": '=HYPERLINK("http://x","y")',
                    "limiter": "+cmd|' /C calc'!A0", "source": "@SUM(1,1)",
                    "model_version": "-2+3", "ic_time_s": -0.25, "contact_time_s": 0.1}  # fmt: skip
            async with store.session() as s, s.begin():
                s.add(Step(session_id=1, seq=1, rep=1, foot=evil["foot"], ic_time_s=-0.25,
                           limiter=evil["limiter"], aligned=False, source=evil["source"],
                           data=evil))  # fmt: skip
            text = (await c.get("/api/sessions/1/export",
                                params={"format": "csv", "table": "steps"})).text  # fmt: skip
    row = next(csv.DictReader(io.StringIO(text)))
    for key in ("foot", "limiter", "source", "model_version"):
        assert row[key] == "'" + evil[key], (key, row[key])
    assert row["ic_time_s"] == "-0.25"  # a number, as it was


def test_the_centre_takes_a_lanes_mqtt_message_as_rest_would_or_drops_it_alone():
    """Each message on its own (the consumer drops it, counted, and writes the rest of
    its batch): too big, too deep to read, NaN, text with a NUL, a step whose time is
    text, a message type the topic does not carry (a lane's "hello" with role admin
    would reach the club page)."""
    import json

    from service.club.centre import _checked
    from service.club.wire import Refused

    by = {"device_id": "5353494d00000001", "stream_id": 0, "sample": 9}
    good = {"type": "step", "n": 3, "ic_time_s": 1.25, "to_time_s": 1.35, "foot": "left",
            "session_uuid": "a0000000-0000-4000-8000-000000000001", "confirmed_by": by}  # fmt: skip
    assert _checked("steps", json.dumps(good).encode()) == good
    bad = {
        "1 MB": json.dumps({**good, "pad": "x" * 1_000_000}).encode(),
        "100k deep": b"[" * 100_000 + b"]" * 100_000,
        "NaN": json.dumps({**good, "ic_time_s": float("nan")}).encode(),
        "NUL": json.dumps({**good, "foot": "left\x00"}).encode(),
        "time as text": json.dumps({**good, "ic_time_s": "x"}).encode(),
        "2^63": json.dumps({**good, "n": 2**63}).encode(),
        "hello": json.dumps({"type": "hello", "role": "admin"}).encode(),
        "a rep on steps": json.dumps({"type": "rep", "rep": 1}).encode(),
        "not an object": b"[1, 2]",
    }
    for what, payload in bad.items():
        with pytest.raises(Refused):
            _checked("steps", payload)
            pytest.fail(what)
