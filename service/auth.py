"""Access: an admin token changes things, a viewer token only looks.

Tokens are 256-bit random strings; the service keeps only their SHA-256
(config `auth.*_token_hashes`, or the plain STRIDESYNC_TOKEN / --token of
the demo, hashed at start). HTTP clients send ``Authorization: Bearer``.
A browser cannot set that header on a websocket, so the dashboard trades its
token for a one-time ticket (`POST /api/ws-ticket`, valid `ticket_ttl_s`)
and opens ``/ws/live?ticket=...``. The websocket's Origin must be the page's
own or listed in `server.allowed_origins`; otherwise it is closed with 1008
before it is accepted.
"""

from __future__ import annotations

import hmac
import secrets
import time
from typing import Literal
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .config import Settings, hash_token

Role = Literal["admin", "viewer", "node"]  # node: a club lane, uploading (docs/club.md)
NEED_TOKEN = "a valid token is required (Authorization: Bearer TOKEN)"
_bearer = HTTPBearer(auto_error=False, description="an admin or viewer token")


class Auth:
    def __init__(self, settings: Settings) -> None:
        self._hashes: list[tuple[str, Role]] = [
            (h, "admin") for h in settings.auth.admin_token_hashes
        ] + [(h, "viewer") for h in settings.auth.viewer_token_hashes]
        if settings.token is not None:
            self._hashes.append((hash_token(settings.token.get_secret_value()), "admin"))
        self._nodes = [(h, node) for node, h in settings.club.node_token_hashes.items()]
        self.ttl_s = settings.auth.ticket_ttl_s
        self.allowed_origins = {o.rstrip("/") for o in settings.server.allowed_origins}
        self._tickets: dict[str, tuple[Role, float]] = {}

    @property
    def configured(self) -> bool:
        return bool(self._hashes)

    def role(self, token: str | None) -> Role | None:
        if not token:
            return None
        h = hash_token(token)
        role = None
        for known, r in self._hashes:  # compare every one, in constant time
            if hmac.compare_digest(known, h) and (role is None or r == "admin"):
                role = r
        if role is None and self.node(token) is not None:
            role = "node"
        return role

    def node(self, token: str | None) -> str | None:
        """The club lane whose token this is (the centre's `club.node_token_hashes`)."""
        if not token:
            return None
        h, found = hash_token(token), None
        for known, node in self._nodes:
            if hmac.compare_digest(known, h):
                found = node
        return found

    def issue_ticket(self, role: Role) -> str:
        now = time.monotonic()
        self._tickets = {k: v for k, v in self._tickets.items() if v[1] > now}
        ticket = secrets.token_urlsafe(24)
        self._tickets[ticket] = (role, now + self.ttl_s)
        return ticket

    def redeem(self, ticket: str | None) -> Role | None:
        """A ticket works once, before it expires."""
        if not ticket:
            return None
        entry = self._tickets.pop(ticket, None)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def origin_ok(self, origin: str | None, host: str | None, scheme: str = "ws") -> bool:
        """No Origin: not a browser (a script, a test). Else the same origin (scheme,
        host and port: a page at https://pi is not the service at http://pi) or an
        allowed one."""
        if origin is None:
            return True
        origin = origin.rstrip("/")
        if origin in self.allowed_origins:
            return True
        page = urlsplit(origin)
        own_scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
        return host is not None and page.scheme == own_scheme and page.netloc == host


async def _credentials(request: Request) -> str | None:
    cred: HTTPAuthorizationCredentials | None = await _bearer(request)
    return cred.credentials if cred else None


def _require(request: Request, token: str | None, need: Role) -> Role:
    auth: Auth = request.app.state.auth
    role = auth.role(token)
    if role is None:
        raise HTTPException(
            401,
            NEED_TOKEN,
            headers={"WWW-Authenticate": "Bearer"},
        )
    if role == "node":
        raise HTTPException(403, "a lane's token only uploads to /api/club (docs/club.md)")
    if need == "admin" and role != "admin":
        raise HTTPException(403, "this token can only read (a viewer token)")
    return role


async def lane(request: Request) -> str:
    """The club lane a request comes from, by its token; 401 for any other."""
    node = request.app.state.auth.node(await _credentials(request))
    if node is None:
        raise HTTPException(
            401, "a lane's token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    return node


async def viewer(request: Request) -> Role:
    return _require(request, await _credentials(request), "viewer")


async def admin(request: Request) -> Role:
    return _require(request, await _credentials(request), "admin")
