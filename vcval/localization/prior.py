"""The span prior: where answers sit in instructional videos (length and position)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vcval.types import Cue


@dataclass(frozen=True)
class SpanPrior:
    """Where answers sit in instructional videos: log-normal span length, normal span centre.

    Defaults are fitted to the 2,710 MedVidQA train annotations (``data/medvidqa/priors.json``,
    made by ``scripts/convert_medvidqa.py``): median answer 51.5 s (quartiles 29 s / 81 s), centre at
    54% of the video (std 23%).
    """

    length_median_s: float = 51.5
    length_log_sigma: float = 0.76
    center_mean: float = 0.54
    center_std: float = 0.23

    def log_prob(self, start: np.ndarray, end: np.ndarray, duration: float) -> np.ndarray:
        """Unnormalized log prior of spans [start, end] seconds (arrays of the same shape)."""
        length = np.maximum(end - start, 1.0)
        log_len = -0.5 * ((np.log(length) - math.log(self.length_median_s)) / self.length_log_sigma) ** 2
        center = (start + end) / 2 / max(duration, 1e-3)
        log_pos = -0.5 * ((center - self.center_mean) / self.center_std) ** 2
        return log_len + log_pos

    def cue_span_matrix(self, cues: Sequence[Cue]) -> np.ndarray:
        """(N, N) log prior of every cue span [cues[i].start, cues[j].end] (cells with j < i included)."""
        starts = np.array([c.start for c in cues], dtype=np.float64)
        ends = np.array([c.end for c in cues], dtype=np.float64)
        begin, finish = np.meshgrid(starts, ends, indexing="ij")  # (N, N)
        return self.log_prob(begin, finish, max(float(ends.max()), 1e-3))
