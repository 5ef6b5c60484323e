import pytest
import torch

from vcval.models.cuespan import CueSpanConfig, CueSpanLoss, CueSpanModel
from vcval.models.cuespan.modeling_cuespan import NEG_INF, band_to_full, band_valid


def _inputs(b=3, n=12, d=384):
    torch.manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(b, d), dim=-1)
    c = torch.nn.functional.normalize(torch.randn(b, n, d), dim=-1)
    mask = torch.ones(b, n, dtype=torch.bool)
    if b > 1:
        mask[1, 8:] = False
    return q, c, mask


def test_scores_shape_mask_and_no_loss_without_labels():
    q, c, mask = _inputs()
    m = CueSpanModel(CueSpanConfig(max_span_cues=5)).eval()
    out = m(q, c, mask)
    assert out.scores.shape == (3, 12, 12) and out.loss is None
    i = torch.arange(12)
    off = i[None, :] - i[:, None]
    expect = (off >= 0) & (off < 5)
    assert torch.equal(out.valid[0], expect)
    assert not out.valid[1, 8:].any() and not out.valid[1, :, 8:].any()
    assert (out.scores[~out.valid] == NEG_INF).all()


def test_loss_backward_and_config_roundtrip():
    q, c, mask = _inputs()
    cfg = CueSpanConfig(max_span_cues=6, hidden=32, ff_dim=64, head_size=16)
    assert CueSpanConfig.from_dict(cfg.to_dict()) == cfg
    m = CueSpanModel(cfg)
    labels = torch.tensor([2 * 12 + 4, -100, 0])
    out = m(q, c, mask, labels=labels, groups=torch.tensor([0, 0, 1]))
    assert out.loss is not None and out.loss2 > 0
    out.loss.backward()
    assert m.span_proj.weight.grad is not None


def test_band_to_full_roundtrip_and_loss_matches_full():
    band = torch.randn(2, 5, 3)
    valid = band_valid(torch.ones(2, 5, dtype=torch.bool), 3)
    full, vfull = band_to_full(band, valid)
    assert full[0, 1, 3] == band[0, 1, 2] and not vfull[0, 3, 1] and not valid[0, 4, 1]
    loss = CueSpanLoss(0.0)
    lb, _, _ = loss(band.masked_fill(~valid, NEG_INF), torch.tensor([1 * 3 + 2, 0]))
    lf, _, _ = loss(full, torch.tensor([1 * 5 + 3, 0]))
    assert torch.allclose(lb, lf, atol=1e-5)


def test_target_cell_is_the_best_iou_span_within_max_span():
    from types import SimpleNamespace

    import numpy as np

    from vcval.training.trainer_cuespan import target_cell

    units = SimpleNamespace(starts=np.array([0.0, 10, 20, 30]), ends=np.array([10.0, 20, 30, 40]))
    assert target_cell(units, SimpleNamespace(start=11, end=29), max_span=4) == (1, 2)
    assert target_cell(units, SimpleNamespace(start=0, end=40), max_span=4) == (0, 3)
    first, last = target_cell(units, SimpleNamespace(start=0, end=40), max_span=2)
    assert last - first == 1  # the whole answer does not fit: the best 2-unit span
    assert target_cell(units, SimpleNamespace(start=100, end=110), max_span=2) == (3, 3)  # outside: nearest unit


def test_fraction_length_bias_reads_the_share_of_the_video_not_seconds():
    """A "fraction" model gives a span the length bias of its share of the video: the same bias for a
    10 s span of a 100 s video as for a 50 s span of a 500 s video; a "seconds" model does not."""
    import pytest

    n = 10
    h = torch.zeros(2, n, 32)
    mask = torch.ones(2, n, dtype=torch.bool)
    start = torch.stack([torch.arange(n) * 10.0, torch.arange(n) * 50.0])  # (2, N): 10 s / 50 s units
    end = start + torch.tensor([[10.0], [50.0]])
    duration = torch.tensor([100.0, 500.0])
    for unit, same in (("fraction", True), ("seconds", False)):
        cfg = CueSpanConfig(hidden=32, ff_dim=64, head_size=16, max_span_cues=4, length_unit=unit,
                            use_offset_bias=False, use_span_sum=False)
        m = CueSpanModel(cfg).eval()
        with torch.no_grad():
            m.span_proj.weight.zero_(), m.span_proj.bias.zero_()
            m.len_bias.weight.copy_(torch.arange(cfg.len_buckets, dtype=torch.float32)[:, None])
        band = m.band_scores(h, mask, start, end, 4, duration)  # (2, N, 4)
        assert torch.equal(band[0], band[1]) is same
        assert (band[0, 0, 1:] > band[0, 0, :-1]).all()  # longer spans, higher buckets
    with pytest.raises(ValueError, match="length_unit"):
        CueSpanModel(CueSpanConfig(length_unit="minutes"))


