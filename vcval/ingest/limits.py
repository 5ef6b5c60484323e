"""Ingest limits: how big, long and sharp a video may be before any expensive work starts.

``IngestLimits()`` (the default of every corpus) sets no size/duration/resolution cap, only
the height videos are downscaled to when normalised (1080 px, so visual features and clips
never pay for 4K). :meth:`IngestLimits.public` is the profile for a public server (the app's
public mode). Environment variables override either profile (:meth:`IngestLimits.from_env`):

==============================  ======================================  ===================
variable                        meaning                                 public default
==============================  ======================================  ===================
``VCVAL_MAX_UPLOAD_MB``         largest video file (MB, 10^6 bytes)     200
``VCVAL_MAX_DURATION_S``        longest video (seconds)                 1800
``VCVAL_MAX_RESOLUTION``        largest frame, ``WIDTHxHEIGHT``         3840x2160
``VCVAL_NORMALIZE_MAX_HEIGHT``  downscale taller videos to this height  720 (else 1080)
==============================  ======================================  ===================

A value of ``0`` (or ``none``) removes that cap.
"""
from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcval.errors import InvalidInputError, InvalidMediaError

MIN_VIDEO_SECONDS = 0.1
ENV = {"max_bytes": "VCVAL_MAX_UPLOAD_MB", "max_duration_s": "VCVAL_MAX_DURATION_S",
       "max_resolution": "VCVAL_MAX_RESOLUTION", "normalize_max_height": "VCVAL_NORMALIZE_MAX_HEIGHT"}


@dataclass(frozen=True)
class IngestLimits:
    """Caps checked before transcoding (None = no cap).

    ``max_bytes``: file size; ``max_duration_s``: video length; ``max_resolution``: (width, height),
    a frame larger in either dimension (either orientation) is refused; ``normalize_max_height``:
    taller videos are downscaled to this height when normalised, before visual features.
    """

    max_bytes: int | None = None
    max_duration_s: float | None = None
    max_resolution: tuple[int, int] | None = None
    normalize_max_height: int | None = 1080

    @classmethod
    def public(cls) -> IngestLimits:
        """The profile for a public server: 200 MB, 30 min, 3840x2160, normalised to 720p."""
        return cls(max_bytes=200_000_000, max_duration_s=1800.0, max_resolution=(3840, 2160),
                   normalize_max_height=720)

    @classmethod
    def from_env(cls, base: IngestLimits | None = None, environ: Any = None) -> IngestLimits:
        """``base`` (default: ``IngestLimits()``) with the ``VCVAL_*`` variables above applied."""
        env = os.environ if environ is None else environ
        limits = base or cls()
        changes: dict[str, Any] = {}
        for field, name in ENV.items():
            raw = str(env.get(name, "")).strip()
            if raw:
                changes[field] = _parse(field, name, raw)
        return dataclasses.replace(limits, **changes)

    def check_file(self, path: Path) -> None:
        """InvalidInputError when the file is larger than ``max_bytes``."""
        if self.max_bytes is not None:
            size = path.stat().st_size
            if size > self.max_bytes:
                raise InvalidInputError(f"{path.name} is {size / 1e6:.1f} MB; the limit here is "
                                        f"{self.max_bytes / 1e6:.0f} MB ({ENV['max_bytes']})")

    def check_media(self, path: Path, meta: Any) -> None:
        """Refuse a probed video (``vcval.media.MediaInfo``) that is empty, too long or too large."""
        if not meta.has_video:
            raise InvalidMediaError(f"{path.name} has no video stream; vcval ingests videos")
        if not meta.duration or meta.duration < MIN_VIDEO_SECONDS:
            raise InvalidMediaError(f"{path.name} has zero duration ({meta.duration or 0:.2f} s): it is a still "
                                    "image or an empty video, not a video to search")
        if self.max_duration_s is not None and meta.duration > self.max_duration_s:
            raise InvalidInputError(f"{path.name} is {meta.duration:.0f} s long; the limit here is "
                                    f"{self.max_duration_s:.0f} s ({ENV['max_duration_s']})")
        if self.max_resolution is not None:
            w, h = self.max_resolution
            big, small = max(meta.width, meta.height), min(meta.width, meta.height)
            if big > max(w, h) or small > min(w, h):
                raise InvalidInputError(f"{path.name} is {meta.width}x{meta.height}; the largest frame accepted "
                                        f"here is {w}x{h} ({ENV['max_resolution']})")

    def ydl_options(self) -> dict[str, Any]:
        """yt-dlp options that enforce these limits while downloading."""
        return {} if self.max_bytes is None else {"max_filesize": self.max_bytes}


def _parse(field: str, name: str, raw: str) -> Any:
    if raw.lower() in ("0", "none", "off"):
        return None
    try:
        if field == "max_resolution":
            m = re.fullmatch(r"(\d+)\s*[xX*]\s*(\d+)", raw)
            if not m:
                raise ValueError(raw)
            return int(m.group(1)), int(m.group(2))
        value = float(raw)
        if not math.isfinite(value) or value <= 0:
            raise ValueError(raw)
    except ValueError:
        raise InvalidInputError(f"{name}={raw!r} is not valid: give a positive number"
                                + (" like 1920x1080" if field == "max_resolution" else "")) from None
    if field == "max_bytes":
        return int(value * 1_000_000)
    return int(value) if field == "normalize_max_height" else value
