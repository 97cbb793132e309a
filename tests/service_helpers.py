"""Real parts for the service tests: a simulated athlete on ptys, `stridesync serve`
as a process of its own, and a throwaway PostgreSQL database."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from stridesync_cue.contract import device_acl

ADMIN = "admin-token-for-tests-0123456789abcdef"
VIEWER = "viewer-token-for-tests-0123456789abcdef"
PG_DSN = "postgresql://postgres@127.0.0.1:5432"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Deadlines in these helpers only catch a hang: a busy CI machine three times slower
# than a developer's takes its time, and a test must not fail for that.
HANG_S = 120.0


def wait_for_port(
    port: int, proc: subprocess.Popen, log: Path | None = None, timeout_s: float = HANG_S
) -> None:
    """Until something listens on 127.0.0.1:port; the process's log if it exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        if proc.poll() is not None:
            raise RuntimeError(log.read_text() if log else f"exited with {proc.returncode}")
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on port {port} after {timeout_s:.0f} s")


class SimAthlete:
    """`stridesync simulate --pty`: the standard rig in a process of its own."""

    def __init__(
        self,
        scenario: str = "aligned",
        seed: int = 0,
        duration_s: float = 600.0,
        stand_s: float = 0.0,
        faults: str = "",
        link_dir: Path | None = None,
        noise: bool = True,
        rig: str = "standard",
        hold: bool = False,
    ):
        """`hold`: the athlete stands still, sensors streaming, until `go()` (the plan,
        the duration and the faults start then: a test's timeline begins when the
        service records, however long the service took to start)."""
        argv = [
            sys.executable, "-m", "service.cli", "simulate", "--pty",
            "--scenario", scenario, "--seed", str(seed), "--duration", str(duration_s),
            "--stand", str(stand_s),
        ]  # fmt: skip
        if faults:
            argv += ["--faults", faults]
        if link_dir is not None:
            argv += ["--link-dir", str(link_dir)]
        if not noise:
            argv.append("--no-noise")
        argv += ["--rig", rig]
        if hold:
            argv.append("--hold")
        self.args = dict(
            scenario=scenario, seed=seed, duration_s=duration_s, stand_s=stand_s, rig=rig
        )
        self.noise = noise
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stdin=subprocess.PIPE if hold else None, text=True
        )
        self.paths: list[str] = []
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("simulated athlete failed to start")
            msg = json.loads(line)
            if msg.get("ready"):
                break
            self.paths.append(msg["path"])
        self.t0 = msg["t0"]  # host monotonic time of the plan's time 0: the truth's clock

    def go(self) -> None:
        """Start the plan of a held athlete (its time 0 is now: `t0`)."""
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("simulated athlete exited before it could go")
        self.t0 = json.loads(line)["t0"]

    def plan_s(self) -> float:
        """Where the plan is now (seconds since its time 0)."""
        return time.monotonic() - self.t0

    def sleep_until(self, plan_s: float) -> None:
        time.sleep(max(0.0, self.t0 + plan_s - time.monotonic()))

    def rep_windows(self) -> list[tuple[float, float]]:
        """Each rep's (first IC, last toe-off), in plan time (the simulator's truth)."""
        from firmware_bridge.simulator import simulate_session

        steps = simulate_session(noise=False, **self.args).plan.steps
        return [
            (float(steps.ic_s[steps.rep == r].min()), float(steps.to_s[steps.rep == r].max()))
            for r in sorted(set(steps.rep.tolist()) - {0})
        ]

    def quiet_after(self, plan_s: float, settle_s: float = 2.0) -> float:
        """The first plan time from `plan_s` that is `settle_s` past any rep (the
        athlete still: a rep under way has ended), and before the next."""
        for start, end in self.rep_windows():
            if plan_s < start:
                return plan_s
            plan_s = max(plan_s, end + settle_s)
        return plan_s

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.terminate()
        self.proc.wait(10)


def write_config(path: Path, db_url: str, ports: list[str], port: int, **extra: str) -> Path:
    from service.config import hash_token

    lines = [
        "[server]",
        f"port = {port}",
        "[database]",
        f'url = "{db_url}"',
        "[devices]",
        f"ports = {json.dumps(ports)}",
        "scan_interval_s = 0.1",
        "[auth]",
        f'admin_token_hashes = ["{hash_token(ADMIN)}"]',
        f'viewer_token_hashes = ["{hash_token(VIEWER)}"]',
    ]
    for section, body in extra.items():
        lines += [f"[{section}]", body]
    path.write_text("\n".join(lines) + "\n")
    return path


def sql(db: Path, query: str, *args) -> list[tuple]:
    """The rows of one query on a SQLite file."""
    import sqlite3

    con = sqlite3.connect(db)
    try:
        return con.execute(query, args).fetchall()
    finally:
        con.close()


