import shutil
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


def _pip_wheel(src: Path, tmp: Path) -> Path:
    """`pip wheel` of a copy of `src`: setuptools builds in the tree (build/), so two
    workers building the one checkout at once break each other's build."""
    copy = tmp / "src"
    skip = shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "__pycache__",
                                  ".pytest_cache", ".ruff_cache", "node_modules")  # fmt: skip
    shutil.copytree(src, copy, ignore=skip)
    out = tmp / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(copy)],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="session")
def wheel(tmp_path_factory):
    """The wheel an installer ships, built from this checkout as `pip wheel` builds it."""
    out = _pip_wheel(ROOT, tmp_path_factory.mktemp("wheel"))
    return next(out.glob("stridesync-*.whl"))


@pytest.fixture(scope="session")
def cue_wheel(tmp_path_factory):
    """The cue device's own wheel (cue_device/), as its installer ships it."""
    out = _pip_wheel(ROOT / "cue_device", tmp_path_factory.mktemp("cue-wheel"))
    return next(out.glob("stridesync_cue-*.whl"))


# Tests that run the service with simulated sensors or a browser in real time. Under
# pytest-xdist (`make test` runs two workers) they go in two groups, one a worker, each
# running its tests one at a time: two such tests at once, never more, beside the
# rest (pure computation, and the tests that install or fuzz an idle service). A
# real-time test costs about a third of a core (the service ~20 %, its simulated
# sensors ~5-10 %, the test's own process), so two of them and a CPU-bound test fit
# two cores, with a busy neighbour. The groups are balanced by their time here.
REAL_TIME_GROUPS = {
    "real-time-a": {
        "test_club", "test_dashboard", "test_power_cut", "test_stop", "test_cues",
        "test_websocket", "test_simulator_live",
    },
    "real-time-b": {
        "test_firmware_emulated", "test_overload", "test_demo", "test_replug_under_load",
        "test_api_times", "test_service", "test_http_guard", "test_glitch_live",
        "test_storage_failure", "test_serial_link",
    },
}  # fmt: skip


def pytest_itemcollected(item):
    # Marked as each test is collected: xdist reads the groups in its own
    # pytest_collection_modifyitems, which runs before a conftest's.
    module = item.module.__name__.rsplit(".", 1)[-1]
    for group, modules in REAL_TIME_GROUPS.items():
        if module in modules:
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, for a module's browser tests (tests/browser.py)."""
    from tests.browser import chromium

    with chromium() as b:
        yield b
