"""Session exports, streamed page by page: CSV, JSON and Parquet (optional extra).

Times in exports are seconds since the session started (the stored times
minus `clock_origin_s`); durations are as measured. Raw samples come out in
physical units, named in the header (``fz_N``, ``gy_deg/s``), one stream at a
time, with the sample index so that gaps show.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import warnings
from collections.abc import AsyncIterator
from typing import Literal, get_origin

import numpy as np

from .engine import EXTRA_STEP_KEYS, STEP_KEYS
from .engine.events import REP_FIELDS, REP_KEYS, STEP_FIELDS
from .recorder import stream_from_json
from .store import Session, SessionStream, Store, queries, rawcodec
from .timebase import relative

# A force-only C3D has no marker points, as it is meant to: the c3d package's warning
# about it is not the user's business (it reached the service's console).
warnings.filterwarnings("ignore", message="No point data found in file", module="c3d")

PAGE = 1000  # rows a Parquet row group
STEP_COLUMNS = ("n", *(k for k in (*STEP_KEYS[1:], *EXTRA_STEP_KEYS) if k != "n"))
REP_COLUMNS = tuple(k for k in REP_KEYS if k != "type")  # events.py: one definition


async def raw_blocks(
    store: Store,
    session_id: int,
    stream: SessionStream,
    between_s: tuple[float, float] | None = None,
) -> AsyncIterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """(first sample, lost before, time_s, values) per stored chunk of one stream, in order
    (only the chunks overlapping `between_s`, host clock, if given)."""
    scale, offset = stream_from_json(stream.info).scales()
    async for rows in queries.raw_pages(store, session_id, stream, between_s=between_s):
        decoded = await asyncio.to_thread(
            lambda rows=rows: [rawcodec.decode(r.data, scale, offset) for r in rows]
        )
        for r, (t, v) in zip(rows, decoded, strict=True):
            yield r.first_sample, r.lost_before, t, v


FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(v):
    """A value as a CSV cell: floats to the last digit, nothing for None, and text that a
    spreadsheet would run as a formula (=, +, -, @ first: a lane's `foot` of
    "=HYPERLINK(...)") made text with a leading quote, as OWASP recommends."""
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str) and v.startswith(FORMULA_LEADS):
        return "'" + v
    return v


def csv_rows(rows) -> str:
    """Rows of values as CSV text, every cell through `csv_cell`."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([csv_cell(v) for v in row] for row in rows)
    return buf.getvalue()


def _csv_line(values) -> str:
    return csv_rows([values])


async def steps_csv(store: Store, session: Session) -> AsyncIterator[str]:
    yield _csv_line(STEP_COLUMNS)
    async for d in queries.all_steps(store, session.id):
        d = relative(d, session.clock_origin_s)
        yield _csv_line(d.get(k) for k in STEP_COLUMNS)


async def reps_csv(store: Store, session: Session) -> AsyncIterator[str]:
    yield _csv_line(REP_COLUMNS)
    for d in await queries.reps(store, session.id):
        d = relative(d, session.clock_origin_s)
        yield _csv_line(d.get(k) for k in REP_COLUMNS)


