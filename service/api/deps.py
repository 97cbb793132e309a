"""What a handler may ask for: the store, the live pipeline, the caller's role, an id."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi import Path as PathParam

from .. import auth
from ..live import Live
from ..store import Store


def _store(request: Request) -> Store:
    return request.app.state.store


def _live(request: Request) -> Live:
    return request.app.state.live


StoreDep = Annotated[Store, Depends(_store)]
LiveDep = Annotated[Live, Depends(_live)]
Viewer = Annotated[auth.Role, Depends(auth.viewer)]  # any valid token
Admin = Annotated[auth.Role, Depends(auth.admin)]  # an admin token
Id = Annotated[int, PathParam(ge=1, le=2**31 - 1, description="the id (athlete or session)")]
Offset = Annotated[int, Query(ge=0, le=2**31 - 1, description="rows to skip (paging)")]


def limit(most: int):
    """A page size query parameter of at most `most` rows."""
    return Annotated[int, Query(ge=1, le=most, description=f"rows to return (at most {most})")]
