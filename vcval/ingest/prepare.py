"""Turn a video file or a transcript into a :class:`StagedVideo`: computed, not yet committed.

For a video: hash, duplicate/id checks, probe, normalise to H.264/AAC (into a staging
folder), cues from the best source (explicit file > sidecar .srt/.vtt > embedded track >
speech recognition > none), cleaning, visual features and windows. For a transcript:
hash, checks, parse, clean, optional features, windows. :func:`encode_windows` then adds
the window vectors in one batched encoder pass. Nothing here writes to a corpus; checks
against it go through a :class:`Catalog` (``Corpus`` is one).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vcval.corpus.files import ID_RE, default_video_id, sha256_file, validate_video_id
from vcval.errors import DuplicateVideoError, InvalidInputError, InvalidMediaError, NotFoundError, SubtitleError
from vcval.ingest.limits import IngestLimits
from vcval.ingest.windows import Window, WindowConfig, make_windows
from vcval.types import Cue

logger = logging.getLogger(__name__)

NO_CUES_WARNING = "no audio and no subtitles: the video is searchable by title only"

Progress = Callable[..., Any]
"""``progress(fraction: float, desc: str)``; a ``gradio.Progress`` fits."""
Report = Callable[[float, str], None]


class Catalog(Protocol):
    """What preparation needs to know about the corpus it prepares for."""

    def find_by_hash(self, content_hash: str) -> str | None: ...

    def __contains__(self, video_id: object) -> bool: ...


@dataclass
class StagedVideo:
    """One prepared video, ready to commit (everything computed, nothing in the corpus yet)."""

    video_id: str
    title: str
    duration: float
    source: str
    source_kind: str
    subtitle_source: str
    content_hash: str
    cues: list[Cue]
    windows: list[Window]
    warnings: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    media_src: Path | None = None
    features: np.ndarray | None = None  # (T, D) float32
    vectors: np.ndarray | None = None  # (n_windows, D) float32

    @property
    def doc_text(self) -> str:
        """Title + transcript: the text of the whole-video BM25 document."""
        return " ".join([self.title] + [c.text for c in self.cues])

    @property
    def window_texts(self) -> list[str]:
        """The text of each window, in order."""
        return [w.text for w in self.windows]


@dataclass(frozen=True)
class VideoSource:
    """A video file that passed the cheap checks of :func:`check_video`."""

    path: Path
    content_hash: str
    video_id: str
    meta: Any  # vcval.media.MediaInfo


# --------------------------------------------------------------------------- shared steps
def progress_bar(iterable: Any = None, **kw: Any) -> Any:
    """A tqdm bar (``disable=True`` for none)."""
    from tqdm.auto import tqdm

    return tqdm(iterable, **kw)


def reporter(progress: Progress | None) -> Report:
    """``report(fraction, desc)`` that forwards to ``progress(fraction, desc=desc)``, if given."""
    if progress is None:
        return lambda f, d: None
    return lambda f, d: progress(f, desc=d)


def duplicate_error(label: str, other: str, video_id: str) -> DuplicateVideoError:
    """The error for ``label`` whose content is already held by ``other``."""
    return DuplicateVideoError(f"{label} has the same content as {other!r}, already in the corpus; "
                               "remove that one first to re-ingest", video_id)


def resolve_id(catalog: Catalog, video_id: str | None, stem: str, content_hash: str, *,
               prefer_stem: bool) -> tuple[str, bool]:
    """(id, is_default): ``video_id`` if given, else the stem (``prefer_stem``, valid and
    unused), else slug + hash."""
    if video_id is not None:
        return validate_video_id(video_id), False
    if prefer_stem and ID_RE.match(stem) and stem not in catalog:
        return stem, True
    return default_video_id(stem, content_hash), True


def _check_inputs(path: Path, what: str, video_id: str | None) -> None:
    """InvalidInputError for a bad ``video_id``, NotFoundError when the ``what`` file is missing."""
    if video_id is not None:
        validate_video_id(video_id)
    if not path.is_file():
        raise NotFoundError(f"{what} file {path} does not exist")


def _hash_new_file(path: Path, catalog: Catalog) -> str:
    """sha256 of ``path``; DuplicateVideoError when the catalog already holds that content."""
    content_hash = sha256_file(path)
    dup = catalog.find_by_hash(content_hash)
    if dup is not None:
        raise duplicate_error(path.name, dup, dup)
    return content_hash


def printable(text: str) -> str:
    """``text`` with undecodable bytes of a file name (surrogate escapes) shown as U+FFFD, safe to store."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def subtitle_source_for(path: Path) -> str:
    """``subtitle_source`` of cues read from the file ``path``."""
    return {".vtt": "sidecar-vtt", ".json": "transcript"}.get(path.suffix.lower(), "sidecar-srt")


