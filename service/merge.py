"""Sample blocks of every stream, handed on in time order.

Each sensor arrives through its own serial port, and when the host falls
behind (a busy Pi) each port's kernel buffer holds a different stretch of
time: one stream's backlog can be read seconds ahead of another's. The
engine's results do not depend on how blocks are cut, but they do depend on
streams arriving roughly together: a stream far behind the others counts as
missing. So blocks wait here until every live stream has reached their end,
and the engine sees the streams in time order whatever the load, as a
re-score of the stored session does.

The engine itself tolerates streams a little apart (a stream is missing only
when it is `stale_s`, 0.5 s, behind the newest), so a block waits only when a
live stream is more than `slack_s` (a quarter of a second) behind its end:
in normal operation nothing waits here and no latency is added.

A stream is live from its first block until its device is reported
unplugged (the bridge's event, in host time: the only part of this that knows
about the link). A stream that stays behind for longer than `max_hold_s` of
data time (a sensor that stalled, cable still in) is not waited for any more:
the engine then goes on without it.
"""

from __future__ import annotations

import math
from collections import deque

from firmware_bridge.device import SampleBlock

Key = tuple[int, int]  # device id, stream id


class TimeMerge:
    def __init__(self, slack_s: float = 0.25, max_hold_s: float = 5.0) -> None:
        self.slack_s = slack_s
        self.max_hold_s = max_hold_s
        # Per stream: its held blocks with the time of each one's newest sample.
        self._queues: dict[Key, deque[tuple[float, SampleBlock]]] = {}
        self._released_to: dict[Key, float] = {}  # newest sample time handed on, per stream
        self._live: set[Key] = set()
        self.held_blocks = 0

    def push(self, block: SampleBlock) -> list[SampleBlock]:
        """One block in; the blocks that can now go on, in time order."""
        return self.push_many((block,))

    def push_many(self, blocks) -> list[SampleBlock]:
        """Blocks in (a tick's, any order); the blocks that can now go on, in time order."""
        queues = self._queues
        for block in blocks:
            key = (block.device_id, block.stream.stream_id)
            queue = queues.get(key)
            if queue is None:
                queue = queues[key] = deque()
                self._released_to[key] = -math.inf
            queue.append((float(block.time_s[-1]), block))
            self._live.add(key)
            self.held_blocks += 1
        return self._release()

    def pause(self, device_id: int) -> list[SampleBlock]:
        """The device went away: do not wait for its streams."""
        self._live -= {k for k in self._live if k[0] == device_id}
        return self._release()

    def flush(self) -> list[SampleBlock]:
        """Everything held, in time order (the session ends)."""
        out = []
        while self.held_blocks:
            out.append(self._pop(self._earliest()[1]))
        return out

    def held_s(self) -> float:
        """How much data time the earliest held block has waited for."""
        if not self.held_blocks:
            return 0.0
        newest = max(q[-1][0] for q in self._queues.values() if q)
        return newest - self._earliest()[0]

    def _earliest(self) -> tuple[float, Key]:
        # Ties by key: the order is the same in every process.
        return min((q[0][0], k) for k, q in self._queues.items() if q)

    def _pop(self, key: Key) -> SampleBlock:
        end, block = self._queues[key].popleft()
        self._released_to[key] = end
        self.held_blocks -= 1
        return block

    def _release(self) -> list[SampleBlock]:
        out = []
        queues, released_to = self._queues, self._released_to
        while self.held_blocks:
            end, key = self._earliest()
            # A live stream with nothing held may still bring samples before `end`.
            behind = end - self.slack_s
            if (
                any(released_to[k] < behind for k in self._live if k != key and not queues[k])
                and self.held_s() <= self.max_hold_s
            ):
                break
            out.append(self._pop(key))
        return out
