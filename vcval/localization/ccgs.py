"""CCGSLocalizer: score every span cell of every candidate video in one pass, rank globally."""
from __future__ import annotations

import contextlib
import logging
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vcval.config import JsonConfig
from vcval.errors import InvalidInputError
from vcval.localization.base import Candidate
from vcval.localization.baseline import BaselineLocalizer
from vcval.localization.prior import SpanPrior
from vcval.localization.spans import decode_spans
from vcval.models.ccgs.configuration_ccgs import CCGSConfig
from vcval.models.ccgs.inputs import VideoText, batch_inputs, spec_from_tokenizer, tokenize_cues
from vcval.models.ccgs.modeling_ccgs import CCGSModel, load_ccgs
from vcval.types import Answer, Cue
from vcval.utils import resolve_device

logger = logging.getLogger(__name__)


def video_text(tokenizer, cues: Sequence[Cue]) -> VideoText:
    """Question-independent model input of one transcript (cue token ids + cue seconds)."""
    return VideoText(
        cue_tokens=tokenize_cues(tokenizer, [c.text for c in cues]),
        cue_start=np.array([c.start for c in cues], dtype=np.float32),
        cue_end=np.array([max(c.end, c.start) for c in cues], dtype=np.float32),
    )


def bf16_supported(device: torch.device) -> bool:
    """Whether bf16 autocast is fast on ``device`` (native bf16 support)."""
    try:
        if device.type == "cuda":
            return bool(torch.cuda.is_bf16_supported())
        if device.type == "cpu":
            return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):
        return False
    return False


INFERENCE_FILE = "inference.json"
LEGACY_RETRIEVER_ORDER = 1e6  # pre-0.2 checkpoints wrote this retrieval_weight to mean keep_retriever_order


@dataclass
class CCGSInference(JsonConfig):
    """How the CCGS localizer turns span matrices into ranked answers; saved as ``inference.json``
    beside a checkpoint (tuned on development data only, by ``scripts/ccgs_ablations.py --parts tune``).

    keep_retriever_order: rank answers by the retriever's video order first, then by span score
    (only as many videos are scored as ``top_n`` needs); else rank by the fused score
    span score + ``retrieval_weight`` * min-max normalised retrieval score.
    prior_weight: + weight * log :class:`SpanPrior` of every span cell.
    baseline_weight: + weight * the training-free baseline's span score (needs the baseline).
    """

    keep_retriever_order: bool = False
    retrieval_weight: float = 0.0
    prior_weight: float = 0.0
    baseline_weight: float = 0.0

    @classmethod
    def from_model_config(cls, config: CCGSConfig) -> CCGSInference:
        """Settings of a checkpoint without ``inference.json`` (pre-0.2: the weights sat in config.json)."""
        order = config.retrieval_weight >= LEGACY_RETRIEVER_ORDER
        return cls(order, 0.0 if order else config.retrieval_weight, config.prior_weight, config.baseline_weight)

    @classmethod
    def for_checkpoint(cls, name_or_path: str | Path, config: CCGSConfig, revision: str | None = None) -> CCGSInference:
        """``inference.json`` of a checkpoint folder or Hub repo, else :meth:`from_model_config`."""
        path = Path(name_or_path) / INFERENCE_FILE
        if not Path(name_or_path).is_dir():
            from huggingface_hub import hf_hub_download

            try:
                path = Path(hf_hub_download(str(name_or_path), INFERENCE_FILE, revision=revision))
            except Exception as exc:  # an older checkpoint without the file, or offline
                logger.info("no %s for %s (%s); using its config.json weights", INFERENCE_FILE, name_or_path, exc)
                return cls.from_model_config(config)
        return cls.from_json(path, strict=False) if path.is_file() else cls.from_model_config(config)


