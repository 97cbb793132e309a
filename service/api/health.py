"""Health and metrics: for systemd's watchdog, the installer's check and Prometheus."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from .. import metrics
from ..live import Live
from ..store import Store

router = APIRouter(tags=["service"])


@router.get("/healthz")
async def healthz(request: Request):
    """Each component's health (service/components.py); 503 when one is failing."""
    parts = await request.app.state.components.health()
    # Without its database the service cannot do its job (503); without the broker
    # only the cues stop: reported, not failing.
    # (A part missing here is a component whose own health failed: failing too.)
    ok = parts.get("database", {}).get("ok", False) and parts.get("storage", {}).get("ok", False)
    if parts.get("storage", {}).get("behind"):  # stored late, but stored: degraded
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


# --- each component's parts of /healthz (app.py's registry) ---------------------------


def database(store: Store):
    async def parts() -> dict[str, dict]:
        try:
            await store.ping()
        except Exception as exc:
            return {"database": {"ok": False, "error": str(exc).splitlines()[0]}}
        return {"database": {"ok": True}}

    return parts


def one(name: str, health: Callable[[], dict]):
    """A component whose health is one part, under `name` (the hub: "websocket"; the
    broker: "mqtt"; a club's centre or a lane's uploader: "club", docs/club.md)."""

    async def parts() -> dict[str, dict]:
        return {name: health()}

    return parts


def live(pipeline: Live):
    async def parts() -> dict[str, dict]:
        return pipeline.health()

    return parts
