"""Cue windows: runs of consecutive cues, the unit of retrieval.

A *window* is a run of consecutive cues (at most ``max_cues`` cues and ``max_seconds``
seconds); windows start every ``stride`` cues, so they overlap and every cue lies in at
least one window. A video with 0 cues has 0 windows. (Not to be confused with the encoder's
token windows of :mod:`vcval.models.ccgs.inputs`.)
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from vcval.errors import InvalidInputError
from vcval.types import Cue


@dataclass(frozen=True)
class WindowConfig:
    """How cues are grouped into overlapping windows (the unit of retrieval)."""

    max_cues: int = 4
    max_seconds: float = 30.0
    stride: int = 2

    def __post_init__(self) -> None:
        if self.max_cues < 1 or self.stride < 1 or self.max_seconds <= 0:
            raise InvalidInputError(
                f"invalid WindowConfig {self}: max_cues and stride must be >= 1 and max_seconds > 0"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WindowConfig:
        """Inverse of ``to_dict`` (unknown keys are ignored)."""
        return cls(**{k: d[k] for k in ("max_cues", "max_seconds", "stride") if k in d})


@dataclass(frozen=True)
class Window:
    """Cues ``first_cue..last_cue`` (inclusive list positions) spanning [start, end] seconds."""

    first_cue: int
    last_cue: int
    start: float
    end: float
    text: str


def make_windows(cues: Sequence[Cue], cfg: WindowConfig = WindowConfig()) -> list[Window]:
    """Group ``cues`` (sorted by time) into overlapping windows.

    A window starting at cue i grows while it has at most ``cfg.max_cues`` cues and spans at
    most ``cfg.max_seconds`` (a single long cue is still a window). The next window starts
    ``cfg.stride`` cues later, but never after the cue following the current window's end,
    so no cue is skipped. Stops once a window reaches the last cue. 0 cues -> 0 windows.
    """
    out: list[Window] = []
    n = len(cues)
    i = 0
    while i < n:
        j = i
        while (
            j + 1 < n
            and (j + 1 - i + 1) <= cfg.max_cues
            and cues[j + 1].end - cues[i].start <= cfg.max_seconds
        ):
            j += 1
        text = " ".join(c.text.strip() for c in cues[i : j + 1] if c.text.strip())
        out.append(Window(i, j, float(cues[i].start), float(max(c.end for c in cues[i : j + 1])), text))
        if j == n - 1:
            break
        i = min(i + cfg.stride, j + 1)
    return out
