"""Club mode end to end (docs/club.md): three lanes, each a `serve` with a simulated
athlete and its own Mosquitto bridged over TLS to the central broker, and the
centre (`stridesync central`, HTTPS) on a throwaway PostgreSQL database.

The club link is cut for 30 s in the middle of a rep (the central broker
stopped) and restored, and the centre's PostgreSQL is away for 5 s (as in a
restart). Then every step, rep and raw chunk of every session must
be in the central database exactly once, equal to what its lane stored, and the
centre's rescore of each session must equal the lane's live steps."""

from __future__ import annotations

import asyncio
import hashlib
import json
import ssl
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import aiomqtt
import pytest

from tests.club_helpers import CentralBroker, Centre, Lane, WsReader, make_tls, wait_until
from tests.service_helpers import PG_DSN, VIEWER, pg_away, pg_database, sql

pytestmark = pytest.mark.timeout(900)

LANES = ("lane-1", "lane-2", "lane-3")
CUT_S = 30.0


@pytest.fixture(scope="module")
def club(tmp_path_factory):
    d = tmp_path_factory.mktemp("club")
    tls = make_tls(d / "tls")
    tokens = {lane: f"{lane}-token-0123456789abcdef0123456789" for lane in LANES}
    broker = CentralBroker(d / "broker", {lane: f"{lane}-pw" for lane in LANES}, tls)
    lanes: list[Lane] = []
    with pg_database() as db_url:
        centre = Centre(d, db_url, broker, tls, tokens)
        try:
            # The three Pis start at once, as at a track (each waits for its own service).
            with ThreadPoolExecutor(len(LANES)) as pool:
                starting = [
                    pool.submit(Lane, d / name, name, i + 1, centre, broker, tokens[name])
                    for i, name in enumerate(LANES)
                ]
            failed = []
            for f in starting:  # those that started are closed below, whatever failed
                try:
                    lanes.append(f.result())
                except BaseException as exc:  # a skip too (no mosquitto)
                    failed.append(exc)
            if failed:
                raise failed[0]
            yield broker, centre, lanes, db_url
        finally:
            for lane in lanes:
                lane.close()
            centre.close()
            broker.stop()


