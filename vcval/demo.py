"""The embedded demo corpus: 8 short first-aid videos shipped in ``assets/demo``.

``ensure_demo_corpus()`` ingests them once into a cache directory and reuses that corpus on
later starts (videos a user adds there are kept). Demo content — not medical advice.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcval.config import cache_root, demo_assets_dir
from vcval.errors import DuplicateVideoError, NotFoundError

logger = logging.getLogger(__name__)

DEMO_ASSETS = demo_assets_dir()
"""The demo videos, subtitles, catalog.json and questions.json (in the repository checkout)."""

Progress = Callable[..., Any]


@dataclass(frozen=True)
class DemoVideo:
    """One catalog entry of the demo corpus; ``video`` and ``subtitles`` are absolute paths."""

    slug: str
    title: str
    description: str
    duration: float
    video: Path
    subtitles: Path


@dataclass(frozen=True)
class DemoQuestion:
    """An example question with its expected video and answer span [answer_start, answer_end] s."""

    question: str
    slug: str
    answer_start: float
    answer_end: float


def _assets(assets_dir: str | os.PathLike | None) -> Path:
    root = Path(assets_dir) if assets_dir is not None else DEMO_ASSETS
    if not (root / "catalog.json").is_file():
        raise NotFoundError(
            f"the demo corpus assets are missing ({root / 'catalog.json'} not found); run from a repository "
            "checkout, or regenerate them with `python scripts/make_demo_corpus.py`"
        )
    return root


def demo_catalog(assets_dir: str | os.PathLike | None = None) -> list[DemoVideo]:
    """The demo videos listed in ``catalog.json``, in catalog order."""
    root = _assets(assets_dir)
    entries = json.loads((root / "catalog.json").read_text(encoding="utf-8"))["videos"]
    return [DemoVideo(e["slug"], e["title"], e["description"], float(e["duration"]),
                      root / e["video"], root / e["subtitles"]) for e in entries]


def demo_questions(assets_dir: str | os.PathLike | None = None) -> list[DemoQuestion]:
    """The example questions of ``questions.json`` (3 per demo video)."""
    root = _assets(assets_dir)
    path = root / "questions.json"
    if not path.is_file():
        return []
    return [DemoQuestion(q["question"], q["slug"], float(q["answer_start"]), float(q["answer_end"]))
            for q in json.loads(path.read_text(encoding="utf-8"))]


def default_demo_dir() -> Path:
    """``<cache root>/demo-corpus`` (see :func:`vcval.config.cache_root`)."""
    return cache_root() / "demo-corpus"


def ensure_demo_corpus(
    directory: str | os.PathLike | None = None,
    *,
    assets_dir: str | os.PathLike | None = None,
    visual_features: bool = True,
    progress: Progress | None = None,
    **open_kwargs: Any,
):
    """Open (creating if needed) the demo corpus in ``directory`` and ingest any missing demo video.

    A corpus that already holds every demo video (same id and same file content) is reused
    as is; a demo video whose asset changed since it was ingested is replaced. Other videos
    in the directory are left alone. ``progress(fraction, desc=...)`` is called per video.
    Extra keyword arguments go to :meth:`vcval.corpus.Corpus.open`. Returns the Corpus.
    """
    from vcval.corpus import Corpus
    from vcval.corpus.corpus import sha256_file

    videos = demo_catalog(assets_dir)
    corpus = Corpus.open(directory if directory is not None else default_demo_dir(), **open_kwargs)
    todo: list[DemoVideo] = []
    for v in videos:
        if not v.video.is_file() or not v.subtitles.is_file():
            raise NotFoundError(f"demo asset {v.video.name} or {v.subtitles.name} is missing from {v.video.parent}")
        if v.slug in corpus:
            if corpus.get(v.slug).content_hash == sha256_file(v.video):
                continue
            logger.info("demo video %s changed since it was ingested: replacing it", v.slug)
            corpus.remove(v.slug)
        todo.append(v)
    if not todo:
        logger.info("demo corpus %s is complete (%d videos)", corpus.root, len(corpus))
        return corpus
    logger.info("ingesting %d demo videos into %s (first start only)", len(todo), corpus.root)
    for i, v in enumerate(todo):
        if progress is not None:
            progress(i / len(todo), desc=f"adding demo video {i + 1}/{len(todo)}: {v.title}")
        try:
            corpus.add_video(v.video, subtitles=v.subtitles, title=v.title, video_id=v.slug,
                             visual_features=visual_features)
        except DuplicateVideoError as exc:  # e.g. another process ingested it meanwhile
            logger.info("demo video %s already present as %s", v.slug, exc.video_id)
    if progress is not None:
        progress(1.0, desc="demo corpus ready")
    return corpus
