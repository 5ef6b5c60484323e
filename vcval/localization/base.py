"""What every localizer shares: the retrieved :class:`Candidate` it is given and the
:class:`Localizer` protocol, ``localize(question, candidates, top_n) -> list[Answer]``."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from vcval.corpus.encodings import UnitEncodings
from vcval.types import Answer, Cue, Hit, VideoRecord


@dataclass(frozen=True)
class Candidate:
    """One retrieved video handed to a localizer.

    ``features`` is (T, D) visual features at 1 frame/s, or None.
    ``hits`` are this video's retrieval hits (cue windows), best first.
    ``units`` are the video's stored sentence-unit encodings when the localizer reads them.
    """

    record: VideoRecord
    cues: list[Cue]
    features: np.ndarray | None
    retrieval_score: float
    hits: list[Hit] = field(default_factory=list)
    units: UnitEncodings | None = None


class Localizer(Protocol):
    """Picks answer spans inside candidate videos and ranks them across videos."""

    def localize(self, question: str, candidates: Sequence[Candidate], top_n: int = 10) -> list[Answer]:
        ...
