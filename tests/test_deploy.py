"""The Pi deployment, checked here: shellcheck, systemd-analyze verify, the install
scripts run into a temporary root (files, owners, modes), idempotence, upgrade
and rollback, the generated Mosquitto passwords and ACL against a real broker,
the udev helper and the systemd watchdog."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from service import config
from service.cli.devices import udev_rule
from tests.service_helpers import free_port, wait_for_port, wheels_for_cue

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SCRIPTS = sorted([*DEPLOY.glob("*.sh"), *(ROOT / "scripts").glob("*.sh"), ROOT / ".ci" / "run"])
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (scripts/system-deps.sh installs it)")
    return path


def _need_root():
    if os.geteuid() != 0:
        pytest.skip("the installers run as root (useradd, chown)")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shellcheck(script):
    r = subprocess.run(
        [_need("shellcheck"), "-x", str(script)], capture_output=True, text=True, cwd=ROOT
    )
    assert r.returncode == 0, r.stdout + r.stderr


def _new_root(tmp: Path) -> Path:
    root = tmp / "root"
    (root / "etc").mkdir(parents=True)
    for f in ("passwd", "group", "shadow", "gshadow"):
        shutil.copy2(f"/etc/{f}", root / "etc" / f)
    # A fresh Pi has no stridesync users; this machine might (a previous run).
    for f in ("passwd", "group", "shadow", "gshadow"):
        p = root / "etc" / f
        p.write_text("".join(x for x in p.read_text().splitlines(True) if "stridesync" not in x))
    (root / "etc" / "hostname").write_text("lane1-pi\n")
    return root


def _install(root: Path, *args: str, script: str = "install.sh") -> str:
    r = subprocess.run(
        [str(DEPLOY / script), "--root", str(root), *args], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def _snapshot(root: Path) -> dict:
    """Every path: type, mode, owner, and content hash or link target."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        if stat.S_ISLNK(st.st_mode):
            what = "-> " + os.readlink(p)
        elif stat.S_ISREG(st.st_mode):
            what = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            what = "dir"
        out[str(p.relative_to(root))] = (stat.filemode(st.st_mode), st.st_uid, st.st_gid, what)
    return out


def _ids(root: Path, name: str) -> tuple[int, int]:
    for line in (root / "etc" / "passwd").read_text().splitlines():
        f = line.split(":")
        if f[0] == name:
            return int(f[2]), int(f[3])
    raise AssertionError(f"no user {name}")


def _mode(p: Path) -> tuple[str, int, int]:
    st = p.lstat()
    return stat.filemode(st.st_mode), st.st_uid, st.st_gid


@pytest.fixture(scope="module")
def installed(tmp_path_factory, wheel):
    _need_root()
    _need("mosquitto_passwd")
    root = _new_root(tmp_path_factory.mktemp("pi"))
    host = {f: Path(f"/etc/{f}").read_bytes() for f in ("passwd", "group")}
    out = _install(root, "--wheel", str(wheel), "--pip-option=--no-deps", "--cue-devices", "2")
    # Installing into another root leaves this machine's users alone.
    assert {f: Path(f"/etc/{f}").read_bytes() for f in ("passwd", "group")} == host
    return root, out


