"""Run a method over a question set and score it: questions file + transcripts folder -> EvalReport.

The corpus is EVERY transcript in the folder (the question's video id is hidden from the system: the
MedVidCQA setting). It is built once into a throwaway corpus directory keyed by the SHA-256 of the
folder contents (``$VCVAL_HOME/eval/<hash>``, default ``~/.cache/vcval/eval/<hash>``), so reruns only
pay for the questions.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vcval.config import cache_root
from vcval.errors import InvalidInputError, NotFoundError, VCVALError
from vcval.evaluation.metrics import as_prediction, compute_all, correct_video_rank, prediction_ious
from vcval.evaluation.questions import Question, load_questions, seeded_sample
from vcval.localization.base import Candidate
from vcval.retrieval import TranscriptBM25
from vcval.types import Cue, VideoRecord

logger = logging.getLogger(__name__)

CACHE_FORMAT = 1  # bump when the way the throwaway corpus is built changes


@dataclass
class EvalReport:
    """Metrics of one method on one question set, plus every prediction.

    ``seconds_per_question`` is the mean wall time of ``ask()`` (first questions included, which pay
    for caches such as per-video cue embeddings); ``median_seconds_per_question`` is the steady state.
    ``per_question[i]``: sample_id, question, video_id, gold [start, end], video_length,
    video_rank (1-based rank of the correct video or None), iou_at_1, error (or None) and
    predictions (the top-k list of ``[video_id, start, end, score]``).
    """

    dataset: str
    method: str
    metrics: dict[str, float]
    n_questions: int
    seconds_per_question: float
    corpus_size: int
    k: int
    per_question: list[dict] = field(default_factory=list)
    median_seconds_per_question: float = 0.0
    corpus_build_seconds: float = 0.0
    pipeline_build_seconds: float = 0.0
    n_errors: int = 0
    questions_path: str = ""
    transcripts_dir: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (what ``--json`` writes)."""
        return asdict(self)

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as JSON to ``path`` (parents created); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        return path


# --------------------------------------------------------------------------- inputs
def transcript_files(transcripts_dir: str | Path) -> dict[str, Path]:
    """``{video_id: path}`` of the ``<video_id>.json`` transcripts in a folder (sorted by id)."""
    d = Path(transcripts_dir)
    if not d.is_dir():
        raise NotFoundError(f"transcripts folder {d} does not exist")
    files = {p.stem: p for p in sorted(d.glob("*.json"))}
    if not files:
        raise InvalidInputError(f"{d} holds no <video_id>.json transcripts")
    return files


