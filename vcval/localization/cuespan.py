"""The learned default localizer: the CueSpan head over the corpus's stored sentence-unit encodings.

At ask time only the question is encoded; every candidate video's units (sentences merged from
cue fragments, :mod:`vcval.corpus.encodings`) and their MiniLM vectors come from the corpus. One
batched forward pass of :class:`~vcval.models.cuespan.CueSpanModel` scores every span of every
candidate; the best non-overlapping spans are ranked across videos and each answer gets a
calibrated ``confidence`` (:mod:`vcval.localization.confidence`), a ``confident`` flag, a calibrated
``video_confidence`` (its video is the right one) and its key sentence (:func:`key_unit`).
Spans start and end on unit (sentence) boundaries, so a clip never stops mid-sentence. A checkpoint
with a visual branch (``visual_dim``) also reads the candidate's frame features, pooled per unit by time.

A checkpoint folder holds ``config.json`` (:class:`CueSpanConfig`), ``model.safetensors``
(fp16 weights; an ensemble adds ``model-1.safetensors``, ... of the same config, scores averaged) and ``inference.json`` (:class:`CueSpanInference`: retriever, ranking weight,
lead-in, calibration and threshold, all chosen on dev data). A checkpoint trained with ``question_layers``
also holds ``question_tower/``: the localizer's own question encoder (a delta over the packaged MiniLM, read by
:meth:`vcval.encoders.TextEncoder.load`); the units keep the corpus's stored vectors either way.
"""
from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vcval.config import JsonConfig
from vcval.corpus.encodings import (
    UnitEncodings,
    content_words,
    encode_units,
    idf_coverage,
    lexical_overlap,
    question_weights,
    word_idf,
)
from vcval.errors import NotFoundError, VCVALError
from vcval.localization.base import Candidate
from vcval.localization.confidence import Calibrator, served_video_confidence
from vcval.localization.meta_discourse import meta_mask
from vcval.localization.question_form import question_form, step_of
from vcval.types import Answer

logger = logging.getLogger(__name__)

INFERENCE_FILE = "inference.json"
QUESTION_TOWER = "question_tower"  # sub-folder of a checkpoint: the localizer's own fine-tuned question encoder
SMALL_BATCH_UNITS = 8192  # candidates x units up to this run on one CPU thread (see utils.one_thread_if_small)
DECODES = ("argmax", "expected_iou")  # CueSpanInference.decode
MBR_CANDIDATES = 256  # expected-IoU decoding: candidate spans per video (the best-scoring ones)
CONFIDENCE_FEATURES = ("span_logprob", "video_prob", "margin", "max_cos", "lex_span", "lex_video", "retrieval_rank")


