"""Metrics against hand-computed values (all metrics are percentages)."""
from __future__ import annotations

import pytest

from vcval.evaluation.metrics import (
    Gold,
    Prediction,
    clamp_span,
    compute_all,
    correct_video_rank,
    localization_metrics,
    metric_names,
    retrieval_metrics,
    video_ranking,
)
from vcval.localization.spans import temporal_iou
from vcval.types import Answer


# ---------------------------------------------------------------- temporal IoU
@pytest.mark.parametrize(
    "a, b, expected",
    [
        ((0, 10), (0, 10), 1.0),
        ((0, 10), (5, 15), 5 / 15),
        ((0, 10), (10, 20), 0.0),  # touching, no overlap
        ((0, 10), (20, 30), 0.0),  # disjoint
        ((0, 10), (2, 4), 2 / 10),  # contained
        ((2.5, 7.5), (0, 10), 0.5),
        ((3, 3), (3, 3), 1.0),  # the same instant
        ((3, 3), (4, 4), 0.0),  # different instants
        ((3, 3), (0, 10), 0.0),  # an instant inside a span
    ],
)
def test_temporal_iou_hand_values(a, b, expected):
    assert temporal_iou(a, b) == pytest.approx(expected)
    assert temporal_iou(b, a) == pytest.approx(expected)  # symmetric


def test_temporal_iou_rejects_reversed_span():
    with pytest.raises(ValueError):
        temporal_iou((5, 4), (0, 10))
    with pytest.raises(ValueError):
        clamp_span(5, 4, 100)


def test_clamp_span():
    assert clamp_span(-2, 5, 100) == (0.0, 5.0)
    assert clamp_span(90, 130, 100) == (90.0, 100.0)
    assert clamp_span(120, 130, 100) == (100.0, 100.0)  # entirely past the end -> instant at the end
    assert clamp_span(120, 130, None) == (120.0, 130.0)  # unknown length: no upper clamp


# ---------------------------------------------------------------- retrieval
def test_video_ranking_uses_first_occurrence():
    preds = [("b", 0, 1, 0.9), ("a", 0, 1, 0.8), ("b", 5, 6, 0.7), ("c", 0, 1, 0.6)]
    assert video_ranking(preds) == ["b", "a", "c"]
    assert correct_video_rank(preds, Gold("c", 0, 1)) == 3
    assert correct_video_rank(preds, Gold("z", 0, 1)) is None


def test_ties_keep_list_order():
    # equal scores: the earlier entry ranks first (scores never reorder the list)
    preds = [("b", 0, 1, 0.5), ("a", 0, 1, 0.5)]
    assert correct_video_rank(preds, Gold("a", 0, 1)) == 2
    assert correct_video_rank(preds, Gold("b", 0, 1)) == 1


def test_retrieval_metrics_hand_computed():
    # ranks of the correct video: 1, 3, 7, absent  -> R@1 = 1/4, R@5 = 2/4, R@10 = 3/4,
    # MRR = (1 + 1/3 + 1/7 + 0) / 4
    vids = [f"v{i}" for i in range(10)]
    gold = [Gold("v0", 0, 1), Gold("v2", 0, 1), Gold("v6", 0, 1), Gold("zz", 0, 1)]
    preds = [[(v, 0, 1, 1.0) for v in vids]] * 4
    m = retrieval_metrics(preds, gold)
    assert m["R@1"] == pytest.approx(25.0)
    assert m["R@5"] == pytest.approx(50.0)
    assert m["R@10"] == pytest.approx(75.0)
    assert m["MRR"] == pytest.approx(100 * (1 + 1 / 3 + 1 / 7) / 4)


def test_retrieval_repeated_video_counts_once():
    # a video occupying several top spans does not push the correct one down further than its video rank
    preds = [[("a", 0, 1, 0.9), ("a", 2, 3, 0.8), ("a", 4, 5, 0.7), ("b", 0, 1, 0.6)]]
    m = retrieval_metrics(preds, [Gold("b", 0, 1)])
    assert m["R@1"] == 0.0 and m["R@5"] == 100.0 and m["MRR"] == pytest.approx(50.0)


def test_retrieval_empty_prediction_list():
    m = retrieval_metrics([[]], [Gold("a", 0, 1)])
    assert m == {"R@1": 0.0, "R@5": 0.0, "R@10": 0.0, "MRR": 0.0}


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError):
        retrieval_metrics([[]], [])
    with pytest.raises(ValueError):
        localization_metrics([[], []], [Gold("a", 0, 1)])