def content_hash(transcripts_dir: str | Path, features_dir: str | Path | None = None) -> str:
    """SHA-256 over the names and bytes of the transcripts (and ``.npy`` features), plus the cache format."""
    h = hashlib.sha256(f"vcval-eval-corpus-v{CACHE_FORMAT}\n".encode())
    groups = [("transcripts", sorted(Path(transcripts_dir).glob("*.json")))]
    if features_dir is not None:
        groups.append(("features", sorted(Path(features_dir).glob("*.npy"))))
    for label, paths in groups:
        for p in paths:
            h.update(f"{label}/{p.name}\n".encode())
            with open(p, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()


BUILD_WAIT_S = 2 * 3600.0
"""How long a second process waits for another one building the same eval corpus."""


def default_cache_root() -> Path:
    """``<cache root>/eval`` (see :func:`vcval.config.cache_root`)."""
    return cache_root() / "eval"


# --------------------------------------------------------------------------- evaluator
class Evaluator:
    """Builds (or reuses) the throwaway corpus of a transcripts folder and scores methods on it."""

    def __init__(
        self,
        transcripts_dir: str | Path,
        features_dir: str | Path | None = None,
        *,
        cache_dir: str | Path | None = None,
        corpus: Any = None,
        progress: bool = True,
    ) -> None:
        """``corpus``: an already-built corpus of exactly these transcripts to use instead of the cache.
        ``progress``: a progress bar on stderr while the corpus is built (only when stderr is a terminal).
        """
        self.transcripts_dir = Path(transcripts_dir)
        self.progress = progress
        self.features_dir = Path(features_dir) if features_dir is not None else None
        if self.features_dir is not None and not self.features_dir.is_dir():
            raise NotFoundError(f"features folder {self.features_dir} does not exist")
        self.files = transcript_files(self.transcripts_dir)
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_root() / content_hash(
            self.transcripts_dir, self.features_dir
        )
        self.corpus_build_seconds = 0.0
        self._corpus = corpus

    @property
    def corpus(self):
        """The corpus of every transcript in the folder (built on first use, then cached on disk)."""
        if self._corpus is None:
            self._corpus = self._open_corpus()
        return self._corpus

    def _open_corpus(self):
        from vcval.corpus.files import FileLock

        # one builder at a time: a second process (two trainings or evals over the same transcripts) waits
        # for the first and then reuses its cache instead of failing on the videos the first one committed
        self.cache_dir.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.cache_dir.parent / f"{self.cache_dir.name}.build.lock")
        if not lock.acquire(timeout=0):
            logger.info("another process (%s) is building the eval corpus %s; waiting for it", lock.holder(),
                        self.cache_dir)
            if not lock.acquire(timeout=BUILD_WAIT_S):
                raise VCVALError(f"the eval corpus {self.cache_dir} is still being built by {lock.holder()} after "
                                 f"{BUILD_WAIT_S / 60:.0f} minutes; wait for that process or stop it, then rerun")
        try:
            return self._build_corpus()
        finally:
            lock.release()

    def _build_corpus(self):
        from vcval.corpus import Corpus

        t0 = time.perf_counter()
        corpus = Corpus.open(self.cache_dir)
        have = {r.video_id for r in corpus}
        missing = [vid for vid in self.files if vid not in have]
        if missing:
            logger.info("building the eval corpus in %s (%d transcripts)", self.cache_dir, len(missing))
            if self.features_dir is None:  # one batched encoding pass, one commit
                corpus.add_transcripts([self.files[vid] for vid in missing],
                                       progress=self.progress and sys.stderr.isatty())
            else:
                for vid in missing:
                    feats = self.features_dir / f"{vid}.npy"
                    corpus.add_transcript(
                        self.files[vid], video_id=vid, features_path=feats if feats.is_file() else None
                    )
            have = {r.video_id for r in corpus}
            renamed = [vid for vid in missing if vid not in have]
            if renamed:
                raise InvalidInputError(
                    f"{len(renamed)} transcript file names are not usable video ids (e.g. {renamed[0]!r}); "
                    "rename them to <video_id>.json with letters, digits, '-' and '_' only"
                )
        extra = have - set(self.files)
        if extra:
            raise VCVALError(
                f"the cached eval corpus {self.cache_dir} holds {len(extra)} videos not in {self.transcripts_dir}; "
                "delete that folder and rerun"
            )
        self.corpus_build_seconds = time.perf_counter() - t0
        return corpus

    def run(
        self,
        questions: Sequence[Question] | str | Path,
        method: str = "default",
        *,
        k: int = 100,
        pipeline: Any = None,
        dataset: str | None = None,
        missing: str = "error",
        limit: int | None = None,
        sample: int | None = None,
        seed: int = 0,
        pipeline_kwargs: dict | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> EvalReport:
        """Ask every question through ``pipeline`` (default: ``build_pipeline(corpus, method)``) and score.

        ``missing``: what to do with questions whose video has no transcript in the folder:
        "error" (raise), "skip" (leave them out, logged) or "keep" (score them; they can never be right).
        ``limit``: only the first N questions (quick runs). ``sample``: a random subset of N questions
        drawn with ``seed`` (reproducible; kept in file order), applied before ``limit``.
        ``progress(done, total)``: called with 0 before the first question and after each one
        (e.g. :func:`question_progress`).
        """
        questions_path = ""
        if isinstance(questions, (str, Path)):
            questions_path = str(questions)
            dataset = dataset or Path(questions).stem
            questions = load_questions(questions)
        if k < 1:
            raise InvalidInputError(f"k must be at least 1 (got {k})")
        questions = self._select(list(questions), missing, sample, seed, limit)
        t0 = time.perf_counter()
        if pipeline is None:
            from vcval.pipeline import build_pipeline

            pipeline = build_pipeline(self.corpus, method, **(pipeline_kwargs or {}))
        pipeline_seconds = time.perf_counter() - t0
        predictions, errors, ask_times = _ask_all(pipeline, questions, k, progress)
        return EvalReport(
            dataset=dataset or "questions",
            method=method,
            metrics=compute_all(predictions, [q.gold for q in questions]),
            n_questions=len(questions),
            seconds_per_question=sum(ask_times) / len(ask_times),
            median_seconds_per_question=statistics.median(ask_times),
            corpus_size=len(self.corpus),
            k=k,
            per_question=[_question_row(q, preds, err) for q, preds, err in zip(questions, predictions, errors)],
            corpus_build_seconds=round(self.corpus_build_seconds, 3),
            pipeline_build_seconds=round(pipeline_seconds, 3),
            n_errors=sum(e is not None for e in errors),
            questions_path=questions_path,
            transcripts_dir=str(self.transcripts_dir),
        )

    def _select(self, questions: list[Question], missing: str, sample: int | None, seed: int,
                limit: int | None) -> list[Question]:
        """The questions to ask: those with a transcript (per ``missing``), sampled, limited."""
        if missing not in ("error", "skip", "keep"):
            raise InvalidInputError(f"missing must be 'error', 'skip' or 'keep' (got {missing!r})")
        absent = [q for q in questions if q.gold.video_id not in self.files]
        if absent and missing == "error":
            raise InvalidInputError(
                f"{len(absent)} of {len(questions)} questions point to videos with no transcript in "
                f"{self.transcripts_dir} (e.g. {absent[0].gold.video_id}); add the transcripts or pass "
                "--skip-missing to evaluate only the others"
            )
        if absent and missing == "skip":
            logger.warning("skipping %d questions whose video has no transcript", len(absent))
            questions = [q for q in questions if q.gold.video_id in self.files]
        if sample is not None:
            if sample < 1:
                raise InvalidInputError(f"sample must be at least 1 (got {sample})")
            questions = seeded_sample(questions, sample, seed)
        if limit is not None:
            questions = questions[:limit]
        if not questions:
            raise InvalidInputError("no questions left to evaluate")
        return questions


def _ask_all(pipeline: Any, questions: Sequence[Question], k: int, progress: Callable[[int, int], None] | None
             ) -> tuple[list[list], list[str | None], list[float]]:
    """Ask every question: (top-k predictions, error or None, seconds) per question."""
    predictions: list[list] = []
    errors: list[str | None] = []
    ask_times: list[float] = []
    if progress is not None:
        progress(0, len(questions))
    for i, q in enumerate(questions):
        t = time.perf_counter()
        try:
            preds, err = [as_prediction(a) for a in pipeline.ask(q.question, k=k)][:k], None
        except VCVALError as e:  # a question the system refuses: scored as no answer
            preds, err = [], f"{type(e).__name__}: {e}"
            logger.warning("question %s failed: %s", q.sample_id if q.sample_id is not None else i, err)
        ask_times.append(time.perf_counter() - t)
        predictions.append(preds)
        errors.append(err)
        if progress is not None:
            progress(i + 1, len(questions))
        if (i + 1) % 100 == 0:
            logger.info("%d/%d questions, %.3f s/question so far", i + 1, len(questions), sum(ask_times) / (i + 1))
    return predictions, errors, ask_times


# questions per second even below one per second (tqdm's default turns it into "s/question")
_BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_noinv_fmt}]"


