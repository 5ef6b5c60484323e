"""Calibrated answer confidence: a logistic model over a few answer features, fitted on dev.

The target is "the answer is right": the right video and temporal IoU >= 0.5 with the true span.
Dev data mixes real questions with questions whose answer is not in the corpus (off-topic and
near-miss), so a low confidence also means "this corpus probably has no answer".
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from vcval.config import JsonConfig


@dataclass
class Calibrator(JsonConfig):
    """p = sigmoid(intercept + coef . (x - mean) / scale) over named features.

    An empty ``features`` list is an uncalibrated model (no confidence).
    """

    features: list[str] = field(default_factory=list)
    mean: list[float] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)
    coef: list[float] = field(default_factory=list)
    intercept: float = 0.0

    @property
    def fitted(self) -> bool:
        return bool(self.features)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(M,) probabilities for (M, F) feature rows (columns in ``features`` order)."""
        z = (np.asarray(x, np.float64) - np.array(self.mean)) / np.array(self.scale)
        return 1.0 / (1.0 + np.exp(-(z @ np.array(self.coef) + self.intercept)))

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, names: Sequence[str], *, l2: float = 1.0,
            weights: np.ndarray | None = None, iters: int = 50) -> Calibrator:
        """L2-regularised logistic regression by Newton's method. x: (M, F), y: (M,) in {0, 1}."""
        x = np.asarray(x, np.float64)
        y = np.asarray(y, np.float64)
        w = np.ones(len(y)) if weights is None else np.asarray(weights, np.float64)
        mean = x.mean(0)
        scale = np.maximum(x.std(0), 1e-6)
        z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])  # (M, F + 1)
        beta = np.zeros(z.shape[1])
        reg = np.full(z.shape[1], l2)
        reg[-1] = 0.0  # the intercept is not shrunk
        for _ in range(iters):
            p = 1.0 / (1.0 + np.exp(-(z @ beta)))
            grad = z.T @ (w * (p - y)) + reg * beta
            hess = (z * (w * p * (1 - p))[:, None]).T @ z + np.diag(reg) + 1e-9 * np.eye(len(beta))
            step = np.linalg.solve(hess, grad)
            beta -= step
            if np.abs(step).max() < 1e-8:
                break
        return cls(list(names), mean.tolist(), scale.tolist(), beta[:-1].tolist(), float(beta[-1]))


def served_video_confidence(video: np.ndarray, span: np.ndarray, video_ids: Sequence[str] | None = None) -> np.ndarray:
    """(M,) the right-video probability as served: the video calibrator's ``video``, never below the span
    confidence ``span`` (a right span implies a right video; the two are fitted separately).

    With ``video_ids`` (M,) (the answers best first), every answer of one video gets that video's one number:
    the value at its best-ranked answer (the rank-1 answer's value is unchanged, which is what the dev
    reliability table measures), raised to the highest span confidence among its answers. Without it a
    video's lower answers would each read a different "right video" chance for the same video.
    """
    served = np.maximum(np.asarray(video, np.float64), np.asarray(span, np.float64))
    if video_ids is None:
        return served
    per_video: dict[str, float] = {}
    for vid, value in zip(video_ids, served):
        per_video.setdefault(vid, float(value))
    span = np.asarray(span, np.float64)
    for vid, value in zip(video_ids, span):
        per_video[vid] = max(per_video[vid], float(value))
    return np.array([per_video[vid] for vid in video_ids], np.float64)


def reliability_table(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> list[dict]:
    """Per equal-width confidence bin: count, mean confidence, accuracy (empty bins left out)."""
    confidence = np.asarray(confidence, np.float64)
    correct = np.asarray(correct, np.float64)
    idx = np.minimum((confidence * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        m = idx == b
        if m.any():
            rows.append({"bin": f"{b / bins:.1f}-{(b + 1) / bins:.1f}", "n": int(m.sum()),
                         "confidence": float(confidence[m].mean()), "accuracy": float(correct[m].mean())})
    return rows


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """ECE: the count-weighted mean |accuracy - confidence| over :func:`reliability_table` bins."""
    rows = reliability_table(confidence, correct, bins)
    total = sum(r["n"] for r in rows)
    return float(sum(r["n"] * abs(r["accuracy"] - r["confidence"]) for r in rows) / max(total, 1))