async def speed_between(
    store: Store, session: Session, from_s: float, to_s: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """The speed sensor's samples from `from_s` to `to_s` (seconds since the session
    started), on that clock; None without a speed sensor."""
    streams = await queries.streams(store, session.id)
    speed = next((st for st in streams if st.info["kind"] == "speed"), None)
    if speed is None:
        return None
    origin = session.clock_origin_s
    window = (origin + from_s, origin + to_s)
    parts = [(t, v[:, 0]) async for _, _, t, v in raw_blocks(store, session.id, speed, window)]
    if not parts:
        return None
    t = np.concatenate([p[0] for p in parts]) - origin
    v = np.concatenate([p[1] for p in parts])
    keep = (t >= from_s) & (t <= to_s)
    return t[keep], v[keep]


def raw_columns(info: dict) -> list[str]:
    return ["time_s", "sample", *(c["label"] for c in info["channels"])]


async def raw_csv(store: Store, session: Session, stream: SessionStream) -> AsyncIterator[str]:
    yield _csv_line(raw_columns(stream.info))
    origin = session.clock_origin_s
    async for first, _lost, t, v in raw_blocks(store, session.id, stream):
        buf = io.StringIO()
        idx = np.arange(first, first + len(t))
        table = np.column_stack([t - origin, idx, v])
        fmt = ["%.6f", "%d", *["%.6g"] * v.shape[1]]
        np.savetxt(buf, table, fmt=fmt, delimiter=",")
        yield buf.getvalue()


async def session_json(store: Store, session: Session, doc: dict) -> AsyncIterator[str]:
    """The whole session as one JSON document; steps streamed."""
    origin = session.clock_origin_s
    head = json.dumps(doc)[:-1]  # without the closing brace
    yield head + ', "time_origin": "seconds since the session started", "reps": '
    yield json.dumps([relative(r, origin) for r in await queries.reps(store, session.id)])
    marks = await queries.marks(store, session.id)
    yield ', "marks": ' + json.dumps(
        [{"time_s": round(m.time_s - origin, 6), "label": m.label} for m in marks]
    )
    yield ', "steps": ['
    first = True
    async for d in queries.all_steps(store, session.id):
        yield ("" if first else ", ") + json.dumps(relative(d, origin))
        first = False
    yield "]}\n"


class _Sink(io.RawIOBase):
    """A file pyarrow writes into and we drain as it goes."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.pos = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.parts.append(bytes(b))
        self.pos += len(b)
        return len(b)

    def tell(self) -> int:
        return self.pos

    def drain(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out


def parquet_available() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def _kinds() -> dict[str, type]:
    """Each step and rep column's Python type, from their one definition (events.py):
    text (a Literal too), int, bool or float."""
    out = {}
    for f in (*STEP_FIELDS, *REP_FIELDS):
        out[f.name] = str if get_origin(f.type) is Literal else f.type
    return out


_KINDS = _kinds()


def _arrow_type(column: str):
    import pyarrow as pa

    kind = _KINDS.get(column, float)
    return {str: pa.string(), int: pa.int64(), bool: pa.bool_()}.get(kind, pa.float64())


async def parquet(rows: AsyncIterator[dict], columns: tuple[str, ...]) -> AsyncIterator[bytes]:
    """Rows of dicts as Parquet, one row group per page."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(c, _arrow_type(c)) for c in columns])
    sink = _Sink()
    writer = pq.ParquetWriter(sink, schema)
    batch: list[dict] = []

    def flush():
        writer.write_table(
            pa.Table.from_pylist([{k: r.get(k) for k in columns} for r in batch], schema=schema)
        )
        batch.clear()

    async for r in rows:
        batch.append(r)
        if len(batch) >= PAGE:
            flush()
            yield sink.drain()
    if batch:
        flush()
    writer.close()
    yield sink.drain()


async def step_rows(store: Store, session: Session) -> AsyncIterator[dict]:
    async for d in queries.all_steps(store, session.id):
        yield relative(d, session.clock_origin_s)


async def rep_rows(store: Store, session: Session) -> AsyncIterator[dict]:
    for d in await queries.reps(store, session.id):
        yield relative(d, session.clock_origin_s)


async def raw_parquet(
    store: Store, session: Session, stream: SessionStream
) -> AsyncIterator[bytes]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = raw_columns(stream.info)
    sink = _Sink()
    schema = pa.schema(
        [("time_s", pa.float64()), ("sample", pa.int64())] + [(c, pa.float64()) for c in cols[2:]]
    )
    writer = pq.ParquetWriter(sink, schema)
    async for first, _lost, t, v in raw_blocks(store, session.id, stream):
        arrays = [pa.array(t - session.clock_origin_s), pa.array(np.arange(first, first + len(t)))]
        arrays += [pa.array(v[:, i]) for i in range(v.shape[1])]
        writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
        yield sink.drain()
    writer.close()
    yield sink.drain()


C3D_MAX_S = 3600.0  # the c3d package holds a whole file in memory: an hour of plates
C3D_RATE = 1000.0
C3D_PER_FRAME = 10
# The lab frame of the C3D: X forward (the running direction, along which the plates
# lie), Y to the athlete's left, Z up; the ground reaction there is (fy, -fx, fz)
# (docs/protocol.md: fx + to the right, fy + forward). Each plate's own frame, set by
# its corners as a lab's plates are, has x backward, y left and z down, and its
# channels hold the ground reaction in it: Fx = -fy, Fy = -fx, Fz = -fz (a lab's files
# read the same way: Dorn et al.'s). A reader that turns the plate's frame into the
# lab's (ezc3d, Mokka) gives the ground reaction, Z up; one that reads the channels
# alone, minus them (as `stridesync replay` does).
C3D_CHANNELS = (("fy", -1.0), ("fx", -1.0), ("fz", -1.0))


async def force_c3d(store: Store, session: Session, streams: list[SessionStream]) -> bytes:
    """The session's force plates as one C3D file: analog channels Fx Fy Fz Mx My Mz per
    plate (type 2; the ground reaction in the plate's own frame, N, C3D_CHANNELS; moments not
    measured: zero), 1 kHz from the session's start, the plates in a row along X by
    their index. Gaps are zeros."""
    plates = []
    for st in streams:
        if st.info["kind"] not in ("force_3axis", "force_vertical"):
            continue
        parts = [b async for b in raw_blocks(store, session.id, st)]
        if parts:
            plates.append((st, parts))
    if not plates:
        raise ValueError("the session has no force data")
    end = max(parts[-1][2][-1] for _, parts in plates) - session.clock_origin_s
    if end > C3D_MAX_S:
        raise ValueError(
            f"{end / 60:.0f} minutes of force data: C3D exports hold at most"
            f" {C3D_MAX_S / 60:.0f} (use CSV or Parquet per stream)"
        )
    return await asyncio.to_thread(_c3d_bytes, session.clock_origin_s, end, plates)


def _add_param(group, name: str, desc: str, values: np.ndarray) -> None:
    """A numeric parameter whose C-order array (last axis fastest) is written with
    the C3D's Fortran-order dimensions (first fastest), as C3D readers expect."""
    group.add_param(
        name,
        desc=desc,
        bytes_per_element=values.dtype.itemsize,
        bytes=values.tobytes(),
        dimensions=list(values.shape[::-1]),
    )


def _c3d_bytes(origin: float, end: float, plates) -> bytes:
    import c3d

    n = int(np.ceil((end + 1.0 / C3D_RATE) * C3D_RATE / C3D_PER_FRAME)) * C3D_PER_FRAME
    grid = np.arange(n) / C3D_RATE
    analog = np.zeros((6 * len(plates), n), dtype=np.float32)
    index = []
    for p, (st, parts) in enumerate(plates):
        labels = [c["channel"] for c in st.info["channels"]]
        t = np.concatenate([part[2] for part in parts]) - origin
        v = np.concatenate([part[3] for part in parts])
        # Samples more than two periods apart are a gap (a pulled cable): zeros there.
        period = 1.0 / st.info["sample_rate_hz"]
        right = np.searchsorted(t, grid).clip(1, len(t) - 1)
        covered = (grid >= t[0]) & (grid <= t[-1]) & (t[right] - t[right - 1] <= 2 * period)
        for axis, (name, sign) in enumerate(C3D_CHANNELS):
            if name in labels:
                col = v[:, labels.index(name)]
                analog[6 * p + axis, covered] = sign * np.interp(grid[covered], t, col)
        index.append(st.info.get("index", p))
    w = c3d.Writer(point_rate=C3D_RATE / C3D_PER_FRAME, analog_rate=C3D_RATE)
    w.set_analog_labels(
        [f"{c}{p + 1}" for p in range(len(plates)) for c in ("Fx", "Fy", "Fz", "Mx", "My", "Mz")]
    )
    # A scale, an offset and a unit per channel, as the C3D standard has them (the
    # values are floats in newtons: scale 1, offset 0). Readers index SCALE by
    # channel: without them ezc3d 1.7 crashes on the file.
    w.set_analog_scales([1.0] * analog.shape[0])
    w.set_analog_offsets([0] * analog.shape[0])
    units, width = c3d.Writer.pack_labels(["N", "N", "N", "Nmm", "Nmm", "Nmm"] * len(plates))
    w.analog_group.add_str("UNITS", "analog units", units, width, analog.shape[0])
    g = w.add_group(20, "FORCE_PLATFORM", "force plates")
    g.add("USED", "number of plates", 2, "<h", len(plates))
    size_x, size_y = 900.0, 600.0  # mm; the running direction is +x
    corners = [  # from the back left, clockwise seen from above: the plate's z is down
        [[size_x * (i + dx), size_y * dy, 0.0] for dx, dy in ((0, 1), (1, 1), (1, 0), (0, 0))]
        for i in index
    ]
    # Parameter arrays have their dimensions in Fortran order (the first the fastest):
    # CHANNEL is 6 × plates, CORNERS 3 × 4 × plates, ORIGIN 3 × plates.
    _add_param(g, "TYPE", "type 2: Fx Fy Fz Mx My Mz", np.full(len(plates), 2, np.int16))
    channel = np.arange(1, 6 * len(plates) + 1, dtype=np.int16).reshape(len(plates), 6)
    _add_param(g, "CHANNEL", "analog channel of each plate's outputs", channel)
    _add_param(g, "CORNERS", "plate corners, mm", np.array(corners, np.float32))
    # The plate's origin (its sensor) below the surface's centre, here at it: the
    # moments are not measured, so the centre of pressure is not given either.
    _add_param(g, "ORIGIN", "plate origins, mm", np.zeros((len(plates), 3), np.float32))
    empty = np.zeros((0, 5), dtype=np.float32)
    w.add_frames([(empty, analog[:, k : k + C3D_PER_FRAME]) for k in range(0, n, C3D_PER_FRAME)])
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()
