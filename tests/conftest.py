import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# Deterministic in CI: a CRC-16 lets one corrupted frame in 65,536 through by
# chance, so a randomised run could, very rarely, fail for that reason alone.
settings.register_profile("stridesync", derandomize=True, max_examples=150, deadline=None)
settings.load_profile("stridesync")


ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def wheel(tmp_path_factory):
    """The wheel an installer ships, built from this checkout as `pip wheel` builds it."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    return next(out.glob("stridesync-*.whl"))


@pytest.fixture(scope="session")
def cue_wheel(tmp_path_factory):
    """The cue device's own wheel (cue_device/), as its installer ships it."""
    out = tmp_path_factory.mktemp("cue-wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out),
         str(ROOT / "cue_device")],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return next(out.glob("stridesync_cue-*.whl"))


# Tests that run the service with simulated sensors or a browser in real time. Under
# pytest-xdist (`make test` runs two workers) they all go to one worker, one at a
# time: two of them at once on a busy 2-core machine would starve each other's
# simulated sensors, which real sensors never are. The rest runs beside them on the
# other worker, one process at a time as they are: pure computation, and the tests
# that install (the wheel, the cue package, the Pi's installer) or fuzz an idle
# service, which have no sensors to starve and no clock to keep.
REAL_TIME_MODULES = {
    "test_api_times", "test_club", "test_cues", "test_dashboard", "test_demo",
    "test_firmware_emulated", "test_glitch_live", "test_http_guard", "test_overload",
    "test_power_cut", "test_replug_under_load", "test_serial_link", "test_service",
    "test_stop", "test_storage_failure", "test_websocket",
}  # fmt: skip


def pytest_itemcollected(item):
    # Marked as each test is collected: xdist reads the groups in its own
    # pytest_collection_modifyitems, which runs before a conftest's.
    if item.module.__name__.rsplit(".", 1)[-1] in REAL_TIME_MODULES:
        item.add_marker(pytest.mark.xdist_group("real-time"))
