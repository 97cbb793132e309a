"""Debian's Chromium, headless, driven by Playwright for Python through
`executable_path` (no browser download): one way to start it for every browser test
(the `browser` fixture in conftest.py; the club page's test starts its own)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"  # screenshots, each run
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (scripts/system-deps.sh installs it)")


@contextlib.contextmanager
def chromium() -> Iterator:
    """A headless Chromium for as long as the block lasts (skips where none is)."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox", "--disable-gpu"]
        )
        try:
            yield b
        finally:
            b.close()
