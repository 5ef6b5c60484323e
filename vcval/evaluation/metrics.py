"""Pure metric functions for corpus-level video answer localization (the CCGS paper's 16).

All metrics are PERCENTAGES in [0, 100] (MRR and mIoU included, as the paper reports them).

Conventions (decided here, tested in tests/test_metrics.py):

- A question's predictions are a list ranked BEST FIRST; the list order is the ranking and scores
  are informational. Equal scores therefore never reorder anything: ties go to the earlier entry.
- Video retrieval rank: videos are ranked by their first (= best) occurrence in the prediction list
  (each video ranked by its best span). A missing correct video has rank None: it counts as a miss in
  R@k and adds 0 to MRR.
- "Rank@n IoU=m": the percent of questions for which at least one of the first n predictions is in the
  correct video with temporal IoU >= m (compared with a 1e-9 tolerance, so 0.5 computed as 0.4999999999
  counts). Fewer than n predictions: all of them are used; none: the question scores 0.
- "Rank@n mIoU": the mean over questions of the best IoU among the first n predictions that are in the
  correct video (0 when none is).
- Temporal IoU of spans [s, e]: intersection / union with union = len(a) + len(b) - intersection.
  Two zero-length spans score 1.0 when they are the same instant, else 0.0; a zero-length span against
  a non-empty span scores 0.0. A span with end < start is an error (ValueError).
- When the gold ``video_length`` is known, prediction spans in the correct video and the gold span are
  clamped to [0, video_length] before the IoU (a prediction entirely past the end becomes a zero-length
  span at the end, which scores 0 against a non-empty gold span).
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from vcval.localization.spans import temporal_iou
from vcval.types import Answer

RETRIEVAL_KS: tuple[int, ...] = (1, 5, 10)
RANK_NS: tuple[int, ...] = (1, 10, 100)
IOU_THRESHOLDS: tuple[float, ...] = (0.3, 0.5, 0.7)
IOU_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Prediction:
    """One predicted (video, span) pair with its score."""

    video_id: str
    start: float
    end: float
    score: float = 0.0

    def to_list(self) -> list:
        """``[video_id, start, end, score]`` (the per-question JSON shape)."""
        return [self.video_id, round(float(self.start), 3), round(float(self.end), 3), float(self.score)]


@dataclass(frozen=True)
class Gold:
    """The reference answer of one question: its video and span (seconds)."""

    video_id: str
    start: float
    end: float
    video_length: float | None = None


def as_prediction(item: Any) -> Prediction:
    """Coerce a Prediction, an :class:`~vcval.types.Answer`, a dict or a ``[video_id, start, end, score?]``."""
    if isinstance(item, Prediction):
        return item
    if isinstance(item, Answer):
        return Prediction(item.video_id, float(item.start), float(item.end), float(item.score))
    if isinstance(item, dict):
        return Prediction(str(item["video_id"]), float(item["start"]), float(item["end"]), float(item.get("score", 0.0)))
    if isinstance(item, (list, tuple)) and len(item) in (3, 4):
        score = float(item[3]) if len(item) == 4 else 0.0
        return Prediction(str(item[0]), float(item[1]), float(item[2]), score)
    raise TypeError(f"cannot read a prediction from {item!r}; use [video_id, start, end, score]")


def as_gold(item: Any) -> Gold:
    """Coerce a Gold or a MedVidQA-format record (``video_id, answer_start_second, answer_end_second``)."""
    if isinstance(item, Gold):
        return item
    if isinstance(item, dict):
        length = item.get("video_length")
        return Gold(
            str(item["video_id"]),
            float(item["answer_start_second"]),
            float(item["answer_end_second"]),
            None if length is None or length == "" else float(length),
        )
    raise TypeError(f"cannot read a gold answer from {item!r}")


def clamp_span(start: float, end: float, length: float | None) -> tuple[float, float]:
    """``(start, end)`` clamped to ``[0, length]`` (only the lower bound 0 when length is None).

    Raises ValueError for a reversed span (end < start), before clamping could hide it.
    """
    if float(end) < float(start):
        raise ValueError(f"span end before start: ({start}, {end})")
    hi = float("inf") if length is None or length <= 0 else float(length)
    return min(max(0.0, float(start)), hi), min(max(0.0, float(end)), hi)


def video_ranking(predictions: Iterable[Any]) -> list[str]:
    """Distinct video ids in order of first occurrence (each video ranked by its best span)."""
    seen: dict[str, None] = {}
    for p in predictions:
        seen.setdefault(as_prediction(p).video_id, None)
    return list(seen)


def correct_video_rank(predictions: Sequence[Any], gold: Any) -> int | None:
    """1-based rank of the gold video among the predicted videos, or None when it is absent."""
    g = as_gold(gold)
    ranking = video_ranking(predictions)
    return ranking.index(g.video_id) + 1 if g.video_id in ranking else None


def prediction_ious(predictions: Sequence[Any], gold: Any) -> list[float]:
    """IoU of each prediction with the gold span, in list order (0.0 for a prediction in another video)."""
    g = as_gold(gold)
    gold_span = clamp_span(g.start, g.end, g.video_length)
    out = []
    for p in predictions:
        p = as_prediction(p)
        out.append(temporal_iou(clamp_span(p.start, p.end, g.video_length), gold_span) if p.video_id == g.video_id else 0.0)
    return out


def _check_lengths(predictions: Sequence[Any], gold: Sequence[Any]) -> None:
    if len(predictions) != len(gold):
        raise ValueError(f"{len(predictions)} prediction lists for {len(gold)} questions")
    if not gold:
        raise ValueError("no questions to score")


def retrieval_metrics(
    predictions: Sequence[Sequence[Any]], gold: Sequence[Any], ks: Sequence[int] = RETRIEVAL_KS
) -> dict[str, float]:
    """``R@k`` for k in ``ks`` and ``MRR`` (percent) over questions; ``predictions[i]`` ranks question i."""
    _check_lengths(predictions, gold)
    ranks = [correct_video_rank(p, g) for p, g in zip(predictions, gold)]
    n = len(ranks)
    out = {f"R@{k}": 100.0 * sum(1 for r in ranks if r is not None and r <= k) / n for k in ks}
    out["MRR"] = 100.0 * sum(1.0 / r for r in ranks if r is not None) / n
    return out


def localization_metrics(
    predictions: Sequence[Sequence[Any]],
    gold: Sequence[Any],
    ns: Sequence[int] = RANK_NS,
    thresholds: Sequence[float] = IOU_THRESHOLDS,
) -> dict[str, float]:
    """``Rank@n IoU=m`` and ``Rank@n mIoU`` (percent) for n in ``ns``, m in ``thresholds``."""
    _check_lengths(predictions, gold)
    ious = [prediction_ious(p, g) for p, g in zip(predictions, gold)]
    n_q = len(ious)
    out: dict[str, float] = {}
    for n in ns:
        best = [max(row[:n], default=0.0) for row in ious]
        for m in thresholds:
            out[f"Rank@{n} IoU={m}"] = 100.0 * sum(1 for b in best if b >= m - IOU_TOLERANCE) / n_q
        out[f"Rank@{n} mIoU"] = 100.0 * sum(best) / n_q
    return out


def metric_names() -> list[str]:
    """The 16 metric keys of :func:`compute_all`, in table order."""
    names = [f"R@{k}" for k in RETRIEVAL_KS] + ["MRR"]
    for n in RANK_NS:
        names += [f"Rank@{n} IoU={m}" for m in IOU_THRESHOLDS] + [f"Rank@{n} mIoU"]
    return names


def compute_all(predictions: Sequence[Sequence[Any]], gold: Sequence[Any]) -> dict[str, float]:
    """All 16 metrics (percent), keys in :func:`metric_names` order.

    ``predictions``: one best-first list per question of Prediction / Answer / dict /
    ``[video_id, start, end, score]``; ``gold``: one Gold or MedVidQA record per question.
    """
    merged = {**retrieval_metrics(predictions, gold), **localization_metrics(predictions, gold)}
    return {k: merged[k] for k in metric_names()}


def paired_bootstrap(a: Sequence[float], b: Sequence[float], *, groups: Sequence[Hashable] | None = None,
                     resamples: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of b - a over paired per-question values a, b (N,), with a percentile bootstrap interval at ``level``
    (resampled with replacement, ``resamples`` times, seeded): (mean, low, high), in the values' units.
    An interval that holds 0 says the two systems are not told apart by these questions.

    ``groups`` (N,): a label per question, e.g. its video id. Then whole groups are resampled (a cluster
    bootstrap) and each resample's mean is over all the questions of the groups drawn. Questions on one video
    share its transcript, its near-duplicates and its annotator, so they are not independent evidence: on the
    941 TutorialVQA dev questions (8 videos) a video-ranking change's interval is about twice as wide by video
    as by question (``benchmarks/cuespan_serving_ablations.md``). Without ``groups`` every question is its own
    group."""
    import numpy as np

    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if x.shape != y.shape or x.ndim != 1 or not len(x):
        raise ValueError(f"paired_bootstrap needs two equal-length non-empty 1-D sequences, got {x.shape} and {y.shape}")
    diff = y - x  # (N,)
    rng = np.random.default_rng(seed)
    if groups is None:
        means = diff[rng.integers(0, len(diff), size=(resamples, len(diff)))].mean(1)  # (R,)
    else:
        if len(groups) != len(diff):
            raise ValueError(f"paired_bootstrap: {len(groups)} group labels for {len(diff)} questions; give one label per question")
        _, inverse = np.unique(np.asarray([str(g) for g in groups]), return_inverse=True)
        sums = np.bincount(inverse, weights=diff)  # (G,)
        counts = np.bincount(inverse).astype(np.float64)  # (G,)
        drawn = rng.integers(0, len(sums), size=(resamples, len(sums)))  # (R, G)
        means = sums[drawn].sum(1) / counts[drawn].sum(1)  # (R,)
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(diff.mean()), float(low), float(high)
