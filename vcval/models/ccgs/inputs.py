"""Cover a whole transcript with overlapping encoder windows that each repeat the question.

Each window is ``[CLS] question [SEP] cue_a [SEP] cue_b [SEP] ... [PAD]*``. Cue tokens are
question-independent and may be cached per video; a cue longer than a window is split into
pieces, each piece in its own window. Every cue token lands in at least one window (nothing
is dropped); the model merges a cue's vectors over all windows and pieces it appears in.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WindowSpec:
    """Token ids of the special tokens and the window geometry."""

    cls_id: int
    sep_id: int
    pad_id: int
    max_len: int = 384
    overlap_tokens: int = 64
    max_question_tokens: int = 64


@dataclass
class PackedWindows:
    """Windows of one (question, video) pair.

    input_ids, token_type_ids: (W, L) int64, padded to max_len; attention_mask: (W, L).
    token_cue: (W, L) int64, the cue index of each cue token, -1 elsewhere.
    sep_cue: (W, L) int64, the cue index of the [SEP] that closes each cue piece, -1 elsewhere.
    """

    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray
    token_cue: np.ndarray
    sep_cue: np.ndarray


def _segments(cue_tokens: Sequence[Sequence[int]], piece_len: int) -> list[tuple[int, list[int]]]:
    """(cue index, token ids) pieces; a cue longer than ``piece_len`` is split, an empty cue keeps 0 tokens."""
    segs: list[tuple[int, list[int]]] = []
    for k, toks in enumerate(cue_tokens):
        toks = list(toks)
        if len(toks) <= piece_len:
            segs.append((k, toks))
            continue
        for lo in range(0, len(toks), piece_len):
            segs.append((k, toks[lo : lo + piece_len]))
    return segs


def pack_windows(question_tokens: Sequence[int], cue_tokens: Sequence[Sequence[int]], spec: WindowSpec) -> PackedWindows:
    """Pack a question and all cues of a video into overlapping windows (see module doc).

    question_tokens: ids without special tokens (truncated to ``spec.max_question_tokens``,
    with a warning). cue_tokens: per cue, ids without special tokens. Consecutive windows
    share about ``spec.overlap_tokens`` cue tokens; every window advances by >= 1 piece.
    """
    q = list(question_tokens)
    if len(q) > spec.max_question_tokens:
        logger.warning("question has %d tokens; keeping the first %d", len(q), spec.max_question_tokens)
        q = q[: spec.max_question_tokens]
    budget = spec.max_len - len(q) - 2  # tokens left after [CLS] q [SEP]
    if budget < 2:
        raise ValueError(f"max_len={spec.max_len} leaves no room for cues after a {len(q)}-token question")
    segs = _segments(cue_tokens, budget - 1)  # each piece also needs its closing [SEP]
    cost = [len(t) + 1 for _, t in segs]
    windows: list[tuple[int, int]] = []
    start = 0
    while start < len(segs) or not windows:
        used, end = 0, start
        while end < len(segs) and used + cost[end] <= budget:
            used += cost[end]
            end += 1
        windows.append((start, end))
        if end >= len(segs):
            break
        back, nxt = 0, end  # step back while the repeated context stays within overlap_tokens
        while nxt - 1 > start and back + cost[nxt - 1] <= spec.overlap_tokens:
            back += cost[nxt - 1]
            nxt -= 1
        start = nxt
    n_w, L = len(windows), spec.max_len
    ids = np.full((n_w, L), spec.pad_id, dtype=np.int64)
    att = np.zeros((n_w, L), dtype=np.int64)
    tt = np.zeros((n_w, L), dtype=np.int64)
    tok_cue = np.full((n_w, L), -1, dtype=np.int64)
    sep_cue = np.full((n_w, L), -1, dtype=np.int64)
    head = [spec.cls_id, *q, spec.sep_id]
    for w, (a, b) in enumerate(windows):
        row = list(head)
        cue_of = [-1] * len(head)
        seps = [-1] * len(head)
        for k, toks in segs[a:b]:
            row += toks + [spec.sep_id]
            cue_of += [k] * len(toks) + [-1]
            seps += [-1] * len(toks) + [k]
        n = len(row)
        ids[w, :n] = row
        att[w, :n] = 1
        tt[w, len(head) : n] = 1
        tok_cue[w, :n] = cue_of
        sep_cue[w, :n] = seps
    return PackedWindows(ids, att, tt, tok_cue, sep_cue)


def tokenize_cues(tokenizer, texts: Sequence[str]) -> list[list[int]]:
    """Token ids (no special tokens) of each cue text; an empty cue gets [UNK]-free empty list."""
    if not texts:
        return []
    enc = tokenizer(list(texts), add_special_tokens=False, truncation=False)["input_ids"]
    return [list(x) for x in enc]


def spec_from_tokenizer(tokenizer, max_len: int, overlap_tokens: int, max_question_tokens: int = 64) -> WindowSpec:
    """A :class:`WindowSpec` with the tokenizer's own special-token ids (no hard-coded ids)."""
    cls_id = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    sep_id = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    if cls_id is None or sep_id is None:
        raise ValueError("the tokenizer has neither [CLS]/[SEP] nor BOS/EOS tokens; CCGS needs a separator")
    return WindowSpec(int(cls_id), int(sep_id), int(pad_id), max_len, overlap_tokens, max_question_tokens)


