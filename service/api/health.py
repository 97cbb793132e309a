"""Health and metrics: for systemd's watchdog, the installer's check and Prometheus."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from .. import metrics
from ..live import Live
from ..store import Store
from .deps import LiveDep, StoreDep

router = APIRouter(tags=["service"])


@router.get("/healthz")
async def healthz(request: Request, store: StoreDep, live: LiveDep):
    """Each component's health; 503 when one is failing."""
    parts = {
        "database": await _database(store),
        "storage": live.storage_health(),
        "bridge": _bridge(live),
        "engine": _engine(live),
        "websocket": {"ok": True, "clients": len(live.hub.clients)},
    }
    if live.mqtt is not None:
        parts["mqtt"] = live.mqtt.health()
    club = request.app.state.club  # a club's centre, or a lane's uploader (docs/club.md)
    if club is not None:
        parts["club"] = club.health()
    # Without its database the service cannot do its job (503); without the broker
    # only the cues stop: reported, not failing.
    ok = parts["database"]["ok"] and parts["storage"]["ok"]
    if parts["storage"]["behind"]:  # stored late, but stored: degraded, not failing
        parts["storage"] = dict(parts["storage"], ok=False)
    degraded = [k for k, p in parts.items() if not p["ok"]]
    status = "failing" if not ok else ("degraded" if degraded else "ok")
    return JSONResponse(
        {"ok": ok, "status": status, "degraded": degraded, "components": parts},
        status_code=200 if ok else 503,
    )


@router.get("/metrics", response_class=Response)
async def prometheus(request: Request):
    """Prometheus text format."""
    return Response(metrics.render(request.app.state.registry), media_type=metrics.CONTENT_TYPE)


async def _database(store: Store) -> dict:
    try:
        await store.ping()
    except Exception as exc:
        return {"ok": False, "error": str(exc).splitlines()[0]}
    return {"ok": True}


def _bridge(live: Live) -> dict:
    stats = live.bridge.stats()
    return {"ok": True, "devices": len(stats), "connected": sum(s.connected for s in stats)}


def _engine(live: Live) -> dict:
    return {
        "ok": not live.overloaded,
        "recording": live.recording is not None,
        "lag_s": round(live.counters.engine_lag_s, 4),
        "overloaded": live.overloaded,
        "peak_lag_s": round(live.peak_lag_s, 4),
        "overloads": live.counters.overloads,
        "held_s": round(live.held_s(), 3),
    }
