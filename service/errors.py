"""The errors the service's parts raise for the API to answer: one class per HTTP answer.

The store, the recorder and the live pipeline know nothing of HTTP; the app
(service/api/app.py) turns each of these into its status and a one-line detail.
"""

from firmware_bridge.errors import StridesyncError


class NotFound(StridesyncError, LookupError):
    """No such athlete, session or stream (404)."""


class Conflict(StridesyncError):
    """The request does not fit the state: a session already recording... (409)."""


class Invalid(StridesyncError, ValueError):
    """Well-formed but not usable: too few steps for a baseline... (422)."""
