"""The training session's last messages, for a page that joins late (backfill).

A tablet that opens the dashboard mid-session, or reconnects after the Wi-Fi
dropped, gets them in its websocket hello and replays them through the same
handler as live messages, so that it shows what a page that was there from
the start shows: the steps table, the light, the reps, the last cue.

Each message is kept as its JSON, encoded once as it passes, and the hello is
spliced together from them (hub.encode): 0.2-0.3 ms of the event loop for the
165 messages (190 KB) of two minutes of the standard rig, where encoding them
again cost 11-22 ms here, which every step and cue waited for each time a
tablet joined or reconnected (5-10 times that on a Pi 4, an estimate).
"""

from __future__ import annotations

import json
from collections import deque

from ..hub import clean

KINDS = frozenset({"step", "steps_confirmed", "steps_retracted", "rep", "mark", "cue"})
MESSAGES = 300  # the page keeps 12 step rows, 20 steps of asymmetry, 8 reps: ample


class Journal:
    def __init__(self, size: int = MESSAGES) -> None:
        self.messages: deque[str] = deque(maxlen=size)  # each one's JSON

    def clear(self) -> None:
        self.messages.clear()

    def note(self, msg: dict) -> None:
        """A hub listener: every message published passes here."""
        if msg.get("type") in KINDS:
            self.messages.append(json.dumps(clean(msg)))

    def snapshot_json(self, kept_steps: int) -> str:
        """{"messages": [...], "steps": n}: the messages in order, and how many steps
        the session keeps in all."""
        return f'{{"messages": [{", ".join(self.messages)}], "steps": {int(kept_steps)}}}'
