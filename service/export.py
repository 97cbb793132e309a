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
from collections.abc import AsyncIterator

import numpy as np
from sqlalchemy import func, select

from .engine import EXTRA_STEP_KEYS, STEP_KEYS
from .engine.engine import PROFILE_KEYS
from .recorder import stream_from_json
from .store import Mark, RawChunk, Rep, Session, SessionStream, Step, Store, rawcodec

PAGE = 1000
RAW_PAGE = 40
STEP_COLUMNS = ("n", *STEP_KEYS[1:], *(k for k in EXTRA_STEP_KEYS))
REP_COLUMNS = (
    "rep",
    "start_s",
    "end_s",
    "steps",
    "aligned_steps",
    "min_contact_time_s",
    "main_limiter",
    *PROFILE_KEYS,
    "model_version",
)
ABSOLUTE = ("ic_time_s", "to_time_s", "start_s", "end_s")


def relative(d: dict, origin: float) -> dict:
    out = dict(d)
    for k in ABSOLUTE:
        if out.get(k) is not None:
            out[k] = round(out[k] - origin, 6)
    return out


async def steps(store: Store, session_id: int) -> AsyncIterator[dict]:
    last = 0
    while True:
        async with store.session() as s:
            rows = (
                await s.scalars(
                    select(Step)
                    .where(Step.session_id == session_id, Step.seq > last)
                    .order_by(Step.seq)
                    .limit(PAGE)
                )
            ).all()
        for r in rows:
            yield r.data
        if len(rows) < PAGE:
            return
        last = rows[-1].seq


async def reps(store: Store, session_id: int) -> list[dict]:
    async with store.session() as s:
        rows = await s.scalars(select(Rep).where(Rep.session_id == session_id).order_by(Rep.id))
        return [r.data for r in rows]


async def raw_blocks(
    store: Store, session_id: int, device_id: str, stream_id: int, info: dict
) -> AsyncIterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """(first sample, lost before, time_s, values) per stored chunk, in order."""
    stream = stream_from_json(info)
    scale, offset = stream.scales()
    last = 0
    while True:
        async with store.session() as s:
            rows = (
                await s.execute(
                    select(RawChunk.id, RawChunk.first_sample, RawChunk.lost_before, RawChunk.data)
                    .where(
                        RawChunk.session_id == session_id,
                        RawChunk.device_id == device_id,
                        RawChunk.stream_id == stream_id,
                        RawChunk.id > last,
                    )
                    .order_by(RawChunk.id)
                    .limit(RAW_PAGE)
                )
            ).all()
        decoded = await asyncio.to_thread(
            lambda rows=rows: [rawcodec.decode(r.data, scale, offset) for r in rows]
        )
        for r, (t, v) in zip(rows, decoded, strict=True):
            yield r.first_sample, r.lost_before, t, v
        if len(rows) < RAW_PAGE:
            return
        last = rows[-1].id


def _csv_line(values) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(
        "" if v is None else (repr(v) if isinstance(v, float) else v) for v in values
    )
    return buf.getvalue()


async def steps_csv(store: Store, session: Session) -> AsyncIterator[str]:
    yield _csv_line(STEP_COLUMNS)
    async for d in steps(store, session.id):
        d = relative(d, session.clock_origin_s)
        yield _csv_line(d.get(k) for k in STEP_COLUMNS)


async def reps_csv(store: Store, session: Session) -> AsyncIterator[str]:
    yield _csv_line(REP_COLUMNS)
    for d in await reps(store, session.id):
        d = relative(d, session.clock_origin_s)
        yield _csv_line(d.get(k) for k in REP_COLUMNS)


def raw_columns(info: dict) -> list[str]:
    return ["time_s", "sample", *(c["label"] for c in info["channels"])]


async def raw_csv(store: Store, session: Session, stream: SessionStream) -> AsyncIterator[str]:
    yield _csv_line(raw_columns(stream.info))
    origin = session.clock_origin_s
    async for first, _lost, t, v in raw_blocks(
        store, session.id, stream.device_id, stream.stream_id, stream.info
    ):
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
    yield json.dumps([relative(r, origin) for r in await reps(store, session.id)])
    async with store.session() as s:
        marks = (
            await s.scalars(select(Mark).where(Mark.session_id == session.id).order_by(Mark.id))
        ).all()
    yield ', "marks": ' + json.dumps(
        [{"time_s": round(m.time_s - origin, 6), "label": m.label} for m in marks]
    )
    yield ', "steps": ['
    first = True
    async for d in steps(store, session.id):
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


_TEXT = {"type", "foot", "limiter", "source", "model_version", "main_limiter"}
_INT = {"n", "rep", "steps", "aligned_steps"}


def _arrow_type(column: str):
    import pyarrow as pa

    if column in _TEXT:
        return pa.string()
    if column in _INT:
        return pa.int64()
    if column == "aligned":
        return pa.bool_()
    return pa.float64()


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
    async for d in steps(store, session.id):
        yield relative(d, session.clock_origin_s)


async def rep_rows(store: Store, session: Session) -> AsyncIterator[dict]:
    for d in await reps(store, session.id):
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
    async for first, _lost, t, v in raw_blocks(
        store, session.id, stream.device_id, stream.stream_id, stream.info
    ):
        arrays = [pa.array(t - session.clock_origin_s), pa.array(np.arange(first, first + len(t)))]
        arrays += [pa.array(v[:, i]) for i in range(v.shape[1])]
        writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
        yield sink.drain()
    writer.close()
    yield sink.drain()


async def raw_stats(store: Store, session_id: int) -> tuple[int, int]:
    async with store.session() as s:
        n, size = (
            await s.execute(
                select(
                    func.coalesce(func.sum(RawChunk.n), 0),
                    func.coalesce(func.sum(func.length(RawChunk.data)), 0),
                ).where(RawChunk.session_id == session_id)
            )
        ).one()
    return int(n), int(size)
