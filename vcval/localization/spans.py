"""Pure functions over the global-span matrix: masks, target cells, decoding, cue <-> seconds.

A video with N cues has an (N, N) matrix; cell (i, j) is the span that starts at cue i and
ends at cue j (inclusive). A cell is *valid* when i <= j, both cues exist (not padding) and
the span respects the maximum length (in cues and, optionally, in seconds). Everything here
is deterministic and free of model state so it can be unit-tested on its own.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from vcval.types import Cue

if TYPE_CHECKING:
    import torch

NEG_INF = -1e9  # fill value for invalid cells (finite: softmax over an all-masked row stays defined)


def span_mask(
    cue_mask: torch.Tensor,
    max_span_cues: int,
    cue_start: torch.Tensor | None = None,
    cue_end: torch.Tensor | None = None,
    max_span_seconds: float | None = None,
) -> torch.Tensor:
    """Valid-cell mask of the global-span matrix.

    cue_mask: (B, N) bool, True for real cues. cue_start/cue_end: (B, N) seconds (optional).
    Returns (B, N, N) bool: valid[b, i, j] = i <= j < N_b and j - i < max_span_cues and, when
    seconds are given, cue_end[j] - cue_start[i] <= max_span_seconds. A single-cue span (i == j)
    is always allowed for a real cue, however long that cue is, so every video has >= 1 cell.
    """
    if max_span_cues < 1:
        raise ValueError(f"max_span_cues must be >= 1, got {max_span_cues}")
    n = cue_mask.shape[1]
    import torch

    idx = torch.arange(n, device=cue_mask.device)
    offset = idx[None, :] - idx[:, None]  # (N, N): j - i
    band = (offset >= 0) & (offset < max_span_cues)  # (N, N)
    valid = band[None] & cue_mask[:, :, None] & cue_mask[:, None, :]  # (B, N, N)
    if max_span_seconds is not None and cue_start is not None and cue_end is not None:
        length = cue_end[:, None, :] - cue_start[:, :, None]  # (B, N, N)
        diag = torch.eye(n, dtype=torch.bool, device=cue_mask.device)[None]
        valid = valid & ((length <= max_span_seconds) | diag)
    return valid


def mask_scores(scores: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, N, N) scores with invalid cells set to NEG_INF (returned in float32)."""
    return scores.float().masked_fill(~valid, NEG_INF)


