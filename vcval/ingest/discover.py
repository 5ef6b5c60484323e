"""Which files of a path to ingest: videos (with a paired ``.json`` transcript) and transcripts."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vcval.errors import NotFoundError

VIDEO_EXTENSIONS = frozenset({".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v"})
TRANSCRIPT_EXTENSIONS = frozenset({".json"})


@dataclass
class IngestPlan:
    """The files to ingest from one path, in sorted order."""

    videos: list[Path] = field(default_factory=list)
    transcripts: list[Path] = field(default_factory=list)
    subtitles: dict[Path, Path] = field(default_factory=dict)
    """video -> its ``<stem>.json`` transcript, used as its subtitles."""
    unsupported: str | None = None
    """Why a single given file cannot be ingested, else None."""


def plan_ingest(path: Path, *, recursive: bool = True, exclude: Path | None = None) -> IngestPlan:
    """The videos and ``.json`` transcripts in ``path`` (a file or a folder).

    Hidden files and folders and anything inside ``exclude`` (the corpus's own folder) are
    skipped. A ``<stem>.json`` next to ``<stem>.<video ext>`` (with no .srt/.vtt sidecar) is
    that video's transcript, not a record of its own.
    """
    from vcval.ingest.subtitles import find_sidecar

    if not path.exists():
        raise NotFoundError(f"{path} does not exist")
    if path.is_file():
        files = [path]
    else:
        pattern = path.rglob("*") if recursive else path.glob("*")
        own = exclude.resolve() if exclude is not None else None
        files = sorted(p for p in pattern if p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(path).parts)
                       and (own is None or own not in p.resolve().parents))
    videos = [p for p in files if p.suffix.lower() in VIDEO_EXTENSIONS]
    file_set = set(files)
    subtitles = {v: v.with_suffix(".json") for v in videos
                 if v.with_suffix(".json") in file_set and find_sidecar(v) is None}
    paired = set(subtitles.values())
    transcripts = [p for p in files if p.suffix.lower() in TRANSCRIPT_EXTENSIONS and p not in paired]
    unsupported = None
    if path.is_file() and not videos and not transcripts:
        unsupported = (f"unsupported file type {path.suffix!r}: expected a video "
                       f"({', '.join(sorted(VIDEO_EXTENSIONS))}) or a .json transcript")
    return IngestPlan(videos, transcripts, subtitles, unsupported)