def test_install_leaves_the_expected_files_owners_and_modes(installed):
    root, out = installed
    uid, gid = _ids(root, "stridesync")
    group = {x.split(":")[0]: x for x in (root / "etc" / "group").read_text().splitlines()}
    assert "stridesync" in group["dialout"].split(":")[3].split(",")
    opt = root / "opt" / "stridesync"
    assert os.readlink(opt / "current") == "releases/0.1.0"
    assert (opt / "current" / "venv" / "bin" / "stridesync").exists()
    assert _mode(root / "var/lib/stridesync") == ("drwxr-x---", uid, gid)
    etc = root / "etc" / "stridesync"
    assert _mode(etc) == ("drwxr-x---", 0, gid)
    assert _mode(etc / "stridesync.toml") == ("-rw-r-----", 0, gid)
    assert _mode(etc / "admin-token") == ("-rw-------", 0, 0)
    assert _mode(etc / "viewer-token") == ("-rw-------", 0, 0)
    assert _mode(etc / "mqtt" / "service.pw") == ("-rw-r-----", 0, gid)
    for name in ("hub", "cue-1", "cue-2"):
        assert _mode(etc / "mqtt" / f"{name}.pw") == ("-rw-------", 0, 0)
    for p in (
        "etc/systemd/system/stridesync.service",
        "etc/udev/rules.d/60-stridesync.rules",
        "etc/mosquitto/conf.d/stridesync.conf",
    ):
        assert _mode(root / p)[0] == "-rw-r--r--", p
    assert _mode(root / "etc/mosquitto/stridesync.passwd")[0] == "-rw-r-----"
    # The config is valid, and carries the hashes of the tokens it generated.
    s = config.load(etc / "stridesync.toml")
    assert s.server.host == "0.0.0.0"
    assert s.auth.admin_token_hashes == [
        config.hash_token((etc / "admin-token").read_text().strip())
    ]
    assert s.auth.viewer_token_hashes == [
        config.hash_token((etc / "viewer-token").read_text().strip())
    ]
    assert (s.mqtt.broker, s.mqtt.username, s.mqtt.node) == (
        "127.0.0.1:1883",
        "service",
        "lane1-pi",
    )
    assert s.database.url == "sqlite+aiosqlite:////var/lib/stridesync/stridesync.db"
    assert "Dashboard: http://lane1-pi.local:8000/" in out


def test_a_second_run_changes_nothing(installed, wheel):
    root, _ = installed
    before = _snapshot(root)
    out = _install(root, "--wheel", str(wheel), "--pip-option=--no-deps", "--cue-devices", "2")
    assert "nothing to change" in out
    assert _snapshot(root) == before


@pytest.mark.slow
def test_upgrade_then_rollback(tmp_path, wheel):
    _need_root()
    _need("mosquitto_passwd")
    root = _new_root(tmp_path)
    args = ["--wheel", str(wheel), "--pip-option=--no-deps"]
    _install(root, *args)
    token = (root / "etc/stridesync/admin-token").read_text()
    cfg = (root / "etc/stridesync/stridesync.toml").read_text()
    out = _install(root, *args, "--release", "0.1.0-next")
    opt = root / "opt" / "stridesync"
    assert os.readlink(opt / "current") == "releases/0.1.0-next"
    assert os.readlink(opt / "previous") == "releases/0.1.0"
    assert "was 0.1.0" in out
    # An upgrade keeps the secrets and the config.
    assert (root / "etc/stridesync/admin-token").read_text() == token
    assert (root / "etc/stridesync/stridesync.toml").read_text() == cfg
    out = _install(root, "--rollback")
    assert "rolled back from 0.1.0-next to 0.1.0" in out
    assert os.readlink(opt / "current") == "releases/0.1.0"
    assert os.readlink(opt / "previous") == "releases/0.1.0-next"
    assert (opt / "current" / "venv" / "bin" / "stridesync").exists()