def temporal_iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Temporal IoU in [0, 1] of spans ``a = (start, end)`` and ``b`` (seconds): disjoint spans -> 0; two instants -> 1 when equal, else 0.

    The one IoU of vcval (training targets, decoding and the evaluation metrics). Raises ValueError
    for a reversed span.
    """
    (s1, e1), (s2, e2) = (float(a[0]), float(a[1])), (float(b[0]), float(b[1]))
    if e1 < s1 or e2 < s2:
        raise ValueError(f"span end before start: {a} / {b}")
    inter = max(0.0, min(e1, e2) - max(s1, s2))
    union = (e1 - s1) + (e2 - s2) - inter
    if union <= 0.0:  # both spans are instants
        return 1.0 if s1 == s2 else 0.0
    return inter / union


def iou_matrix(cue_start: np.ndarray, cue_end: np.ndarray, start: float, end: float) -> np.ndarray:
    """(N, N) IoU in seconds between every cue span [cue_start[i], cue_end[j]] and [start, end].

    cue_start, cue_end: (N,) seconds. Cells with j < i hold 0.
    """
    s = cue_start[:, None]  # (N, 1) span start = start of cue i
    e = cue_end[None, :]  # (1, N) span end = end of cue j
    inter = np.clip(np.minimum(e, end) - np.maximum(s, start), 0.0, None)  # (N, N)
    union = np.maximum(e, end) - np.minimum(s, start)
    iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    n = len(cue_start)
    return np.where(np.triu(np.ones((n, n), dtype=bool)), iou, 0.0)


def pairwise_iou(a_start: np.ndarray, a_end: np.ndarray, b_start: np.ndarray, b_end: np.ndarray) -> np.ndarray:
    """(A, B) temporal IoU between spans ``a`` (A,) starts / ends and spans ``b`` (B,), in seconds.

    The vectorised form of :func:`temporal_iou` (same definition: disjoint spans -> 0; two equal
    instants -> 1), used to decode by expected IoU.
    """
    s1, e1 = np.asarray(a_start, np.float64)[:, None], np.asarray(a_end, np.float64)[:, None]  # (A, 1)
    s2, e2 = np.asarray(b_start, np.float64)[None, :], np.asarray(b_end, np.float64)[None, :]  # (1, B)
    inter = np.clip(np.minimum(e1, e2) - np.maximum(s1, s2), 0.0, None)  # (A, B)
    union = (e1 - s1) + (e2 - s2) - inter
    instants = union <= 0.0
    return np.where(instants, (s1 == s2).astype(np.float64), inter / np.where(instants, 1.0, union))


def best_target_cell(
    cue_start: Sequence[float],
    cue_end: Sequence[float],
    answer_start: float,
    answer_end: float,
    valid: np.ndarray | None = None,
) -> tuple[int, int, float]:
    """The valid cell whose cue span best matches (highest IoU with) the labelled answer.

    valid: optional (N, N) bool mask (from :func:`span_mask`); default all i <= j.
    Returns (i, j, iou). Ties go to the earliest start, then the shortest span.
    Raises ValueError for a video with no cues.
    """
    cs = np.asarray(cue_start, dtype=np.float64)
    ce = np.asarray(cue_end, dtype=np.float64)
    if len(cs) == 0:
        raise ValueError("best_target_cell needs at least one cue")
    iou = iou_matrix(cs, ce, float(answer_start), float(answer_end))
    allowed = np.triu(np.ones_like(iou, dtype=bool)) if valid is None else np.asarray(valid, dtype=bool)
    iou = np.where(allowed, iou, -1.0)
    best = iou.max()
    if best <= 0:  # answer lies outside every cue: fall back to the cue nearest in time
        mid = 0.5 * (answer_start + answer_end)
        k = int(np.argmin(np.abs(0.5 * (cs + ce) - mid)))
        return k, k, 0.0
    ii, jj = np.nonzero(iou >= best - 1e-9)
    order = np.lexsort((jj - ii, ii))  # earliest start, then shortest
    return int(ii[order[0]]), int(jj[order[0]]), float(best)


def decode_spans(
    scores: torch.Tensor | np.ndarray,
    valid: torch.Tensor | np.ndarray,
    top_k: int = 1,
    non_overlapping: bool = True,
) -> list[tuple[int, int, float]]:
    """Top-k (start, end, score) cells of one video's (N, N) score matrix, best first.

    Only valid cells are considered. Ties go to the earliest start, then the shortest span.
    With ``non_overlapping`` a cell whose cue range overlaps an already chosen span is skipped.
    """
    s = scores.detach().float().cpu().numpy() if hasattr(scores, "detach") else np.asarray(scores, dtype=np.float64)
    v = valid.detach().cpu().numpy() if hasattr(valid, "detach") else np.asarray(valid, dtype=bool)
    ii, jj = np.nonzero(v)
    if len(ii) == 0 or top_k <= 0:
        return []
    vals = s[ii, jj]
    order = np.lexsort((jj - ii, ii, -vals))  # score desc, then earliest start, then shortest
    out: list[tuple[int, int, float]] = []
    taken = np.zeros(s.shape[0], dtype=bool)
    for k in order:
        i, j = int(ii[k]), int(jj[k])
        if non_overlapping and taken[i : j + 1].any():
            continue
        out.append((i, j, float(vals[k])))
        if non_overlapping:
            taken[i : j + 1] = True
        if len(out) >= top_k:
            break
    return out


def cue_span_seconds(cues: Sequence[Cue], first: int, last: int) -> tuple[float, float]:
    """Seconds of the cue span [first, last]: (start of the first cue, end of the last cue)."""
    if not 0 <= first <= last < len(cues):
        raise ValueError(f"invalid cue span ({first}, {last}) for {len(cues)} cues")
    return float(cues[first].start), float(max(cues[last].end, cues[first].start))


def seconds_to_cue_span(cues: Sequence[Cue], start: float, end: float) -> tuple[int, int]:
    """The cue span whose seconds best match [start, end] (highest IoU; ties: earliest, shortest)."""
    i, j, _ = best_target_cell([c.start for c in cues], [c.end for c in cues], start, end)
    return i, j


def align_steps_to_cues(
    cue_start: torch.Tensor,
    cue_end: torch.Tensor,
    step_mask: torch.Tensor,
    fps: float = 1.0,
) -> torch.Tensor:
    """Row-normalised weights mapping visual steps to cues by time.

    cue_start, cue_end: (B, N) seconds; step_mask: (B, T) bool, True for real steps; step t
    covers [t / fps, (t + 1) / fps). Returns (B, N, T): weight[b, k, t] is the overlap of step
    t with cue k divided by the cue's total overlap; a cue overlapping no step (e.g. past the
    end of the features) takes the nearest real step. Rows of padding cues may be arbitrary.
    """
    import torch

    t = torch.arange(step_mask.shape[1], device=step_mask.device, dtype=torch.float32)
    step_lo = (t / fps)[None, None, :]  # (1, 1, T)
    step_hi = ((t + 1) / fps)[None, None, :]
    cs = cue_start.float()[:, :, None]  # (B, N, 1)
    ce = torch.maximum(cue_end.float(), cue_start.float())[:, :, None]
    overlap = (torch.minimum(ce, step_hi) - torch.maximum(cs, step_lo)).clamp(min=0.0)  # (B, N, T)
    overlap = overlap * step_mask[:, None, :].float()
    total = overlap.sum(-1, keepdim=True)  # (B, N, 1)
    mid = 0.5 * (cs + ce)  # (B, N, 1)
    dist = (mid - 0.5 * (step_lo + step_hi)).abs()  # (B, N, T)
    dist = dist.masked_fill(~step_mask[:, None, :], math.inf)
    nearest = torch.nn.functional.one_hot(dist.argmin(-1), step_mask.shape[1]).float()  # (B, N, T)
    weights = torch.where(total > 0, overlap / total.clamp(min=1e-9), nearest)
    has_steps = step_mask.any(-1)[:, None, None]  # (B, 1, 1)
    return weights * has_steps.float()
