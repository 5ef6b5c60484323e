"""The question-answering pipeline: retrieve videos, localize answer spans, cut clips.

    qa = VCVAL.from_pretrained(corpus="corpus/")
    answers = qa.ask("How do I put on a sling?", k=5)
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from vcval.config import PipelineConfig, checkpoint_dir
from vcval.errors import EmptyCorpusError, InvalidInputError, NotFoundError, VCVALError
from vcval.localization.base import Candidate, Localizer
from vcval.localization.baseline import BaselineLocalizer
from vcval.types import Answer

if TYPE_CHECKING:
    from vcval.corpus import Corpus
    from vcval.encoders import TextEncoder
    from vcval.retrieval import Retriever

logger = logging.getLogger(__name__)

METHODS: dict[str, str] = {
    "bm25-video": "BM25 over whole transcripts + the baseline localizer",
    "bm25": "BM25 over cue windows + the baseline localizer",
    "dense": "MiniLM over cue windows (FAISS) + the baseline localizer",
    "hybrid": "BM25 + dense fused by reciprocal rank + the baseline localizer",
    "hybrid-video": "hybrid with whole-transcript BM25's video rank as a third reciprocal-rank list + the baseline "
                    "localizer",
    "repbert": "the trained RepBERT bi-encoder over cue windows + the baseline localizer (--checkpoint / $VCVAL_REPBERT)",
    "repbert-hybrid": "BM25 + RepBERT fused by reciprocal rank + the baseline localizer (--checkpoint / $VCVAL_REPBERT)",
    "rocketqa": "BM25 + the RocketQAv2 dual encoder, top windows re-ranked by its cross-encoder + the baseline "
                "localizer (--checkpoint / $VCVAL_ROCKETQA)",
    "mbvr": "whole videos by the trained MBVR towers (transcript + frames) + the baseline localizer "
            "(--checkpoint / $VCVAL_MBVR)",
    "cuespan": "hybrid retrieval + the learned CueSpan localizer over stored sentence encodings (calibrated)",
    "ccgs": "hybrid retrieval + the CCGS cross-encoder localizer (accurate mode, for a GPU)",
    "default": "what `vcval ask` uses: cuespan when a checkpoint is available, else hybrid",
}
"""The one list of methods (``--method`` of ``vcval ask`` / ``vcval eval``, ``build_pipeline``)."""
BASELINE_METHODS = ("bm25-video", "bm25", "dense", "hybrid", "hybrid-video")
REPBERT_METHODS = ("repbert", "repbert-hybrid", "rocketqa")
RETRIEVER_CHECKPOINT_METHODS = (*REPBERT_METHODS, "mbvr")
"""Methods whose checkpoint is a trained retriever (not a localizer): ``$VCVAL_CHECKPOINT`` does not apply."""
MAX_QUESTION_CHARS = 1000


def validate_question(question: object) -> str:
    """Return the stripped question, or raise InvalidInputError for empty / non-text / huge input."""
    if question is not None and not isinstance(question, str):
        raise InvalidInputError(f"the question must be text (str), got {type(question).__name__}")
    if not isinstance(question, str) or not question.strip():
        raise InvalidInputError("the question is empty: type a question such as 'How do I put on a sling?'")
    try:
        question.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError("the question is not valid UTF-8 text (it holds undecodable bytes or a lone "
                                f"surrogate at character {exc.start}); retype it") from exc
    if "\x00" in question:
        raise InvalidInputError("the question contains a NUL character; retype it")
    question = " ".join(question.split())
    if len(question) > MAX_QUESTION_CHARS:
        raise InvalidInputError(
            f"the question is {len(question)} characters long; keep it under {MAX_QUESTION_CHARS}"
        )
    return question


MAX_K = 1000


def validate_k(k: object) -> int:
    """``k`` if it is an int in [1, 1000], else InvalidInputError."""
    import numbers

    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise InvalidInputError(f"k must be a whole number (int), got {k!r}")
    if not 1 <= int(k) <= MAX_K:
        raise InvalidInputError(f"k must be between 1 and {MAX_K} (got {k})")
    return int(k)


class VCVAL:
    """Retriever + localizer over a :class:`~vcval.corpus.Corpus`."""

    def __init__(self, corpus: Corpus, retriever: Retriever, localizer: Localizer,
                 config: PipelineConfig | None = None) -> None:
        self.corpus = corpus
        self.retriever = retriever
        self.localizer = localizer
        self.config = config or PipelineConfig()

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Path | None = None,
        *,
        corpus: Corpus | str | Path | None = None,
        device: str = "auto",
        method: str = "default",
        revision: str | None = None,
        n_videos: int = 10,
        runtime: str = "torch",
    ) -> VCVAL:
        """Build the pipeline over ``corpus`` (a Corpus or a directory, default ``./corpus``).

        ``name_or_path``: a CCGS checkpoint directory or a Hub repo id (opt-in network); None
        uses ``$VCVAL_CHECKPOINT`` (+ ``$VCVAL_CHECKPOINT_REVISION``) when set (how a Space opts in
        to Hub weights), else the checkpoint shipped with the package. ``runtime``: "torch"; "onnx" to
        run the default CueSpan method from its ONNX export without importing torch (:mod:`vcval.runtime`);
        "auto": "onnx" where :func:`choose_runtime` finds an export, else "torch" (and torch again, with a
        warning, when that export turns out damaged).
        """
        if name_or_path is None and os.environ.get("VCVAL_CHECKPOINT") and method not in RETRIEVER_CHECKPOINT_METHODS:
            name_or_path = os.environ["VCVAL_CHECKPOINT"]
            revision = revision or os.environ.get("VCVAL_CHECKPOINT_REVISION") or None
        from vcval.corpus import Corpus

        if corpus is None or isinstance(corpus, (str, Path)):
            corpus = Corpus.open(corpus or "corpus")
        chosen = choose_runtime(runtime, method, name_or_path, device).runtime
        try:
            return build_pipeline(
                corpus, method, device=device, checkpoint=name_or_path, revision=revision, n_videos=n_videos,
                runtime=chosen,
            )
        except VCVALError as err:
            from vcval.runtime import ExportError

            if runtime != "auto" or chosen != "onnx" or not isinstance(err, ExportError):
                raise
            logger.warning("%s; answering on torch", err)  # auto: a damaged export must not stop serving
            return build_pipeline(
                corpus, method, device=device, checkpoint=name_or_path, revision=revision, n_videos=n_videos,
            )

    def candidates(self, question: str) -> list[Candidate]:
        """Retrieve the top ``config.n_videos`` videos for the question as localizer candidates."""
        from vcval.retrieval import rank_videos

        hits = self.retriever.search(question, self.config.n_windows)
        by_video: dict[str, list] = {}
        for hit in hits:
            by_video.setdefault(hit.video_id, []).append(hit)
        with_units = bool(getattr(self.localizer, "needs_units", False))
        out = []
        for video_id, score, _best in rank_videos(hits, self.config.n_videos):
            out.append(
                Candidate(
                    record=self.corpus.get(video_id),
                    cues=self.corpus.cues(video_id),
                    features=self.corpus.features(video_id),
                    retrieval_score=float(score),
                    hits=by_video.get(video_id, []),
                    units=self.corpus.unit_encodings(video_id) if with_units else None,
                )
            )
        return out

    def ask(self, question: str, k: int = 5, *, with_clips: bool = False) -> list[Answer]:
        """Answers to ``question`` across the corpus, best first (at most ``k``)."""
        question = validate_question(question)
        k = validate_k(k)
        if not isinstance(with_clips, bool):
            raise InvalidInputError(f"with_clips must be True or False, got {with_clips!r}")
        if len(self.corpus) == 0:
            raise EmptyCorpusError("the corpus is empty: add videos with `vcval ingest PATH` first")
        answers = self.localizer.localize(question, self.candidates(question), top_n=k)
        if with_clips:
            answers = [self.with_clip(a) for a in answers]
        return answers

    def clip_start(self, answer: Answer) -> float:
        """Where the answer's clip starts: ``config.lead_in_s`` before the answer (not before 0)."""
        return max(0.0, answer.start - self.config.lead_in_s)

    def clip(self, answer: Answer) -> Path:
        """Trimmed H.264 clip from :meth:`clip_start` to the answer's end (cached by video, start, end)."""
        if not isinstance(answer, Answer):
            raise InvalidInputError(f"clip() takes an Answer from ask(), got {type(answer).__name__}")
        return self.corpus.clip(answer.video_id, self.clip_start(answer), answer.end)

    def with_clip(self, answer: Answer) -> Answer:
        """The answer with ``clip_path`` set when the video has media (transcript-only: unchanged)."""
        from dataclasses import replace

        if self.corpus.media_file(answer.video_id) is None:
            return answer
        return replace(answer, clip_path=str(self.clip(answer)))