def test_rollback_without_a_previous_release_says_so(tmp_path):
    _need_root()
    root = _new_root(tmp_path)
    (root / "opt" / "stridesync").mkdir(parents=True)
    r = subprocess.run(
        [str(DEPLOY / "install.sh"), "--root", str(root), "--rollback"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1
    assert r.stderr.strip() == "stridesync-install: error: no previous release to roll back to"


def test_cue_device_install(tmp_path, cue_wheel):
    _need_root()
    root = _new_root(tmp_path)
    pw = tmp_path / "cue-3.pw"
    pw.write_text("secret-of-cue-3\n")
    args = ["--wheel", str(cue_wheel), "--broker", "192.168.4.1:1883", "--athlete", "3"]
    args += ["--password-file", str(pw), "--pip-option=--no-index"]
    args += ["--pip-option=--find-links", f"--pip-option={wheels_for_cue(tmp_path)}"]
    out = _install(root, *args, script="install-cue-device.sh")
    assert "plays athlete 3's cues" in out
    _uid, gid = _ids(root, "stridesync-cue")
    group = {x.split(":")[0]: x for x in (root / "etc" / "group").read_text().splitlines()}
    assert "stridesync-cue" in group["audio"].split(":")[3].split(",")
    etc = root / "etc" / "stridesync-cue"
    assert (etc / "cue.env").read_text() == "BROKER=192.168.4.1:1883\nATHLETE=3\nMQTT_USER=cue-3\n"
    assert _mode(etc / "mqtt.pw") == ("-rw-r-----", 0, gid)
    venv = root / "opt/stridesync-cue/current/venv"
    # The device gets its package, aiomqtt and paho-mqtt: no service, no numpy.
    site = next(venv.glob("lib/python*/site-packages"))
    assert (site / "stridesync_cue" / "device.py").exists() and (site / "aiomqtt").exists()
    assert not (site / "numpy").exists() and not (site / "service").exists()
    assert (venv / "bin" / "stridesync-cue").exists()
    before = _snapshot(root)
    assert "nothing to change" in _install(root, *args, script="install-cue-device.sh")
    assert _snapshot(root) == before


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_systemd_units_verify(tmp_path, unit, installed):
    """`systemd-analyze verify` on each unit, its program paths pointed into the
    temporary root where the installer put them."""
    root, _ = installed
    analyze = _need("systemd-analyze")
    text = unit.read_text()
    if "stridesync-cue" in unit.name:
        exe = tmp_path / "opt/stridesync-cue/current/venv/bin/stridesync-cue"
        exe.parent.mkdir(parents=True)
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
        text = text.replace("/opt/stridesync-cue/", f"{tmp_path}/opt/stridesync-cue/")
    else:
        text = text.replace("/opt/stridesync/", f"{root}/opt/stridesync/")
    path = tmp_path / unit.name
    path.write_text(text)
    r = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr


def test_generated_mosquitto_passwords_and_acl_work(installed, tmp_path):
    """The broker files the installer wrote, in a real Mosquitto."""
    import aiomqtt

    root, _ = installed
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(exe).exists():
        pytest.skip("mosquitto is not installed")
    port = free_port()
    conf = tmp_path / "m.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous false\n"
        f"password_file {root}/etc/mosquitto/stridesync.passwd\n"
        f"acl_file {root}/etc/mosquitto/stridesync.acl\nuser root\n"
    )
    broker = subprocess.Popen([exe, "-c", str(conf)], stderr=subprocess.DEVNULL)
    pw = {p.stem: p.read_text().strip() for p in (root / "etc/stridesync/mqtt").glob("*.pw")}

    async def check():
        def client(user):
            return aiomqtt.Client("127.0.0.1", port, username=user, password=pw[user])

        async with client("service") as svc, client("cue-1") as c1, client("cue-2") as c2:
            await c1.subscribe("stridesync/+/athletes/1/cue", qos=1)
            await c2.subscribe("stridesync/+/athletes/1/cue", qos=1)
            await svc.publish("stridesync/lane1-pi/athletes/1/cue", b"go", qos=1)

            async def first(c):
                async for m in c.messages:
                    return m.payload

            assert await asyncio.wait_for(first(c1), 5) == b"go"
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(first(c2), 1.0)

    try:
        wait_for_port(port, broker)
        asyncio.run(check())
    finally:
        broker.kill()
        broker.wait()


# Debian 12's (and Raspberry Pi OS's) /etc/mosquitto/mosquitto.conf as the package
# ships it, byte for byte; this machine's own file is not the stock one.
DEBIAN_STOCK_MOSQUITTO_CONF = """\
# Place your local configuration in /etc/mosquitto/conf.d/
#
# A full description of the configuration file is at
# /usr/share/doc/mosquitto/examples/mosquitto.conf.example

pid_file /run/mosquitto/mosquitto.pid

persistence true
persistence_location /var/lib/mosquitto/

log_dest file /var/log/mosquitto/mosquitto.log

include_dir /etc/mosquitto/conf.d
"""


@pytest.fixture
def stock_etc(request) -> tuple[Path, Path, Path]:
    """A stand-in /etc/mosquitto, its run directory and its conf.d. Started as root
    with no `user` line, Mosquitto runs as the mosquitto user, as on the Pi: its files
    go where that user can reach them."""
    if not Path(shutil.which("mosquitto") or "/usr/sbin/mosquitto").exists():
        pytest.skip("mosquitto is not installed")
    etc = Path(tempfile.mkdtemp(prefix="stridesync-mosquitto-"))
    etc.chmod(0o755)
    request.addfinalizer(lambda: shutil.rmtree(etc, ignore_errors=True))
    run, confd = etc / "run", etc / "conf.d"
    run.mkdir()
    run.chmod(0o777)
    confd.mkdir()
    return etc, run, confd


def test_generated_broker_files_start_mosquitto_under_the_stock_config(installed, stock_etc):
    """Mosquitto refuses a setting given twice: the installer's conf.d file, and a
    club lane's bridge, must add only what Debian's stock mosquitto.conf does not
    set. Only this machine's paths and the port are changed; the conf.d files are
    loaded through include_dir."""
    import aiomqtt

    root, _ = installed
    etc, run, confd = stock_etc
    port = free_port()
    for name in ("stridesync.passwd", "stridesync.acl"):
        src = root / "etc/mosquitto" / name
        shutil.copy2(src, etc / name)
        os.chown(etc / name, src.stat().st_uid, src.stat().st_gid)
    generated = (root / "etc/mosquitto/conf.d/stridesync.conf").read_text()
    assert "\nlistener 1883\n" in generated
    (confd / "stridesync.conf").write_text(
        generated.replace("/etc/mosquitto/", f"{etc}/").replace(
            "\nlistener 1883\n", f"\nlistener {port} 127.0.0.1\n"
        )
    )
    # A lane of a club: the bridge `stridesync club lane-bridge` prints (docs/club.md),
    # to a centre that is not there (the bridge keeps trying; the Pi works on).
    from service.club.brokers import lane_bridge

    (confd / "club.conf").write_text(lane_bridge("lane1-pi", f"127.0.0.1:{free_port()}", "pw"))
    pw = (root / "etc/stridesync/mqtt/service.pw").read_text().strip()

    async def check():
        async with aiomqtt.Client("127.0.0.1", port, username="service", password=pw) as c:
            await c.publish("stridesync/lane1-pi/status", b"online", qos=1)
        with pytest.raises(aiomqtt.MqttError):  # anonymous clients are refused
            async with aiomqtt.Client("127.0.0.1", port):
                pass

    with _under_stock_config(etc, confd, run, port):
        asyncio.run(check())


@contextlib.contextmanager
def _under_stock_config(etc: Path, confd: Path, run: Path, port: int):
    """Mosquitto started by Debian's stock mosquitto.conf (this machine's paths), which
    loads the files in `confd`; a refusal to start fails with its reason."""
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    stock = (
        DEBIAN_STOCK_MOSQUITTO_CONF.replace("/run/mosquitto/", f"{run}/")
        .replace("/var/lib/mosquitto/", f"{run}/")
        .replace("/var/log/mosquitto/", f"{run}/")
        .replace("include_dir /etc/mosquitto/conf.d", f"include_dir {confd}")
    )
    (etc / "mosquitto.conf").write_text(stock)
    broker = subprocess.Popen(
        [exe, "-c", str(etc / "mosquitto.conf")], stderr=subprocess.PIPE, text=True
    )
    try:
        try:
            wait_for_port(port, broker)
        except Exception:
            broker.kill()
            log = run / "mosquitto.log"
            why = broker.communicate()[1] + (log.read_text() if log.exists() else "")
            raise AssertionError(f"Mosquitto did not start under the stock config: {why}") from None
        yield
    finally:
        broker.kill()
        broker.wait()


def test_udev_rules_from_the_usb_serial_number():
    rule = udev_rule(
        "/dev/ttyACM0", "shank-left", {"vid": 0x2E8A, "pid": 0x000A, "serial": "E6614C311B4A"}
    )
    comment, line = rule.splitlines()
    assert comment == "# shank-left, now on /dev/ttyACM0"
    assert line == (
        'SUBSYSTEM=="tty", ATTRS{idVendor}=="2e8a", ATTRS{idProduct}=="000a",'
        ' ATTRS{serial}=="E6614C311B4A", SYMLINK+="stridesync/shank-left",'
        ' GROUP="dialout", MODE="0660"'
    )
    assert udev_rule("/dev/ttyACM1", "plate 0/x", {"vid": 1, "pid": 2, "serial": "S"}).count(
        'SYMLINK+="stridesync/plate-0-x"'
    )
    assert udev_rule("/dev/pts/4", "trunk", None).startswith("# /dev/pts/4: trunk: not a USB")


def test_devices_udev_on_a_virtual_sensor():
    """A pty has no USB serial number: the helper says so instead of a rule."""
    from firmware_bridge.streams import demo_devices
    from firmware_bridge.virtual import PtyMcu

    async def run():
        dev = PtyMcu(demo_devices()[0])
        path = await dev.start()
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "service.cli", "devices", "--udev", path,
                stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, _ = await asyncio.wait_for(proc.communicate(), 30)
            return path, out.decode()
        finally:
            await dev.stop()

    path, out = asyncio.run(run())
    assert out.strip() == f"# {path}: plate-0: not a USB device; no stable name possible"


def test_serve_tells_systemd_it_is_ready_and_alive(tmp_path):
    """Type=notify and WatchdogSec: READY=1 once serving, WATCHDOG=1 while alive."""
    sock_path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(30)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIDESYNC_")}
    env |= {"NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "400000"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--token", "t", "--port", str(free_port()),
         "--database", f"sqlite+aiosqlite:///{tmp_path}/w.db", "--device", "/dev/none*"],
        env=env,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        got = [sock.recv(256).decode()]
        while sum("WATCHDOG=1" in g for g in got) < 3:
            got.append(sock.recv(256).decode())
        assert got[0].startswith("READY=1")
    finally:
        proc.terminate()
        proc.wait(20)
        sock.close()


def test_the_watchdog_pings_at_half_the_period_systemd_asks_for(monkeypatch):
    from service.sdnotify import watchdog_interval_s

    monkeypatch.setenv("WATCHDOG_USEC", "400000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert watchdog_interval_s() == pytest.approx(0.2)
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))  # meant for another process
    assert watchdog_interval_s() is None
    monkeypatch.delenv("WATCHDOG_USEC")
    assert watchdog_interval_s() is None


