"""Storage: athletes, sessions, steps, reps and raw samples (SQLite or PostgreSQL)."""

from . import queries
from .db import Store, error
from .models import Athlete, Base, Mark, RawChunk, Rep, Session, SessionStream, Step

__all__ = [
    "Athlete",
    "Base",
    "Mark",
    "RawChunk",
    "Rep",
    "Session",
    "SessionStream",
    "Step",
    "Store",
    "error",
    "queries",
]
