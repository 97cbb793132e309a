"""`stridesync replay` on files that are not recordings, or are damaged ones (issue 31,
item 8): each a one-line error and exit 2, never a traceback and never a wrong answer
with exit 0 (a force CSV with NaN gave 29 steps of 33 ms; 1e308 N a peak of 1e305 body
weights). The files are made here, from a real recording where one is damaged."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import SHARED_DATA, needs_data

pytestmark = pytest.mark.timeout(300)
DORN = SHARED_DATA / "dorn2012"


def _replay(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", "replay", str(path), "--mass", "75"],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip


def _csv_files(tmp: Path) -> dict[str, Path]:
    good = (DORN / "JA1Gait35_forces.csv").read_text().splitlines()
    head, rows = good[0], good[1:]
    cols = head.split(",")
    fz = cols.index("fp2_fz_n")

    def with_cell(row: int, col: int, value: str) -> str:
        out = list(rows)
        cells = out[row].split(",")
        cells[col] = value
        out[row] = ",".join(cells)
        return "\n".join([head, *out]) + "\n"

    files = {
        "nan force": with_cell(500, fz, "nan"),
        "inf force": with_cell(500, fz, "inf"),
        "1e308 force": with_cell(500, fz, "1e308"),
        "inf time": with_cell(500, cols.index("time_s"), "inf"),
        "text in a cell": with_cell(500, fz, "x"),
        "header only": head + "\n",
        "empty": "",
        "one 10 MB line": "time_s," + "1," * 5_000_000,
    }
    return _written(tmp, {k: v.encode() for k, v in files.items()}, ".csv")


def _c3d_files(tmp: Path) -> dict[str, Path]:
    good = (DORN / "JA1Gait35.c3d").read_bytes()
    rng = random.Random(31)
    damaged = {
        "cut in half": good[: len(good) // 2],
        "empty": b"",
        "random": rng.randbytes(len(good)),
        "header corrupt": good[:2] + rng.randbytes(510) + good[512:],
        "parameters corrupt": good[:512] + rng.randbytes(4096) + good[512 + 4096 :],
        "pointer past the end": bytes([0x40, 0x50]) + good[2:],
    }
    return _written(tmp, damaged, ".c3d")


def _written(tmp: Path, contents: dict[str, bytes], suffix: str) -> dict[str, Path]:
    """Each file written under its name, and 1 GB of nothing (a sparse file) beside them."""
    out = {}
    for name, data in contents.items():
        out[name] = tmp / (name.replace(" ", "-") + suffix)
        out[name].write_bytes(data)
    sparse = tmp / f"sparse{suffix}"
    with open(sparse, "wb") as f:
        f.truncate(1 << 30)
    out["1 GB sparse"] = sparse
    return out


@needs_data
def test_every_bad_file_is_one_line_and_exit_2(tmp_path, capsys):
    """The command's own main, in this process (an exception it does not turn into its
    one line would fail the test as a traceback would the user); one file through the
    installed command too."""
    from service.cli import main

    files = {**_csv_files(tmp_path), **{f"c3d {k}": v for k, v in _c3d_files(tmp_path).items()}}
    files["not a capture"] = tmp_path / "notes.txt"
    files["not a capture"].write_text("hello")
    for name, path in files.items():
        code = main(["replay", str(path), "--mass", "75"])
        out, err = capsys.readouterr()
        lines = err.strip().splitlines()
        assert code == 2, (name, code, out[:300], err[-500:])
        assert len(lines) == 1 and lines[0].startswith("stridesync: error:"), (name, err)
        assert out == "", (name, out[:300])
    r = _replay(files["c3d cut in half"])
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    os.remove(files["1 GB sparse"])
    os.remove(files["c3d 1 GB sparse"])


def test_a_plates_only_c3d_is_read(tmp_path):
    """The service's own C3D export has force plates and no markers: the reader's "no
    point data" warning is not damage (the filter that made other warnings errors once
    caught it too, and every exported session failed to replay)."""
    from types import SimpleNamespace

    import numpy as np

    from firmware_bridge.simulator.mocap import ground_reaction
    from service.export import _c3d_bytes

    stream = SimpleNamespace(
        info={"sample_rate_hz": 1000.0, "index": 0, "channels": [{"channel": "fz"}]}
    )

    t = 100.0 + np.arange(2000) / 1000.0
    fz = np.where((t > 100.5) & (t < 100.7), 1500.0, 0.0)[:, None]
    path = tmp_path / "plates.c3d"
    path.write_bytes(_c3d_bytes(100.0, 1.999, [(stream, [(None, None, t, fz)])]))
    t_read, grf = ground_reaction(path)
    loaded = t_read[grf[:, 2] > 750.0]
    assert grf[:, 2].max() == pytest.approx(1500.0)
    assert loaded[0] == pytest.approx(0.501, abs=0.002)
    assert loaded[-1] == pytest.approx(0.699, abs=0.002)