def test_share_model_scores_do_not_depend_on_the_video_time_scale():
    """With rotary positions and length bias both read as shares of the video, stretching every time of a
    video by 5x leaves its span scores unchanged (given the same unit encodings and with the one per-unit
    input in seconds, the unit's own duration, switched off); with index rotary they change."""
    q, c, mask = _inputs(b=1, n=9)
    start = torch.tensor([[0.0, 3, 7, 12, 14, 20, 26, 27, 33]])
    end = torch.cat([start[:, 1:], torch.tensor([[40.0]])], 1)
    cfg = CueSpanConfig(hidden=32, ff_dim=64, head_size=16, max_span_cues=4, length_unit="fraction",
                        rotary_position="share", use_offset_bias=False)
    m = CueSpanModel(cfg).eval()
    with torch.no_grad():
        m.len_bias.weight.normal_()
        m.scalar_proj.weight[:, -1] = 0.0  # the unit-duration feature (log seconds)
        a = m(q, c, mask, start, end, return_full=False).band
        b = m(q, c, mask, start * 5, end * 5, return_full=False).band
        assert torch.allclose(a, b, atol=1e-5)
        m.config.rotary_position = "index"
        assert not torch.allclose(m(q, c, mask, start, end, return_full=False).band, a, atol=1e-3)


def test_boundary_features_mark_topic_changes_and_long_pauses():
    from vcval.models.cuespan.modeling_cuespan import N_BOUNDARY, boundary_features

    a, b = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), dim=-1)
    cues = torch.stack([a, a, b, b, torch.zeros(2)])[None]  # (1, 5, 2): topic changes between units 1 and 2
    mask = torch.tensor([[True, True, True, True, False]])
    start = torch.tensor([[0.0, 4.1, 12.0, 16.1, 0.0]])  # a 4 s pause before unit 2, 0.1 s elsewhere
    end = torch.tensor([[4.0, 8.0, 16.0, 20.0, 0.0]])
    f = boundary_features(cues, mask, start, end)  # (1, 5, 4)
    assert f.shape == (1, 5, N_BOUNDARY)
    assert f[0, 1, 1] == 0.0 and f[0, 2, 0] == 0.0 and f[0, 0, 1] > 0.99  # cos with next / previous
    assert f[0, 2, 2] > 1.0 > f[0, 3, 2]  # the long pause stands out before unit 2
    assert f[0, 1, 3] == f[0, 2, 2]  # ... and is the pause after unit 1
    assert (f[0, 0, [0, 2]] == 0).all() and (f[0, 4] == 0).all()  # nothing before the first unit, padding zero
    m = CueSpanModel(CueSpanConfig(emb_dim=2, hidden=32, ff_dim=64, head_size=16, max_span_cues=4,
                                   boundary_features=True)).eval()
    assert m.scalar_proj.in_features == 12 + N_BOUNDARY
    q = torch.nn.functional.normalize(torch.ones(1, 2), dim=-1)
    band = m(q, cues, mask, start, end, return_full=False).band  # (1, 5, 4)
    assert torch.isfinite(band[0, 0]).all()