def _pg(db_url: str, query: str) -> list[list[str]]:
    name = db_url.rsplit("/", 1)[1]
    out = subprocess.run(
        ["psql", f"{PG_DSN}/{name}", "-AtF", "\t", "-c", query],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    return [line.split("\t") for line in out.splitlines() if line]


def _club_health(centre: Centre) -> dict:
    with centre.client() as c:
        return c.get("/healthz").json()["components"]["club"]


@pytest.fixture
def idle_lanes(club):
    """Each test starts and ends with no lane recording and the central broker up, so
    that a test that fails half-way leaves nothing behind for the next."""

    def settle():
        broker, _centre, lanes, _db = club
        if not broker.running():
            broker.start()
        for lane in lanes:
            lane.service.stop_any_session()

    settle()
    yield club
    settle()


def _lane_steps(lane: Lane, sid: int) -> list[dict]:
    with lane.service.client() as c:
        return c.get(f"/api/sessions/{sid}/steps", params={"limit": 10000}).json()


def test_three_lanes_one_centre_and_the_club_link_cut_for_30_s(idle_lanes):
    broker, centre, lanes, db_url = idle_lanes
    for lane in lanes:
        lane.service.wait_devices(6, timeout=60)
    ws = WsReader(centre.url.replace("https", "wss") + "/ws/live", ca=centre.ca)
    sessions = {lane.name: lane.service.start_session(f"Athlete {lane.name}") for lane in lanes}

    # Live: every lane's steps reach the centre's websocket.
    wait_until("steps of all three lanes live at the centre", lambda: all(
        len(ws.steps(lane.name)) >= 3 for lane in lanes))  # fmt: skip

    # The club link down for 30 s mid-rep; the lanes keep recording.
    at_cut = {lane.name: len(_lane_steps(lane, sessions[lane.name])) for lane in lanes}
    broker.stop()
    t_cut = time.monotonic()
    time.sleep(CUT_S)
    during = {lane.name: len(_lane_steps(lane, sessions[lane.name])) for lane in lanes}
    assert time.monotonic() - t_cut >= CUT_S
    assert all(during[n] > at_cut[n] for n in LANES), (at_cut, during)  # steps made in the cut
    broker.start()

    # Store-and-forward: what the lanes made while the link was down reaches the
    # centre's websocket through the bridges, before any session is uploaded.
    def missing() -> dict:
        out = {}
        for lane in lanes:
            kept = {s["n"] for s in _lane_steps(lane, sessions[lane.name])}
            out[lane.name] = sorted(kept - set(ws.steps(lane.name)))
        return out

    def caught_up():
        return not any(missing().values())

    def why():
        return f"missing at the centre: {missing()}; centre: {_club_health(centre)}"

    wait_until("the steps made during the cut at the centre", caught_up, why=why)

    # PostgreSQL away, as in a restart: the centre's connections cut and none let in,
    # until the centre has met the outage (a lane's step it could not write). The
    # centre holds what it could not write and retries.
    retries = _club_health(centre)["db_retries"]
    with pg_away(db_url):
        wait_until("the centre meets the database outage", lambda: (
            _club_health(centre)["db_retries"] > retries))  # fmt: skip
    wait_until("the steps made while PostgreSQL was away at the centre", caught_up, why=why)
    for lane in lanes:
        with lane.service.client() as c:
            assert c.get("/healthz").json()["components"]["club"]["sessions_uploaded"] == 0

    for lane in lanes:
        with lane.service.client() as c:
            assert c.post(f"/api/sessions/{sessions[lane.name]}/stop").status_code == 200
    for lane in lanes:
        wait_until(f"{lane.name}'s session uploaded", lambda lane=lane: _uploaded(lane) >= 1)
    ws.close()

    for lane in lanes:
        _check_replicated(lane, sessions[lane.name], centre, db_url)


def _uploaded(lane: Lane) -> int:
    with lane.service.client() as c:
        return c.get("/healthz").json()["components"]["club"]["sessions_uploaded"]


def _check_replicated(lane: Lane, sid: int, centre: Centre, db_url: str) -> None:
    with lane.service.client() as c:
        mine = c.get(f"/api/sessions/{sid}").json()
        steps = c.get(f"/api/sessions/{sid}/steps", params={"limit": 10000}).json()
        reps = c.get(f"/api/sessions/{sid}/reps").json()
    assert steps and reps, "the lane's session has steps and reps"
    with centre.client() as c:
        theirs = next(s for s in c.get("/api/sessions", params={"limit": 100}).json()
                      if s["uuid"] == mine["uuid"])  # fmt: skip
        assert theirs["node"] == lane.name
        cid = theirs["id"]
        assert c.get(f"/api/sessions/{cid}/steps", params={"limit": 10000}).json() == steps
        assert c.get(f"/api/sessions/{cid}/reps").json() == reps
        detail = c.get(f"/api/sessions/{cid}").json()
        rescore = c.post(f"/api/sessions/{cid}/rescore", json={}).json()
    for key in ("status", "started_at", "stopped_at", "clock_origin_s", "athlete_snapshot"):
        assert theirs[key] == mine[key], key

    # Exactly once, by key, in the central database.
    for table, key in (("steps", "seq"), ("reps", "number"), ("raw_chunks", "seq")):
        dup = _pg(db_url, f"SELECT {key}, count(*) FROM {table} WHERE session_id = {cid}"
                          f" GROUP BY {key} HAVING count(*) > 1")  # fmt: skip
        assert dup == [], (table, dup)
    assert detail["steps"] == len(steps) and detail["reps"] == len(reps)

    # Every raw chunk, byte for byte, in the lane's order.
    lane_chunks = sql(lane.db, "SELECT data FROM raw_chunks WHERE session_id = ? ORDER BY id", sid)
    central = _pg(db_url, f"SELECT seq, encode(sha256(data), 'hex') FROM raw_chunks"
                          f" WHERE session_id = {cid} ORDER BY seq")  # fmt: skip
    assert [int(s) for s, _ in central] == list(range(len(lane_chunks)))
    assert [h for _, h in central] == [hashlib.sha256(d).hexdigest() for (d,) in lane_chunks]

    # The centre's rescore from the replicated raw samples is the lane's live session.
    assert rescore["identical"], rescore["differences"]
    assert [s["n"] for s in rescore["steps"]] == [s["n"] for s in steps]
    assert [s["ic_time_s"] for s in rescore["steps"]] == [s["ic_time_s"] for s in steps]
    assert [s["limiter"] for s in rescore["steps"]] == [s["limiter"] for s in steps]


def test_a_lane_cannot_publish_under_another_lanes_topics(idle_lanes):
    broker, centre, _lanes, _db = idle_lanes
    ctx = ssl.create_default_context(cafile=str(centre.ca))

    async def run():
        def client(user, ident):
            return aiomqtt.Client(
                "127.0.0.1", broker.port, username=user, password=broker.passwords[user],
                identifier=ident, tls_context=ctx,
            )  # fmt: skip

        async with (
            client("centre", "acl-test-reader") as reader,
            client("lane-1", "acl-test-1") as lane1,
        ):
            await reader.subscribe("stridesync/acl-test/#", qos=1)
            await reader.subscribe("stridesync/lane-2/acl-test", qos=1)
            await reader.subscribe("stridesync/lane-1/acl-test", qos=1)
            # lane-1 writes as lane-2 first, then as itself, on one connection: in order.
            await lane1.publish("stridesync/lane-2/acl-test", b"forged", qos=1)
            await lane1.publish("stridesync/acl-test/x", b"forged", qos=1)
            await lane1.publish("stridesync/lane-1/acl-test", b"own", qos=1)
            got = []
            async with asyncio.timeout(30):
                async for m in reader.messages:
                    got.append((str(m.topic), bytes(m.payload)))
                    if m.payload == b"own":
                        break
            return got

    assert asyncio.run(run()) == [("stridesync/lane-1/acl-test", b"own")]


def test_a_malformed_message_is_dropped_alone_and_the_centre_goes_on(idle_lanes):
    """A lane's bug must not stop the centre: what the database refuses while it is up
    is dropped and counted, and the messages around it are written."""
    broker, centre, lanes, db_url = idle_lanes
    # A session of lane-1's own, known to the centre from its live "started" message.
    sid = lanes[0].service.start_session("Malformed")
    with lanes[0].service.client() as c:
        mine = c.get(f"/api/sessions/{sid}").json()["uuid"]

    def at_centre():
        with centre.client() as c:
            return next((s for s in c.get("/api/sessions", params={"limit": 100}).json()
                         if s["uuid"] == mine), None)  # fmt: skip

    session = wait_until("lane-1's session at the centre", at_centre)
    before = _club_health(centre)
    ctx = ssl.create_default_context(cafile=str(centre.ca))
    topic = "stridesync/lane-1/athletes/1/steps"
    good = {"type": "step", "session_uuid": session["uuid"], "n": 90001, "ic_time_s": 1.0,
            "source": "imu"}  # fmt: skip

    async def publish():
        async with aiomqtt.Client(
            "127.0.0.1", broker.port, username="lane-1", password=broker.passwords["lane-1"],
            identifier="malformed-test", tls_context=ctx,
        ) as lane1:  # fmt: skip
            await lane1.publish(topic, b"not json", qos=1)
            await lane1.publish(topic, json.dumps({**good, "n": "ninety"}), qos=1)
            await lane1.publish(topic, json.dumps(good), qos=1)
            await lane1.publish(
                topic, json.dumps({**good, "session_uuid": str(uuid.uuid4())}), qos=1
            )

    asyncio.run(publish())

    def health():
        with centre.client() as c:
            h = c.get("/healthz").json()["components"]["club"]
        return h if h["unknown_session"] > before["unknown_session"] else None

    after = wait_until("the centre past the malformed messages", health)
    assert after["rejected"] == before["rejected"] + 2
    assert _pg(db_url, "SELECT count(*) FROM steps WHERE seq = 90001") == [["1"]]


def test_the_club_page_shows_every_lane_live_side_by_side(idle_lanes):
    """Debian's Chromium on the centre's /club, with a session on each lane."""
    from tests.browser import ARTIFACTS, chromium, require_chromium

    require_chromium()
    _broker, centre, lanes, _db = idle_lanes
    sessions = {lane.name: lane.service.start_session(f"Sprinter {lane.name}") for lane in lanes}
    try:
        with chromium() as b:
            # The test CA is not the browser's: a club installs its CA on the tablets.
            ctx = b.new_context(viewport={"width": 1280, "height": 800}, ignore_https_errors=True)
            ctx.set_default_timeout(120_000)  # a hang bound, on a busy machine
            page = ctx.new_page()
            page.goto(f"{centre.url}/club#token={VIEWER}")
            page.wait_for_function("document.getElementById('conn').textContent === 'live'")
            # Each lane's card shows its athlete, recording, and a step's verdict.
            for lane in lanes:
                card = f"article.lane[data-lane='{lane.name}']"
                page.wait_for_function(
                    f"""() => {{
                      const c = document.querySelector("{card}");
                      return c && Number(c.querySelector('.n-steps').textContent) > 0
                        && !['idle', 'running'].includes(c.querySelector('.light').dataset.state);
                    }}""",
                    timeout=240_000,
                )
                assert page.locator(f"{card} .who").inner_text() == (
                    f"Sprinter {lane.name} · recording"
                )
                assert page.locator(f"{card} .link").inner_text() == "online"
            names = page.eval_on_selector_all("article.lane", "els => els.map(e => e.dataset.lane)")
            assert names == list(LANES)
            # Side by side at a tablet's width: one row, no sideways scroll.
            tops = page.eval_on_selector_all(
                "article.lane", "els => els.map(e => e.getBoundingClientRect().top)"
            )
            assert len(set(tops)) == 1
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "club.png"), full_page=False)

            # A page opened late gets every lane at once, from GET /api/club/lanes.
            late = ctx.new_page()
            late.goto(f"{centre.url}/club")
            late.wait_for_function("document.querySelectorAll('article.lane').length === 3")
    finally:
        for lane in lanes:
            with lane.service.client() as c:
                c.post(f"/api/sessions/{sessions[lane.name]}/stop")


def test_the_centre_records_no_sessions_of_its_own(idle_lanes):
    """The centre has no sensors: starting a session there is refused, saying where
    sessions come from (it used to start one with nothing to record)."""
    _, centre, _, _ = idle_lanes
    with centre.client() as c:
        r = c.post("/api/sessions", json={"athlete_id": 1})
        sessions = c.get("/api/sessions", params={"status": "recording"}).json()
    assert r.status_code == 409, r.text
    assert r.json()["detail"].startswith("the club's centre records no sessions: its lanes do")
    assert sessions == []
