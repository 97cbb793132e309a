"""A cue as it goes out: to the dashboard (websocket) and the athlete's device (MQTT).

The fields are the contract of docs/cues.md; the MQTT copy adds the payload
version (`stridesync_cue.contract.PAYLOAD_VERSION`).
"""

from __future__ import annotations

import time


def cue_payload(cue: dict, event: dict, session_id: int, athlete_id: int, number: int) -> dict:
    """`cue` from CueMaker for `event` (a step or a rep, host-monotonic times), the
    session's `number`-th cue; its times on the wall clock the cue device shares."""
    now_unix, now = time.time(), time.monotonic()
    is_step = event["type"] == "step"
    event_s = event.get("to_time_s") if is_step else event.get("end_s")
    event_unix = now_unix - (now - event_s) if event_s is not None else now_unix
    return {
        "id": f"{session_id}-{number}",
        "athlete_id": athlete_id,
        "session_id": session_id,
        "step": event.get("n") if is_step else None,
        "rep": event.get("rep"),
        "kind": cue["kind"],
        "sound": cue["sound"],
        "text": cue["text"],
        "event_unix": event_unix,
        "sent_unix": now_unix,
        "expires_unix": now_unix + cue["expiry_s"],
    }
