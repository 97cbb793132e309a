"""The step engine: pure computation, sample blocks in, events out."""

from .engine import MODEL_VERSION, STEP_KEYS, AthleteInfo, Engine, EngineConfig
from .force import ForceContact, ForceContactDetector, ForceDetectorConfig
from .profile import SprintProfile, sprint_profile, sprint_window

__all__ = [
    "MODEL_VERSION",
    "STEP_KEYS",
    "AthleteInfo",
    "Engine",
    "EngineConfig",
    "ForceContact",
    "ForceContactDetector",
    "ForceDetectorConfig",
    "SprintProfile",
    "sprint_profile",
    "sprint_window",
]