def available_methods() -> Sequence[str]:
    """The method names of :data:`METHODS`."""
    return tuple(METHODS)


def find_default_checkpoint() -> Path | None:
    """The shipped default checkpoint (:func:`vcval.config.checkpoint_dir`), if this install has one."""
    return checkpoint_dir()


def checkpoint_kind(checkpoint: str | Path, revision: str | None = None) -> str:
    """"cuespan" or "ccgs": which localizer a checkpoint folder (or Hub repo) holds, from its config.json."""
    import json

    from vcval.config import local_or_hub_folder

    path = local_or_hub_folder(str(checkpoint), revision, allow_patterns=["config.json"]) / "config.json"
    try:
        keys = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise NotFoundError(f"{checkpoint} has no readable config.json ({err}); is it a vcval checkpoint?") from err
    return "cuespan" if "use_span_sum" in keys else "ccgs"


def build_pipeline(
    corpus: Corpus,
    method: str = "default",
    *,
    device: str = "auto",
    checkpoint: str | Path | None = None,
    revision: str | None = None,
    n_videos: int = 10,
    encoder: TextEncoder | None = None,
    runtime: str = "torch",
) -> VCVAL:
    """A VCVAL over ``corpus`` for a named method (``runtime``: see :func:`onnx_export_for`).

    "bm25-video" | "bm25" | "dense" | "hybrid": that retriever + the baseline localizer.
    "cuespan": the learned CueSpan localizer from ``checkpoint`` (default: the shipped one) behind
    the retriever its ``inference.json`` names.
    "ccgs": hybrid retrieval + the CCGS localizer from ``checkpoint`` (default: the shipped one).
    "repbert" | "repbert-hybrid": the RepBERT encoder from ``checkpoint`` (a folder or Hub id at ``revision``;
    default ``$VCVAL_REPBERT``, NotFoundError when neither) alone or fused with window BM25, + the baseline localizer.
    "rocketqa": the RocketQAv2 dual encoder + cross-encoder from ``checkpoint`` (default ``$VCVAL_ROCKETQA``):
    BM25 + dual encoder, the top windows re-ranked, + the baseline localizer.
    "mbvr": whole-video retrieval by the MBVR towers from ``checkpoint`` (default ``$VCVAL_MBVR``) + the baseline
    localizer.
    "default": what ``vcval ask`` uses: "cuespan" when a checkpoint is available, else "hybrid".
    """
    from vcval.encoders import TextEncoder
    from vcval.retrieval import make_retriever

    if method not in available_methods():
        raise InvalidInputError(f"unknown method {method!r}; choose one of {', '.join(available_methods())}")
    if runtime not in RUNTIMES:
        raise InvalidInputError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    if runtime == "onnx":
        return _build_onnx_pipeline(corpus, method, checkpoint, n_videos)
    encoder = encoder or TextEncoder.load(device=device)
    if method == "default":
        if checkpoint is not None:
            method = checkpoint_kind(checkpoint, revision)
        else:
            method = "cuespan" if checkpoint_dir("cuespan") is not None else "hybrid"
    config = PipelineConfig(n_videos=n_videos)
    if method == "cuespan":
        from vcval.localization.cuespan import CueSpanLocalizer

        source = checkpoint or checkpoint_dir("cuespan")
        if source is None:
            raise NotFoundError("method 'cuespan' needs a checkpoint: pass checkpoint=DIR or a Hub id "
                                "(this install ships none)")
        cuespan = CueSpanLocalizer.from_pretrained(source, encoder=encoder, idf=corpus.word_idf, device=device,
                                                   revision=revision)
        retriever = make_retriever(corpus, cuespan.inference.retriever, encoder=encoder)
        config.lead_in_s = cuespan.inference.lead_in_s
        localizer: Localizer = cuespan
    elif method == "ccgs":
        from vcval.localization.ccgs import CCGSLocalizer

        retriever = make_retriever(corpus, "hybrid", encoder=encoder)
        source = checkpoint or find_default_checkpoint()
        if source is None:
            raise NotFoundError("method 'ccgs' needs a checkpoint: pass checkpoint=DIR or a Hub id "
                                "(this install ships none)")
        localizer = CCGSLocalizer.from_pretrained(source, device=device, revision=revision,
                                                             baseline=BaselineLocalizer(encoder.encode))
    elif method == "rocketqa":
        from vcval.models.reranker import load_rocketqa

        dual, reranker = load_rocketqa(checkpoint, revision=revision, device=device)
        retriever = make_retriever(corpus, method, encoder=encoder, repbert=dual, reranker=reranker)
        localizer = BaselineLocalizer(encoder.encode, window_weight=reranker.inference.get("window_weight", 0.0))
    elif method in REPBERT_METHODS:
        from vcval.encoders import load_repbert

        repbert = load_repbert(checkpoint, revision=revision, device=device)
        retriever = make_retriever(corpus, method, encoder=encoder, repbert=repbert)
        localizer = BaselineLocalizer(encoder.encode)
    elif method == "mbvr":
        from vcval.models.mbvr import load_mbvr

        retriever = make_retriever(corpus, method, encoder=encoder,
                                   mbvr=load_mbvr(checkpoint, revision=revision, device=device))
        localizer = BaselineLocalizer(encoder.encode)
    else:
        retriever = make_retriever(corpus, method, encoder=encoder)
        localizer = BaselineLocalizer(encoder.encode)
    logger.info("pipeline: method=%s, %d videos in corpus", method, len(corpus))
    return VCVAL(corpus, retriever, localizer, config)


