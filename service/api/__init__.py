"""The HTTP face of the service: REST under /api, the live websocket, health, the dashboard.

`app.py` builds the app; `deps.py` gives handlers the store, the live pipeline and
the caller's role; one router per resource. Reference: docs/api.md, and /docs on a
running service (OpenAPI).
"""

from .app import create_app
from .site import DASHBOARD

__all__ = ["DASHBOARD", "create_app"]