# ---------------------------------------------------------------- localization
def test_localization_single_question_hand_computed():
    gold = [Gold("a", 10, 20, video_length=100)]
    preds = [[
        ("b", 10, 20, 0.9),  # wrong video, perfect span: IoU counts as 0
        ("a", 15, 25, 0.8),  # IoU 5/15 = 0.333
        ("a", 10, 18, 0.7),  # IoU 8/10 = 0.8
    ]]
    m = localization_metrics(preds, gold)
    assert m["Rank@1 IoU=0.3"] == 0.0 and m["Rank@1 mIoU"] == 0.0
    # fewer than 10 / 100 predictions: all three are used
    for n in (10, 100):
        assert m[f"Rank@{n} IoU=0.3"] == 100.0
        assert m[f"Rank@{n} IoU=0.5"] == 100.0
        assert m[f"Rank@{n} IoU=0.7"] == 100.0
        assert m[f"Rank@{n} mIoU"] == pytest.approx(80.0)


def test_localization_two_questions_mean():
    gold = [Gold("a", 0, 10), Gold("b", 0, 10)]
    preds = [
        [("a", 5, 10, 1.0)],  # IoU 0.5 exactly -> counts at 0.5 (>=)
        [("b", 0, 4, 1.0)],  # IoU 0.4
    ]
    m = localization_metrics(preds, gold)
    assert m["Rank@1 IoU=0.3"] == 100.0
    assert m["Rank@1 IoU=0.5"] == 50.0
    assert m["Rank@1 IoU=0.7"] == 0.0
    assert m["Rank@1 mIoU"] == pytest.approx(100 * (0.5 + 0.4) / 2)


def test_iou_threshold_boundary_is_inclusive_despite_float_error():
    # IoU = 0.09 / 0.3 is 0.29999999999999993 in floats: still counts at IoU >= 0.3
    gold = [Gold("a", 0.0, 0.3)]
    preds = [[("a", 0.0, 0.09, 1.0)]]
    assert temporal_iou((0.0, 0.09), (0.0, 0.3)) < 0.3
    assert localization_metrics(preds, gold)["Rank@1 IoU=0.3"] == 100.0


def test_prediction_past_video_end_is_clamped():
    # gold [90, 100] in a 100 s video; prediction [95, 200] clamps to [95, 100] -> IoU 5/10
    gold = [Gold("a", 90, 100, video_length=100)]
    m = localization_metrics([[("a", 95, 200, 1.0)]], gold)
    assert m["Rank@1 mIoU"] == pytest.approx(50.0)
    # without the length the unclamped IoU is 5/110
    m2 = localization_metrics([[("a", 95, 200, 1.0)]], [Gold("a", 90, 100)])
    assert m2["Rank@1 mIoU"] == pytest.approx(100 * 5 / 110)
    # a prediction entirely past the end becomes an instant at the end: IoU 0
    m3 = localization_metrics([[("a", 150, 200, 1.0)]], gold)
    assert m3["Rank@1 mIoU"] == 0.0


def test_zero_length_spans():
    # zero-length gold and the same zero-length prediction: IoU 1; a span around it: IoU 0
    gold = [Gold("a", 30, 30), Gold("a", 30, 30)]
    preds = [[("a", 30, 30, 1.0)], [("a", 20, 40, 1.0)]]
    m = localization_metrics(preds, gold)
    assert m["Rank@1 IoU=0.7"] == 50.0
    assert m["Rank@1 mIoU"] == pytest.approx(50.0)


def test_rank_n_uses_only_first_n():
    # the good span is the 11th prediction: counts at Rank@100 only
    gold = [Gold("a", 0, 10)]
    preds = [[("a", 50 + i, 51 + i, 1.0) for i in range(10)] + [("a", 0, 10, 0.1)]]
    m = localization_metrics(preds, gold)
    assert m["Rank@10 IoU=0.3"] == 0.0 and m["Rank@10 mIoU"] == 0.0
    assert m["Rank@100 IoU=0.7"] == 100.0 and m["Rank@100 mIoU"] == 100.0


