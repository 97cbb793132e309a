"""The live side: status, websocket tickets and the websocket itself."""

from __future__ import annotations

from fastapi import APIRouter, Request, WebSocket

from .. import auth, schemas
from ..live import Live
from .deps import LiveDep, Viewer

router = APIRouter(tags=["live"])


@router.get("/api/status")
async def status(live: LiveDep, _: Viewer):
    """Devices, the session under way, storage and clients: as the websocket's status."""
    return live.status()


@router.post("/api/ws-ticket", response_model=schemas.Ticket)
async def ws_ticket(request: Request, role: Viewer):
    """A one-time ticket for /ws/live?ticket=..., for browsers (no headers on websockets)."""
    a: auth.Auth = request.app.state.auth
    return {"ticket": a.issue_ticket(role), "expires_in_s": a.ttl_s, "role": role}


@router.websocket("/ws/live")
async def ws_live(ws: WebSocket, ticket: str | None = None):
    a: auth.Auth = ws.app.state.auth
    if not a.origin_ok(ws.headers.get("origin"), ws.headers.get("host"), ws.url.scheme):
        await ws.close(code=1008, reason="origin not allowed")
        return
    token = None
    header = ws.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
    role = a.role(token) if token else a.redeem(ticket)
    if role is None or role == "node":  # a lane's token only uploads
        await ws.close(code=1008, reason="a valid token or ticket is required")
        return
    await ws.accept()
    live: Live = ws.app.state.live
    peer = f"{ws.client.host}:{ws.client.port}" if ws.client else "?"
    await live.hub.serve(ws, peer, hello=live.hello(role))