@dataclass
class VideoText:
    """What the model needs of one video's transcript: cue token ids and cue times (seconds)."""

    cue_tokens: list[list[int]]
    cue_start: np.ndarray  # (N,)
    cue_end: np.ndarray  # (N,)


def batch_inputs(
    question_tokens: Sequence[Sequence[int]],
    videos: Sequence[VideoText],
    spec: WindowSpec,
    features: Sequence[np.ndarray | None] | None = None,
) -> dict[str, torch.Tensor]:
    """Model inputs for B (question, video) pairs (question_tokens[b] goes with videos[b]).

    Returns tensors: input_ids/attention_mask/token_type_ids (W, L) for all windows of all
    pairs, token_cue/sep_cue (W, L) indexing the flattened (B * N) cue array (-1 = none),
    window_pair (W,) the pair each window belongs to,
    cue_mask (B, N) bool, cue_start/cue_end (B, N) float, and when any pair has features:
    features (B, T, D) float and feature_mask (B, T) bool. A video needs >= 1 cue.
    """
    if len(question_tokens) != len(videos):
        raise ValueError("one question per video is required")
    n_max = max(len(v.cue_tokens) for v in videos)
    if n_max == 0 or any(len(v.cue_tokens) == 0 for v in videos):
        raise ValueError("every video needs at least one cue")
    packs = [pack_windows(q, v.cue_tokens, spec) for q, v in zip(question_tokens, videos)]
    shift = []
    for b, p in enumerate(packs):
        off = b * n_max
        shift.append((np.where(p.token_cue >= 0, p.token_cue + off, -1), np.where(p.sep_cue >= 0, p.sep_cue + off, -1)))
    out = {
        "input_ids": torch.from_numpy(np.concatenate([p.input_ids for p in packs])),
        "attention_mask": torch.from_numpy(np.concatenate([p.attention_mask for p in packs])),
        "token_type_ids": torch.from_numpy(np.concatenate([p.token_type_ids for p in packs])),
        "token_cue": torch.from_numpy(np.concatenate([s[0] for s in shift])),
        "sep_cue": torch.from_numpy(np.concatenate([s[1] for s in shift])),
        "window_pair": torch.cat([torch.full((len(p.input_ids),), b, dtype=torch.long) for b, p in enumerate(packs)]),
    }
    B = len(videos)
    cue_mask = torch.zeros(B, n_max, dtype=torch.bool)
    cue_start = torch.zeros(B, n_max)
    cue_end = torch.zeros(B, n_max)
    for b, v in enumerate(videos):
        n = len(v.cue_tokens)
        cue_mask[b, :n] = True
        cue_start[b, :n] = torch.as_tensor(v.cue_start, dtype=torch.float32)
        cue_end[b, :n] = torch.as_tensor(v.cue_end, dtype=torch.float32)
    out.update(cue_mask=cue_mask, cue_start=cue_start, cue_end=cue_end)
    if features is not None and any(f is not None and len(f) > 0 for f in features):
        dims = {int(f.shape[1]) for f in features if f is not None and len(f) > 0}
        if len(dims) != 1:
            raise ValueError(f"visual features of one batch must share one dimension, got {sorted(dims)}")
        d = dims.pop()
        t_max = max(len(f) for f in features if f is not None)
        feats = torch.zeros(B, t_max, d)
        fmask = torch.zeros(B, t_max, dtype=torch.bool)
        for b, f in enumerate(features):
            if f is not None and len(f) > 0:
                feats[b, : len(f)] = torch.as_tensor(np.asarray(f, dtype=np.float32))
                fmask[b, : len(f)] = True
        out.update(features=feats, feature_mask=fmask)
    return out
