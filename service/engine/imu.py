"""Foot contacts from a shank gyroscope, as the samples arrive.

The sagittal angular velocity of a shank (gy of the segment frame in
docs/protocol.md: + when the foot swings forward) has one large positive peak
in mid-swing. Following Aminian et al. (2002) and, for sprinting on-board in
real time, Schmidt et al. (2016): initial contact is the first minimum after
the mid-swing peak; toe-off is the minimum that precedes the next swing. In
sprinting both are sharp minima (the leg's retraction is stopped at foot
strike; the push ends with the fastest backward rotation of the stance), so a
minimum is confirmed as soon as the signal has risen from it by a fraction
(`rise`) of the last swing peak: 5-20 ms after the event.

States, per shank: waiting for a swing peak (above `swing_min_deg_s`), then
for the IC minimum, then for the TO minimum, then for the next swing peak. A
contact whose TO minimum is not found within `max_contact_s` is dropped (the
athlete stopped). After lost samples the detector waits until the signal is out
of any swing, so that the next swing is seen whole. The signal is used as it
comes: the sensor's own anti-aliasing filter is enough at 1 kHz for these
events, and a filter here would delay confirmation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ShankDetectorConfig:
    swing_min_deg_s: float = 200.0  # a swing peak lower than this is not running
    rise: float = 0.05  # a minimum is confirmed when the signal rose this share of the peak
    min_contact_s: float = 0.06
    max_contact_s: float = 0.45
    peak_drop: float = 0.10  # a swing peak is confirmed when the signal fell this share

    def __post_init__(self) -> None:
        if not (0.01 <= self.rise <= 0.5 and 0.01 <= self.peak_drop <= 0.9):
            raise ValueError("rise and peak_drop must be shares between 0.01 and 0.5 / 0.9")


@dataclass(frozen=True)
class ShankContact:
    foot: str  # "left" or "right"
    ic_s: float
    to_s: float
    confirmed_s: float
    swing_peak_deg_s: float  # of the swing that ended at this contact
    swing_peak_s: float


@dataclass(frozen=True)
class SwingPeak:
    foot: str
    time_s: float
    value_deg_s: float
    confirmed_s: float


SEEK_SWING, SWINGING, SEEK_IC, SEEK_TO, AFTER_GAP = range(5)


class ShankEventDetector:
    def __init__(self, foot: str, config: ShankDetectorConfig) -> None:
        self.foot = foot
        self.cfg = config
        self._state = SEEK_SWING
        self._peak = 0.0
        self._peak_s = 0.0
        self._min = 0.0
        self._min_s = 0.0
        self._ic_s = 0.0
        self._risen = False  # after IC: the signal left the IC minimum
        self.last_swing: SwingPeak | None = None
        self.dropped = 0

    def lost(self) -> None:
        """Samples are missing: start again from the next whole swing (its peak may
        have been in the gap, so a swing under way is not one to trust)."""
        if self._state in (SEEK_IC, SEEK_TO):
            self.dropped += 1
        self._state = AFTER_GAP

    def feed(self, time_s: np.ndarray, gy: np.ndarray) -> list[ShankContact | SwingPeak]:
        out: list[ShankContact | SwingPeak] = []
        for t, g in zip(time_s.tolist(), gy.tolist(), strict=True):
            if g != g:  # NaN: a gap in the signal carries no event
                continue
            event = self._sample(t, g)
            if event is not None:
                out.append(event)
        return out

    def _sample(self, t: float, g: float):
        cfg = self.cfg
        state = self._state
        if state == AFTER_GAP:
            if g < cfg.swing_min_deg_s:  # out of any swing: the next one is seen whole
                self._state = SEEK_SWING
        elif state == SEEK_SWING:
            if g > cfg.swing_min_deg_s:
                self._state, self._peak, self._peak_s = SWINGING, g, t
        elif state == SWINGING:
            if g > self._peak:
                self._peak, self._peak_s = g, t
            elif g < self._peak * (1.0 - cfg.peak_drop):
                self._state, self._min, self._min_s = SEEK_IC, g, t
                self.last_swing = SwingPeak(self.foot, self._peak_s, self._peak, t)
                return self.last_swing
        elif state == SEEK_IC:
            if g < self._min:
                self._min, self._min_s = g, t
            elif self._min < 0 and g > self._min + cfg.rise * self._peak:
                self._state, self._ic_s = SEEK_TO, self._min_s
                self._min, self._min_s, self._risen = g, t, False
            elif t - self._peak_s > 1.0:  # no contact followed the swing
                self._state = SEEK_SWING
                self.dropped += 1
        else:  # SEEK_TO
            if g < self._min:
                self._min, self._min_s = g, t
            elif (
                g > self._min + cfg.rise * self._peak
                and self._min_s - self._ic_s >= cfg.min_contact_s
            ):
                return self._contact(t)
            if t - self._ic_s > cfg.max_contact_s:
                self._state = SEEK_SWING
                self.dropped += 1
        return None

    def _contact(self, t: float) -> ShankContact:
        self._state = SEEK_SWING
        return ShankContact(self.foot, self._ic_s, self._min_s, t, self._peak, self._peak_s)
