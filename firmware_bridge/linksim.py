"""A USB link in simulated time, for testing and benchmarking clock sync.

Real USB CDC delivers MCU data to the host in bursts: the device's frames wait
in its FIFO until the host polls, the kernel hands them to the reader a few
milliseconds later, and now and then nothing arrives for tens of milliseconds.
This module replays that with virtual MCUs (`McuModel`) and feeds the host's
real `DeviceSession`, so the clock-sync code under test is the production
code; only time is simulated (ten minutes take a few seconds).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np

from .codec import ClockReply
from .device import DeviceSession, SampleBlock
from .virtual import McuModel

POLL_S = 1e-5  # firmware latency from the last sample of a batch to its frame


@dataclass
class UsbTiming:
    out_delay_s: tuple[float, float] = (0.0001, 0.0011)  # host -> MCU (next 1 ms USB frame)
    burst_gap_s: tuple[float, float] = (0.0, 0.008)  # MCU -> host: time between deliveries
    stall_s: float = 0.030
    stalls_per_s: float = 0.2


@dataclass
class DeviceTrace:
    """Estimated against true host time for every sample the host time-stamped."""

    name: str
    true_s: list[np.ndarray] = field(default_factory=list)
    est_s: list[np.ndarray] = field(default_factory=list)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.concatenate(self.true_s), np.concatenate(self.est_s)


def simulate(
    models: list[McuModel],
    duration_s: float,
    timing: UsbTiming | None = None,
    seed: int = 0,
) -> list[DeviceTrace]:
    """Run the devices and the host for `duration_s` of simulated time."""
    timing = timing or UsbTiming()
    rng = np.random.default_rng(seed)
    traces = []
    for m in models:
        m.boot(0.0, m.clock_offset_us)
        traces.append(DeviceTrace(m.name))
    sessions = [DeviceSession(m.hello()) for m in models]
    # Events: (time, order, kind, device, payload)
    events: list = []
    order = 0

    def push(t, kind, dev, payload=None):
        nonlocal order
        order += 1
        heapq.heappush(events, (t, order, kind, dev, payload))

    fifo: list[list] = [[] for _ in models]  # frames waiting in each MCU's USB FIFO
    for d in range(len(models)):
        for k in range(8):  # the link's start-up burst of clock queries
            push(0.02 * k, "query", d)
        push(0.2, "start", d)
        push(0.2, "query", d)
        push(rng.uniform(*timing.burst_gap_s), "deliver", d)

    while events:
        t, _, kind, d, payload = heapq.heappop(events)
        if t > duration_s:
            break
        model, session = models[d], sessions[d]
        if kind == "query":
            cmd = session.clock_query(t)
            push(t + rng.uniform(*timing.out_delay_s), "mcu-query", d, cmd)
            if t >= 0.2:
                push(t + session.clock.query_interval_s(), "query", d)
        elif kind == "mcu-query":
            fifo[d].append(ClockReply(payload.token, model.clock32(t)))
        elif kind == "start":
            model._start(t)
            push(model.next_batch_time(), "poll", d)
        elif kind == "poll":
            fifo[d].extend(batch for _, batch in model.poll(t))
            push(model.next_batch_time() + POLL_S, "poll", d)
        elif kind == "deliver":
            for msg in fifo[d]:
                if isinstance(msg, ClockReply):
                    session.on_clock(msg, t)
                else:
                    for item in session.on_samples(msg, t):
                        if isinstance(item, SampleBlock):
                            _record(traces[d], model, item)
            fifo[d].clear()
            gap = rng.uniform(*timing.burst_gap_s)
            if rng.random() < timing.stalls_per_s * gap:
                gap += timing.stall_s
            push(t + max(gap, 0.0001), "deliver", d)
    return traces


def _record(trace: DeviceTrace, model: McuModel, block: SampleBlock) -> None:
    stream = next(s for s in model.streams if s.info.stream_id == block.stream.stream_id)
    idx = np.arange(block.first_sample, block.first_sample + len(block))
    trace.true_s.append(model.true_time(stream.start_mcu_us + idx * stream.period_mcu_us))
    trace.est_s.append(block.time_s)


def alignment_error_s(a: DeviceTrace, b: DeviceTrace, after_s: float) -> np.ndarray:
    """Difference of the two devices' time-stamp errors at common true times."""
    ta, ea = a.arrays()
    tb, eb = b.arrays()
    err_a = ea - ta
    err_b = np.interp(ta, tb, eb - tb)
    keep = (ta >= after_s) & (ta <= tb[-1])
    return (err_a - err_b)[keep]
