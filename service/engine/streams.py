"""How far each stream has got, in data time: the engine's watermarks.

A step is finished only when every stream it needs has passed the time it
needs. A stream silent for `stale_s` of data time (or unplugged: `pause`)
counts as missing rather than waited for, and an event stream's silence is a
gap in what it saw, as its lost samples will show once they are counted. So
the engine's output depends on the samples and their times only, never on how
blocks were cut or how the streams interleaved (tests/test_lost_samples.py).
"""

from __future__ import annotations

import math

from .events import known


class Watermarks:
    def __init__(self, stale_s: float, contact_span_s: float) -> None:
        self.stale_s = stale_s
        self.contact_span_s = contact_span_s  # a detector needs this long after a gap
        self.latest: dict[tuple, tuple[str, float]] = {}  # stream -> (role, newest time)
        self.t0: float | None = None  # the first sample time seen
        self.newest = -math.inf  # the newest sample time of any stream
        self.block_s = 0.0  # the longest block seen: how far streams may lag each other
        # Stretches an event stream lost (sequence gaps: a busy host, a pulled cable):
        # no step seen there says nothing about the athlete standing still.
        self.gaps: list[tuple[float, float]] = []
        self.gone: set[tuple] = set()  # streams of devices unplugged, until they send again
        self.floor: dict[str, float] = {}  # per role, the stream furthest behind (at settle)
        self.floor_all = -math.inf
        self._roles: set[str] = set()  # the roles of the streams in `latest` ...
        self._roles_of = 0  # ... when it had this many
        # Whether a floor may have moved since the last settle: a stream at or below
        # its role's floor moved, or one came, went or came back (issue 28: most
        # blocks move a stream that is ahead of its role's floor, and settle is skipped).
        self._unsettled = True

    def expect(self, key: tuple, role: str) -> None:
        if key not in self.latest:
            self.latest[key] = (role, -math.inf)
            self._unsettled = True

    def pause(self, device_id: int) -> None:
        self.gone |= {k for k in self.latest if k[0] == device_id}
        self._unsettled = True

    def note(self, key, role, start, end, rate_hz, lost_before) -> tuple[float, bool]:
        """A block came: (the stream's time before it, whether it changes more than its
        own time: the first block, a stream back, samples lost before it)."""
        news = self.t0 is None
        if news:
            self.t0 = start
        span = end - start + 1.0 / rate_hz
        if span > self.block_s:
            self.block_s = span
        before = self.latest.get(key, (role, -math.inf))[1]
        self.latest[key] = (role, end)
        floor = self.floor.get(role, math.inf)
        if before <= floor or end < floor:
            self._unsettled = True
        if end > self.newest:
            self.newest = end
        if key in self.gone:
            self.gone.discard(key)
            news = self._unsettled = True
        if lost_before and role == "events":
            lost_s = (lost_before + 1) / rate_hz
            self.gaps.append((start - lost_s, start + self.contact_span_s))
            news = True
        return before, news

    def still_behind(self, role: str, before: float) -> bool:
        """Whether a stream of this role, at `before` until now, was not the last of its
        role at the last settle and none may have gone stale: no watermark moved."""
        return before > self.floor.get(role, math.inf) and (
            self.newest - self.floor_all <= self.stale_s
        )

    def settle(self) -> None:
        """The per-role floors, from which the watermarks are read until the next block
        (recomputed only when one may have moved: the same floors either way)."""
        if not self._unsettled:
            return
        self._unsettled = False
        floor: dict[str, float] = {}
        for key, (role, t) in self.latest.items():
            if key not in self.gone and t < floor.get(role, math.inf):
                floor[role] = t
        self.floor, self.floor_all = floor, min(floor.values(), default=-math.inf)

    def of(self, roles: tuple[str, ...]) -> float:
        """How far every live stream of these roles has got (inf when there is none)."""
        if not self.latest or self.t0 is None:
            return math.inf
        if self.floor_all >= self.newest - self.stale_s:  # none missing: the floors say it
            floor = self.floor
            if len(roles) == 1:
                return floor.get(roles[0], math.inf)
            return min([floor[r] for r in roles if r in floor], default=math.inf)
        return min(self._live(roles).values(), default=math.inf)

    def _live(self, roles: tuple[str, ...]) -> dict[tuple, float]:
        """The streams of these roles waited for, and how far each has got. Streams lag
        each other by up to a block: only further behind is one missing. A declared
        stream that has sent nothing yet counts from the first sample seen."""
        stale, t0 = max(self.stale_s, 2.0 * self.block_s), known(self.t0)
        times = {
            key: max(t, t0)
            for key, (role, t) in self.latest.items()
            if role in roles and key not in self.gone
        }
        return {key: t for key, t in times.items() if t >= self.newest - stale}

    def reports_from(self, bounds: dict[tuple, float]) -> float:
        """The earliest IC any event stream waited for may still report: its detector's
        bound (`bounds`), or its time where it has none."""
        if not self.latest or self.t0 is None:
            return math.inf
        live = self._live(("events",))
        return min((min(t, bounds.get(key, t)) for key, t in live.items()), default=math.inf)

    def quiet_from(self, since_s: float, until_s: float) -> float:
        """Where an observed stretch without steps, ending at `until_s`, begins: at
        `since_s`, or after the last data gap of an event stream within it."""
        ends = [b for a, b in self.gaps if a < until_s and b > since_s]
        # An event stream silent since before `until_s` (behind by stale_s, or gone) may
        # have missed contacts: a gap from its last sample, as its lost samples will show
        # when it comes back; silent for stale_s, the rig goes on without it.
        silent = [t + self.stale_s for r, t in self.latest.values() if r == "events"]
        ends += [b for b in silent if -math.inf < b - self.stale_s < until_s and b > since_s]
        return max([since_s, *ends])

    def has(self, role: str) -> bool:
        if len(self.latest) != self._roles_of:  # (a stream came: count the roles again)
            self._roles = {r for r, _ in self.latest.values()}
            self._roles_of = len(self.latest)
        return role in self._roles

    def prune(self, keep_s: float, still_s: float) -> None:
        self.gaps = [g for g in self.gaps if g[1] >= keep_s - still_s]
