"""Engine throughput and confirmation delay, on the simulator's standard rig.

Throughput: the blocks of a 60 s session of two 3-axis plates and five IMUs at
1 kHz plus a 100 Hz speed sensor (replayed once from a simulated wire capture,
kept in memory) are fed to the engine on one core; reported as multiples of
real time. Confirmation delay: for each reported step (every one: a rep's
first steps are reported at once, as provisional), from its true event (the
simulator's toe-off) to the newest sample time of the block whose feeding
produced the step, for force events (a force-only rig, so no waiting for an
IMU to confirm) and for shank-IMU events (an IMU-only rig).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time

import numpy as np

from service.engine import AthleteInfo, Engine
from tests.simcases import rechunk, session

NAME = "engine"
ATHLETE = AthleteInfo(75.0, 1.80)


def _session(rig: str, seconds: float, seed: int, keep: set[str] | None = None):
    return session("aligned", seconds, seed, rig, keep=keep)


def _throughput(blocks, seconds: float, repeats: int, clock=time.process_time) -> float:
    runs = []
    for _ in range(repeats):
        engine = Engine(ATHLETE)
        t0 = clock()
        for b in blocks:
            engine.feed(b)
        engine.finish()
        runs.append(clock() - t0)
    return seconds / statistics.median(runs)


def _delays(blocks, truth) -> tuple[np.ndarray, np.ndarray]:
    """Delays of every step reported (provisional ones included: a rep's first steps
    and the slowing down at its end are reported at once, service/engine/reps.py),
    and of the sprint's steps alone, in ms."""
    engine = Engine(ATHLETE)
    emitted = []
    for b in blocks:
        emitted += [(e, float(b.time_s[-1])) for e in engine.feed(b) if e["type"] == "step"]
    true_to = np.array([r["to_time_s"] for r in truth])
    every, sprinting = [], []
    for step, at in emitted:
        k = int(np.argmin(np.abs(true_to - step["to_time_s"])))
        if abs(true_to[k] - step["to_time_s"]) < 0.02:
            every.append(at - true_to[k])
            if truth[k]["phase"] == "sprint":
                sprinting.append(at - true_to[k])
    return np.array(every) * 1e3, np.array(sprinting) * 1e3


TICK_S = 0.01  # the live service's tick (devices.tick_s)