# ---------------------------------------------------------------- compute_all
def test_compute_all_has_exactly_the_16_keys_in_order():
    m = compute_all([[("a", 0, 10, 1.0)]], [Gold("a", 0, 10)])
    assert list(m) == metric_names()
    assert len(m) == 16
    assert list(m)[:4] == ["R@1", "R@5", "R@10", "MRR"]
    assert "Rank@100 mIoU" in m and "Rank@10 IoU=0.7" in m
    assert all(v == 100.0 for v in m.values())


def test_compute_all_accepts_answers_dicts_and_records():
    gold = [{"video_id": "a", "answer_start_second": 0, "answer_end_second": 10, "video_length": 60, "question": "q"}]
    as_answer = [[Answer("b", "B", 0, 10, 0.9), Answer("a", "A", 0, 5, 0.8)]]
    as_dict = [[{"video_id": "b", "start": 0, "end": 10, "score": 0.9}, {"video_id": "a", "start": 0, "end": 5}]]
    as_pred = [[Prediction("b", 0, 10, 0.9), Prediction("a", 0, 5, 0.8)]]
    results = [compute_all(p, gold) for p in (as_answer, as_dict, as_pred)]
    assert results[0] == results[1] == results[2]
    m = results[0]
    assert m["R@1"] == 0.0 and m["R@5"] == 100.0 and m["MRR"] == 50.0
    assert m["Rank@1 mIoU"] == 0.0 and m["Rank@10 mIoU"] == pytest.approx(50.0)
    assert m["Rank@10 IoU=0.5"] == 100.0 and m["Rank@10 IoU=0.7"] == 0.0


def test_compute_all_rejects_bad_prediction_shape():
    with pytest.raises(TypeError):
        compute_all([["not a prediction"]], [Gold("a", 0, 1)])


def test_paired_bootstrap():
    import numpy as np

    from vcval.evaluation.metrics import paired_bootstrap

    a = [0.0, 0.5, 1.0, 0.25] * 25
    assert paired_bootstrap(a, a) == (0.0, 0.0, 0.0)
    mean, low, high = paired_bootstrap(a, [v + 0.1 for v in a])  # a constant shift has no spread
    assert mean == pytest.approx(0.1) and low == pytest.approx(0.1) and high == pytest.approx(0.1)
    rng = np.random.default_rng(1)
    x = rng.random(400)
    y = x + rng.normal(0.05, 0.2, 400)  # a small, noisy gain: the interval holds it and excludes 0
    mean, low, high = paired_bootstrap(x, y)
    assert low < mean < high and low < 0.05 < high and low > 0
    assert paired_bootstrap(x, y) == (mean, low, high)  # seeded
    wide = paired_bootstrap(x[:20], y[:20])
    assert wide[2] - wide[1] > high - low  # fewer questions, wider interval
    with pytest.raises(ValueError, match="equal-length"):
        paired_bootstrap([1.0, 2.0], [1.0])


def test_paired_bootstrap_by_group():
    import numpy as np

    from vcval.evaluation.metrics import paired_bootstrap

    rng = np.random.default_rng(2)
    x = rng.random(800)
    # 8 videos of 100 questions; the gain is a per-video effect (+3 on some videos, -2 on others) plus noise
    videos = [f"v{i // 100}" for i in range(800)]
    effect = np.repeat([3.0, -2.0, 3.0, 3.0, -2.0, 3.0, -2.0, 3.0], 100) * 0.1
    y = x + effect + rng.normal(0, 0.05, 800)
    q_mean, q_low, q_high = paired_bootstrap(x, y)
    v_mean, v_low, v_high = paired_bootstrap(x, y, groups=videos)
    assert v_mean == pytest.approx(q_mean)  # the point estimate does not depend on the grouping
    assert q_low > 0  # by question the gain looks certain ...
    assert v_low < 0 < v_high  # ... by video it is not: 3 of the 8 videos lose
    assert v_high - v_low > 5 * (q_high - q_low)
    assert paired_bootstrap(x, y, groups=videos) == (v_mean, v_low, v_high)  # seeded
    # one question per group is the question bootstrap (the same up to which question a draw names)
    assert paired_bootstrap(x, y, groups=list(range(800))) == pytest.approx((q_mean, q_low, q_high), abs=2e-3)
    # groups of unequal size: a resample's mean is over its questions, not a mean of group means
    a, b = [0.0] * 4, [1.0, 1.0, 1.0, 0.0]
    assert paired_bootstrap(a, b, groups=["big", "big", "big", "small"])[0] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="group labels"):
        paired_bootstrap(x, y, groups=videos[:10])