@dataclass
class CueSpanInference(JsonConfig):
    """How a CueSpan checkpoint is served (chosen on dev, shipped as ``inference.json``).

    retriever: the first stage ("hybrid" | "hybrid-video" | "bm25" | "dense" | "bm25-video").
    spans_per_video: non-overlapping spans kept per candidate video.
    retrieval_weight: rank score = span score - retrieval_weight * log(1 + retrieval rank).
    video_mass_weight: w adds w * (logsumexp of the video's span scores - its best span score) to the rank
    score of its spans. w = 1 ranks videos by the model's own video probability (the span mass of the video,
    what Loss2 trains) instead of by their single best span; inside a video the spans keep their order.
    0 (default, shipped): by the best span. An ablation: w = 1 gained 3.1 video R@1 on TutorialVQA dev but lost
    5.1 on MedVidQA, where long videos pile up span mass (benchmarks/cuespan_serving_ablations.md).
    lead_in_s: seconds of video a clip starts before the answer.
    source_length_median_s / length_log_sigma: the answer lengths of the training data (log-normal).
    target_length_median_s: when set, span scores get log N(target) - log N(source) of their length, so
    the model's learned absolute length (TutorialVQA: 31 s whatever the video's length) is moved to
    the answers of the domain served. The target median for a video of ``duration`` s is
    ``target_length_median_s * (duration / target_reference_duration_s) ** target_length_exponent``:
    over the 2,710 MedVidQA train annotations log(answer) grows with slope 0.42 in log(video length)
    (49.7 s at the median video, 485 s; 25 s for a 95 s video), a better fit than one fixed length
    (residual log-sigma 0.75 vs 0.80) or a fixed share of the video (0.84). Exponent 0: one fixed target.
    skip_first_units: spans may not start in the video's first this-many units (its introduction: answers
    start on the first sentence in about 1% of the MedVidQA and TutorialVQA train annotations); a video with
    no more units than this keeps them all.
    calibration: a :class:`Calibrator` dict (empty: no confidence); threshold: ``confident`` cut.
    video_calibration: a :class:`Calibrator` dict over the same features for "the answer's video is the
    right one" (empty: answers carry no ``video_confidence``; checkpoints calibrated before 2026-12-03).
    decode: how each video's spans are chosen from its span scores. "argmax": the highest-scoring spans.
    "expected_iou": the spans with the highest expected IoU under the model's span distribution
    (softmax of the scores / ``decode_temperature`` over the video's ``decode_support`` best spans),
    the minimum-Bayes-risk choice for an IoU metric: where the model hesitates between ends, it plays
    the stretch most of its probability mass agrees on instead of one peak.
    fact_max_units: when > 0, a question whose form asks for one fact (:func:`question_form` ``"fact"``:
    "where ...", "how long ...", "should I ...") is played spans of at most this many units (sentences) in
    every video; videos rank as without the cap, and procedure and open questions keep the model's lengths. 0: off (checkpoints before 2026-12-05).
    meta_edges: no span starts or ends on a unit that talks about the video rather than its subject (channel
    promotion, greetings, "in this video we'll ...", sign-offs: :func:`vcval.localization.meta_discourse.is_meta`);
    such a unit may still sit inside a span. A video whose every span would start or end on one keeps them
    all. False: off (checkpoints calibrated before the rule).
    goal_split: a "how ... <step> to <goal>?" question (:func:`vcval.localization.question_form.step_of`) places
    its spans inside each video by its step alone; videos rank, and answers are calibrated, by the whole
    question. The goal restates the video's topic, which draws the span to the introduction. False: off.
    """

    retriever: str = "hybrid"
    spans_per_video: int = 3
    retrieval_weight: float = 0.0
    video_mass_weight: float = 0.0
    lead_in_s: float = 2.0
    source_length_median_s: float = 31.0
    length_log_sigma: float = 0.8
    skip_first_units: int = 0
    target_length_median_s: float | None = None
    target_length_exponent: float = 0.0
    target_reference_duration_s: float | None = None
    threshold: float = 0.5
    calibration: dict = field(default_factory=dict)
    video_calibration: dict = field(default_factory=dict)
    decode: str = "argmax"
    decode_temperature: float = 1.0
    decode_support: int = 1024
    fact_max_units: int = 0
    meta_edges: bool = False
    goal_split: bool = False

    @classmethod
    def of_checkpoint(cls, folder: str | Path) -> CueSpanInference:
        """The checkpoint folder's ``inference.json``, or the defaults when it has none."""
        path = Path(folder) / INFERENCE_FILE
        return cls.from_json(path, strict=False) if path.is_file() else cls()


@dataclass
class ScoredSpan:
    """One candidate span with the features its confidence is computed from."""

    candidate: int
    first_unit: int
    last_unit: int
    score: float
    rank_score: float
    features: dict[str, float]
    video_mass: float = 0.0  # logsumexp of its video's span scores - its video's best span score (>= 0)


