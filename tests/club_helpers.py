"""Real parts for the club tests: a CA and certificates, the central broker with
TLS and the club ACL, the centre (`stridesync central`) over HTTPS on a throwaway
PostgreSQL database, and lanes (a simulated athlete, `serve`, and a Mosquitto
bridged to the centre), configured by what `stridesync club` prints."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from service.club import brokers
from service.config import hash_token
from tests.service_helpers import (
    ADMIN,
    VIEWER,
    Broker,
    Service,
    SimAthlete,
    free_port,
    wait_for_port,
    write_config,
)


def make_tls(d: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1: (CA, certificate, key)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d.mkdir(exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*argv):
        subprocess.run(["openssl", *argv], check=True, capture_output=True, cwd=d)

    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=stridesync test club CA")  # fmt: skip
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext")  # fmt: skip
    for f in ("ca.key", "server.key"):
        (d / f).chmod(0o644)  # mosquitto may run as its own user
    return d / "ca.pem", d / "server.pem", d / "server.key"


class CentralBroker:
    """The club's broker: TLS, a user per lane and the centre, the club ACL, persistence."""

    def __init__(self, d: Path, lanes: dict[str, str], tls: tuple[Path, Path, Path]) -> None:
        self.dir, self.port = d, free_port()
        d.mkdir(exist_ok=True)
        passwd = d / "passwd"
        passwd.write_text("")
        self.passwords = {brokers.CENTRE_USER: "centre-pw", **lanes}
        for user, pw in self.passwords.items():
            subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, pw], check=True)
        (d / "acl").write_text(brokers.centre_acl())
        conf = brokers.centre_broker(
            self.port, str(passwd), str(d / "acl"), bind="127.0.0.1",
            tls=tuple(str(p) for p in tls), persistence_dir=str(d),
        )  # fmt: skip
        if os.geteuid() == 0:
            conf += "user root\n"
        (d / "mosquitto.conf").write_text(conf + "log_dest stderr\nlog_type error\n")
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen(
            [exe, "-c", str(self.dir / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "mosquitto.log", "ab"),  # noqa: SIM115
        )
        wait_for_port(self.port, self.proc, self.dir / "mosquitto.log")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """As systemd stops it (SIGTERM): it saves what it queued for the centre."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(20)


class Centre:
    """`stridesync central --config FILE` over HTTPS."""

    def __init__(self, d: Path, db_url: str, broker: CentralBroker, tls, lane_tokens: dict):
        ca, cert, key = tls
        self.ca = ca
        self.tls = ssl.create_default_context(cafile=str(ca))
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        hashes = ", ".join(f'"{n}" = "{hash_token(t)}"' for n, t in lane_tokens.items())
        config = write_config(
            d / "central.toml", db_url, [], self.port,
            mqtt=f'broker = "127.0.0.1:{broker.port}"\nnode = "central"\nusername = "centre"\n'
            f'password = "centre-pw"\ntls = true\nca_file = "{ca}"',
            club=f"node_token_hashes = {{ {hashes} }}",
        )  # fmt: skip
        server = f"[server]\nport = {self.port}\n"  # HTTPS, with the test CA's certificate
        tls_lines = f'tls_cert_file = "{cert}"\ntls_key_file = "{key}"\n'
        config.write_text(config.read_text().replace(server, server + tls_lines, 1))
        self.log = d / "central.log"
        self._log = open(self.log, "ab")  # noqa: SIM115
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRIDESYNC_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "central", "--config", str(config)],
            stdout=self._log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"centre exited: {self.log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", verify=self.tls, timeout=1).status_code:
                    return
            time.sleep(0.1)
        raise RuntimeError("the centre did not start in 60 s")

    def client(self, token: str = ADMIN) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}"},
            verify=self.tls,
            timeout=60,
        )

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()


class Lane:
    """A Pi: a simulated athlete, its own Mosquitto bridged to the centre, `serve`."""

    def __init__(
        self, d: Path, name: str, seed: int, centre: Centre, broker: CentralBroker, token: str
    ):
        d.mkdir(exist_ok=True)
        self.name, self.dir = name, d
        self.sim = SimAthlete("aligned", seed=seed, duration_s=3600, rig="imu-speed")
        (d / "club-password").write_text(broker.passwords[name])
        bridge = subprocess.run(
            [sys.executable, "-m", "service.cli", "club", "lane-bridge", "--lane", name,
             "--central", f"127.0.0.1:{broker.port}", "--password-file", str(d / "club-password"),
             "--ca-file", str(centre.ca)],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        self.broker = Broker(d, extra=bridge)
        (d / "club-token").write_text(token)
        self.db = d / "lane.db"
        port = free_port()
        config = write_config(
            d / "lane.toml", f"sqlite+aiosqlite:///{self.db}", self.sim.paths, port,
            mqtt=f'broker = "{self.broker.address}"\nnode = "{name}"\nusername = "service"\n'
            'password = "service-pw"',
            club=f'central_url = "{centre.url}"\ntoken_file = "{d / "club-token"}"\n'
            f'ca_file = "{centre.ca}"\nupload_interval_s = 1.0',
        )  # fmt: skip
        # Three lanes start at once: on a slow, busy CI machine that takes a while.
        self.service = Service(config, port, d / "serve.log", start_timeout_s=120)

    def close(self) -> None:
        self.service.close()
        self.sim.close()
        self.broker.stop()


class WsReader:
    """Every message of a websocket, read in a thread of its own."""

    def __init__(self, url: str, token: str = VIEWER, ca: Path | None = None) -> None:
        import ssl

        from websockets.sync.client import connect

        ctx = ssl.create_default_context(cafile=str(ca)) if ca else None
        headers = {"Authorization": f"Bearer {token}"}
        self._connection = connect(url, additional_headers=headers, ssl=ctx)
        self.ws = self._connection.__enter__()
        self.messages: list[dict] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with contextlib.suppress(Exception):  # until closed
            while True:
                self.messages.append(json.loads(self.ws.recv()))

    def steps(self, lane: str) -> dict[int, dict]:
        """The steps seen from `lane`, by number (a repeat is seen once here)."""
        return {
            m["n"]: m for m in list(self.messages) if m.get("lane") == lane and m["type"] == "step"
        }

    def close(self) -> None:
        self._connection.__exit__(None, None, None)


def wait_until(what: str, check, timeout_s: float = 120.0, every_s: float = 0.2, why=None):
    """Poll `check` until it returns something true (not a timing assertion: a bound
    so that a broken run ends); `why()` says what was missing, when it ends."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(every_s)
    raise AssertionError(f"not within {timeout_s:.0f} s: {what}" + (f": {why()}" if why else ""))
