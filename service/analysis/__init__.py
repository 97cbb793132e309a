"""Is the training working? Pure computations over stored reps: a rep's splits, and an
athlete's measures over weeks against their noise (docs/progress.md)."""

from .progress import Change, assess_change, smallest_worthwhile_change, typical_error
from .splits import SPLIT_MARKS_M, Split, splits_from_speed

__all__ = [
    "SPLIT_MARKS_M",
    "Change",
    "Split",
    "assess_change",
    "smallest_worthwhile_change",
    "splits_from_speed",
    "typical_error",
]
