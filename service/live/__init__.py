"""The live service's rooms: the pipeline (block → recording → publish), the storage
writer, the live trace, and the training session's row."""

from .counters import Counters
from .pipeline import Live
from .session import session_json

__all__ = ["Counters", "Live", "session_json"]