RUNTIMES = ("torch", "onnx")
RUNTIME_CHOICES = ("auto", *RUNTIMES)
EXPORT_HINT = ("run `vcval export` once (about a minute) and the default model then answers on onnxruntime, "
               "without loading torch (a one-shot `vcval ask` in about a second, an app with less memory)")


def gpu_visible() -> bool:
    """An NVIDIA driver is loaded (checked without importing torch)."""
    return os.path.exists("/proc/driver/nvidia/version")


def exportable(method: str) -> bool:
    """``method`` is one the ONNX runtime can serve (with a local CueSpan checkpoint)."""
    return method in ("default", "cuespan")


class RuntimeChoice(NamedTuple):
    """What :func:`choose_runtime` chose; ``missing_export``: "auto" chose torch only because no export exists."""

    runtime: str
    missing_export: bool = False


def choose_runtime(runtime: str, method: str = "default", checkpoint: str | Path | None = None,
                   device: str = "auto") -> RuntimeChoice:
    """The runtime to build with: ``runtime`` itself unless it is "auto"; for "auto", "onnx" when ``method``
    with ``checkpoint`` (None: ``$VCVAL_CHECKPOINT``, else the shipped one) has an export and the CPU serves
    (``device`` "cpu", or "auto" without a GPU), else "torch". InvalidInputError for an unknown runtime."""
    if runtime not in RUNTIME_CHOICES:
        raise InvalidInputError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIME_CHOICES)}")
    if runtime != "auto":
        return RuntimeChoice(runtime)
    if not exportable(method) or device not in ("auto", "cpu") or (device == "auto" and gpu_visible()):
        return RuntimeChoice("torch")
    if checkpoint is None:
        checkpoint = os.environ.get("VCVAL_CHECKPOINT") or None
    if checkpoint is not None and not Path(checkpoint).is_dir():
        return RuntimeChoice("torch")  # a Hub id: fetched and served by torch
    if onnx_export_for(method, checkpoint) is None:
        return RuntimeChoice("torch", missing_export=True)
    return RuntimeChoice("onnx")


