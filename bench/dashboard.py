"""The coach's dashboard through a long live session: frame time and memory.

A real browser (Debian's Chromium via Playwright, a test extra) opens the
dashboard of a `stridesync serve` with no sensors, and the standard rig's
messages of a 30-minute session are fed to the page's own message handler at
60x real time: steps at 4 Hz during the sprints, the trace ten times a
second, status once a second. Each second of session is one animation frame;
the heap after garbage collection and the DOM size are sampled every 5
minutes of session. The suite checks that the DOM stays bounded
(tests/test_dashboard.py); the time and memory figures are here.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.service import TOKEN, _free_port

NAME = "dashboard"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FRAME_P99_TARGET_MS = 50.0  # a second of session handled and drawn within a frame or three
HEAP_GROWTH_TARGET_MB = 1.5  # from minute 5 on

# One second of session per animation frame; returns each frame's time in ms.
FEED_JS = """
    async ([fromS, toS]) => {
      const frames = [];
      const names = ["plate-0", "plate-1", "shank-left", "shank-right"];
      let n = window.__n || 0;
      for (let t = fromS; t < toS; t += 1) {       // one second of session per frame
        const t0 = performance.now();
        for (let k = 0; k < 10; k++) {
          const tt = t + k / 10;
          window.stridesync.handle({type: "trace", v: 1, seq: 0, series: names.map((d, i) => ({
            device: d, stream_id: 0, placement: i < 2 ? "force_plate" : d.replace("-", "_"),
            channel: i < 2 ? "fz_N" : "gy_deg/s",
            t: [0, 1, 2, 3, 4].map(j => tt + j * 0.02),
            y: [0, 1, 2, 3, 4].map(j => 800 * Math.abs(Math.sin(tt * 7 + j))) }))});
        }
        if (t % 20 < 7) {                              // sprinting
          for (let k = 0; k < 4; k++) {
            n += 1;
            window.stridesync.handle({type: "step", v: 1, n, rep: Math.floor(t / 20) + 1,
              foot: n % 2 ? "left" : "right", contact_time_s: 0.11, flight_time_s: 0.12,
              step_frequency_hz: 4.4, velocity_m_s: 9.3, push_score: 0.9, swing_score: 0.7,
              torso_score: 1.0, system_score: 0.72, aligned: n % 5 === 0,
              limiter: ["push", "swing", "torso"][n % 3]});
          }
        } else if (t % 20 === 8) {
          window.stridesync.handle({type: "rep", v: 1, rep: Math.floor(t / 20) + 1, steps: 28,
            aligned_steps: 9, main_limiter: "swing", mss_m_s: 9.4});
        }
        const st = window.stridesync.state;
        window.stridesync.handle({type: "status", v: 1, devices: [], session: st.session,
          storage: {ok: true}, clients: 1});
        await new Promise(requestAnimationFrame);
        frames.push(performance.now() - t0);
      }
      window.__n = n;
      return frames;
    }
"""


def feed_session(page, minutes: int, every_min: int = 5) -> tuple[list, list[float]]:
    """Feed `minutes` of session; (minute, heap MB after GC, DOM nodes) every
    `every_min` minutes, and every frame's time in ms."""
    cdp = page.context.new_cdp_session(page)

    def sample(minute: int) -> tuple[int, float, int]:
        cdp.send("HeapProfiler.collectGarbage")
        heap = cdp.send("Runtime.getHeapUsage")["usedSize"] / 1e6
        return minute, heap, cdp.send("Memory.getDOMCounters")["nodes"]

    samples, frames = [sample(0)], []
    for minute in range(every_min, minutes + 1, every_min):
        frames += page.evaluate(FEED_JS, [(minute - every_min) * 60, minute * 60])
        samples.append(sample(minute))
    return samples, frames


def run(quick: bool = False) -> dict:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError("chromium is not installed (scripts/system-deps.sh installs it)")
    tmp = Path(tempfile.mkdtemp(prefix="stridesync-dash-"))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIDESYNC_")}
    serve = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--token", TOKEN, "--port", str(port),
         "--database", f"sqlite+aiosqlite:///{tmp}/d.db", "--device", "/dev/none*"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    minutes = 10 if quick else 30
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            for _ in range(200):
                with contextlib.suppress(Exception):
                    page.goto(f"http://127.0.0.1:{port}/#token={TOKEN}")
                    break
                time.sleep(0.1)
            page.wait_for_function("document.getElementById('conn').textContent === 'live'")
            samples, frames = feed_session(page, minutes)
            browser.close()
    finally:
        serve.terminate()
        serve.wait(20)
    frames.sort()
    heaps = [h for m, h, _ in samples if m >= 5]
    return {
        "minutes": minutes,
        "heap_mb_and_dom_nodes_by_minute": samples,
        "heap_growth_mb": max(heaps) - min(heaps),
        "frame_ms_p50": frames[len(frames) // 2],
        "frame_ms_p99": frames[int(len(frames) * 0.99)],
        "frame_ms_max": frames[-1],
    }


def report(r: dict) -> str:
    by_minute = ", ".join(
        f"{m} min {h:.1f} MB/{n} nodes" for m, h, n in r["heap_mb_and_dom_nodes_by_minute"]
    )
    return "\n".join(
        [
            f"dashboard: {r['minutes']} minutes of live session at 60x real time in Chromium",
            f"  frame (one second of session): p50 {r['frame_ms_p50']:.1f} ms,"
            f" p99 {r['frame_ms_p99']:.1f} ms, max {r['frame_ms_max']:.1f} ms"
            f" (target p99 <= {FRAME_P99_TARGET_MS:.0f} ms)",
            f"  heap after GC from minute 5: grew {r['heap_growth_mb']:.2f} MB"
            f" (target < {HEAP_GROWTH_TARGET_MB} MB); {by_minute}",
        ]
    )


if __name__ == "__main__":
    result = run(quick="--quick" in sys.argv)
    print(json.dumps(result, indent=2) if "--json" in sys.argv else report(result))
