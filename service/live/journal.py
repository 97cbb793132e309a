"""The training session's last messages, for a page that joins late (backfill).

A tablet that opens the dashboard mid-session, or reconnects after the Wi-Fi
dropped, gets them in its websocket hello and replays them through the same
handler as live messages, so that it shows what a page that was there from
the start shows: the steps table, the light, the reps, the last cue.
"""

from __future__ import annotations

from collections import deque

KINDS = frozenset({"step", "steps_confirmed", "steps_retracted", "rep", "mark", "cue"})
MESSAGES = 300  # the page keeps 12 step rows, 20 steps of asymmetry, 8 reps: ample


class Journal:
    def __init__(self, size: int = MESSAGES) -> None:
        self.messages: deque[dict] = deque(maxlen=size)

    def clear(self) -> None:
        self.messages.clear()

    def note(self, msg: dict) -> None:
        """A hub listener: every message published passes here."""
        if msg.get("type") in KINDS:
            self.messages.append(msg)

    def snapshot(self, kept_steps: int) -> dict:
        """The messages in order, and how many steps the session keeps in all."""
        return {"messages": list(self.messages), "steps": kept_steps}