def onnx_export_for(method: str = "default", checkpoint: str | Path | None = None) -> tuple[Path, Path] | None:
    """(export folder, CueSpan checkpoint folder) when ``method`` with ``checkpoint`` can run on the ONNX
    runtime and ``vcval export`` has exported it; None otherwise (not a CueSpan method, a Hub id, not exported).

    The ONNX runtime serves "default" / "cuespan" with a local CueSpan checkpoint over the packaged MiniLM (and the
    checkpoint's own question encoder, ``question_tower/``, when it has one).
    """
    from vcval.encoders import DEFAULT_TEXT_ENCODER
    from vcval.runtime import find_export

    if not exportable(method):
        return None
    source = Path(checkpoint) if checkpoint is not None else checkpoint_dir("cuespan")
    if source is None or not (source / "config.json").is_file() or not (source / "model.safetensors").is_file():
        return None
    if checkpoint is not None and checkpoint_kind(source, None) != "cuespan":
        return None
    folder = find_export(source, DEFAULT_TEXT_ENCODER)
    return None if folder is None else (folder, source)


def _build_onnx_pipeline(corpus: Corpus, method: str, checkpoint: str | Path | None, n_videos: int) -> VCVAL:
    """The CueSpan pipeline on onnxruntime (see :func:`onnx_export_for`)."""
    from vcval.encoders import TextEncoder
    from vcval.localization.cuespan import CueSpanLocalizer
    from vcval.retrieval import make_retriever
    from vcval.runtime import load_export

    found = onnx_export_for(method, checkpoint)
    if found is None:
        raise NotFoundError(f"no ONNX export for method {method!r} with checkpoint {checkpoint or 'shipped'}: the "
                            "ONNX runtime serves the CueSpan methods with a local checkpoint folder; export it with "
                            "`vcval export` (add --checkpoint DIR for your own), or use runtime 'torch'")
    folder, source = found
    bert, head, question = load_export(folder)
    encoder = TextEncoder.load_onnx(bert)
    corpus.use_text_encoder(encoder)
    from vcval.localization.cuespan import QUESTION_TOWER

    question_encoder = None if question is None else TextEncoder.load_onnx(question, source / QUESTION_TOWER)
    cuespan = CueSpanLocalizer.from_onnx(source, head, encoder=encoder, idf=corpus.word_idf,
                                         question_encoder=question_encoder)
    retriever = make_retriever(corpus, cuespan.inference.retriever, encoder=encoder)
    config = PipelineConfig(n_videos=n_videos, lead_in_s=cuespan.inference.lead_in_s)
    logger.info("pipeline: method=cuespan on the ONNX runtime (%s), %d videos in corpus", folder, len(corpus))
    return VCVAL(corpus, retriever, cuespan, config)