@contextlib.contextmanager
def question_progress(enabled: bool = True, desc: str = "eval") -> Iterator[Callable[[int, int], None] | None]:
    """A ``progress(done, total)`` callback for :meth:`Evaluator.run` that draws a tqdm bar on stderr:
    questions done / total, questions per second and the time left. None (no bar) when not
    ``enabled`` or when stderr is not a terminal. The bar starts at the first call (after the
    pipeline is built, so model loading does not count against the rate) and closes on exit.
    """
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from tqdm.auto import tqdm

    bars: list[Any] = []

    def update(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, desc=desc, unit=" questions", file=sys.stderr, dynamic_ncols=True,
                             bar_format=_BAR_FORMAT))
        bar = bars[0]
        if bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        for bar in bars:
            bar.close()


def _question_row(q: Question, preds: list, err: str | None) -> dict[str, Any]:
    """One ``EvalReport.per_question`` entry."""
    ious = prediction_ious(preds, q.gold)
    return {
        "sample_id": q.sample_id,
        "question": q.question,
        "video_id": q.gold.video_id,
        "gold": [q.gold.start, q.gold.end],
        "video_length": q.gold.video_length,
        "video_rank": correct_video_rank(preds, q.gold),
        "iou_at_1": round(ious[0], 4) if ious else 0.0,
        "error": err,
        "predictions": [p.to_list() for p in preds],
    }


