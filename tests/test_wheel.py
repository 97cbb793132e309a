"""What a Pi installed from the wheel serves: the wheel, installed into a fresh venv
outside the checkout, runs `stridesync serve`, and the dashboard, its assets and
the API docs load from it with no address but its own."""

from __future__ import annotations

import os
import re
import site
import subprocess
import venv
from pathlib import Path

import httpx
import pytest

from tests.service_helpers import free_port, wait_for_port

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def installed_venv(wheel, tmp_path_factory):
    """A new venv holding only the wheel; its dependencies come from the test venv by a
    .pth path (the same versions pip would install), never this checkout's sources."""
    where = tmp_path_factory.mktemp("pi")
    env_dir = where / "venv"
    venv.create(env_dir, with_pip=True)  # ensurepip: offline
    py = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    Path(purelib, "test-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run(
        [py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel],
        check=True, capture_output=True,
    )  # fmt: skip
    return where, env_dir


def test_the_wheel_carries_the_dashboard_and_the_migrations(installed_venv):
    where, env_dir = installed_venv
    py = env_dir / "bin" / "python"
    out = subprocess.run(
        [py, "-c", "import service, service.api as a; print(service.__file__); print(a.DASHBOARD)"],
        capture_output=True, text=True, check=True, cwd=where,
    ).stdout.split()  # fmt: skip
    assert all(p.startswith(str(env_dir)) for p in out), out  # not the checkout
    dash = Path(out[1])
    for f in ("index.html", "app.js", "style.css", "vendor/uplot/uPlot.iife.min.js",
              "vendor/swagger-ui/swagger-ui-bundle.js", "vendor/swagger-ui/LICENSE"):  # fmt: skip
        assert (dash / f).is_file(), f
    # Every module the page imports (app.js loads them from js/).
    checkout = Path(__file__).resolve().parent.parent / "service" / "dashboard" / "js"
    modules = sorted(p.name for p in checkout.glob("*.js"))
    assert modules and all((dash / "js" / m).is_file() for m in modules), modules


def test_the_installed_wheel_builds_and_checks_its_compiled_parts(installed_venv):
    """As deploy/install.sh does on the Pi: the C sources (the serial path's and the
    vendored Fusion AHRS) ship in the wheel, build there and match the Python path."""
    where, env_dir = installed_venv
    run = subprocess.run(
        [env_dir / "bin" / "python", "-m", "firmware_bridge.speedups", "build"],
        capture_output=True, text=True, cwd=where,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert str(env_dir) in run.stdout, run.stdout  # built into the installed package
    assert "thigh and trunk filter: compiled Fusion AHRS" in run.stdout, run.stdout


def _local_refs(html: str) -> list[str]:
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    refs += re.findall(r"""url:\s*['"]([^'"]+)['"]""", html)
    return refs


def test_serve_from_the_wheel_gives_dashboard_assets_and_api_docs(installed_venv):
    where, env_dir = installed_venv
    port = free_port()
    log = where / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIDESYNC_")}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [env_dir / "bin" / "stridesync", "serve", "--token", "t", "--port", str(port),
             "--database", f"sqlite+aiosqlite:///{where}/pi.db", "--device", "/dev/none*"],
            cwd=where, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for_port(port, proc, log)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10) as c:
            for page in ("/", "/docs"):
                r = c.get(page)
                assert r.status_code == 200, (page, r.text[:200])
                refs = _local_refs(r.text)
                assert refs, page
                for ref in refs:
                    if ref.startswith("data:"):  # inline, e.g. the page's empty favicon
                        continue
                    assert ref.startswith("/"), f"{page} loads {ref} from elsewhere"
                    got = c.get(ref)
                    assert got.status_code == 200, ref
                    assert len(got.content) > 0, ref
            assert c.get("/openapi.json").json()["info"]["title"] == "Stridesync"
    finally:
        proc.terminate()
        proc.wait(20)
