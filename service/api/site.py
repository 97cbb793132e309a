"""The coach's dashboard and the offline API docs: files from the package (in the wheel)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse

DASHBOARD = Path(__file__).resolve().parent.parent / "dashboard"  # package data
VENDOR = "/dashboard/vendor/swagger-ui"

router = APIRouter(include_in_schema=False)


def _dashboard(request: Request) -> Path:
    return Path(request.app.state.settings.server.dashboard_dir or DASHBOARD)


def _page(request: Request, name: str):
    page = _dashboard(request) / name
    if not page.is_file():
        return JSONResponse({"detail": "no dashboard installed; the API is at /docs"}, 404)
    return FileResponse(page)


@router.get("/")
async def index(request: Request):
    return _page(request, "index.html")


@router.get("/club")
async def club(request: Request):
    """Every lane live side by side: the page of a club's centre (docs/club.md)."""
    return _page(request, "club.html")


@router.get("/dashboard/{path:path}")
async def static(request: Request, path: str):
    dash = _dashboard(request)
    try:  # a NUL byte or an over-long name is not a file either
        f = (dash / path).resolve()
        found = f.is_relative_to(dash.resolve()) and f.is_file()
    except (OSError, ValueError):
        found = False
    if not found:
        raise HTTPException(404, "not found")
    return FileResponse(f)


@router.get("/docs")
async def swagger_ui(request: Request):
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title="Stridesync API",
        swagger_js_url=f"{VENDOR}/swagger-ui-bundle.js",
        swagger_css_url=f"{VENDOR}/swagger-ui.css",
        swagger_favicon_url=f"{VENDOR}/favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None},  # no call to a public validator
    )
