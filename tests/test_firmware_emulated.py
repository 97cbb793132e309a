"""The real node firmware, cross-compiled, in QEMU, through the real serial stack
(issue 19). QEMU's virtual clock follows the host's monotonic clock, so each
board's MCU clock is the host's minus a constant: the truth the clock sync is
checked against. That constant is pinned by the clock exchanges themselves, with
no fit: the MCU read its clock between the query's send and the reply's
arrival, so every exchange bounds it, and the bounds intersect in an interval
as narrow as the fastest round trip (NTP's reasoning, not the service's
regression)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict, deque

import numpy as np
import pytest

from firmware_bridge import link
from firmware_bridge.device import DeviceSession
from firmware_bridge.emulator import EmulatedBoard
from firmware_bridge.link import identify_port
from tests.service_helpers import Service, free_port, stored_streams, write_config

pytestmark = [
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="make test installs QEMU"),
    pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="no ARM toolchain"),
]

PERIOD_US = 1000  # both nodes sample at 1 kHz on the MCU clock
BUDGET_S = 0.5e-3  # the clock sync's budget (issue 2), on a USB link (test_clocksync.py)
# Through QEMU the MCU answers a query when the emulator's thread runs, so how fast
# and how busy the host is becomes part of the link: 0.10-0.16 ms from the truth's
# centre on a quiet host, 0.73 ms in a clean-clone run on a slowed shared one, 2.7 ms
# beside a busy core (2026-12-07). That is the host's speed, which a test does not
# judge (the figure is printed; docs/hardware.md): here the clock must be the MCU's,
# not arrival times (a 10-sample batch spans 10 ms), within a sanity bound.
EMULATED_BUDGET_S = 5e-3
WARMUP_S = 10.0  # after each (re)boot, as the clock bench leaves out its first 10 s
# (beside two busy cores the fit is 0.5-1.3 ms off 0-8.5 s after a boot: few quick
# replies; within 0.3 ms after)


class Recorder:
    """What the host's DeviceSession saw, per device: every batch as the MCU sent
    it, the block the host made of it, and every clock exchange."""

    def __init__(self, monkeypatch) -> None:
        self.batches = defaultdict(list)  # device -> [(batch, block)]
        self.exchanges = defaultdict(list)  # device -> [(sent, received, mcu_us)]
        self.sent = {}
        self.waiting = defaultdict(deque)  # device -> batches given, no block yet
        rec = self
        on_samples, note_query, on_clock = (
            DeviceSession.on_samples,
            DeviceSession.note_query,
            DeviceSession.on_clock,
        )

        def samples(session, batch, host_s):
            # A batch's block may come later (it waits while the clock is unknown):
            # blocks are matched to the batches given, in order, by first sample.
            waiting = rec.waiting[session.name]
            waiting.append(batch)
            out = on_samples(session, batch, host_s)
            for block in (b for b in out if hasattr(b, "time_s")):
                while waiting:
                    b = waiting.popleft()
                    if b.first_sample == block.first_sample & 0xFFFFFFFF:
                        rec.batches[session.name].append((b, block))
                        break
            return out

        def query(session, token, host_s):
            rec.sent[(session.name, token)] = host_s
            return note_query(session, token, host_s)

        def clock(session, reply, host_s):
            sent = rec.sent.pop((session.name, reply.token), None)
            if sent is not None:
                rec.exchanges[session.name].append((sent, host_s, reply.mcu_time_us))
            return on_clock(session, reply, host_s)

        monkeypatch.setattr(DeviceSession, "on_samples", samples)
        monkeypatch.setattr(DeviceSession, "note_query", query)
        monkeypatch.setattr(DeviceSession, "on_clock", clock)


def boot_runs(exchanges) -> list[tuple[float, float]]:
    """host time - MCU time, one interval per boot of the MCU: each exchange bounds
    it (the MCU read its clock between the query's send and the reply's arrival),
    and the bounds of one boot intersect. A reboot restarts the MCU clock: the
    offset jumps by the time since the last boot. Exchanges slower than 10 ms (a
    stalled host) are left out: they cannot narrow the interval."""
    runs: list[list[float]] = []
    for sent, received, mcu in sorted(exchanges):
        if received - sent > 0.010:
            continue
        lo, hi = sent - mcu * 1e-6, received - mcu * 1e-6
        if runs and abs((lo + hi) / 2 - sum(runs[-1]) / 2) < 0.1:
            runs[-1] = [max(runs[-1][0], lo), min(runs[-1][1], hi)]
            assert runs[-1][0] <= runs[-1][1], "the exchanges disagree: not the host's clock"
        else:
            runs.append([lo, hi])
    return [(lo, hi) for lo, hi in runs]


async def _stall(seconds: float) -> None:
    time.sleep(seconds)  # the whole host process stops: no reading, no clock queries


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_emulated_boards_through_the_serial_stack_for_a_minute(tmp_path, monkeypatch):
    rec = Recorder(monkeypatch)
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    boards = {n: EmulatedBoard(n, by_id / n) for n in ("imu-left", "force")}
    try:
        stats = asyncio.run(_run_a_minute(boards, by_id))
    finally:
        for b in boards.values():
            b.close()
    names = {"imu-left": "shank-left", "force": "plate-0"}
    report = {}
    for name in names.values():
        report[name] = _check_device(rec, name)
    print(report, dict(stats))
    assert all(r["boots"] == 2 for r in report.values()), report
    for name, c in stats.items():
        # (samples, overflow, lost) on the host. A stall longer than the port's
        # buffers hold (the pty's hold ~1.8 s of one node's frames) makes the MCU drop
        # and count: overflow, never samples missing on the wire or in time (the
        # counts above match the MCU clock). A restart's gap is estimated, as lost.
        assert c["after 2 s stall"][2] == 0, (name, c)
        assert c["after 8 s stall"][1] > 0 and c["after 8 s stall"][2] == 0, (name, c)
        # Each restart was seen as a device reset (none before it), and the session
        # carried on after it.
        assert c["after 8 s stall"][3] == 0 and c["end"][3] >= 1, (name, c)
        assert c["end"][0] > c["after 8 s stall"][0], (name, c)


async def _run_a_minute(boards, by_id) -> dict:
    async with link.Bridge([str(by_id / "*")], lambda b: None, lambda e: None, 0.1) as bridge:
        t0 = time.monotonic()
        while len(bridge.device_sessions()) < 2 or any(
            s.stream_counters()[0].samples == 0 for s in bridge.device_sessions()
        ):
            assert time.monotonic() - t0 < 120, "the emulated boards were not identified"
            await asyncio.sleep(0.1)
        counters = {}

        def snapshot(when: str) -> None:
            for s in bridge.device_sessions():
                c = s.stream_counters()[0]
                counters.setdefault(s.name, {})[when] = (
                    c.samples,
                    c.overflow_samples,
                    c.lost_samples,
                    s.resets,
                )

        await asyncio.sleep(10)
        await _stall(2.0)  # absorbed by the pty's buffers (~64 KiB, ~4.5 s of frames)
        await asyncio.sleep(8)
        snapshot("after 2 s stall")
        await _stall(8.0)  # more than they hold: the MCU drops and counts
        await asyncio.sleep(10)
        snapshot("after 8 s stall")
        boards["imu-left"].restart()  # power off and on: a new QEMU on a new pty
        boards["force"].reset()  # the reset button: same port, the MCU reboots
        before = {s.name: s.stream_counters()[0].samples for s in bridge.device_sessions()}

        def back() -> bool:  # each seen as reset, and ten seconds of samples since
            return all(
                s.resets >= 1 and s.stream_counters()[0].samples > before[s.name] + 10_000
                for s in bridge.device_sessions()
            )

        deadline = time.monotonic() + 120  # QEMU boots again: a hang bound, not a speed
        while not back():
            assert time.monotonic() < deadline, "the boards did not come back"
            await asyncio.sleep(0.2)
        snapshot("end")
        return counters


def _check_device(rec: Recorder, name: str) -> dict:
    runs = boot_runs(rec.exchanges[name])
    by_boot = defaultdict(list)
    for batch, block in rec.batches[name]:
        offset = block.time_s[0] - batch.mcu_time_us * 1e-6
        boot = min(range(len(runs)), key=lambda k: abs(offset - runs[k][0]))
        by_boot[boot].append((batch, block))
    bounds, warm, overflow = [], [], 0
    for boot, rows in by_boot.items():
        lo, hi = runs[boot]
        first, last = rows[0][0], rows[-1][0]
        for batch, block in rows:
            # Sample count equals elapsed MCU time x rate, across every stall.
            taken = (batch.first_sample - first.first_sample) & 0xFFFFFFFF
            elapsed_us = (batch.mcu_time_us - first.mcu_time_us) & 0xFFFFFFFF
            assert elapsed_us == taken * PERIOD_US, (name, boot, batch)
            mcu_s = (batch.mcu_time_us + np.arange(len(block)) * PERIOD_US) * 1e-6
            err = block.time_s - mcu_s  # the true value lies in [lo, hi]
            bounds.append(np.maximum(np.abs(err - lo), np.abs(err - hi)))
            # Judged against the truth's best estimate, the interval's centre: the
            # bound above also holds the interval's own half-width, which a slow host
            # (few quick exchanges) widens with the clock no worse (0.45-0.53 ms wide
            # on a quiet host here; a busy one made the bound 0.55-0.61 ms).
            off = np.abs(err - (lo + hi) / 2)
            warm.append(off[block.time_s - rows[0][1].time_s[0] >= WARMUP_S])
        # Every sample taken is delivered or counted as dropped on the MCU.
        taken = ((last.first_sample - first.first_sample) & 0xFFFFFFFF) + last.n_samples
        dropped = (last.overflow - first.overflow) & 0xFFFF
        assert sum(len(block) for _, block in rows) + dropped == taken, (name, boot)
        overflow += dropped
    error_ms, warm_ms = np.concatenate(bounds) * 1e3, np.concatenate(warm) * 1e3
    assert warm_ms.max() <= EMULATED_BUDGET_S * 1e3, (name, warm_ms.max(), runs)
    # ... a truth known to within ±0.5 ms (0.45-0.68 ms wide seen, wider on a busy
    # host), or the check says nothing.
    assert all(hi - lo <= 2 * BUDGET_S for lo, hi in runs), (name, runs)
    return {
        "boots": len(by_boot),
        "offset_interval_ms": [round((hi - lo) * 1e3, 3) for lo, hi in runs],
        "clock_error_ms_p50": round(float(np.percentile(error_ms, 50)), 3),
        "clock_error_ms_p99": round(float(np.percentile(error_ms, 99)), 3),
        "clock_error_ms_max": round(float(error_ms.max()), 3),
        "clock_error_ms_from_centre_max_after_warmup": round(float(warm_ms.max()), 3),
        "overflow": overflow,
    }


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_devices_identifies_and_serve_records_the_emulated_boards(tmp_path):
    """What a newcomer does after `stridesync emulate-board`: `stridesync devices PORT`
    names the board, and `serve --device PORT` records a session from it."""

    by_id = tmp_path / "by-id"
    by_id.mkdir()
    boards = [EmulatedBoard(n, by_id / n) for n in ("imu-left", "force")]
    try:
        found = subprocess.run(
            [sys.executable, "-m", "service.cli", "devices", "--json", "--timeout", "30",
             str(by_id / "force")],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        hello = json.loads(found.stdout)
        assert hello["name"] == "plate-0" and hello["device_id"] == "5353454d00000002"
        assert hello["streams"][0]["kind"] == "force_3axis"
        db = tmp_path / "s.db"
        port = free_port()
        ports = [str(by_id / "imu-left"), str(by_id / "force")]
        svc = Service(write_config(tmp_path / "c.toml", f"sqlite+aiosqlite:///{db}", ports, port),
                      port, tmp_path / "log")  # fmt: skip
        try:
            svc.wait_devices(2)
            with svc.client() as c:  # a board streams once its clock is known: on a slow
                _wait_clocks(c, 2)  # host, seconds after it is identified
            sid = svc.start_session("E")
            with svc.client() as c:
                deadline = time.monotonic() + 120  # 5 s of both boards recorded
                while c.get("/api/status").json()["session"]["samples"] < 2 * 5000:
                    assert time.monotonic() < deadline, "the boards were not recorded"
                    time.sleep(0.2)
                assert c.post(f"/api/sessions/{sid}/stop").status_code == 200
        finally:
            svc.close()
    finally:
        for b in boards:
            b.close()
    streams = stored_streams(db, sid)  # contiguous, every loss counted
    assert sorted(k[0] for k in streams) == ["5353454d00000001", "5353454d00000002"]
    for rows in streams.values():
        assert sum(n for _, n, *_ in rows) > 4000  # ~5 s at 1 kHz, stored


def _wait_clocks(client, n: int) -> None:
    deadline = time.monotonic() + 120  # QEMU boots and answers: a hang bound

    def synchronised() -> int:
        devices = client.get("/api/status").json()["devices"]
        return sum(d["clock_rtt_ms"] is not None for d in devices)

    while synchronised() < n:
        assert time.monotonic() < deadline, "the boards' clocks were not synchronised"
        time.sleep(0.2)


@pytest.mark.timeout(60)
def test_emulate_board_prints_a_port_that_answers_and_stops_on_sigterm(tmp_path):
    """The newcomer's command: it names the port, the port answers, Ctrl-C or a
    SIGTERM stops the board."""

    cmd = [sys.executable, "-m", "service.cli", "emulate-board", "force"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        port = re.search(r"serial port (\S+)", lines[1]).group(1)
        assert lines[2].strip() == f"try: stridesync devices {port}"
        hello = asyncio.run(identify_port(port, 30.0))
        assert hello.name == "plate-0" and hello.firmware == (1, 0, 0)
        qemu = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    for pid in map(int, qemu.stdout.split()):  # the board went with it
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