def fuse_scores(span_scores: np.ndarray, retrieval: np.ndarray, weight: float) -> np.ndarray:
    """span score + weight * min-max normalised retrieval score of the span's video.

    span_scores: (S,) scores of S (video, span) pairs; retrieval: (S,) their videos' retrieval scores.
    """
    if weight == 0 or len(retrieval) == 0:
        return span_scores
    lo, hi = float(retrieval.min()), float(retrieval.max())
    norm = (retrieval - lo) / (hi - lo) if hi > lo else np.ones_like(retrieval)
    return span_scores + weight * norm


class CCGSLocalizer:
    """Localizer protocol over a :class:`CCGSModel`.

    All span cells of all candidate videos are scored (``batch_size`` videos per forward) and
    (video, span) pairs are ranked across videos; each video contributes up to
    ``spans_per_video`` non-overlapping spans. ``settings`` (:class:`CCGSInference`; default: the
    checkpoint's ``inference.json``) says how answers are ranked; single keywords override it.
    ``retrieval_weight`` adds the min-max normalised retrieval score; ``prior_weight`` adds ``prior_weight * log p(span)`` of :class:`SpanPrior`, the
    answer length/position prior fitted to the MedVidQA train annotations, to every span cell;
    ``baseline_weight`` (default: the checkpoint's) adds that many times the span score of the
    training-free ``baseline`` localizer (lexical + dense cue relevance, see
    :class:`vcval.localization.baseline.BaselineLocalizer`); it needs ``baseline``. Both weights are tuned on
    development data (scripts/ccgs_ablations.py --parts tune).
    ``precision``: "fp32", "bf16" (autocast) or "auto" (bf16 where the device supports it natively:
    CUDA with bf16, or a CPU with AVX512-BF16/AMX; the shipped model was trained under bf16 autocast).
    """

    def __init__(
        self,
        model: CCGSModel,
        tokenizer,
        device: str | torch.device = "auto",
        batch_size: int = 8,
        *,
        spans_per_video: int = 3,
        settings: CCGSInference | None = None,
        retrieval_weight: float | None = None,
        prior_weight: float | None = None,
        prior: SpanPrior = SpanPrior(),
        baseline: BaselineLocalizer | None = None,
        baseline_weight: float | None = None,
        keep_retriever_order: bool | None = None,
        precision: str = "auto",
        cache_size: int = 2048,
    ) -> None:
        if precision not in ("fp32", "bf16", "auto"):
            raise InvalidInputError(f"precision must be 'fp32', 'bf16' or 'auto', got {precision!r}")
        self.device = torch.device(resolve_device(device))
        if precision == "auto":
            precision = "bf16" if bf16_supported(self.device) else "fp32"
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.batch_size = max(1, int(batch_size))
        self.spans_per_video = max(1, int(spans_per_video))
        s = settings or CCGSInference.from_model_config(model.config)
        self.retrieval_weight = s.retrieval_weight if retrieval_weight is None else float(retrieval_weight)
        self.prior_weight = s.prior_weight if prior_weight is None else float(prior_weight)
        self.keep_retriever_order = s.keep_retriever_order if keep_retriever_order is None else bool(keep_retriever_order)
        self.prior = prior
        self.baseline = baseline
        self.baseline_weight = s.baseline_weight if baseline_weight is None else float(baseline_weight)
        if self.baseline_weight and baseline is None:
            raise InvalidInputError(
                f"baseline_weight={self.baseline_weight} needs a baseline localizer (pass baseline=BaselineLocalizer(embed))"
            )
        self.precision = precision
        cfg = model.config
        self.spec = spec_from_tokenizer(tokenizer, cfg.max_len, cfg.overlap_tokens, cfg.max_question_tokens)
        self._cache: OrderedDict[tuple[str, int, str], VideoText] = OrderedDict()
        self._cache_size = cache_size

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | Path = "checkpoints", *, revision: str | None = None, device: str = "auto", **kwargs
    ) -> CCGSLocalizer:
        """Load a checkpoint (local dir or Hub id at a pinned revision) and wrap it."""
        model, tokenizer = load_ccgs(name_or_path, revision=revision, device=device)
        kwargs.setdefault("settings", CCGSInference.for_checkpoint(name_or_path, model.config, revision))
        weight = kwargs.get("baseline_weight", kwargs["settings"].baseline_weight)
        if weight and kwargs.get("baseline") is None:  # the checkpoint was tuned with the baseline fused in
            from vcval.encoders import TextEncoder

            kwargs["baseline"] = BaselineLocalizer(TextEncoder.load(device=device).encode)
        return cls(model, tokenizer, device=device, **kwargs)

    def _video_text(self, video_id: str, cues: Sequence[Cue]) -> VideoText:
        key = (video_id, len(cues), cues[-1].text if cues else "")
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        vt = video_text(self.tokenizer, cues)
        self._cache[key] = vt
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return vt

    def _autocast(self):
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @torch.no_grad()
    def score_matrices(self, question: str, candidates: Sequence[Candidate]) -> list[np.ndarray | None]:
        """Per candidate, its (N, N) float32 span-score matrix (invalid cells -inf); None for cue-less ones."""
        q_tokens = self.tokenizer(question, add_special_tokens=False)["input_ids"]
        out: list[np.ndarray | None] = [None for _ in candidates]
        with_cues = [i for i, c in enumerate(candidates) if c.cues]
        for lo in range(0, len(with_cues), self.batch_size):
            idx = with_cues[lo : lo + self.batch_size]
            videos = [self._video_text(candidates[i].record.video_id, candidates[i].cues) for i in idx]
            feats = [candidates[i].features for i in idx] if self.model.config.use_visual else None
            inputs = batch_inputs([q_tokens] * len(idx), videos, self.spec, feats)
            inputs = {k: v.to(self.device) for k, v in inputs.items()}
            with self._autocast():
                res = self.model(**inputs)
            scores = res.scores.float().cpu().numpy()
            valid = res.valid.cpu().numpy()
            for row, i in enumerate(idx):
                n = len(candidates[i].cues)
                out[i] = np.where(valid[row, :n, :n], scores[row, :n, :n], -np.inf).astype(np.float32)
        return out

    def baseline_matrices(self, question: str, candidates: Sequence[Candidate]) -> list[np.ndarray | None]:
        """Per candidate, the baseline localizer's (N, N) span scores (invalid cells -inf); None without cues."""
        if self.baseline is None:
            raise InvalidInputError("this CCGSLocalizer has no baseline localizer to fuse with")
        q_vec = self.baseline.embed([question])[0]
        return [self.baseline.candidate_span_scores(question, c, q_vec) if c.cues else None for c in candidates]

    def spans_from_matrices(
        self,
        candidates: Sequence[Candidate],
        matrices: Sequence[np.ndarray | None],
        prior_weight: float | None = None,
        baseline_matrices: Sequence[np.ndarray | None] | None = None,
        baseline_weight: float | None = None,
    ) -> list[list[tuple[int, int, float]]]:
        """Per candidate, its top ``spans_per_video`` (first cue, last cue, score) spans; [] for cue-less ones.

        cell score = CCGS score + prior_weight * log prior + baseline_weight * baseline span score
        (weights default to this localizer's; cells invalid in either matrix are dropped).
        """
        p_weight = self.prior_weight if prior_weight is None else float(prior_weight)
        b_weight = self.baseline_weight if baseline_weight is None else float(baseline_weight)
        if b_weight and baseline_matrices is None:
            raise InvalidInputError("baseline_weight > 0 needs the baseline matrices (see baseline_matrices())")
        out: list[list[tuple[int, int, float]]] = []
        for k, (cand, scores) in enumerate(zip(candidates, matrices)):
            if scores is None:
                out.append([])
                continue
            scores = scores.astype(np.float64)
            if p_weight:
                scores = scores + p_weight * self.prior.cue_span_matrix(cand.cues)
            if b_weight:
                scores = scores + b_weight * baseline_matrices[k]
            valid = np.isfinite(scores)
            out.append(decode_spans(np.where(valid, scores, 0.0), valid, self.spans_per_video))
        return out

    def score_videos(self, question: str, candidates: Sequence[Candidate]) -> list[list[tuple[int, int, float]]]:
        """Per candidate, its top ``spans_per_video`` (first cue, last cue, score) spans; [] for cue-less ones."""
        base = self.baseline_matrices(question, candidates) if self.baseline_weight else None
        return self.spans_from_matrices(candidates, self.score_matrices(question, candidates), baseline_matrices=base)

    def rank(
        self,
        candidates: Sequence[Candidate],
        spans: Sequence[Sequence[tuple[int, int, float]]],
        top_n: int = 10,
        retrieval_weight: float | None = None,
        keep_retriever_order: bool | None = None,
    ) -> list[Answer]:
        """Answers from per-candidate spans (see :meth:`score_videos`), ranked across videos, best first."""
        weight = self.retrieval_weight if retrieval_weight is None else retrieval_weight
        by_retriever = self.keep_retriever_order if keep_retriever_order is None else keep_retriever_order
        rows: list[tuple[int, int, int, float]] = []  # (candidate, first, last, span score)
        for ci, per_video in enumerate(spans):
            rows += [(ci, i, j, s) for i, j, s in per_video]
        answers: list[Answer] = []
        if rows:
            raw = np.array([r[3] for r in rows], dtype=np.float64)
            retr = np.array([candidates[r[0]].retrieval_score for r in rows], dtype=np.float64)
            fused = fuse_scores(raw, retr, weight)
            if by_retriever:  # lexicographic: the retriever's video order, then span score
                order = sorted(range(len(rows)), key=lambda k: (-retr[k], rows[k][0], -raw[k], rows[k][1]))
                # readable monotone score: (videos below this one) + squashed span score in (0, 1)
                video_rank = {ci: r for r, ci in enumerate(sorted({row[0] for row in rows},
                                                                  key=lambda c: (-candidates[c].retrieval_score, c)))}
                fused = np.array([len(video_rank) - 1 - video_rank[row[0]] + 0.5 + 0.5 * row[3] / (1 + abs(row[3]))
                                  for row in rows])
            else:
                order = sorted(range(len(rows)), key=lambda k: (-fused[k], rows[k][0], rows[k][1]))
            for k in order:
                ci, i, j, _ = rows[k]
                cand = candidates[ci]
                span = tuple(cand.cues[i : j + 1])
                answers.append(
                    Answer(cand.record.video_id, cand.record.title, float(span[0].start),
                           float(max(span[-1].end, span[0].start)), float(fused[k]), span)
                )
        floor = min((a.score for a in answers), default=0.0) - 1.0
        for ci, cand in enumerate(candidates):  # searchable by title only: whole video, after every span
            if not cand.cues:
                answers.append(Answer(cand.record.video_id, cand.record.title, 0.0, cand.record.duration, floor - ci, ()))
        return answers[:top_n]

    def localize(self, question: str, candidates: Sequence[Candidate], top_n: int = 10) -> list[Answer]:
        """Up to ``top_n`` answers ranked across the candidate videos, best first."""
        if not question or not question.strip():
            raise InvalidInputError("the question is empty; ask something about the videos")
        if not candidates:
            return []
        if not self.keep_retriever_order:
            return self.rank(candidates, self.score_videos(question, candidates), top_n)
        # The retriever fixes the video order: score videos best-first, only until top_n spans exist.
        order = sorted(range(len(candidates)), key=lambda c: -candidates[c].retrieval_score)
        spans: list[list[tuple[int, int, float]]] = [[] for _ in candidates]
        found, pos = 0, 0
        while pos < len(order) and found < top_n:
            need = math.ceil((top_n - found) / self.spans_per_video)
            chunk = order[pos : pos + max(1, min(self.batch_size, need))]
            for c, got in zip(chunk, self.score_videos(question, [candidates[c] for c in chunk])):
                spans[c] = got
                found += len(got)
            pos += len(chunk)
        return self.rank(candidates, spans, top_n)

