import torch

from vcval.models.cuespan import CueSpanConfig, CueSpanLoss, CueSpanModel
from vcval.models.cuespan.modeling_cuespan import NEG_INF, band_to_full, band_valid, best_cell


def _inputs(b=3, n=12, d=384):
    torch.manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(b, d), dim=-1)
    c = torch.nn.functional.normalize(torch.randn(b, n, d), dim=-1)
    mask = torch.ones(b, n, dtype=torch.bool)
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


def test_best_cell():
    import numpy as np

    s = np.array([0.0, 10, 20, 30])
    e = np.array([10.0, 20, 30, 40])
    assert best_cell(s, e, 11, 29, max_span=4)[:2] == (1, 2)
    assert best_cell(s, e, 0, 40, max_span=2)[2] < 1.0