class CueSpanLocalizer:
    """Scores spans of sentence units with a trained :class:`CueSpanModel` (see module doc)."""

    needs_units = True  # VCVAL.candidates fills Candidate.units from the corpus

    def __init__(self, model: Any, encoder: Any, *, idf: Callable[[], dict[str, float]] | None = None,
                 inference: CueSpanInference | None = None, sentence_units: bool = True,
                 question_encoder: Any = None) -> None:
        """``sentence_units=False`` scores the raw cues as units (the no-sentence-snapping ablation: spans
        may then start or end mid-sentence); the corpus's stored sentence units are used otherwise.
        ``encoder`` embeds units the corpus does not store; ``question_encoder`` (default: ``encoder``) the
        question (a checkpoint's ``question_tower``)."""
        self.sentence_units = sentence_units
        self.model = model.eval()
        self.encoder = encoder
        self.question_encoder = question_encoder if question_encoder is not None else encoder
        self.idf = idf
        self.inference = inference or CueSpanInference()
        if self.inference.decode not in DECODES:
            raise ValueError(f"unknown decode {self.inference.decode!r} in the checkpoint's {INFERENCE_FILE}: "
                             f"use one of {', '.join(DECODES)}")
        self.calibrator = Calibrator.from_dict(self.inference.calibration, strict=False)
        self.video_calibrator = Calibrator.from_dict(self.inference.video_calibration, strict=False)
        self._units: OrderedDict[tuple[str, str], UnitEncodings] = OrderedDict()
        self._meta: OrderedDict[tuple[str, str, int], np.ndarray] = OrderedDict()  # meta_of, per video

    @classmethod
    def from_onnx(cls, path: str | Path, model: Any, *, encoder: Any,
                  idf: Callable[[], dict[str, float]] | None = None, question_encoder: Any = None) -> CueSpanLocalizer:
        """The checkpoint folder ``path`` served by its ONNX export ``model`` (:class:`vcval.runtime.OrtCueSpan`):
        the folder gives ``inference.json``, the export the span scores (and ``question_encoder``, the export of
        its question tower when it has one); no torch."""
        if question_encoder is None and (Path(path) / QUESTION_TOWER).is_dir():
            raise VCVALError(f"{path} has its own question encoder ({QUESTION_TOWER}/) but its ONNX export was "
                             "given none: run `vcval export --force`, or ask with --runtime torch")
        return cls(model, encoder, idf=idf, inference=CueSpanInference.of_checkpoint(path),
                   question_encoder=question_encoder)

    @classmethod
    def from_pretrained(cls, path: str | Path, *, encoder: Any, idf: Callable[[], dict[str, float]] | None = None,
                        device: str = "cpu", revision: str | None = None) -> CueSpanLocalizer:
        """Load a checkpoint folder (or a Hub repo id, fetched with ``revision``; opt-in network). A folder
        with further weight files ``model-<k>.safetensors`` is served as an ensemble (their scores averaged)."""
        from vcval.config import local_or_hub_folder
        from vcval.models.cuespan import load_cuespan

        folder = local_or_hub_folder(str(path), revision, what="CueSpan checkpoint",
                                     allow_patterns=["config.json", "model*.safetensors", INFERENCE_FILE,
                                                     f"{QUESTION_TOWER}/*", f"{QUESTION_TOWER}/*/*"])
        if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
            raise NotFoundError(f"{folder} is not a CueSpan checkpoint (needs config.json and model.safetensors)")
        model = load_cuespan(folder)
        from vcval.utils import resolve_device

        return cls(model.to(resolve_device(device)), encoder, idf=idf, inference=CueSpanInference.of_checkpoint(folder),
                   question_encoder=load_question_tower(folder, device))

    def question_vector(self, question: str) -> np.ndarray:
        """(D,) the question's L2-normalised vector from the question encoder."""
        return np.asarray(self.question_encoder.encode([question]), np.float32)[0]

    # ------------------------------------------------------------------ scoring
    def units_of(self, cand: Candidate) -> UnitEncodings:
        """The candidate's unit encodings (given by the corpus, else computed and kept in memory)."""
        if cand.units is not None and self.sentence_units:
            return cand.units
        key = (cand.record.video_id, cand.record.content_hash)
        if key not in self._units:
            self._units[key] = encode_units(cand.cues, self.encoder, merge=self.sentence_units)
            if len(self._units) > 1024:
                self._units.popitem(last=False)
        return self._units[key]

    def visual_of(self, cand: Candidate, units: UnitEncodings) -> tuple[np.ndarray, np.ndarray] | None:
        """The candidate's frame features pooled per unit when the model has a visual branch of their size."""
        dim = int(getattr(self.model.config, "visual_dim", 0) or 0)
        feats = cand.features
        if not dim or feats is None or len(feats) == 0:
            return None
        from vcval.models.cuespan import pool_frames

        if feats.ndim != 2 or feats.shape[1] != dim:
            logger.warning("video %s: visual features of shape %s do not fit the model's visual_dim %d; text only",
                           cand.record.video_id, tuple(feats.shape), dim)
            return None
        return pool_frames(feats, units.starts, units.ends)

    def score(self, question: str, candidates: Sequence[Candidate], *,
              q_vec: np.ndarray | None = None) -> list[ScoredSpan]:
        """Up to ``spans_per_video`` spans per candidate with their features, best ``rank_score`` first."""
        from vcval.models.cuespan.inputs import Row, build_arrays

        units = [self.units_of(c) for c in candidates]
        keep = [i for i, u in enumerate(units) if len(u)]
        if not keep:
            return []
        if q_vec is None:
            q_vec = self.question_vector(question)
        idf = self.idf() if self.idf is not None else word_idf(w for i in keep for w in units[i].words)
        within = bool(getattr(self.model.config, "lexical_video_idf", False))
        visual = [self.visual_of(candidates[i], units[i]) for i in keep]

        def bands(text: str, vec: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], dict]:
            """(band (B, N, W) with the length shift, valid (B, N, W), the model's input arrays, word weights)."""
            w_text = question_weights(content_words(text), idf)  # once per text: idf can hold a large vocabulary
            rows = [Row(vec, units[i], lexical_overlap(w_text, units[i].words, within_video=within), visual=v)
                    for i, v in zip(keep, visual)]
            arrays, _ = build_arrays(rows)
            arrays.pop("labels"), arrays.pop("groups")
            band, valid = self.band_scores(arrays)  # (B, N, W) each: span [i, i + o]
            shift = self.length_shift(arrays["cue_start"], arrays["cue_end"], arrays["duration"], band.shape[2])
            return band + shift, valid, arrays, w_text

        band, valid, arrays, weights = bands(question, q_vec)
        unit_start, unit_end = arrays["cue_start"], arrays["cue_end"]  # (B, N) seconds
        valid = valid & self.start_allowed(arrays["cue_mask"])
        if self.inference.meta_edges:
            valid = valid & self.edges_allowed([self.meta_of(candidates[i], units[i]) for i in keep], valid)
        scores = np.where(valid, band, -np.inf)
        lse_video = np.array([_logsumexp(s[v]) for s, v in zip(scores, valid)])  # (B,)
        lse_all = _logsumexp(lse_video)
        best_video = np.array([s[v].max() for s, v in zip(scores, valid)])  # (B,)
        # What is played inside a video may follow other scores than the video's rank: a "<step> to <goal>"
        # question's spans are placed by its step alone (``goal_split``), and a fact question's are picked among
        # the short ones (``fact_max_units``). Each video's placed spans are shifted so that its best one keeps
        # the video's full best score: placement never changes which video ranks first (the span mass and
        # features stay the whole question's).
        step = step_of(question) if self.inference.goal_split else None
        place = band if step is None else bands(step, self.question_vector(step))[0]  # (B, N, W)
        allowed = self.length_allowed(question, valid.shape[2])  # (1, 1, W)
        span_scores = np.where(valid, place, -np.inf)  # (B, N, W)
        if not allowed.all():
            short = valid & allowed
            has_short = short.reshape(len(short), -1).any(1)  # (B,)
            span_scores = np.where(has_short[:, None, None], np.where(short, place, -np.inf), span_scores)
        shift = best_video - np.array([s.max() for s in span_scores])  # (B,): 0 when nothing moved
        spans = []
        for r, i in enumerate(keep):
            u = units[i]
            others = np.delete(best_video, r)
            ctx_cos = u.context @ q_vec  # (U,)
            lex_video = idf_coverage(weights, set().union(*u.words))
            for a, b, s in self.pick_spans(span_scores[r], unit_start[r], unit_end[r]):
                s = s + shift[r]
                feats = {
                    "span_logprob": float(s - lse_all),
                    "video_prob": float(math.exp(lse_video[r] - lse_all)),
                    "margin": float(s - others.max()) if len(others) else 10.0,
                    "max_cos": float(ctx_cos[a: b + 1].max()),
                    "lex_span": idf_coverage(weights, set().union(*u.words[a: b + 1])),
                    "lex_video": lex_video,
                    "retrieval_rank": float(math.log1p(i)),
                }
                mass = float(lse_video[r] - best_video[r])
                rank_score = (float(s) - self.inference.retrieval_weight * math.log1p(i)
                              + self.inference.video_mass_weight * mass)
                spans.append(ScoredSpan(i, a, b, float(s), rank_score, feats, mass))
        spans.sort(key=lambda sp: -sp.rank_score)
        return spans

    def band_scores(self, arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The model's (band (B, N, W) float32, valid (B, N, W) bool) for numpy inputs (``build_arrays``), run
        by torch or, for an ONNX export (:class:`vcval.runtime.OrtCueSpan`), by onnxruntime."""
        from vcval.runtime import OrtCueSpan

        if isinstance(self.model, OrtCueSpan):
            if "visual" in arrays:
                raise VCVALError("the ONNX runtime serves text-only CueSpan checkpoints; ask with the torch runtime")
            band, valid = self.model(arrays)
            return band.astype(np.float32), valid
        import torch

        from vcval.utils import one_thread_if_small

        device = next(self.model.parameters()).device
        size = int(arrays["cue_mask"].size)
        with torch.inference_mode(), one_thread_if_small(size, SMALL_BATCH_UNITS, device.type):
            out = self.model(**{k: torch.from_numpy(v).to(device) for k, v in arrays.items()}, return_full=False)
        return out.band.float().cpu().numpy(), out.valid.cpu().numpy()

    def pick_spans(self, scores: np.ndarray, start: np.ndarray, end: np.ndarray) -> list[tuple[int, int, float]]:
        """Up to ``spans_per_video`` non-overlapping (first, last, score) spans of one video.

        scores: (N, W) band scores, -inf where invalid; start / end: (N,) unit seconds. With
        ``decode="expected_iou"`` the returned score of the first span is the video's best span score
        (so videos rank as with argmax) and later spans lose log(their expected IoU / the first's).
        """
        inf = self.inference
        n = int(inf.spans_per_video)
        if inf.decode == "argmax":
            return _top_spans(scores, n)
        return _expected_iou_spans(scores, start, end, n, float(inf.decode_temperature), int(inf.decode_support))

    def length_shift(self, start: np.ndarray, end: np.ndarray, duration: np.ndarray, w: int) -> np.ndarray | float:
        """(B, N, W) log N(target) - log N(source) of each band span's log length (0 when no target is set).

        start / end: (B, N) unit times; duration: (B,) video seconds. Both log-normals share
        ``length_log_sigma``, so the shift is linear in log length: it tilts scores towards longer
        (or shorter) spans without a cliff.
        """
        target = self.target_length(duration)
        if target is None:
            return 0.0
        inf = self.inference
        n = start.shape[1]
        jdx = band_last_unit(n, w)  # (N, W)
        log_len = np.log(np.maximum(end[:, jdx] - start[:, :, None], 1.0))  # (B, N, W)
        mt, ms = np.log(target)[:, None, None], math.log(inf.source_length_median_s)  # (B, 1, 1), scalar
        return (mt - ms) * (2 * log_len - ms - mt) / (2 * max(inf.length_log_sigma, 0.1) ** 2)

    def start_allowed(self, mask: np.ndarray) -> np.ndarray:
        """(B, N, 1) bool, broadcast over the W span lengths: a span may start at unit i (see
        ``skip_first_units``); mask (B, N) real units."""
        skip = int(self.inference.skip_first_units)
        allowed = np.ones(mask.shape, bool)  # (B, N)
        if skip > 0:
            long_enough = mask.sum(1) > skip  # (B,)
            allowed[:, :skip] = ~long_enough[:, None]
        return allowed[:, :, None]

    def meta_of(self, cand: Candidate, units: UnitEncodings) -> np.ndarray:
        """(U,) bool: which of the candidate's units talk about the video itself (kept per video and transcript
        version: the phrase match costs far more than the rest of a question's work)."""
        key = (cand.record.video_id, cand.record.content_hash, len(units))
        mask = self._meta.get(key)
        if mask is None:
            mask = self._meta[key] = meta_mask(units.units)
            if len(self._meta) > 4096:
                self._meta.popitem(last=False)
        return mask

    @staticmethod
    def edges_allowed(meta: Sequence[np.ndarray], valid: np.ndarray) -> np.ndarray:
        """(B, N, W) bool: span [i, i + o] neither starts nor ends on a meta-discourse unit (``meta_edges``);
        meta: the B videos' (U_b,) unit flags (:meth:`meta_of`); valid: (B, N, W) the spans allowed so far (a
        video left with none keeps all of its spans)."""
        b, n, w = valid.shape
        flags = np.zeros((b, n), bool)  # (B, N)
        for r, m in enumerate(meta):
            flags[r, : len(m)] = m
        ok = ~flags[:, :, None] & ~flags[:, band_last_unit(n, w)]  # (B, N, W)
        none_left = ~(valid & ok).reshape(b, -1).any(1)  # (B,)
        ok[none_left] = True
        return ok

    def length_allowed(self, question: str, w: int) -> np.ndarray:
        """(1, 1, W) bool over the band's span offsets (span [i, i + o] has o + 1 units): all True, or for a
        fact question (see ``fact_max_units``) only the offsets below ``fact_max_units``."""
        allowed = np.ones((1, 1, w), bool)
        cap = int(self.inference.fact_max_units)
        if cap > 0 and question_form(question) == "fact":
            allowed[..., cap:] = False
        return allowed

    def target_length(self, duration: np.ndarray) -> np.ndarray | None:
        """(B,) target median answer seconds for videos of ``duration`` (B,) s, None without a target."""
        inf = self.inference
        if not inf.target_length_median_s:
            return None
        target = np.full(len(duration), float(inf.target_length_median_s))
        if inf.target_length_exponent and inf.target_reference_duration_s:
            scale = np.maximum(np.asarray(duration, np.float64), 1.0) / float(inf.target_reference_duration_s)
            target = target * scale ** float(inf.target_length_exponent)
        return np.maximum(target, 2.0)

    def confidence(self, spans: Sequence[ScoredSpan], *, video: bool = False) -> np.ndarray | None:
        """(M,) calibrated probabilities that ``spans`` are right (``video``: that their video is right), or
        None when the checkpoint has no such calibration."""
        calibrator = self.video_calibrator if video else self.calibrator
        if not calibrator.fitted or not spans:
            return None
        x = np.array([[sp.features[f] for f in calibrator.features] for sp in spans])
        return calibrator.predict(x)

    def localize(self, question: str, candidates: Sequence[Candidate], top_n: int = 10) -> list[Answer]:
        """The ``top_n`` best spans across the candidates as Answers (see module doc)."""
        q_vec = self.question_vector(question)
        spans = self.score(question, candidates, q_vec=q_vec)[:top_n]
        conf = self.confidence(spans)
        video_conf = self.confidence(spans, video=True) if conf is not None else None
        if video_conf is not None:
            video_conf = served_video_confidence(video_conf, conf,
                                                 [candidates[sp.candidate].record.video_id for sp in spans])
        answers = []
        for m, sp in enumerate(spans):
            cand = candidates[sp.candidate]
            u = self.units_of(cand)
            first, last = int(u.first_cue[sp.first_unit]), int(u.last_cue[sp.last_unit])
            c = None if conf is None else float(conf[m])
            key = key_unit(u.vectors, q_vec, sp.first_unit, sp.last_unit)
            answers.append(Answer(
                video_id=cand.record.video_id, title=cand.record.title,
                start=float(u.units[sp.first_unit].start), end=float(u.units[sp.last_unit].end),
                score=sp.rank_score, cues=tuple(cand.cues[first: last + 1]),
                confidence=c, confident=None if c is None else bool(c >= self.inference.threshold),
                video_confidence=None if video_conf is None else float(video_conf[m]),
                key_start=float(u.units[key].start), key_end=float(u.units[key].end),
            ))
        return answers


def load_question_tower(folder: str | Path, device: str = "cpu") -> Any:
    """The checkpoint ``folder``'s own question encoder (:data:`QUESTION_TOWER`, a
    :class:`vcval.encoders.TextEncoder`), or None when it has none (questions then use the corpus's encoder)."""
    tower = Path(folder) / QUESTION_TOWER
    if not tower.is_dir():
        return None
    from vcval.encoders import REPBERT_MARKER, TextEncoder

    if not (tower / REPBERT_MARKER).is_file():
        raise NotFoundError(f"{tower} is not a question encoder written by `vcval train cuespan` (no {REPBERT_MARKER}); "
                            "retrain the checkpoint or remove the folder")
    return TextEncoder.load(tower, device=device)


def band_last_unit(n: int, w: int) -> np.ndarray:
    """(N, W) int: the last unit of band span [i, i + o], clamped to the video's N units (the numpy twin of
    :func:`vcval.models.cuespan.modeling_cuespan.band_end_index` + clamp)."""
    return np.minimum(np.arange(n)[:, None] + np.arange(w)[None], n - 1)


def key_unit(vectors: np.ndarray, q_vec: np.ndarray, first: int, last: int) -> int:
    """The answer's key sentence: the unit of ``first..last`` whose own embedding (``vectors``: (U, D),
    L2-normalised) is closest to the question (``q_vec``: (D,)).

    Chosen on all TutorialVQA by-video dev questions against the span's first unit, the contextual encodings
    and cosine + question-word coverage (benchmarks/key_sentence.md, ``benchmarks/bench_key_sentence.py``).
    """
    return first + int(np.argmax(vectors[first: last + 1] @ q_vec))


def _logsumexp(x: np.ndarray) -> float:
    x = np.asarray(x, np.float64)
    x = x[np.isfinite(x)]
    if not len(x):
        return -math.inf
    top = float(x.max())
    return top + math.log(float(np.exp(x - top).sum()))


def _expected_iou_spans(scores: np.ndarray, start: np.ndarray, end: np.ndarray, n: int, temperature: float,
                        support: int) -> list[tuple[int, int, float]]:
    """Up to ``n`` non-overlapping spans of highest expected IoU (see ``CueSpanInference.decode``).

    scores: (N, W) band scores (-inf = invalid), span (i, o) = units i..i+o; start / end: (N,) seconds.
    The distribution is the softmax of scores / temperature over the ``support`` best spans; the best
    ``MBR_CANDIDATES`` of them are the candidate answers.
    """
    from vcval.localization.spans import pairwise_iou

    w = scores.shape[1]
    flat = scores.reshape(-1)
    cells = np.flatnonzero(np.isfinite(flat))
    if not len(cells):
        return []
    cells = cells[np.argsort(-flat[cells], kind="stable")][:max(support, 1)]  # (S,) best first
    logits = flat[cells] / max(temperature, 1e-3)
    p = np.exp(logits - logits.max())
    p /= p.sum()
    first, offset = np.divmod(cells, w)
    last = first + offset
    s, e = start[first], end[last]
    c = min(len(cells), MBR_CANDIDATES)
    expected = pairwise_iou(s[:c], e[:c], s, e) @ p  # (C,) expected IoU of each candidate span
    order = np.argsort(-expected, kind="stable")
    best = float(flat[cells[0]])
    picked: list[tuple[int, int, float]] = []
    for k in order:
        if len(picked) >= n:
            break
        a, b = int(first[k]), int(last[k])
        if all(b < pa or a > pb for pa, pb, _ in picked):
            ratio = expected[k] / max(expected[order[0]], 1e-12)
            picked.append((a, b, best + math.log(max(ratio, 1e-12))))
    return picked


def _top_spans(scores: np.ndarray, n: int) -> list[tuple[int, int, float]]:
    """Up to ``n`` non-overlapping (first, last, score) spans from (N, W) band scores (-inf = invalid)."""
    flat = scores.reshape(-1)
    order = np.argsort(-flat, kind="stable")
    w = scores.shape[1]
    picked: list[tuple[int, int, float]] = []
    for cell in order:
        s = float(flat[cell])
        if not np.isfinite(s) or len(picked) >= n:
            break
        a, o = divmod(int(cell), w)
        b = a + o
        if all(b < pa or a > pb for pa, pb, _ in picked):
            picked.append((a, b, s))
    return picked