def load_features(path: Path) -> np.ndarray:
    """(T, D) float32 visual features from a ``.npy`` file (NotFoundError / InvalidInputError)."""
    if not path.is_file():
        raise NotFoundError(f"features file {path} does not exist")
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{path} is not a readable .npy array: {exc}") from exc
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.number):
        raise InvalidInputError(f"{path}: expected a (T, D) numeric array of visual features, got shape {arr.shape}")
    return arr.astype(np.float32, copy=False)


def encode_windows(items: list[StagedVideo], encoder: Any, progress: bool = False, chunk: int = 1024) -> None:
    """Fill ``vectors`` (n_windows, D) of every item with one batched pass of ``encoder``.

    ``encoder`` may be None when no item has a window (each then gets a (0, 0) array).
    """
    texts = [t for it in items for t in it.window_texts]
    if not texts:
        for it in items:
            it.vectors = np.zeros((0, 0), np.float32)
        return
    parts = []
    bar = progress_bar(total=len(texts), desc="encoding windows", unit="win", disable=not progress)
    for s in range(0, len(texts), chunk):
        parts.append(encoder.encode(texts[s : s + chunk]))
        bar.update(min(chunk, len(texts) - s))
    bar.close()
    vectors = np.concatenate(parts)  # (N, D)
    offset = 0
    for it in items:
        it.vectors = vectors[offset : offset + len(it.windows)]
        offset += len(it.windows)


# --------------------------------------------------------------------------- transcripts
def prepare_transcript(path: Path, catalog: Catalog, window: WindowConfig, *, video_id: str | None = None,
                       title: str | None = None, duration: float | None = None,
                       features_path: str | os.PathLike | None = None, taken: set[str] | None = None) -> StagedVideo:
    """A transcript-only record from a subtitle/transcript file.

    The default id is the stem when valid and unused (neither in ``catalog`` nor ``taken``,
    the ids of the same batch), else slug + hash; ``duration`` defaults to the last cue's end.
    """
    from vcval.ingest import subtitles

    _check_inputs(path, "transcript", video_id)
    content_hash = _hash_new_file(path, catalog)
    vid, is_default = resolve_id(catalog, video_id, path.stem, content_hash, prefer_stem=True)
    if is_default and taken is not None and vid in taken:
        vid = default_video_id(path.stem, content_hash)
    cues = subtitles.parse_subtitles(path)
    if duration is None:
        duration = max((c.end for c in cues), default=0.0)
    if duration < 0:
        raise InvalidInputError(f"duration must be >= 0 seconds, got {duration}")
    cues, warnings = subtitles.clean_cues(cues, duration=duration)
    features = load_features(Path(features_path)) if features_path is not None else None
    return StagedVideo(video_id=vid, title=printable(title or path.stem), duration=float(duration),
                       source=printable(str(path.resolve())),
                       source_kind="transcript", subtitle_source="transcript", content_hash=content_hash,
                       cues=list(cues), windows=make_windows(cues, window), warnings=list(warnings),
                       features=features)


# --------------------------------------------------------------------------- videos
def check_video(path: Path, catalog: Catalog, *, subtitles: str | os.PathLike | None, video_id: str | None,
                report: Report, limits: IngestLimits | None = None) -> VideoSource:
    """Cheap checks before any transcoding: id, files exist, size/duration/resolution ``limits``,
    not a duplicate, has a video stream and a non-zero duration."""
    from vcval import media

    limits = limits or IngestLimits()
    _check_inputs(path, "video", video_id)
    if subtitles is not None and not Path(subtitles).is_file():
        raise NotFoundError(f"subtitle file {subtitles} does not exist")
    limits.check_file(path)
    report(0.0, "hashing")
    content_hash = _hash_new_file(path, catalog)
    vid, _ = resolve_id(catalog, video_id, path.stem, content_hash, prefer_stem=False)
    if vid in catalog:
        raise InvalidInputError(f"video id {vid!r} is already used; pass another video_id or remove it first")
    report(0.05, "probing")
    meta = media.probe(path)
    if not meta.has_video:
        raise InvalidMediaError(f"{path.name} has no video stream; vcval ingests videos (add a transcript "
                                "with add_transcript for audio-only material)")
    limits.check_media(path, meta)
    return VideoSource(path, content_hash, vid, meta)


