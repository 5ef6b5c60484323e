"""vcval: find the answer to a question inside a corpus of instructional videos."""
from __future__ import annotations

from vcval import _moved
from vcval.errors import (
    DuplicateVideoError,
    EmptyCorpusError,
    InvalidInputError,
    InvalidMediaError,
    NetworkError,
    NotFoundError,
    SubtitleError,
    VCVALError,
)
from vcval.types import Answer, Cue, Hit, VideoRecord

__version__ = "0.2.0"

_moved.install()  # old module paths (vcval.localize, vcval.modeling.*, ...) for one release

__all__ = [
    "Answer",
    "Cue",
    "Hit",
    "VideoRecord",
    "VCVALError",
    "InvalidMediaError",
    "SubtitleError",
    "DuplicateVideoError",
    "InvalidInputError",
    "EmptyCorpusError",
    "NetworkError",
    "NotFoundError",
    "__version__",
]


def __getattr__(name: str):  # lazy heavy imports keep `import vcval` fast
    if name == "Corpus":
        from vcval.corpus import Corpus

        return Corpus
    if name == "VCVAL":
        from vcval.pipeline import VCVAL

        return VCVAL
    raise AttributeError(name)