def _ticked(blocks, seconds: float) -> tuple[float, float]:
    """The engine as the live service runs it: a tick's blocks at once (feed_many) every
    TICK_S of wall time, the process idle in between. (× real time by its CPU time, ×
    real time by the wall time spent feeding.) Idle between ticks, a core's caches go
    cold: on this project's VMs the same blocks cost ~2.5× the CPU they cost back to
    back (docs/benchmarks.md), and a held process (a CPU quota) waits as well."""
    ticks: dict[int, list] = {}
    for b in blocks:
        ticks.setdefault(int(b.time_s[-1] // TICK_S), []).append(b)
    engine = Engine(ATHLETE)
    cpu = wall = 0.0
    due = time.monotonic()
    for group in ticks.values():
        due += TICK_S
        time.sleep(max(due - time.monotonic(), 0.0))
        c0, w0 = time.process_time(), time.perf_counter()
        engine.feed_many(group)
        cpu += time.process_time() - c0
        wall += time.perf_counter() - w0
    return seconds / cpu, seconds / wall


def _parts_ms_per_s(blocks, seconds: float) -> dict:
    """The detectors alone on these blocks (1 s blocks: re-scoring), in ms of one core
    per second of data: the plates' force detectors, the shanks', the thigh and trunk
    AHRS. The rest of the engine is the total less these."""
    from service.engine.force import ForceContactDetector, ForceDetectorConfig
    from service.engine.imu import ShankDetectorConfig, ShankEventDetector
    from service.engine.segments import SegmentConfig, SegmentTracker

    def _ahrs_rate_hz(name: str) -> float:
        c = SegmentConfig()
        return c.trunk_ahrs_rate_hz if name == "trunk" else c.ahrs_rate_hz

    def timed(make, feed, names) -> float:
        made: dict = {}
        t0 = time.process_time()
        for b in blocks:
            if b.device_name in names:
                det = made.setdefault(b.device_name, make(b.device_name))
                feed(det, b)
        for det in made.values():
            if isinstance(det, SegmentTracker):
                det.angle_at(seconds / 2)  # the filter runs when asked
        return (time.process_time() - t0) / seconds * 1e3

    names = {b.device_name for b in blocks}
    return {
        "force_ms_per_s": timed(
            lambda n: ForceContactDetector(n, 1000.0, ForceDetectorConfig()),
            lambda d, b: d.feed(b.time_s, b.values[:, 1], b.values[:, 2]),
            {n for n in names if n.startswith("plate")},
        ),
        "shank_ms_per_s": timed(
            lambda n: ShankEventDetector(n.removeprefix("shank-"), ShankDetectorConfig(), 1000.0),
            lambda d, b: d.feed(b.time_s, b.values[:, 1]),
            {n for n in names if n.startswith("shank")},
        ),
        "ahrs_ms_per_s": timed(  # at the engine's rates: the trunk's is lower
            lambda n: SegmentTracker(1000.0, SegmentConfig(), _ahrs_rate_hz(n)),
            lambda d, b: d.feed(b.time_s, b.values),
            {"thigh-left", "thigh-right", "trunk"},
        ),
    }


def run(quick: bool = False, cpu_quota: float | None = None, period_ms: float = 10.0) -> dict:
    """With `cpu_quota` this process is held to that share of one core (bench/cpuquota.py:
    a Pi proxy) and throughput is data time over wall time, which the quota stretches."""
    from bench.cpuquota import CpuQuota

    seconds = 20.0 if quick else 60.0
    blocks, _ = _session("standard", seconds, seed=3)
    samples = sum(len(b) for b in blocks)
    own = os.getpid()  # held by a cgroup only (CpuQuota: no duty cycle on oneself)
    quota = CpuQuota(own, cpu_quota, period_ms / 1e3, starver=False) if cpu_quota else None
    clock = time.perf_counter if quota else time.process_time
    with quota or contextlib.nullcontext():
        x_realtime = _throughput(blocks, seconds, 1 if quick else 3, clock)
        x_realtime_1s = _throughput(rechunk(blocks, 1.0), seconds, 1 if quick else 3, clock)
        ticked_s = 10.0 if quick else 20.0
        ticked = _ticked([b for b in blocks if b.time_s[-1] < ticked_s], ticked_s)
    parts = _parts_ms_per_s(rechunk(blocks, 1.0), seconds)
    force_blocks, force_truth = _session("treadmill", seconds, 4, keep={"treadmill", "speed"})
    imu_blocks, imu_truth = _session("imu", seconds, 5)
    force, _ = _delays(force_blocks, force_truth)
    imu, imu_sprint = _delays(imu_blocks, imu_truth)
    every = np.concatenate([force, imu])

    def dist(d):
        return {
            "n": len(d),
            "p50_ms": float(np.percentile(d, 50)),
            "p99_ms": float(np.percentile(d, 99)),
            "max_ms": float(d.max()),
        }

    return {
        "rig": "2 x 3-axis plates + 5 IMUs at 1 kHz + speed at 100 Hz",
        "session_s": seconds,
        "samples": samples,
        "x_realtime_one_core": x_realtime,  # as the MCUs send them: 10 samples a block
        "x_realtime_one_core_1s_blocks": x_realtime_1s,  # as stored: 1 s a block
        # as the live service feeds it: a tick's blocks every 10 ms, idle in between
        "x_realtime_ticked_cpu": ticked[0],
        "x_realtime_ticked_wall": ticked[1],
        "cpu_quota": None if quota is None else {"share": cpu_quota, "mode": quota.mode},
        # every step reported, a rep's first ones included (none is held back)
        "force_confirmation": dist(force),
        "imu_confirmation": dist(imu),
        "imu_confirmation_sprint": dist(imu_sprint),  # slowing down at a rep's end left out
        "every_step": dist(every),  # force and IMU together; target p99 <= 40 ms
        # the detectors alone in 1 s blocks; 500x real time leaves 2 ms per second in all
        "parts_1s_blocks": parts,
    }


def report(r: dict) -> str:
    f, i = r["force_confirmation"], r["imu_confirmation"]
    return (
        f"engine, one core, {r['rig']}, {r['session_s']:.0f} s simulated "
        f"({r['samples']:,} samples): {r['x_realtime_one_core']:.0f} x real time in the MCUs' "
        f"10-sample blocks (live), {r['x_realtime_one_core_1s_blocks']:.0f} x in 1 s blocks "
        f"(re-scoring); at the service's 10 ms tick, idle in between: "
        f"{r['x_realtime_ticked_cpu']:.0f} x by CPU time, {r['x_realtime_ticked_wall']:.0f} x by"
        f" wall time{_quota_note(r)}\n"
        f"  confirmation delay, true toe-off -> step emitted: force p50 {f['p50_ms']:.1f} ms, "
        f"p99 {f['p99_ms']:.1f} ms (n={f['n']}); shank IMU p50 {i['p50_ms']:.1f} ms, "
        f"p99 {i['p99_ms']:.1f} ms (n={i['n']}; the sprint's steps alone: p99 "
        f"{r['imu_confirmation_sprint']['p99_ms']:.1f} ms, slowing down left out)\n"
        f"  per second of data in 1 s blocks, the detectors alone: force "
        f"{r['parts_1s_blocks']['force_ms_per_s']:.2f} ms, shank "
        f"{r['parts_1s_blocks']['shank_ms_per_s']:.2f} ms, thigh and trunk AHRS "
        f"{r['parts_1s_blocks']['ahrs_ms_per_s']:.2f} ms (500 x leaves 2 ms in all)\n"
        f"  every step (none held back; target p99 <= 40 ms): p99 "
        f"{r['every_step']['p99_ms']:.1f} ms, max {r['every_step']['max_ms']:.1f} ms"
        f" (n={r['every_step']['n']})"
    )


def _quota_note(r: dict) -> str:
    q = r.get("cpu_quota")
    if not q:
        return ""
    return f" (held to {q['share']:.0%} of a core: {q['mode']}; throughput by wall time)"


if __name__ == "__main__":
    print(report(run()))
