"""The step engine: pure computation, sample blocks in, events out."""

from .engine import AthleteInfo, Engine, EngineConfig
from .events import EXTRA_STEP_KEYS, STEP_KEYS
from .force import ForceContact, ForceContactDetector, ForceDetectorConfig
from .profile import SprintProfile, sprint_profile, sprint_window
from .reps import settled
from .scoring import MODEL_VERSION, Baseline, Scorer, ScoringConfig

__all__ = [
    "EXTRA_STEP_KEYS",
    "MODEL_VERSION",
    "STEP_KEYS",
    "AthleteInfo",
    "Baseline",
    "Engine",
    "EngineConfig",
    "ForceContact",
    "ForceContactDetector",
    "ForceDetectorConfig",
    "Scorer",
    "ScoringConfig",
    "SprintProfile",
    "settled",
    "sprint_profile",
    "sprint_window",
]
