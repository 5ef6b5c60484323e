"""Padded tensors for :class:`~vcval.models.cuespan.modeling_cuespan.CueSpanModel`: one row per
(question, video) pair, the same code for training and for asking."""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from vcval.corpus.encodings import UnitEncodings


@dataclass
class Row:
    """One (question, video) pair.

    question: (D,) L2-normalised question vector; lexical: (U,) :func:`lexical_overlap` of the
    question with each unit; visual: ((U, Dv) frame features pooled per unit, (U,) bool has-frames)
    from :func:`~vcval.models.cuespan.modeling_cuespan.pool_frames`, or None; cell: the target span (first unit, last unit) for a positive row in
    training, None otherwise; group: rows of one question share it (Loss2); answer: the positive row's
    labelled answer (start, end) in seconds, for IoU-weighted targets (``soft_label_iou``), None otherwise.
    """

    question: np.ndarray
    units: UnitEncodings
    lexical: np.ndarray
    cell: tuple[int, int] | None = None
    group: int = 0
    visual: tuple[np.ndarray, np.ndarray] | None = None
    answer: tuple[float, float] | None = None


def build_batch(rows: list[Row], crop: int | None = None, rng: random.Random | None = None) -> tuple[dict, list[int]]:
    """:func:`build_arrays` as torch tensors: the model's keyword arguments and each row's first unit."""
    import torch

    arrays, offsets = build_arrays(rows, crop, rng)
    return {k: torch.from_numpy(v) for k, v in arrays.items()}, offsets


def build_arrays(rows: list[Row], crop: int | None = None,
                 rng: random.Random | None = None) -> tuple[dict[str, np.ndarray], list[int]]:
    """Model inputs for ``rows`` as numpy arrays (N = longest row, padded) and each row's first unit.

    crop: at most ``crop`` units per row (training), a random window that keeps the target cell.
    Returns (kwargs, offsets): question (B, D), cues / cues_ctx (B, N, D), cue_start / cue_end /
    lexical (B, N), cue_mask (B, N) bool, duration (B,), labels (B,) flat cell i * N + j or -100,
    groups (B,); when any row has visual features also visual (B, N, Dv) and visual_mask (B, N) bool; when
    any row has an ``answer`` also label_iou (B, N, N): IoU of each unit span [i, j] with it (0 elsewhere).
    """
    rng = rng or random.Random(0)
    windows = []
    for r in rows:
        k = len(r.units)
        lo, hi = 0, k
        if crop and k > crop:
            if r.cell is not None:
                lo_min, lo_max = max(0, r.cell[1] - crop + 1), min(r.cell[0], k - crop)
                lo = rng.randint(lo_min, max(lo_min, lo_max))
            else:
                lo = rng.randint(0, k - crop)
            hi = lo + crop
        windows.append((lo, hi))
    n = max(1, max(hi - lo for lo, hi in windows))
    b = len(rows)
    d = int(rows[0].question.shape[-1])
    emb = np.zeros((b, n, d), np.float32)
    ctx = np.zeros((b, n, d), np.float32)
    st = np.zeros((b, n), np.float32)
    en = np.zeros((b, n), np.float32)
    mask = np.zeros((b, n), bool)
    lex = np.zeros((b, n), np.float32)
    lab = np.full(b, -100, np.int64)
    dur = np.ones(b, np.float32)
    for i, (r, (lo, hi)) in enumerate(zip(rows, windows)):
        k = hi - lo
        u = r.units
        if len(u):
            dur[i] = max(float(u.units[-1].end), 1.0)
        sl = slice(lo, hi)
        emb[i, :k], ctx[i, :k] = u.vectors[sl], u.context[sl]
        st[i, :k], en[i, :k], mask[i, :k] = u.starts[sl], u.ends[sl], True
        lex[i, :k] = r.lexical[sl]
        if r.cell is not None:
            lab[i] = (r.cell[0] - lo) * n + (r.cell[1] - lo)
    extra = {}
    if any(r.answer is not None for r in rows):  # training rows only
        from vcval.localization.spans import iou_matrix

        label_iou = np.zeros((b, n, n), np.float32)
        for i, (r, (lo, hi)) in enumerate(zip(rows, windows)):
            if r.answer is not None and hi > lo:
                label_iou[i, : hi - lo, : hi - lo] = iou_matrix(r.units.starts[lo:hi], r.units.ends[lo:hi], *r.answer)
        extra["label_iou"] = label_iou
    dims = {int(r.visual[0].shape[1]) for r in rows if r.visual is not None}
    if len(dims) > 1:
        raise ValueError(f"visual features of one batch must share one dimension, got {sorted(dims)}")
    if dims:
        vis = np.zeros((b, n, dims.pop()), np.float32)
        vmask = np.zeros((b, n), bool)
        for i, (r, (lo, hi)) in enumerate(zip(rows, windows)):
            if r.visual is not None:
                vis[i, : hi - lo], vmask[i, : hi - lo] = r.visual[0][lo:hi], r.visual[1][lo:hi]
        extra.update(visual=vis, visual_mask=vmask)
    kwargs = dict(question=np.stack([r.question for r in rows]).astype(np.float32), cues=emb, cues_ctx=ctx,
                  cue_start=st, cue_end=en, cue_mask=mask, lexical=lex, labels=lab,
                  groups=np.array([r.group for r in rows], np.int64), duration=dur, **extra)
    return kwargs, [lo for lo, _ in windows]
