"""One time base for whoever reads a session: seconds since the session started.

The engine and the bridge run on the host's monotonic clock; every step, rep and
mark leaves the service (REST, websocket, MQTT, exports, rescore) with its times
counted from the session's start (`clock_origin_s`), so that the same step has
the same `ic_time_s` wherever it is read. Wall-clock timestamps are ISO 8601 in
UTC with their offset (`Z`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

ABSOLUTE = ("ic_time_s", "to_time_s", "start_s", "end_s", "time_s")  # host-monotonic fields


def relative(event: Mapping, origin_s: float) -> dict:
    """The event with its times in seconds since the session started (to the µs)."""
    out = dict(event)
    for k in ABSOLUTE:
        if out.get(k) is not None:
            out[k] = round(out[k] - origin_s, 6)
    return out


def absolute(event: Mapping, origin_s: float) -> dict:
    """The inverse of `relative`: times back on the host's clock (a club's centre
    stores a lane's live steps as the lane stores them)."""
    out = dict(event)
    for k in ABSOLUTE:
        if out.get(k) is not None:
            out[k] = out[k] + origin_s
    return out


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC, written as the API's schemas write it (`...T22:20:05.123Z`)."""
    if moment is None:
        return None
    if moment.tzinfo is None:  # stored without a zone: UTC (service/store/models.py)
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