def test_the_club_centre_broker_starts_under_the_stock_config(stock_etc):
    """The central broker's file from `stridesync club centre-broker` in conf.d, under
    Debian's stock mosquitto.conf, with TLS: the centre's user logs in over TLS."""
    import aiomqtt

    from tests.club_helpers import make_tls

    etc, run, confd = stock_etc
    ca, cert, key = make_tls(etc / "tls")
    (etc / "tls").chmod(0o755)
    subprocess.run(
        ["mosquitto_passwd", "-c", "-b", str(etc / "club.passwd"), "centre", "centre-pw"],
        check=True,
    )
    cli = [sys.executable, "-m", "service.cli", "club"]
    acl = subprocess.run([*cli, "centre-acl"], check=True, capture_output=True, text=True)
    (etc / "club.acl").write_text(acl.stdout)
    for f in ("club.passwd", "club.acl"):
        (etc / f).chmod(0o644)
    port = free_port()
    conf = subprocess.run(
        [*cli, "centre-broker", "--port", str(port), "--password-file", str(etc / "club.passwd"),
         "--acl-file", str(etc / "club.acl"), "--tls", str(ca), str(cert), str(key)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    (confd / "club.conf").write_text(conf)
    tls = ssl.create_default_context(cafile=str(ca))

    async def check():
        async with aiomqtt.Client(
            "127.0.0.1", port, username="centre", password="centre-pw", tls_context=tls
        ) as c:
            await c.subscribe("stridesync/#", qos=1)

    with _under_stock_config(etc, confd, run, port):
        asyncio.run(check())