def stored_streams(db: Path, session_id: int) -> dict[tuple[str, int], list[tuple]]:
    """A session's raw chunks in a SQLite file, per (device id, stream id), checked to
    follow on from each other: each starts where the one before ended plus the samples
    it says were lost between them (or at 0 after an MCU restart, with its gap
    counted), and later in time. Rows: (first sample, n,
    lost before, t_start, t_end), in the order stored."""
    from collections import defaultdict
    from itertools import pairwise

    chunks = sql(
        db,
        "SELECT device_id, stream_id, first_sample, n, lost_before, t_start, t_end"
        " FROM raw_chunks WHERE session_id = ? ORDER BY id",
        session_id,
    )
    by_stream: dict[tuple[str, int], list[tuple]] = defaultdict(list)
    for device, stream, *row in chunks:
        by_stream[(device, stream)].append(tuple(row))
    for key, rows in by_stream.items():
        for a, b in pairwise(rows):
            # No sample missing unmarked; after an MCU restart (a replugged sensor
            # reboots) its count starts again from 0, the gap counted from the clock.
            restarted = b[0] == 0 and b[2] > 0
            assert b[0] == a[0] + a[1] + b[2] or restarted, (key, a, b)
            assert b[3] > a[4], (key, a, b)  # in time order
    return dict(by_stream)


class Service:
    """`stridesync serve --config FILE` as a child process."""

    def __init__(
        self,
        config: Path,
        port: int,
        log: Path,
        nofile: int | None = None,
        start_timeout_s: float = HANG_S,
    ) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self._log = open(log, "ab")  # noqa: SIM115 - closed in close()
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRIDESYNC_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--config", str(config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=None if nofile is None else lambda: _limit_files(nofile),
        )
        deadline = time.monotonic() + start_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited: {log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code in (200, 503):
                    return
            time.sleep(0.05)
        raise RuntimeError(f"service did not start in {start_timeout_s:.0f} s")

    def client(self, token: str | None = ADMIN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=HANG_S)

    def start_session(self, athlete: str = "S") -> int:
        """A new athlete (75 kg, 1.80 m) and a session for them, recording: its id."""
        with self.client() as c:
            a = c.post("/api/athletes", json={"name": athlete, "body_mass_kg": 75, "height_m": 1.8})
            r = c.post("/api/sessions", json={"athlete_id": a.json()["id"]})
            assert r.status_code == 201, r.text
            return r.json()["id"]

    def stop_any_session(self) -> None:
        """Stop the session recording, if one is (a test that failed half-way may have
        left one)."""
        with self.client() as c:
            session = c.get("/api/status").json()["session"]
            if session is not None:
                c.post(f"/api/sessions/{session['session_id']}/stop").raise_for_status()

    def wait_devices(self, n: int, timeout: float = HANG_S) -> None:
        deadline = time.monotonic() + timeout
        with self.client() as c:
            while time.monotonic() < deadline:
                if c.get("/healthz").json()["components"]["bridge"]["connected"] >= n:
                    return
                time.sleep(0.05)
        raise RuntimeError(f"fewer than {n} devices connected in {timeout} s")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._log.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


def _limit_files(n: int) -> None:
    """In the child: at most n open files, as systemd's LimitNOFILE sets."""
    import resource

    resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))


