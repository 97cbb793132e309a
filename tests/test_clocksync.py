"""Clock sync: wrap extension, drift tracking, and the two-device alignment budget."""

import numpy as np
import pytest

from firmware_bridge.clocksync import ClockSync, SampleTimeline, WrapExtender
from firmware_bridge.linksim import UsbTiming, alignment_error_s, simulate
from firmware_bridge.streams import demo_devices


def test_wrap_extender_extends_32_bit_counter_and_tolerates_reordering():
    ext = WrapExtender()
    values = [0xFFFFFF00, 0xFFFFFFF0, 0x00000010, 0xFFFFFFF8, 0x00000100]
    assert [ext.extend(v) for v in values] == [
        0xFFFFFF00,
        0xFFFFFFF0,
        0x100000010,
        0xFFFFFFF8,
        0x100000100,
    ]


def test_clock_sync_learns_offset_and_drift_from_noisy_replies():
    rng = np.random.default_rng(3)
    sync = ClockSync()
    ppm, offset_us = 73.0, 5e8
    t = 100.0
    for _ in range(3000):
        out = rng.uniform(0.0001, 0.0011)
        back = rng.exponential(0.003)
        read = t + out
        clock = int(offset_us + read * 1e6 * (1 + ppm * 1e-6)) & 0xFFFFFFFF
        sync.add_sample(t, read + back, clock)
        t += sync.query_interval_s()
    assert sync.drift_ppm == pytest.approx(ppm, abs=3.0)
    true_host = (offset_us + 1e6 * t * (1 + ppm * 1e-6) - offset_us) / 1e6 / (1 + ppm * 1e-6)
    clock_now = offset_us + t * 1e6 * (1 + ppm * 1e-6)
    assert sync.mcu_to_host(clock_now) == pytest.approx(true_host, abs=0.3e-3)
    assert sync.stats.used < sync.stats.samples / 2  # slow replies were not trusted


def test_clock_jump_is_detected_and_followed():
    sync = ClockSync()
    t = 0.0
    for _ in range(200):
        sync.add_sample(t, t + 0.0004, int((t + 0.0002) * 1e6))
        t += sync.query_interval_s()
    t_reset = t
    for _ in range(10):  # the MCU restarted: its clock counts from 0 again
        sync.add_sample(t, t + 0.0004, int((t + 0.0002 - t_reset) * 1e6))
        t += sync.query_interval_s()
    assert sync.stats.resets == 1
    assert sync.mcu_to_host(0) == pytest.approx(t_reset, abs=1e-4)


def test_a_restarted_mcu_keeps_its_crystals_rate_through_a_starved_spell():
    """A replugged MCU reboots: its clock starts again from 0, its crystal is the same.
    Its offset must be learnt again, its rate need not. On a starved host the first
    quick replies after the reboot may be the last for a while (every other reply waits
    behind the backlog and is not trusted): the fit then runs on its rate alone, and a
    rate from a second of replies (or the nominal one, 80 ppm off) would be 1 ms out
    after a dozen seconds. The rate learnt before the reboot keeps it within the
    clock's own error."""
    ppm, rng = 80.0, np.random.default_rng(5)
    sync = ClockSync()

    def reply(t_send: float, boot_s: float, delay_s: float) -> None:
        read = t_send + rng.uniform(0.0001, 0.0003)
        clock = int((read - boot_s) * 1e6 * (1 + ppm * 1e-6)) & 0xFFFFFFFF
        sync.add_sample(t_send, read + delay_s, clock)

    t = 0.0
    while t < 30.0:  # first boot: half a minute of quick replies
        reply(t, 0.0, 0.0002)
        t += sync.query_interval_s()
    sync.reset()  # replugged: the port opened again, the MCU rebooted at t
    boot_s = t
    for _ in range(3):  # a few quick replies ...
        reply(t, boot_s, 0.0002)
        t += 0.01
    assert sync.ready
    starved_until = t + 15.0
    while t < starved_until:  # ... then only slow ones (a backlog before each)
        reply(t, boot_s, rng.uniform(0.005, 0.08))
        t += sync.query_interval_s()
    clock_now = (t - boot_s) * 1e6 * (1 + ppm * 1e-6)
    assert sync.mcu_to_host(clock_now) == pytest.approx(t, abs=0.2e-3)


def test_the_clock_waits_for_a_quick_reply_before_samples_are_stamped():
    """A starved host's first replies come back hundreds of ms late: their
    midpoints can be that far from when the MCU read its clock, so the fit is not
    ready on them; one quick reply restarts it and makes it ready."""
    sync = ClockSync()
    true_offset_s = 42.0  # host time = MCU time + offset

    def reply(sent: float, out_s: float, back_s: float) -> None:
        read_at = sent + out_s
        sync.add_sample(sent, read_at + back_s, int((read_at - true_offset_s) * 1e6))

    reply(100.0, 0.001, 0.600)  # read early, answer read late: midpoint 0.3 s off
    reply(100.01, 0.001, 0.590)
    assert not sync.ready
    reply(100.7, 0.0002, 0.0002)
    reply(100.71, 0.0002, 0.0003)
    assert sync.ready
    mcu = int((101.0 - true_offset_s) * 1e6)
    assert abs(sync.mcu_to_host(mcu) - 101.0) < 0.5e-3


def test_a_link_that_is_never_quick_still_gets_a_clock():
    sync = ClockSync()
    for k in range(400):  # replies 4 ms each way, every 10 ms, for 4 s
        sent = 10.0 + 0.01 * k
        sync.add_sample(sent, sent + 0.008, int((sent + 0.004) * 1e6))
        if sent - 10.0 < ClockSync.PATIENCE_S - 0.05:
            assert not sync.ready
    assert sync.ready and abs(sync.mcu_to_host(int(13e6)) - 13.0) < 1e-4


def test_sample_timeline_learns_the_real_sample_rate():
    tl = SampleTimeline(1000.0)
    true_period = 1000.0 * (1 + 2000e-6)  # a sensor oscillator 0.2 % fast on the MCU clock
    rng = np.random.default_rng(1)
    for k in range(0, 20000, 10):
        tl.add(k, int(5000 + k * true_period + rng.integers(-3, 4)))  # stamp jitter ±3 µs
    assert tl.period_us == pytest.approx(true_period, rel=5e-6)
    assert float(tl.mcu_time(25000)) == pytest.approx(5000 + 25000 * true_period, abs=20)


def test_two_devices_at_plus_minus_50_ppm_stay_aligned_within_half_a_millisecond():
    """Issue 2's budget: bursty USB (0-8 ms, 30 ms stalls), 10 minutes, after 10 s warm-up."""
    devices = demo_devices(clock_ppm=(50.0, -50.0))
    timing = UsbTiming(burst_gap_s=(0.0, 0.008), stall_s=0.030, stalls_per_s=0.2)
    traces = simulate(devices, duration_s=600.0, timing=timing, seed=11)
    err = np.abs(alignment_error_s(traces[0], traces[1], after_s=10.0))
    assert len(err) > 500_000  # every sample of the ten minutes was compared
    assert err.max() < 0.5e-3
    for trace in traces:  # and each device on its own is close to true time
        true_s, est_s = trace.arrays()
        late = true_s > 10.0
        assert np.abs(est_s[late] - true_s[late]).max() < 0.5e-3