def evaluate(
    questions_path: str | Path,
    transcripts_dir: str | Path,
    features_dir: str | Path | None = None,
    method: str = "default",
    k: int = 100,
    json_out: str | Path | None = None,
    **kwargs: Any,
) -> EvalReport:
    """One-call evaluation (see :class:`Evaluator`); writes the report JSON to ``json_out`` when given.

    Extra keyword arguments go to :meth:`Evaluator.run` (``missing``, ``limit``, ``pipeline_kwargs``...);
    ``cache_dir`` goes to the Evaluator.
    """
    cache_dir = kwargs.pop("cache_dir", None)
    report = Evaluator(transcripts_dir, features_dir, cache_dir=cache_dir).run(questions_path, method, k=k, **kwargs)
    if json_out is not None:
        report.save(json_out)
    return report


# --------------------------------------------------------------------------- light harness (in-memory)
# Corpus-level evaluation of a CCGS model during training and for ablations.
#
# Retrieval is whole-transcript BM25 over the evaluation videos (top ``k_videos``); the model
# scores every span of those videos and ranks (video, span) pairs globally. Metrics are the 16
# of :func:`vcval.evaluation.metrics.compute_all`. Span scores are computed once per question, so the
# retrieval-fusion weight can be swept for free (tune it on development data only).


@dataclass
class CorpusEval:
    """metrics[weight] -> the 16 metrics; seconds_per_question of the model pass (retrieval included)."""

    metrics: dict[float, dict[str, float]]
    seconds_per_question: float
    n_questions: int


def make_candidates(
    transcripts: dict[str, list[Cue]], hits: Sequence[tuple[str, float]], titles: dict[str, str] | None = None
) -> list[Candidate]:
    """Candidates (text-only) for retrieved (video_id, score) pairs."""
    out = []
    for vid, score in hits:
        cues = transcripts[vid]
        rec = VideoRecord(
            video_id=vid, title=(titles or {}).get(vid, vid), duration=float(cues[-1].end) if cues else 0.0,
            source="transcript", subtitle_source="transcript", content_hash=vid, n_cues=len(cues),
        )
        out.append(Candidate(rec, list(cues), None, float(score), []))
    return out


def evaluate_corpus(
    localizer: Any,
    questions: Sequence[Question],
    transcripts: dict[str, list[Cue]],
    *,
    k_videos: int = 5,
    top_n: int = 100,
    weights: Sequence[float] = (0.0,),
    progress: Callable[[int, int], None] | None = None,
) -> CorpusEval:
    """Ask every question against the corpus ``transcripts``; metrics per retrieval-fusion weight."""
    bm25 = TranscriptBM25(transcripts)
    hits = bm25.search([q.question for q in questions], k_videos)
    preds: dict[float, list] = {w: [] for w in weights}
    gold = []
    t0 = time.perf_counter()
    for n, (q, h) in enumerate(zip(questions, hits)):
        cands = make_candidates(transcripts, h)
        spans = localizer.score_videos(q.question, cands)
        for w in weights:
            preds[w].append(localizer.rank(cands, spans, top_n, retrieval_weight=w))
        gold.append(q.gold)
        if progress is not None:
            progress(n + 1, len(questions))
    elapsed = time.perf_counter() - t0
    return CorpusEval({w: compute_all(preds[w], gold) for w in weights}, elapsed / max(1, len(questions)), len(questions))