def test_topic_features_tell_overview_units_and_topical_questions_apart():
    from vcval.models.cuespan.modeling_cuespan import N_TOPIC, topic_features

    f = torch.nn.functional.normalize
    topic, step1, step2 = torch.eye(3)
    # an overview unit (the topic), two step units that share some of the topic, and padding
    cues = torch.stack([f(topic, dim=0), f(step1 + 0.5 * topic, dim=0), f(step2 + 0.5 * topic, dim=0),
                        torch.zeros(3)])[None]  # (1, 4, 3)
    mask = torch.tensor([[True, True, True, False]])
    plain = f(step1[None], dim=-1)  # asks about step 1 only
    topical = f((step1 + 2 * topic)[None], dim=-1)  # asks about step 1 and restates the topic
    a, b = topic_features(plain, cues, mask), topic_features(topical, cues, mask)  # (1, 4, 3) each
    assert a.shape == (1, 4, N_TOPIC) and (a[0, 3] == 0).all()  # padding is zero
    assert a[0, 0, 0] > a[0, 1, 0] and a[0, 0, 0] > a[0, 2, 0]  # the overview is the most central unit
    assert b[0, 0, 1] > a[0, 0, 1]  # the topical question reads as topical
    assert torch.allclose(a[0, :3, 0], b[0, :3, 0])  # centrality does not depend on the question
    # without its topic component the topical question points at step 1, not at the overview
    assert b[0, 1, 2] > b[0, 0, 2] and b[0, 1, 2] > b[0, 2, 2]
    m = CueSpanModel(CueSpanConfig(emb_dim=3, hidden=32, ff_dim=64, head_size=16, max_span_cues=2,
                                   topic_features=True)).eval()
    assert m.scalar_proj.in_features == 12 + N_TOPIC
    assert torch.isfinite(m(topical, cues, mask, return_full=False).band[0, :3, 0]).all()
    assert CueSpanModel(CueSpanConfig(emb_dim=3, hidden=32, ff_dim=64, head_size=16)).scalar_proj.in_features == 12


def test_soft_iou_targets_spread_loss1_over_near_misses_and_default_stays_hard():
    scores = torch.zeros(1, 4, requires_grad=True)  # 4 cells, uniform scores
    labels = torch.tensor([1])
    iou = torch.tensor([[0.2, 1.0, 0.6, 0.0]])
    hard, _, _ = CueSpanLoss(0.0)(scores, labels, iou=iou)  # soft_label_iou = 0: iou is ignored
    assert torch.allclose(hard, torch.nn.functional.cross_entropy(scores, labels))
    soft_loss = CueSpanLoss(0.0, soft_label_iou=0.5)
    target = soft_loss.soft_targets(iou, labels)
    assert torch.allclose(target, torch.tensor([[0.0, 1.0 / 1.6, 0.6 / 1.6, 0.0]]))
    loss, _, _ = soft_loss(scores, labels, iou=iou)
    loss.backward()
    assert scores.grad[0, 2] < 0 < scores.grad[0, 0]  # the near miss (IoU 0.6) is raised, the 0.2 cell lowered
    # no cell reaches the threshold: the label cell alone
    assert torch.equal(soft_loss.soft_targets(torch.tensor([[0.2, 0.3, 0.0, 0.0]]), labels),
                       torch.tensor([[0.0, 1.0, 0.0, 0.0]]))


def test_batch_label_iou_is_each_unit_span_iou_with_the_answer_and_reaches_the_loss():
    import numpy as np

    from vcval.corpus.encodings import UnitEncodings
    from vcval.localization.spans import iou_matrix, temporal_iou
    from vcval.models.cuespan.inputs import Row, build_batch
    from vcval.types import Cue

    cues = tuple(Cue(i, 10.0 * i, 10.0 * i + 10, f"unit {i}") for i in range(6))
    vec = np.eye(6, 384, dtype=np.float32)
    units = UnitEncodings(cues, np.arange(6), np.arange(6), vec, vec)
    rows = [Row(vec[0], units, np.zeros(6, np.float32), cell=(1, 2), answer=(12.0, 31.0)),
            Row(vec[1], units, np.zeros(6, np.float32))]
    kwargs, _ = build_batch(rows)
    got = kwargs["label_iou"].numpy()
    assert got.shape == (2, 6, 6) and not got[1].any()  # the negative row has no answer
    np.testing.assert_allclose(got[0], iou_matrix(units.starts, units.ends, 12.0, 31.0), rtol=1e-6)
    assert abs(got[0, 1, 2] - temporal_iou((10, 30), (12, 31))) < 1e-6
    assert "label_iou" not in build_batch(rows[1:])[0]  # serving rows: no answers, no key
    torch.manual_seed(0)
    soft = CueSpanModel(CueSpanConfig(max_span_cues=4, hidden=32, ff_dim=64, head_size=16, soft_label_iou=0.5))
    hard = CueSpanModel(CueSpanConfig(max_span_cues=4, hidden=32, ff_dim=64, head_size=16))
    hard.load_state_dict(soft.state_dict())
    soft.eval(), hard.eval()
    out_soft, out_hard = soft(**kwargs), hard(**kwargs)
    assert torch.isfinite(out_soft.loss1) and not torch.isclose(out_soft.loss1, out_hard.loss1)
    assert torch.equal(out_soft.band, out_hard.band)  # the targets change, not the scores


