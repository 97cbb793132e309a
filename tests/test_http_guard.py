"""The front door under attack (issue 13, item 5): a body is never read before its
token is checked or past its route's limit, connections are bounded in all and
per address, slow headers time out, and the sensors keep streaming meanwhile."""

from __future__ import annotations

import asyncio
import re
import resource
import subprocess
import sys
import time

import httpx
import pytest

from service.httpguard import BODY_LIMITS, MAX_HEADER_BYTES, body_limit
from tests.service_helpers import (
    ADMIN,
    VIEWER,
    Service,
    SimAthlete,
    free_port,
    running,
    stored_streams,
    write_config,
)

pytestmark = pytest.mark.timeout(300)


async def _raw(addr: str, request: bytes, local: str = "127.0.0.1") -> tuple[int, bytes]:
    """Send `request` as it is (perhaps only the headers) and read the answer to EOF."""
    host, port = addr.split(":")
    reader, writer = await asyncio.open_connection(host, int(port), local_addr=(local, 0))
    writer.write(request)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    status = int(answer.split(b" ", 2)[1]) if answer else 0
    return status, answer


def _head(method: str, path: str, token: str | None = None, **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: pi", "Content-Type: application/json"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.mark.asyncio
async def test_a_body_without_a_valid_token_is_refused_before_it_is_sent(tmp_path):
    async with running(tmp_path) as (_app, addr):
        # 40 MB announced, not a byte of it sent: the answer cannot have waited for it.
        for token in (None, "not-a-token"):
            status, answer = await _raw(
                addr, _head("POST", "/api/athletes", token, Content_Length="40000000")
            )
            assert status == 401, answer
            assert b"www-authenticate: bearer" in answer.lower()
        status, _ = await _raw(addr, _head("POST", "/api/athletes", Transfer_Encoding="chunked"))
        assert status == 401
        async with httpx.AsyncClient(base_url=f"http://{addr}") as c:
            metrics = (await c.get("/metrics")).text
    assert 'stridesync_http_refused_total{reason="unauthenticated_body"} 3.0' in metrics


LANE = "lane-token-for-tests-0123456789abcdef"


def _example_path(pattern: re.Pattern) -> str:
    uuid = "0b8c5a4e-2f7d-4c1e-9a3b-5d6e7f809102"
    path = pattern.pattern.replace(r"\d+", "1").replace("[0-9a-f-]{36}", uuid)
    return path.replace("(steps|chunks)", "chunks")


def _as(path: str) -> tuple[str, dict]:
    """The token a route takes, and the app's sections: a club's routes are the
    centre's, for a lane's token (docs/club.md)."""
    if not path.startswith("/api/club/"):
        return ADMIN, {}
    from service.config import hash_token

    hashes = {"lane-1": hash_token(LANE)}
    return LANE, {"club": {"role": "central", "node_token_hashes": hashes}}


@pytest.mark.parametrize(("method", "pattern", "limit"), BODY_LIMITS)
@pytest.mark.asyncio
async def test_each_route_takes_at_most_its_body_limit(tmp_path, method, pattern, limit):
    path = _example_path(pattern)
    assert body_limit(method, path) == limit
    token, sections = _as(path)
    async with running(tmp_path, **sections) as (_app, addr):
        # One byte over, announced: refused unread, even with a token.
        status, answer = await _raw(addr, _head(method, path, token, Content_Length=str(limit + 1)))
        assert status == 413, answer
        assert f"at most {limit} bytes".encode() in answer
        # Streamed in chunks with no length: counted as it comes, refused past the limit.
        chunk = b" " * 1024
        body = b"".join(b"400\r\n" + chunk + b"\r\n" for _ in range(limit // 1024 + 1))
        status, answer = await _raw(
            addr,
            _head(method, path, token, Transfer_Encoding="chunked") + body + b"0\r\n\r\n",
        )
        assert status == 413, answer
        # At the limit it is read and judged on its content (spaces: not JSON).
        status, answer = await _raw(
            addr, _head(method, path, token, Content_Length=str(limit), Connection="close")
            + b" " * limit,
        )  # fmt: skip
        assert status == 422, answer


@pytest.mark.asyncio
async def test_no_body_where_none_is_taken_and_real_requests_pass(tmp_path):
    async with running(tmp_path) as (_app, addr):
        status, answer = await _raw(addr, _head("GET", "/healthz", Content_Length="5") + b"hello")
        assert status == 413 and b"takes no body" in answer
        status, _ = await _raw(addr, _head("GET", "/api/status", VIEWER, Content_Length="5000"))
        assert status == 413  # a stray body on an API read: 1 KiB at most
        async with httpx.AsyncClient(
            base_url=f"http://{addr}", headers={"Authorization": f"Bearer {ADMIN}"}
        ) as c:
            r = await c.post(
                "/api/athletes", json={"name": "A", "body_mass_kg": 70, "height_m": 1.8}
            )
            assert r.status_code == 201, r.text
            r = await c.patch(f"/api/athletes/{r.json()['id']}", json={"notes": "x" * 1000})
            assert r.status_code == 200, r.text


@pytest.mark.asyncio
async def test_headers_too_large_or_too_slow_are_closed(tmp_path):
    async with running(tmp_path, server={"header_timeout_s": 1.0}) as (_app, addr):
        big = b"GET /healthz HTTP/1.1\r\nHost: pi\r\nX-Pad: " + b"a" * MAX_HEADER_BYTES
        status, answer = await _raw(addr, big + b"\r\n\r\n")
        assert status == 431, answer
        # Half a request, then nothing: closed with 408 when the headers' time is up.
        status, answer = await _raw(addr, b"GET /healthz HTTP/1.1\r\nHost: pi\r\n")
        assert status == 408, answer
        # A connection that never says a word is closed too.
        status, answer = await _raw(addr, b"")
        assert status == 408


@pytest.mark.asyncio
async def test_connections_are_bounded_in_all_and_per_address(tmp_path):
    limits = {"max_connections": 12, "max_connections_per_client": 4, "header_timeout_s": 5.0}
    async with running(tmp_path, server=limits) as (_app, addr):
        host, port = addr.split(":")
        half = b"GET / HTTP/1.1\r\nHost: pi\r\n"

        async def hold(local: str):
            reader, writer = await asyncio.open_connection(host, int(port), local_addr=(local, 0))
            writer.write(half)
            await writer.drain()
            return reader, writer

        # One address opens 10 half requests: 4 are held, 6 refused at once.
        opened = [await hold("127.0.0.2") for _ in range(10)]
        answers = await asyncio.gather(*(_first_bytes(r) for r, _ in opened))
        refused = [a for a in answers if a.startswith(b"HTTP/1.1 503")]
        assert len(refused) == 6 and answers.count(b"") == 4, answers
        held = [c for c, a in zip(opened, answers, strict=True) if a == b""]
        # Two more addresses fill the rest of the 12; a fourth is refused in all.
        others = [await hold(f"127.0.0.{k}") for k in (3, 4) for _ in range(4)]
        late = await hold("127.0.0.5")
        assert (await _first_bytes(late[0])).startswith(b"HTTP/1.1 503")
        # Close one of them: the next client gets in, and is answered.
        others[0][1].close()
        await asyncio.sleep(0.2)
        status, _ = await _raw(addr, b"GET /healthz HTTP/1.1\r\nHost: pi\r\n\r\n", "127.0.0.6")
        assert status == 200
        # The held ones are closed by the header timeout, with a 408 each.
        for r, _ in held + others[1:]:
            assert (await asyncio.wait_for(r.read(), 30)).startswith(b"HTTP/1.1 408")
        async with httpx.AsyncClient(base_url=f"http://{addr}") as c:
            metrics = (await c.get("/metrics")).text
    assert 'reason="too_many_from_client"} 6.0' in metrics
    assert 'reason="too_many_connections"} 1.0' in metrics


async def _first_bytes(reader: asyncio.StreamReader) -> bytes:
    """What the server sent within half a second (b"": nothing yet, still open)."""
    try:
        return await asyncio.wait_for(reader.read(100), 0.5)
    except TimeoutError:
        return b""


def _budget_under(soft: int, hard: int) -> str:
    code = (
        "import resource; from service.httpguard import connection_budget;"
        f"resource.setrlimit(resource.RLIMIT_NOFILE, ({soft}, {hard}));"
        "print(connection_budget(256), resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()


def test_connections_fit_inside_the_file_descriptor_limit():
    # Room to raise the soft limit: raised, and every connection allowed.
    assert _budget_under(300, 4096) == ["256", "576"]
    # A hard limit of 400: 128 are kept for serial ports, the database and the broker,
    # 192 for connections accepted and not yet refused (three bursts of 64).
    assert _budget_under(400, 400) == ["80", "400"]


def test_a_burst_of_queued_connections_stays_inside_the_descriptor_limit(tmp_path):
    """A busy or paused event loop finds the kernel's queue full when it comes back:
    1,050 connections that arrived while `serve` (with systemd's 1,024 descriptors)
    was stopped are taken a few at a time, not all at once into "Too many open
    files"; /healthz answers meanwhile."""
    import os
    import signal
    import socket

    _raise_own_fd_limit(4096)
    port = free_port()
    cfg = write_config(tmp_path / "cfg.toml", f"sqlite+aiosqlite:///{tmp_path}/s.db", [], port)
    svc = Service(cfg, port, tmp_path / "log", nofile=1024)
    socks = []
    try:
        os.kill(svc.proc.pid, signal.SIGSTOP)
        for _ in range(1050):
            s = socket.socket()
            s.setblocking(False)
            s.bind(("127.0.0.2", 0))
            s.connect_ex(("127.0.0.1", port))  # EINPROGRESS; the kernel queues it
            socks.append(s)
        time.sleep(0.5)
        os.kill(svc.proc.pid, signal.SIGCONT)
        codes = []
        for _ in range(8):
            time.sleep(0.5)
            codes.append(httpx.get(f"{svc.url}/healthz", timeout=10).status_code)
        open_fds = len(os.listdir(f"/proc/{svc.proc.pid}/fd"))
    finally:
        for s in socks:
            s.close()
        svc.close()
    assert set(codes) == {200}, codes
    assert open_fds < 1024
    assert b"Too many open files" not in svc.log.read_bytes()


# --- the live service under attack ---------------------------------------------------


def _raise_own_fd_limit(n: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))


@pytest.mark.slow
def test_attacks_leave_the_sensors_recording_and_a_replugged_sensor_back(tmp_path):
    """The issue's attacks at once, from another address, against `serve` with
    systemd's default 1,024 file descriptors, while the left shank IMU is pulled out
    and plugged back in: nothing answers 5xx, /healthz stays 200, the replugged
    sensor is back while the attack runs, and every sample is stored or counted."""
    _raise_own_fd_limit(4096)
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    sim = SimAthlete(
        "aligned", duration_s=300, faults="unplug=12:1,devices=2", link_dir=by_id, hold=True
    )
    db = tmp_path / "s.db"
    port = free_port()
    cfg = write_config(tmp_path / "cfg.toml", f"sqlite+aiosqlite:///{db}", [f"{by_id}/*"], port)
    svc = Service(cfg, port, tmp_path / "log", nofile=1024)
    try:
        svc.wait_devices(len(sim.paths))
        with svc.client() as c:
            sid = svc.start_session("A")
            sim.go()
            sim.sleep_until(8.0)
            attack = asyncio.run(_attack(port, until=sim.t0 + 20.0, probe=svc.url))
            status = c.get("/api/status").json()
            assert c.post(f"/api/sessions/{sid}/stop").status_code == 200
    finally:
        svc.close()
        sim.close()
    print(attack)
    assert attack["half_open"] == 1050 and attack["bodies"] == 11
    assert attack["body_answers"] == {401: 11}  # none of them read
    assert attack["probe_codes"] and set(attack["probe_codes"]) == {200}
    assert attack["reconnected_during_attack"]
    assert b"Too many open files" not in svc.log.read_bytes()
    shank = next(d for d in status["devices"] if d["name"] == "shank-left")
    assert shank["reconnects"] == 1
    # The other sensors went on: not a sample lost on the link. (A host too slow to
    # read in time makes a sensor's buffer overflow, which the MCU counts: on a fast
    # host none, on a slowed one with a busy neighbour a few hundred; the stored
    # chunks account for each.)
    lost = {d["name"]: d["lost_samples"] for d in status["devices"]}
    overflow = {d["name"]: d["overflow_samples"] for d in status["devices"]}
    print("samples lost per sensor:", lost, "overflowed:", overflow)
    assert all(n == 0 for name, n in lost.items() if name != "shank-left"), lost
    stored_streams(db, sid)  # contiguous, every loss counted


async def _attack(port: int, until: float, probe: str) -> dict:
    """1,050 half-sent requests from 127.0.0.2 and eleven big unauthenticated bodies
    (ten of 10 MB, one of 40 MB) from 127.0.0.3, while /healthz and the sensors are
    watched from 127.0.0.1."""
    out: dict = {"probe_codes": [], "body_answers": {}, "reconnected_during_attack": False}
    socks = []
    for _ in range(1050):
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.2", 0))
            w.write(b"GET / HTTP/1.1\r\nHost: pi\r\n")
            socks.append(w)
        except OSError:
            break
    out["half_open"] = len(socks)

    async def body(size: int) -> int:
        head = _head("POST", "/api/athletes", Content_Length=str(size))
        status, _ = await _raw(f"127.0.0.1:{port}", head, "127.0.0.3")
        return status

    codes = await asyncio.gather(*(body(10_000_000) for _ in range(10)), body(40_000_000))
    out["bodies"] = len(codes)
    for c in codes:
        out["body_answers"][c] = out["body_answers"].get(c, 0) + 1
    # Until `until`, and on till the replugged shank is back (a deadline for a hang).
    deadline = until + 120.0
    headers = {"Authorization": f"Bearer {ADMIN}"}
    async with httpx.AsyncClient(base_url=probe, headers=headers, timeout=60) as c:
        while time.monotonic() < until or (
            not out["reconnected_during_attack"] and time.monotonic() < deadline
        ):
            out["probe_codes"].append((await c.get("/healthz")).status_code)
            devices = (await c.get("/api/status")).json()["devices"]
            shank = next(d for d in devices if d["name"] == "shank-left")
            if shank["reconnects"] == 1 and shank["connected"]:
                out["reconnected_during_attack"] = True
            await asyncio.sleep(0.5)
    for w in socks:
        w.close()
    return out
