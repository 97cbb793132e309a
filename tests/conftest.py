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