def test_unit_inputs_choose_what_of_the_unit_embedding_the_model_reads():
    q, c, mask = _inputs()
    lexical = torch.zeros(3, 12)
    small = dict(max_span_cues=5, hidden=32, ff_dim=64, head_size=16)
    full = CueSpanModel(CueSpanConfig(**small)).eval()
    inter = CueSpanModel(CueSpanConfig(unit_inputs="interaction", **small)).eval()
    scalar = CueSpanModel(CueSpanConfig(unit_inputs="scalar", **small)).eval()
    assert hasattr(full, "cue_proj") and not hasattr(inter, "cue_proj") and hasattr(inter, "qc_proj")
    assert not hasattr(scalar, "qc_proj") and not hasattr(scalar, "q_proj")
    for m in (full, inter, scalar):
        assert m(q, c, mask, lexical=lexical).scores.shape == (3, 12, 12)
    # a scalar-only model sees units only through the scalar features: rotating every embedding (question and
    # units alike) keeps every cosine, so its scores do not move; the full model's do
    rot, _ = torch.linalg.qr(torch.randn(384, 384, generator=torch.Generator().manual_seed(1)))
    q2, c2 = q @ rot, c @ rot
    with torch.no_grad():
        a, b = scalar(q, c, mask, lexical=lexical).scores, scalar(q2, c2, mask, lexical=lexical).scores
        assert torch.allclose(a[a > NEG_INF / 2], b[b > NEG_INF / 2], atol=1e-4)
        a, b = full(q, c, mask, lexical=lexical).scores, full(q2, c2, mask, lexical=lexical).scores
        assert not torch.allclose(a[a > NEG_INF / 2], b[b > NEG_INF / 2], atol=1e-4)
    with pytest.raises(ValueError, match="unit_inputs"):
        CueSpanModel(CueSpanConfig(unit_inputs="words"))


def test_highlight_loss_labels_units_inside_the_answer_on_positive_rows_only():
    from vcval.models.cuespan.modeling_cuespan import highlight_loss

    n = 6
    mask = torch.ones(2, n, dtype=torch.bool)
    mask[0, 5] = False
    labels = torch.tensor([1 * n + 3, -100])  # row 0: answer = units 1..3; row 1: a negative video
    right = torch.tensor([[-9.0, 9, 9, 9, -9, 123.0], [5.0] * n])  # masked unit and the negative row: any value
    wrong = torch.tensor([[9.0, -9, -9, -9, 9, 123.0], [5.0] * n])
    assert highlight_loss(right, mask, labels) < 0.01 < 8 < highlight_loss(wrong, mask, labels)
    assert highlight_loss(right, mask, torch.tensor([-100, -100])) == 0

    q, c, mask = _inputs()
    cfg = dict(max_span_cues=6, hidden=32, ff_dim=64, head_size=16)
    m = CueSpanModel(CueSpanConfig(**cfg, highlight_weight=0.5))
    labels = torch.tensor([2 * 12 + 4, -100, 0])
    out = m(q, c, mask, labels=labels, groups=torch.tensor([0, 0, 1]))
    assert torch.allclose(out.loss, out.loss1 + out.loss2 + 0.5 * out.loss_highlight)
    assert CueSpanModel(CueSpanConfig(**cfg))(q, c, mask, labels=labels).loss_highlight is None
    with pytest.raises(ValueError, match="use_span_sum"):
        CueSpanModel(CueSpanConfig(**cfg, highlight_weight=1.0, use_span_sum=False))
