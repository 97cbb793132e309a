"""The node firmware's chip drivers, compiled with the host's C compiler, against
register-level models of the chips written from their datasheets (issue 19):
configuration as the datasheet requires, FIFO packets and ADC frames parsed and
scaled right, overflow, a full FIFO, a corrupt frame and a missing chip handled.
The expected codes are computed here, from the datasheets' sensitivities."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import pytest

FIRMWARE = Path(__file__).resolve().parents[1] / "firmware_bridge" / "firmware"
SOURCES = [
    "host/chips_harness.c",
    "drivers/icm42688.c",
    "drivers/ads131m04.c",
    "models/icm42688_model.c",
    "models/ads131m04_model.c",
    "stridesync_proto.c",
]
CC = shutil.which("cc") or shutil.which("gcc")
pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler (make test installs one)")

F32 = ctypes.POINTER(ctypes.c_float)
ICM_SIGNAL = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, F32, F32)
ADS_SIGNAL = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, F32)
U32 = ctypes.c_uint32

# Datasheet sensitivities (ICM-42688-P DS-000347 tables 1-2; ADS131M04 SBAS890 8.3.1)
GYRO_LSB_PER_DPS = 16.4  # +-2000 deg/s
ACCEL_LSB_PER_G = 2048.0  # +-16 g
ADC_FULL_SCALE_V = 1.2


@pytest.fixture(scope="module")
def chips(tmp_path_factory):
    lib = tmp_path_factory.mktemp("chips") / "chips.so"
    subprocess.run(
        [CC, "-shared", "-fPIC", "-O1", "-std=gnu99", "-Wall", "-Wextra", "-Werror",
         "-o", str(lib), *(str(FIRMWARE / s) for s in SOURCES)],
        check=True,
    )  # fmt: skip
    return ctypes.CDLL(str(lib))


def spi_log(chips) -> list[tuple[int, int, int]]:
    first, length, at = (U32 * 4096)(), (U32 * 4096)(), (U32 * 4096)()
    n = chips.spi_log(first, length, at, 4096)
    return list(zip(first[:n], length[:n], at[:n], strict=True))


# --- ICM-42688-P -----------------------------------------------------------------


def motion(i: int) -> tuple[list[float], list[float]]:
    """A different, known value on every axis and sample: deg/s and g, both signs,
    up to near full scale."""
    gyro = [(-1) ** k * (150.0 * (k + 1) + 3.7 * i) % 1990.0 for k in range(3)]
    accel = [(-1) ** (k + 1) * ((0.9 * (k + 1) + 0.013 * i) % 15.9) for k in range(3)]
    return gyro, accel


def expected_raw(i: int) -> list[int]:
    """The chip's codes for sample i (ax ay az gx gy gz), rounded to nearest."""
    gyro, accel = motion(i)
    return [round(a * ACCEL_LSB_PER_G) for a in accel] + [round(g * GYRO_LSB_PER_DPS) for g in gyro]


@pytest.fixture
def icm(chips):
    def signal(_ctx, i, gyro, accel):
        g, a = motion(i)
        for k in range(3):
            gyro[k], accel[k] = g[k], a[k]

    callback = ICM_SIGNAL(signal)
    chips.icm_new(callback, U32(0))
    chips._keep = callback  # alive while the model may call it
    return chips


def icm_read(chips, max_samples: int = 128) -> tuple[list[list[int]], bool]:
    out = ((ctypes.c_int16 * 6) * 128)()
    full = ctypes.c_int()
    n = chips.icm_read(out, max_samples, ctypes.byref(full))
    return [list(out[k]) for k in range(n)], bool(full.value)


def test_icm_is_configured_as_the_datasheet_requires(icm):
    assert icm.icm_init(10) == 0
    reg = icm.icm_reg
    assert reg(0x4E) == 0x0F  # PWR_MGMT0: gyro and accel in low-noise mode
    assert reg(0x4F) == 0x06 and reg(0x50) == 0x06  # +-2000 deg/s, +-16 g, both 1 kHz
    assert reg(0x16) == 0x80  # FIFO_CONFIG: stop on full
    assert reg(0x5F) == 0x07  # FIFO_CONFIG1: accel, gyro, temperature (packet 3)
    assert reg(0x60) | (reg(0x61) & 0x0F) << 8 == 10 * 16  # watermark: 10 packets, in bytes
    assert reg(0x4C) == 0x33  # INTF_CONFIG0: big-endian count and data, count in bytes, no I2C
    assert reg(0x64) & 0x10 == 0  # INT_CONFIG1: INT_ASYNC_RESET cleared, as 14.50 asks
    assert reg(0x65) == 0x04  # INT_SOURCE0: FIFO threshold to INT1
    # Every write was taken: none in the 1 ms after the soft reset, none in the
    # 200 us after the sensors were turned on.
    assert icm.icm_ignored_writes() == 0
    log = spi_log(icm)
    assert log[0][:2] == (0x11, 2)  # DEVICE_CONFIG first: the soft reset
    assert log[1][2] - log[0][2] >= 1000