def stage_video(src: VideoSource, stage: Path, window: WindowConfig, *, subtitles: str | os.PathLike | None,
                title: str | None, visual_features: bool, image_encoder: Callable[[], Any], asr_model: Any,
                source: str | None = None, subtitle_source: str | None = None, info: dict[str, Any] | None = None,
                report: Report, max_height: int | None = None) -> StagedVideo:
    """Normalise ``src`` into ``stage/media.mp4`` and compute its cues, features and windows.

    ``image_encoder()`` is called only when ``visual_features``. ``source`` (a URL) replaces
    the file path as provenance; ``subtitle_source`` names where ``subtitles`` came from;
    videos taller than ``max_height`` are downscaled (before visual features are extracted).
    """
    from vcval import media
    from vcval.ingest import subtitles as subs

    path, meta = src.path, src.meta
    report(0.1, "transcoding to H.264/AAC")
    staged_media = stage / "media.mp4"
    media.normalize(path, staged_media, max_height=max_height)
    cues, cue_source, warnings = cues_for(path, staged_media, meta, subtitles, asr_model=asr_model, report=report)
    cues, clean_warnings = subs.clean_cues(cues, duration=meta.duration)
    warnings += list(clean_warnings)
    if subtitle_source is not None and cue_source not in ("asr", "none", "embedded"):
        cue_source = subtitle_source
    features = None
    if visual_features:
        report(0.6, "extracting visual features")
        from vcval.ingest import visual

        features = visual.extract_visual_features(staged_media, encoder=image_encoder())
    return StagedVideo(video_id=src.video_id, title=printable(title or path.stem), duration=float(meta.duration),
                       source=printable(source or str(path.resolve())), source_kind="url" if source else "file",
                       subtitle_source=cue_source, content_hash=src.content_hash, cues=list(cues),
                       windows=make_windows(cues, window), warnings=warnings,
                       info={"width": meta.width, "height": meta.height, "has_audio": meta.has_audio,
                             "original_name": printable(path.name), **(info or {})},
                       media_src=staged_media, features=features)


CUE_STAGES = {
    "file": "reading the subtitle file",
    "sidecar": "reading the subtitle file next to the video",
    "embedded": "reading the embedded subtitles",
    "asr": "speech recognition: transcribing the audio (no subtitles found; the slowest step)",
    "none": "no subtitles and no audio: indexing the title only",
}
"""What :func:`cues_for` reports, by where the cues really come from."""


def cues_for(path: Path, staged_media: Path, meta: Any, subtitles: str | os.PathLike | None, *,
             asr_model: Any = None, report: Any = None) -> tuple[list[Cue], str, list[str]]:
    """(cues, subtitle_source, warnings): explicit file > sidecar > embedded track > ASR > none.
    ``report(fraction, desc)`` is told which of these really runs (:data:`CUE_STAGES`), so a progress display
    says "speech recognition" when the slow case happens and "reading the subtitle file" when it does not."""
    from vcval import media
    from vcval.ingest import subtitles as subs

    def tell(stage: str) -> None:
        if report is not None:
            report(0.45, CUE_STAGES[stage])

    warnings: list[str] = []
    if subtitles is not None:
        sub = Path(subtitles)
        tell("file")
        return list(subs.parse_subtitles(sub)), subtitle_source_for(sub), warnings
    sidecar = subs.find_sidecar(path)
    if sidecar is not None:
        tell("sidecar")
        try:
            return list(subs.parse_subtitles(sidecar)), subtitle_source_for(sidecar), warnings
        except SubtitleError as exc:
            warnings.append(f"sidecar {sidecar.name} ignored: {exc}")
            logger.warning("%s: %s", path.name, warnings[-1])
    if meta.n_subtitle_streams > 0:
        tell("embedded")
        try:
            text = media.extract_subtitle_track(path)
            if text and text.strip():
                return list(subs.parse_subtitle_text(text, "srt")), "embedded", warnings
        except (SubtitleError, InvalidMediaError) as exc:
            warnings.append(f"embedded subtitle track ignored: {exc}")
            logger.warning("%s: %s", path.name, warnings[-1])
    if meta.has_audio:
        from vcval.ingest import asr

        tell("asr")
        cues = list(asr.transcribe(staged_media, model=asr_model))
        if not cues:
            warnings.append("speech recognition found no speech: the video is searchable by title only")
        return cues, "asr", warnings
    tell("none")
    warnings.append(NO_CUES_WARNING)
    logger.warning("%s: %s", path.name, NO_CUES_WARNING)
    return [], "none", warnings
