"""Exports of a stored session: steps, reps or raw samples as CSV or Parquet, the whole
session as JSON, the force plates as C3D. Times are seconds since the session started."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse

from .. import export, schemas
from ..errors import Invalid
from ..store import Session, SessionStream, Store, queries
from ..timebase import iso
from .deps import Id, StoreDep, Viewer
from .sessions import session_detail

router = APIRouter(tags=["exports"])
CSV, JSON, PARQUET, BINARY = (
    "text/csv",
    "application/json",
    "application/vnd.apache.parquet",
    ("application/octet-stream"),
)
Format = Literal["csv", "json", "parquet", "c3d"]
Table = Literal["steps", "reps", "raw", "session"]


@router.get(
    "/api/sessions/{session_id}/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {CSV: {}, JSON: {}, PARQUET: {}, BINARY: {}},
            "description": "the export, streamed",
        },
        404: {"model": schemas.Problem},
    },
)
async def export_session(
    store: StoreDep,
    session_id: Id,
    _: Viewer,
    format: Annotated[Format, Query(description="csv, json, parquet or c3d")] = "csv",
    table: Annotated[
        Table, Query(description="steps, reps, raw (one stream) or session (JSON)")
    ] = "steps",
    stream: Annotated[
        str | None,
        Query(
            max_length=80,
            description="for table=raw: the device's name (plate-0), NAME:STREAM or"
            " DEVICE:STREAM (the stream's key in the session's detail)",
        ),
    ] = None,
):
    """Steps, reps or one stream's raw samples as CSV or Parquet; the whole session as JSON;
    the force plates as C3D (format=c3d, table=raw).

    Times are seconds since the session started."""
    row = await queries.session(store, session_id)
    if format == "json":
        return await _whole_session(store, row, table)
    if table == "session":
        raise Invalid("table=session exports as JSON (format=json)")
    if format == "c3d":
        return await _force_c3d(store, row, table)
    if format == "parquet" and not export.parquet_available():
        raise Invalid("Parquet export needs the parquet extra: pip install 'stridesync[parquet]'")
    if table == "raw":
        return await _raw(store, row, format, stream)
    return _table(store, row, format, table)


def _name(row: Session) -> str:
    return f"stridesync-session-{row.id}"


async def _whole_session(store: Store, row: Session, table: str) -> StreamingResponse:
    if table not in ("session", "steps"):
        raise Invalid("JSON exports the whole session (table=session)")
    detail = await session_detail(store, row.id)
    doc = {"format": "stridesync-session", "version": 1, "session": _jsonable(detail)}
    return _stream(export.session_json(store, row, doc), JSON, f"{_name(row)}.json")


async def _force_c3d(store: Store, row: Session, table: str) -> Response:
    if table != "raw":
        raise Invalid("C3D holds the force plates' raw samples: table=raw")
    streams = await queries.streams(store, row.id)
    try:
        data = await export.force_c3d(store, row, streams)
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    return Response(data, media_type=BINARY, headers=_attachment(f"{_name(row)}-force.c3d"))


async def _raw(store: Store, row: Session, format: str, key: str | None) -> StreamingResponse:
    st = await _stream_of(store, row.id, key)
    fname = f"{_name(row)}-{st.device_name}-{st.stream_id}"
    if format == "csv":
        return _stream(export.raw_csv(store, row, st), CSV, f"{fname}.csv")
    return _stream(export.raw_parquet(store, row, st), PARQUET, f"{fname}.parquet")


def _table(store: Store, row: Session, format: str, table: str) -> StreamingResponse:
    fname = f"{_name(row)}-{table}"
    if format == "csv":
        gen = export.steps_csv(store, row) if table == "steps" else export.reps_csv(store, row)
        return _stream(gen, CSV, f"{fname}.csv")
    rows, cols = (
        (export.step_rows(store, row), export.STEP_COLUMNS)
        if table == "steps"
        else (export.rep_rows(store, row), export.REP_COLUMNS)
    )
    return _stream(export.parquet(rows, cols), PARQUET, f"{fname}.parquet")


async def _stream_of(store: Store, session_id: int, key: str | None) -> SessionStream:
    """A stream by its key (DEVICE:STREAM), by NAME:STREAM, or by the device's name
    alone when the device has one stream (`plate-0`)."""
    streams = await queries.streams(store, session_id)
    names: dict[str, SessionStream] = {}
    for st in streams:
        names[f"{st.device_id}:{st.stream_id}"] = st
        names[f"{st.device_name}:{st.stream_id}"] = st
        if sum(o.device_name == st.device_name for o in streams) == 1:
            names[st.device_name] = st
    if key is None or key not in names:
        choices = (
            ", ".join(f"{st.device_name} ({st.device_id}:{st.stream_id})" for st in streams)
            or "none: the session has no raw samples"
        )
        raise Invalid(f"stream: choose one of the session's streams: {choices}")
    return names[key]


def _jsonable(d: dict) -> dict:
    return {k: (iso(v) if isinstance(v, datetime) else v) for k, v in d.items()}


def _attachment(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


def _stream(gen, media_type: str, filename: str) -> StreamingResponse:
    return StreamingResponse(gen, media_type=media_type, headers=_attachment(filename))