@contextlib.contextmanager
def pg_database():
    """A fresh PostgreSQL database, dropped afterwards; skip if there is no server."""
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        pytest.skip("asyncpg not installed")
    name = f"stridesync_test_{uuid.uuid4().hex[:12]}"
    try:
        _psql(f'CREATE DATABASE "{name}"')
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"no PostgreSQL at {PG_DSN}: {exc}")
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def pg_away(db_url: str):
    """The centre's PostgreSQL away, as in a restart: its connections cut and none let
    in, until the block ends."""
    name = db_url.rsplit("/", 1)[1]
    psql = ["psql", f"{PG_DSN}/postgres", "-v", "ON_ERROR_STOP=1", "-qc"]
    subprocess.run([*psql, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'], check=True)
    try:
        subprocess.run(
            [*psql, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    f" WHERE datname = '{name}'"],
            check=True, capture_output=True,
        )  # fmt: skip
        yield
    finally:
        subprocess.run([*psql, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'], check=True)


def _psql(sql: str) -> None:
    subprocess.run(
        ["psql", f"{PG_DSN}/postgres", "-v", "ON_ERROR_STOP=1", "-qc", sql],
        check=True,
        capture_output=True,
        timeout=30,
    )


@contextlib.asynccontextmanager
async def running(tmp_path, ports=(), **sections):
    """The app under uvicorn in this event loop, on a free port: (app, "host:port")."""
    import asyncio

    import uvicorn

    from service import config
    from service.api import create_app
    from service.httpguard import server_config

    port = free_port()
    settings = config.load(
        None,
        server={"port": port, **sections.pop("server", {})},
        database=sections.pop("database", {"url": f"sqlite+aiosqlite:///{tmp_path}/service.db"}),
        devices={"ports": list(ports), "scan_interval_s": 0.1},
        auth={
            "admin_token_hashes": [config.hash_token(ADMIN)],
            "viewer_token_hashes": [config.hash_token(VIEWER)],
        },
        **sections,
    )
    app = create_app(settings)
    server = uvicorn.Server(server_config(app, settings, port=port))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), task.exception()
        await asyncio.sleep(0.01)
    try:
        yield app, f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


class Broker:
    """A real Mosquitto on a free port, with users, passwords and an ACL."""

    USERS: ClassVar[dict[str, str]] = {
        "service": "service-pw",
        "cue-1": "cue-1-pw",
        "cue-2": "cue-2-pw",
    }
    # The service's lines by hand; the cue devices' from the contract the installer uses.
    ACL = "user service\ntopic readwrite stridesync/#\n" + "".join(
        "\n" + "\n".join(device_acl(a)) + "\n" for a in (1, 2)
    )

    def __init__(self, tmp: Path, port: int | None = None, extra: str = "") -> None:
        import shutil

        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(exe).exists():
            pytest.skip("mosquitto is not installed (scripts/system-deps.sh installs it)")
        self.exe = exe
        self.tmp = tmp
        self.port = port or free_port()
        passwd = tmp / "passwd"
        passwd.write_text("")
        for user, pw in self.USERS.items():
            subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, pw], check=True)
        (tmp / "acl").write_text(self.ACL)
        self.conf = tmp / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous false",
            f"password_file {passwd}",
            f"acl_file {tmp / 'acl'}",
            "persistence false",
            "set_tcp_nodelay true",
            "log_dest stderr",
            "log_type error",
        ]
        if os.geteuid() == 0:
            lines.append("user root")
        self.conf.write_text("\n".join(lines) + "\n" + extra)
        for f in (passwd, tmp / "acl"):
            f.chmod(0o600)
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.exe, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.tmp / "mosquitto.log", "ab"),  # noqa: SIM115
        )
        wait_for_port(self.port, self.proc, self.tmp / "mosquitto.log")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def wheels_for_cue(tmp: Path) -> Path:
    """aiomqtt and paho-mqtt as wheels, so a cue device installs with no index."""
    d = tmp / "wheels"
    d.mkdir(exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(d),
         "aiomqtt>=2.5,<3", "paho-mqtt>=2,<3"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return d


def stored_time_errors(db: Path, session_id: int, sim: SimAthlete) -> dict[str, list[tuple]]:
    """Every stored chunk of every IMU and speed stream, against the simulator's truth.

    The simulated sensors are pure functions of the plan's time, and the plan's time 0
    is `sim.t0` on this host's monotonic clock, the clock the service stamps samples
    with. So a sample stored at time t must hold what the sensor measured at plan time
    t - t0. Per chunk: the shift δ of the truth (±3 ms, 0.1 ms steps) that fits the
    stored samples best, and the RMS misfit there in sensor counts (gyros and speed).
    Rows per device:
    (t_start, n, δ_s, misfit_counts, dynamic range in counts). Needs a noiseless
    simulation (noise is a table indexed by sample time: no shift interpolates it).
    """
    import numpy as np

    from firmware_bridge.simulator import simulate_session
    from firmware_bridge.virtual import quantise
    from service.recorder import stream_from_json
    from service.store import rawcodec

    assert not sim.noise, "the truth check needs a noiseless simulation"
    models = {m.name: m for m in simulate_session(noise=False, **sim.args).models}
    streams = sql(
        db,
        "SELECT device_id, device_name, stream_id, info FROM session_streams WHERE session_id = ?",
        session_id,
    )
    chunks = sql(
        db,
        "SELECT device_id, stream_id, t_start, n, data FROM raw_chunks"
        " WHERE session_id = ? ORDER BY id",
        session_id,
    )
    info = {(d, s): (name, stream_from_json(json.loads(i))) for d, name, s, i in streams}
    shifts_s = np.arange(-30, 31) * 1e-4
    out: dict[str, list[tuple]] = {}
    for device, stream_id, t_start, n, data in chunks:
        name, st = info[(device, stream_id)]
        if st.kind.name not in ("IMU_6AXIS", "SPEED"):
            continue  # force plates are tared on the MCU: not a pure function of time
        source = next(s.source for s in models[name].streams if s.info.stream_id == stream_id)
        scale, offset = st.scales()
        t, values = rawcodec.decode(data, scale, offset)
        counts = np.rint((values - offset) / scale)
        plan_t = t - sim.t0
        # Rotation (and speed) only: the simulated accelerometers carry the angular
        # acceleration of piecewise-linear strides, whose steps no shift of 0.1 ms fits.
        use = slice(0, 3) if st.kind.name == "IMU_6AXIS" else slice(None)
        counts = counts[:, use]
        misfits = [
            np.sqrt(
                np.mean((quantise(source(np.maximum(plan_t + d, 0.0)), st)[:, use] - counts) ** 2)
            )
            for d in shifts_s
        ]
        best = int(np.argmin(misfits))
        span = float(np.max(np.ptp(counts, axis=0)))
        out.setdefault(name, []).append((t_start, n, shifts_s[best], misfits[best], span))
    return out
