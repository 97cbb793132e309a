"""Heavy requests, one at a time in the order they came: a rescore (the engine over a
whole session's raw samples) and an athlete's report (the squad's statistics and a
PDF). Each runs beside the live engine, in this process; eight at once took the API
to 6.4 s and made the live engine shed its trace (issue 31). Queued, a viewer's
eighth rescore waits for the seven before it, and the live session feels one."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import Request

AT_ONCE = 1


def slots() -> asyncio.Semaphore:
    return asyncio.Semaphore(AT_ONCE)


@contextlib.asynccontextmanager
async def one_at_a_time(request: Request):
    """Wait for the heavy-request slot (FIFO), hold it for the block."""
    async with request.app.state.heavy:
        yield
