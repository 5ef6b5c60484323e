"""Pure span-matrix functions and transcript windowing (no model)."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from vcval.localization.spans import (
    NEG_INF,
    align_steps_to_cues,
    best_target_cell,
    cue_span_seconds,
    decode_spans,
    iou_matrix,
    mask_scores,
    pairwise_iou,
    seconds_to_cue_span,
    span_mask,
    temporal_iou,
)
from vcval.models.ccgs.inputs import VideoText, WindowSpec, batch_inputs, pack_windows
from vcval.types import Cue


def cues_every(n: int, step: float = 2.0) -> list[Cue]:
    return [Cue(k, k * step, (k + 1) * step, f"cue {k}") for k in range(n)]


# ----------------------------------------------------------------------------- masks
def test_span_mask_no_end_before_start_and_max_len():
    valid = span_mask(torch.ones(1, 6, dtype=torch.bool), max_span_cues=3)[0]
    for i in range(6):
        for j in range(6):
            assert bool(valid[i, j]) == (i <= j and j - i < 3), (i, j)


def test_span_mask_padding_cues_are_never_valid():
    cue_mask = torch.tensor([[True, True, True, False, False]])
    valid = span_mask(cue_mask, max_span_cues=10)[0]
    assert not valid[:, 3:].any() and not valid[3:, :].any()
    assert valid[:3, :3].sum() == 6  # upper triangle of 3 cues


def test_span_mask_seconds_limit_keeps_single_cues():
    start = torch.tensor([[0.0, 10.0, 20.0, 30.0]])
    end = torch.tensor([[10.0, 20.0, 30.0, 100.0]])  # the last cue alone is 70 s long
    valid = span_mask(torch.ones(1, 4, dtype=torch.bool), 10, start, end, max_span_seconds=25.0)[0]
    assert valid[0, 1] and not valid[0, 2]  # 20 s ok, 30 s too long
    assert valid[3, 3]  # a single cue stays valid however long
    assert not valid[2, 3]


def test_span_mask_rejects_bad_length():
    with pytest.raises(ValueError):
        span_mask(torch.ones(1, 2, dtype=torch.bool), 0)


def test_mask_scores_fills_invalid_cells():
    scores = torch.zeros(1, 3, 3)
    valid = span_mask(torch.ones(1, 3, dtype=torch.bool), 2)
    out = mask_scores(scores, valid)
    assert out.dtype == torch.float32
    assert out[0, 2, 0] == NEG_INF and out[0, 0, 2] == NEG_INF and out[0, 0, 1] == 0


# ----------------------------------------------------------------------------- decoding
def test_decode_best_cell_and_ties_go_to_earliest_then_shortest():
    n = 4
    valid = span_mask(torch.ones(1, n, dtype=torch.bool), n)[0]
    scores = torch.zeros(n, n)
    scores[1, 3] = 5.0
    scores[1, 2] = 5.0  # tie with (1, 3): shorter wins
    scores[2, 2] = 5.0  # tie: later start loses
    assert decode_spans(scores, valid, top_k=1) == [(1, 2, 5.0)]


def test_decode_ignores_invalid_cells_even_if_high():
    n = 3
    valid = span_mask(torch.ones(1, n, dtype=torch.bool), 1)[0]  # only the diagonal
    scores = torch.full((n, n), 100.0)
    scores[1, 1] = 1.0
    scores[0, 0] = scores[2, 2] = 0.0
    top = decode_spans(scores, valid, top_k=3)
    assert [(i, j) for i, j, _ in top] == [(1, 1), (0, 0), (2, 2)]
    assert all(i <= j for i, j, _ in top)


def test_decode_non_overlapping_spans():
    n = 5
    valid = span_mask(torch.ones(1, n, dtype=torch.bool), n)[0]
    scores = torch.zeros(n, n)
    scores[0, 2], scores[1, 3], scores[4, 4] = 3.0, 2.5, 1.0
    spans = decode_spans(scores, valid, top_k=3)
    assert [(i, j) for i, j, _ in spans][:2] == [(0, 2), (4, 4)]
    overlapping = decode_spans(scores, valid, top_k=2, non_overlapping=False)
    assert [(i, j) for i, j, _ in overlapping] == [(0, 2), (1, 3)]


def test_one_cue_video():
    valid = span_mask(torch.ones(1, 1, dtype=torch.bool), 5)[0]
    assert decode_spans(torch.tensor([[0.3]]), valid, top_k=3) == [(0, 0, pytest.approx(0.3))]
    assert best_target_cell([4.0], [9.0], 0.0, 100.0) == (0, 0, pytest.approx(0.05))
    assert cue_span_seconds([Cue(0, 4.0, 9.0, "x")], 0, 0) == (4.0, 9.0)


def test_decode_empty():
    assert decode_spans(torch.zeros(2, 2), torch.zeros(2, 2, dtype=torch.bool)) == []


# ----------------------------------------------------------------------------- targets and seconds
def test_iou_matrix_matches_pairwise_iou():
    cs, ce = np.array([0.0, 2.0, 4.0]), np.array([2.0, 4.0, 6.0])
    m = iou_matrix(cs, ce, 1.0, 5.0)
    for i in range(3):
        for j in range(3):
            expect = temporal_iou((cs[i], ce[j]), (1.0, 5.0)) if i <= j else 0.0
            assert m[i, j] == pytest.approx(expect)


def test_best_target_cell_exact_answer():
    cues = cues_every(10)
    assert best_target_cell([c.start for c in cues], [c.end for c in cues], 6.0, 12.0) == (3, 5, pytest.approx(1.0))


def test_best_target_cell_respects_valid_mask():
    cues = cues_every(10)
    valid = span_mask(torch.ones(1, 10, dtype=torch.bool), 2)[0].numpy()
    i, j, iou = best_target_cell([c.start for c in cues], [c.end for c in cues], 0.0, 20.0, valid)
    assert j - i < 2 and iou == pytest.approx(0.2)


def test_best_target_cell_ties_earliest_then_shortest():
    # (0, 0) and (1, 1) both have IoU 0.5 with [1, 2]: the earlier start wins
    assert best_target_cell([0.0, 1.0], [2.0, 3.0], 1.0, 2.0)[:2] == (0, 0)
    # a zero-length cue at 2 s: (0, 0) and (0, 1) both match [0, 2] exactly: the shorter wins
    assert best_target_cell([0.0, 2.0], [2.0, 2.0], 0.0, 2.0)[:2] == (0, 0)


def test_best_target_cell_answer_outside_cues_falls_back_to_nearest():
    assert best_target_cell([0.0, 2.0, 4.0], [2.0, 4.0, 6.0], 50.0, 60.0)[:2] == (2, 2)
    with pytest.raises(ValueError):
        best_target_cell([], [], 0.0, 1.0)


def test_cue_seconds_round_trip():
    cues = cues_every(8, step=3.0)
    for i, j in [(0, 0), (2, 5), (7, 7)]:
        s, e = cue_span_seconds(cues, i, j)
        assert (s, e) == (cues[i].start, cues[j].end)
        assert seconds_to_cue_span(cues, s, e) == (i, j)
    with pytest.raises(ValueError):
        cue_span_seconds(cues, 3, 2)


def test_align_steps_to_cues_by_time():
    cs, ce = torch.tensor([[0.0, 2.0, 9.5]]), torch.tensor([[2.0, 3.0, 12.0]])
    w = align_steps_to_cues(cs, ce, torch.ones(1, 4, dtype=torch.bool))[0]  # 4 steps: [0,1) .. [3,4)
    assert torch.allclose(w[0], torch.tensor([0.5, 0.5, 0.0, 0.0]))
    assert torch.allclose(w[1], torch.tensor([0.0, 0.0, 1.0, 0.0]))
    assert torch.allclose(w[2], torch.tensor([0.0, 0.0, 0.0, 1.0]))  # past the features: nearest step
    none = align_steps_to_cues(cs, ce, torch.zeros(1, 4, dtype=torch.bool))
    assert none.abs().sum() == 0


# ----------------------------------------------------------------------------- windows
SPEC = WindowSpec(cls_id=101, sep_id=102, pad_id=0, max_len=24, overlap_tokens=6, max_question_tokens=8)


def _cue_tokens(lengths, base=1000):
    out, t = [], base
    for n in lengths:
        out.append(list(range(t, t + n)))
        t += n
    return out


def test_long_transcript_covered_by_overlapping_windows_nothing_dropped():
    q = [7, 8, 9]
    cues = _cue_tokens([3, 5, 2, 7, 4, 6, 3, 3, 8, 1, 5, 4])
    p = pack_windows(q, cues, SPEC)
    assert p.input_ids.shape[0] > 1 and p.input_ids.shape[1] == SPEC.max_len
    for w in range(p.input_ids.shape[0]):  # every window repeats the question
        assert list(p.input_ids[w, :5]) == [101, 7, 8, 9, 102]
    for k, toks in enumerate(cues):  # every token of every cue appears, in order, in some window
        seen = [p.input_ids[w][p.token_cue[w] == k].tolist() for w in range(len(p.input_ids))]
        assert toks in seen
        assert (p.sep_cue == k).sum() >= 1
    # consecutive windows overlap (some cue appears in two windows)
    per_window = [set(p.token_cue[w][p.token_cue[w] >= 0].tolist()) for w in range(len(p.input_ids))]
    assert any(per_window[w] & per_window[w + 1] for w in range(len(per_window) - 1))
    assert (p.attention_mask.sum(1) <= SPEC.max_len).all()


def test_cue_longer_than_window_is_split_not_truncated():
    cues = _cue_tokens([2, 40, 2])
    p = pack_windows([5], cues, SPEC)
    got = np.concatenate([p.input_ids[w][p.token_cue[w] == 1] for w in range(len(p.input_ids))])
    assert sorted(set(got.tolist())) == cues[1]


def test_long_question_truncated_with_warning(caplog):
    with caplog.at_level(logging.WARNING):
        p = pack_windows(list(range(20)), _cue_tokens([3]), SPEC)
    assert "question" in caplog.text
    assert list(p.input_ids[0, :10]) == [101, *range(8), 102]


def test_batch_inputs_flat_cue_indexes_and_padding():
    v1 = VideoText(_cue_tokens([3, 3, 3]), np.array([0.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0]))
    v2 = VideoText(_cue_tokens([4]), np.array([0.0]), np.array([5.0]))
    out = batch_inputs([[5], [6]], [v1, v2], SPEC, [np.ones((3, 4)), None])
    assert out["cue_mask"].tolist() == [[True, True, True], [True, False, False]]
    cues_of_second = set(out["token_cue"][out["input_ids"][:, 1] == 6].flatten().tolist()) - {-1}
    assert cues_of_second == {3}  # video 2's cue 0 -> flat index 1 * N + 0
    assert out["features"].shape == (2, 3, 4) and out["feature_mask"][1].sum() == 0
    with pytest.raises(ValueError):
        batch_inputs([[5]], [VideoText([], np.zeros(0), np.zeros(0))], SPEC)


def test_pairwise_iou_matches_temporal_iou_including_instants():
    rng = np.random.default_rng(0)
    s = np.round(rng.uniform(0, 10, 12), 0)
    e = s + np.round(rng.uniform(0, 4, 12), 0)  # some zero-length spans (instants)
    m = pairwise_iou(s[:5], e[:5], s, e)
    assert m.shape == (5, 12)
    for i in range(5):
        for j in range(12):
            assert m[i, j] == pytest.approx(temporal_iou((s[i], e[i]), (s[j], e[j])))