def test_icm_fifo_packets_are_read_on_the_watermark_and_scaled_right(icm):
    assert icm.icm_init(10) == 0
    # Sensors on when PWR_MGMT0 was written: the first sample one period later.
    on_us = next(at for first, _, at in spi_log(icm) if first == 0x4E)
    icm.icm_advance(on_us + 10 * 1000 - 1 - icm.icm_now())
    edge = U32()
    assert not icm.icm_int1(ctypes.byref(edge))  # nine samples: below the watermark
    icm.icm_advance(1_000)
    assert icm.icm_int1(ctypes.byref(edge))
    assert edge.value == on_us + 10 * 1000  # the interrupt is the 10th sample's instant
    samples, full = icm_read(icm)
    assert not full and samples == [expected_raw(i) for i in range(10)]
    # Scaled with the HELLO's factors, each value is within half a code of the truth.
    for i, raw in enumerate(samples):
        gyro, accel = motion(i)
        for k in range(3):
            assert abs(raw[k] / ACCEL_LSB_PER_G - accel[k]) <= 0.5 / ACCEL_LSB_PER_G
            assert abs(raw[3 + k] / GYRO_LSB_PER_DPS - gyro[k]) <= 0.5 / GYRO_LSB_PER_DPS
    assert icm.icm_fifo_bytes() == 0  # drained in one burst


def test_a_full_icm_fifo_is_flushed_and_reported(icm):
    assert icm.icm_init(10) == 0
    icm.icm_advance(200_000)  # 200 samples, nobody reading: 128 fit in 2 KiB
    assert icm.icm_fifo_bytes() == 2048 and icm.icm_dropped() == 72
    samples, full = icm_read(icm)
    assert full and samples == []  # the gap is the caller's to count, by time
    assert icm.icm_fifo_bytes() == 0
    icm.icm_advance(10_000)
    samples, full = icm_read(icm)
    assert not full and samples == [expected_raw(i) for i in range(200, 210)]


def test_no_icm_on_the_bus_is_an_error(icm):
    icm.bus_unplug(1)
    assert icm.icm_init(10) == -1  # ICM42688_ERR_ID


# --- ADS131M04 ---------------------------------------------------------------------

GAINS = [0, 1, 5, 7]  # PGA 1, 2, 32, 128


def volts(i: int) -> list[float]:
    """Channel inputs at conversion i: within range, negative, and one past full scale."""
    fs = [ADC_FULL_SCALE_V / 2**g for g in GAINS]
    return [0.37 * fs[0] + 1e-4 * i, -0.81 * fs[1], 0.5 * fs[2] * (-1) ** i, 1.3 * fs[3]]


def expected_codes(i: int) -> list[int]:
    out = []
    for v, g in zip(volts(i), GAINS, strict=True):
        code = round(v / (ADC_FULL_SCALE_V / 2**g) * 2**23)
        out.append(max(-(2**23), min(2**23 - 1, code)))
    return out


@pytest.fixture
def ads(chips):
    def signal(_ctx, i, out):
        for k, v in enumerate(volts(i)):
            out[k] = v

    callback = ADS_SIGNAL(signal)
    chips.ads_new(callback, U32(0))
    chips._keep = callback
    return chips


def ads_read(chips) -> tuple[int, list[int]]:
    out = (ctypes.c_int32 * 4)()
    status = chips.ads_read(out)
    return status, list(out)


def test_ads_is_configured_as_the_datasheet_requires(ads):
    gains = (ctypes.c_uint8 * 4)(*GAINS)
    assert ads.ads_init(gains) == 0
    assert ads.ads_reg(0x03) == 0x0F16  # CLOCK: four channels, OSR 4096, high resolution
    assert ads.ads_reg(0x04) == 0x7510  # GAIN1: 128, 32, 2, 1 from channel 3 down
    assert ads.ads_period_us() == 1000  # 8.192 MHz / 2 / 4096 = 1 kSPS
    log = spi_log(ads)
    assert log[0][0] == 0x0011  # RESET first
    assert {n for _, n, _ in log} == {18}  # every frame: six 24-bit words


def test_ads_codes_are_read_sign_extended_and_clipped(ads):
    gains = (ctypes.c_uint8 * 4)(*GAINS)
    assert ads.ads_init(gains) == 0
    base = ads.ads_conversions()
    for k in range(5):
        ads.ads_advance(1000)
        edge = U32()
        assert ads.ads_drdy(ctypes.byref(edge))
        status, codes = ads_read(ads)
        assert status == 0 and codes == expected_codes(base + k)
    # A conversion not read before the next is lost (the node counts it by time).
    ads.ads_advance(3000)
    assert ads.ads_overwritten() == 2
    status, codes = ads_read(ads)
    assert codes == expected_codes(base + 7)


def test_a_corrupt_ads_frame_is_refused_by_its_crc(ads):
    assert ads.ads_init((ctypes.c_uint8 * 4)(*GAINS)) == 0
    ads.ads_advance(1000)
    ads.ads_corrupt_next_frame()
    assert ads_read(ads)[0] == -4 and ads.ads_crc_errors() == 1  # ADS131M04_ERR_CRC
    ads.ads_advance(1000)
    assert ads_read(ads)[0] == 0


def test_no_ads_on_the_bus_is_an_error(ads):
    ads.bus_unplug(1)
    assert ads.ads_init((ctypes.c_uint8 * 4)(*GAINS)) == -1  # no 0xFF24 after RESET
