"""Shared helpers of the benchmark scripts (``bench_ask.py``, ``bench_refusal.py``).

Corpora the benchmarks build are cached under ``runs/bench/`` (outside git): one folder per
question set, with the corpus in ``corpus-<hash>`` where ``<hash>`` is the SHA-256 of the
transcripts folder (as ``vcval eval`` keys its throwaway corpora), so a changed folder gets a fresh
corpus and an unchanged one is built once. A build is committed in chunks of videos, so an
interrupted build resumes where it stopped; ``corpus-<hash>.build.json`` records how long it took.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ROOT = Path(__file__).resolve().parent.parent
WORK_DIR = ROOT / "runs" / "bench"
QUESTIONS_DIR = Path(__file__).resolve().parent / "questions"
TUTORIALVQA = ROOT / "data" / "tutorialvqa"
MEDVIDQA = ROOT / "data" / "medvidqa"

logger = logging.getLogger("bench")


def remove(*paths: Path) -> None:
    """Delete files or folders if they exist (milvus-lite keeps its data in a folder named like the .db)."""
    import shutil

    for p in paths:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def copy_catalog(embedded: Path, root: Path) -> None:
    """``root``: the catalog of the corpus at ``embedded`` with its stored window vectors (hard links) and no
    index files, so opening it with another index backend (``index=...``) indexes every video from them."""
    import shutil

    shutil.copytree(embedded, root, ignore=shutil.ignore_patterns("index", ".lock"))
    (root / "index" / "vectors").mkdir(parents=True)
    for f in (embedded / "index" / "vectors").iterdir():
        os.link(f, root / "index" / "vectors" / f.name)




# --------------------------------------------------------------------------- questions
@dataclass(frozen=True)
class Labelled:
    """A question whose answer is [start, end] seconds of ``video_id``."""

    question: str
    video_id: str
    start: float
    end: float


def demo_labelled() -> list[Labelled]:
    """The 24 example questions of the embedded demo corpus (``assets/demo/questions.json``)."""
    from vcval.demo import demo_questions

    return [Labelled(q.question, q.slug, q.answer_start, q.answer_end) for q in demo_questions()]


def load_labelled(path: Path) -> list[Labelled]:
    """A MedVidQA-format questions file (``vcval.evaluation.questions.load_questions``)."""
    from vcval.evaluation.questions import load_questions

    return [Labelled(q.question, q.video_id, q.start, q.end) for q in load_questions(path)]


def unanswerable(path: Path) -> list[dict]:
    """A ``benchmarks/questions/*.json`` file: ``[{"question", "kind"}]`` (kind: off-topic | near-miss)."""
    rows = json.loads(Path(path).read_text(encoding="utf-8"))
    for i, r in enumerate(rows):
        if not str(r.get("question") or "").strip() or r.get("kind") not in ("off-topic", "near-miss"):
            raise ValueError(f"{path}: entry {i} needs a question and kind 'off-topic' or 'near-miss' ({r!r})")
    return rows


# --------------------------------------------------------------------------- data and corpora
def ensure_converted() -> None:
    """Run ``scripts/convert_{tutorialvqa,medvidqa}.py`` when their outputs are missing (deterministic)."""
    jobs = [
        (TUTORIALVQA / "test.json", ["scripts/convert_tutorialvqa.py"]),
        (MEDVIDQA / "questions_with_transcripts.json", ["scripts/convert_medvidqa.py"]),
    ]
    for target, cmd in jobs:
        if not target.exists():
            logger.info("converting data: %s", " ".join(cmd))
            subprocess.run([sys.executable, *cmd], cwd=ROOT, check=True)


@dataclass
class BuiltCorpus:
    """A transcript corpus and how it came to be."""

    corpus: Any
    build_seconds: float  # of the build that made it (read back from the stamp when cached)
    built_now: bool
    path: Path

    def build_line(self) -> str:
        """'built in N s' / 'from the cache (built in N s)'."""
        if self.built_now:
            return f"built now in {self.build_seconds:.0f} s"
        if self.build_seconds > 0:
            return f"from the cache {self.path} (its build took {self.build_seconds:.0f} s)"
        return f"from the cache {self.path}"


def transcript_corpus(transcripts_dir: Path, work_dir: Path, *, chunk: int = 100) -> BuiltCorpus:
    """The corpus of every ``<video_id>.json`` in ``transcripts_dir``, cached in ``work_dir/corpus-<hash>``.

    Built like ``vcval eval`` builds its throwaway corpus (``Corpus.add_transcripts``: batched MiniLM
    window encoding, then the stored unit encodings), but committed ``chunk`` videos at a time so that
    an interrupted build resumes. Build time goes to ``corpus-<hash>.build.json``.
    """
    from vcval.corpus import Corpus
    from vcval.evaluation.runner import content_hash, transcript_files

    files = transcript_files(transcripts_dir)
    digest = content_hash(transcripts_dir)[:16]
    path = Path(work_dir) / f"corpus-{digest}"
    stamp = path.with_name(path.name + ".build.json")
    info = json.loads(stamp.read_text(encoding="utf-8")) if stamp.exists() else {}
    corpus = Corpus.open(path)
    have = {r.video_id for r in corpus}
    missing = [vid for vid in files if vid not in have]
    extra = have - set(files)
    if extra:
        raise RuntimeError(f"{path} holds {len(extra)} videos not in {transcripts_dir}; delete it and rerun")
    if not missing:
        ensure_unit_encodings(corpus)
        return BuiltCorpus(corpus, float(info.get("seconds", 0.0)), False, path)
    logger.info("building %s: %d of %d transcripts to add (MiniLM window + unit encodings)",
                path, len(missing), len(files))
    _ = corpus.text_encoder  # model load outside the timed build
    t0 = time.perf_counter()
    done_before = float(info.get("seconds", 0.0)) if have else 0.0
    for i in range(0, len(missing), chunk):
        part = missing[i:i + chunk]
        corpus.add_transcripts([files[v] for v in part], progress=False)
        elapsed = done_before + time.perf_counter() - t0
        logger.info("  %d/%d videos in the corpus, %.0f s", len(have) + i + len(part), len(files), elapsed)
        stamp.write_text(json.dumps({
            "seconds": round(elapsed, 1), "videos": len(have) + i + len(part), "complete": i + chunk >= len(missing),
            "resumed": bool(have), "date": _dt.datetime.now().isoformat(timespec="seconds"),
            "transcripts": str(transcripts_dir), "cpus": os.cpu_count(),
        }, indent=1) + "\n", encoding="utf-8")
    seconds = done_before + time.perf_counter() - t0
    return BuiltCorpus(corpus, seconds, True, path)


def ensure_unit_encodings(corpus: Any) -> None:
    """Store any missing sentence-unit encodings now (part of a corpus build; a corpus cached before the
    encodings changed version would otherwise re-encode them inside the first timed questions)."""
    encode = getattr(corpus, "encode_units", None)
    if encode is None:
        return
    t0 = time.perf_counter()
    n = encode()
    logger.info("unit encodings of %d videos checked / stored in %.1f s", n, time.perf_counter() - t0)


def method_label(method: str, qa: Any) -> str:
    """``method``, plus what "default" resolved to (its localizer class) so a table says what ran."""
    if method != "default":
        return method
    return f"default ({type(getattr(qa, 'localizer', None)).__name__})"


# --------------------------------------------------------------------------- scoring
def top_iou(answer: Any, q: Labelled) -> float:
    """IoU of the answer with the expected span (0 when the video is wrong or there is no answer)."""
    if answer is None or answer.video_id != q.video_id:
        return 0.0
    from vcval.localization.spans import temporal_iou

    return temporal_iou((answer.start, answer.end), (q.start, q.end))


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation between order statistics (numpy's default)."""
    v = sorted(values)
    if not v:
        return math.nan
    pos = (len(v) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table (cells formatted with ``str``)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
