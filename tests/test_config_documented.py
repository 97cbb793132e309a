"""Every setting of every detector and of the engine says what it is and why.

As gaitmap's parameter-documentation check: a field of a config dataclass needs
a comment on its line or on the line directly above it, or its name in
backquotes in the class's docstring.
"""

import dataclasses
import inspect
import io
import tokenize

import pytest

from service.engine.force import ForceDetectorConfig
from service.engine.fusion import FusionConfig
from service.engine.imu import ShankDetectorConfig
from service.engine.scoring import ScoringConfig
from service.engine.segments import SegmentConfig
from service.engine.settings import EngineConfig

CONFIGS = [
    EngineConfig,
    ForceDetectorConfig,
    ShankDetectorConfig,
    ScoringConfig,
    FusionConfig,
    SegmentConfig,
]


def undocumented(cls) -> list[str]:
    source = inspect.getsource(cls)
    lines = source.splitlines()
    comments = {tok.start[0] for tok in tokenize.generate_tokens(io.StringIO(source).readline)
                if tok.type == tokenize.COMMENT}  # fmt: skip
    doc = cls.__doc__ or ""
    missing = []
    for f in dataclasses.fields(cls):
        row = next(i for i, line in enumerate(lines, 1) if line.strip().startswith(f"{f.name}:"))
        comment_above = row > 1 and lines[row - 2].strip().startswith("#")
        if row in comments or comment_above or f"`{f.name}`" in doc:
            continue
        missing.append(f.name)
    return missing


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_every_config_field_is_documented(cls):
    assert undocumented(cls) == []


def test_the_check_finds_an_undocumented_field():
    @dataclasses.dataclass
    class Bare:
        documented: float = 1.0  # like this
        bare: float = 2.0

    assert undocumented(Bare) == ["bare"]
