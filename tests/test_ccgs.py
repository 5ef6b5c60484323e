"""CCGS model: shapes, losses, rotary, persistence (local + Hub cache offline), the localizer."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vcval.errors import InvalidInputError, NotFoundError
from vcval.localization.base import Candidate
from vcval.localization.ccgs import CCGSLocalizer, fuse_scores
from vcval.localization.spans import decode_spans
from vcval.models.ccgs.configuration_ccgs import CCGSConfig
from vcval.models.ccgs.inputs import VideoText, batch_inputs, spec_from_tokenizer, tokenize_cues
from vcval.models.ccgs.layers import GlobalSpanHead, rotary
from vcval.models.ccgs.modeling_ccgs import CCGSModel, contrastive_loss, load_ccgs, load_tokenizer, span_loss
from vcval.types import Cue, VideoRecord

TINY_BERT = dict(
    model_type="bert", hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
    vocab_size=30522, max_position_embeddings=64,
)


def tiny_config(**kw) -> CCGSConfig:
    base = dict(encoder_config=TINY_BERT, trainable_encoder_layers=-1, max_len=48, overlap_tokens=8,
                head_size=16, visual_dim=8, max_span_cues=6, max_span_seconds=None, dropout=0.0)
    base.update(kw)
    return CCGSConfig(**base)


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(tiny_config())


def make_cues(texts, step=2.0):
    return [Cue(k, k * step, (k + 1) * step, t) for k, t in enumerate(texts)]


def inputs_for(tokenizer, cfg, question, cue_lists, features=None):
    spec = spec_from_tokenizer(tokenizer, cfg.max_len, cfg.overlap_tokens)
    q = tokenizer(question, add_special_tokens=False)["input_ids"]
    videos = [
        VideoText(tokenize_cues(tokenizer, [c.text for c in cues]), np.array([c.start for c in cues]), np.array([c.end for c in cues]))
        for cues in cue_lists
    ]
    return batch_inputs([q] * len(videos), videos, spec, features)


TEXTS_A = [f"sentence number {k} about layers and masks in the editor" for k in range(9)]
TEXTS_B = ["open the panel", "choose a brush", "paint the mask"]


def test_forward_shapes_and_loss_only_with_labels(tokenizer):
    torch.manual_seed(0)
    cfg = tiny_config()
    model = CCGSModel(cfg)
    inp = inputs_for(tokenizer, cfg, "how do I paint a mask?", [make_cues(TEXTS_A), make_cues(TEXTS_B)])
    out = model(**inp)
    assert out.loss is None and out.scores.shape == (2, 9, 9) and out.valid.shape == (2, 9, 9)
    assert out.highlight is None  # no features: text-only by design
    assert not out.valid[1, 3:].any() and not out.valid[0, 5, 4]
    labels, groups = torch.tensor([2 * 9 + 4, -100]), torch.tensor([0, 0])
    out = model(**inp, labels=labels, groups=groups)
    assert out.loss is not None and torch.isfinite(out.loss)
    assert torch.allclose(out.loss, out.loss_span + out.loss_contrastive)
    out.loss.backward()
    assert model.span_head.proj.weight.grad is not None


def test_losses_match_definitions():
    scores = torch.full((3, 2, 2), -1e9)
    scores[:, 0, 0], scores[:, 0, 1], scores[:, 1, 1] = torch.tensor([1.0, 2.0, 0.5]), 0.0, 0.0
    labels = torch.tensor([0, -100, -100])  # positive = row 0, cell (0, 0)
    l1 = span_loss(scores, labels)
    assert l1.item() == pytest.approx(-torch.log_softmax(torch.tensor([1.0, 0.0, 0.0]), 0)[0].item(), rel=1e-5)
    l2 = contrastive_loss(scores, labels, torch.tensor([0, 0, 0]))
    all_cells = torch.tensor([1.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.5, 0.0, 0.0])
    assert l2.item() == pytest.approx(-torch.log_softmax(all_cells, 0)[0].item(), rel=1e-5)
    assert contrastive_loss(scores, labels, torch.tensor([0, 1, 2])).item() == 0.0  # no negatives in group
    assert span_loss(scores, torch.tensor([-100, -100, -100])).item() == 0.0


def test_rotary_is_relative_and_changes_scores_with_position():
    torch.manual_seed(0)
    q, k = torch.randn(1, 1, 8), torch.randn(1, 1, 8)
    def dot(i, j):
        return (rotary(q, torch.tensor([i])) * rotary(k, torch.tensor([j]))).sum().item()
    assert dot(2, 5) == pytest.approx(dot(10, 13), abs=1e-5)
    assert dot(2, 5) != pytest.approx(dot(2, 6), abs=1e-3)
    head_on, head_off = GlobalSpanHead(16, 8, use_rotary=True), GlobalSpanHead(16, 8, use_rotary=False)
    head_off.load_state_dict(head_on.state_dict())
    same = torch.randn(1, 1, 16).expand(1, 5, 16)  # identical cue vectors at every position
    on, off = head_on(same)[0], head_off(same)[0]
    assert torch.allclose(off, off[0, 0].expand_as(off))  # without positions every cell is equal
    assert not torch.allclose(on[0, 1], on[0, 3])  # with rotary, span length matters
    assert on[0, 2].item() == pytest.approx(on[1, 3].item(), abs=1e-5)  # ... only through j - i


def test_visual_branch_starts_neutral_and_checks_dimension(tokenizer):
    torch.manual_seed(0)
    cfg = tiny_config()
    model = CCGSModel(cfg).eval()
    cues = [make_cues(TEXTS_A)]
    plain = model(**inputs_for(tokenizer, cfg, "q?", cues)).scores
    fused = model(**inputs_for(tokenizer, cfg, "q?", cues, [np.random.randn(18, 8)]))
    assert fused.highlight.shape == (1, 18)
    assert torch.allclose(plain, fused.scores)  # zero gate: an untrained visual branch changes nothing
    with pytest.raises(InvalidInputError, match="dimension"):
        model(**inputs_for(tokenizer, cfg, "q?", cues, [np.random.randn(18, 5)]))


def test_save_load_round_trip_local(tmp_path, tokenizer):
    torch.manual_seed(0)
    cfg = tiny_config(retrieval_weight=0.5)
    model = CCGSModel(cfg).eval()
    model.save_pretrained(tmp_path / "ck")
    assert json.loads((tmp_path / "ck" / "config.json").read_text())["retrieval_weight"] == 0.5
    loaded, tok = load_ccgs(tmp_path / "ck", device="cpu")
    assert loaded.config == cfg and not loaded.training
    inp = inputs_for(tokenizer, cfg, "how?", [make_cues(TEXTS_A)])
    assert torch.allclose(model(**inp).scores, loaded(**inp).scores, atol=5e-3)  # stored in fp16
    with pytest.raises(NotFoundError):
        load_ccgs(tmp_path / "missing")


def test_only_trained_weights_are_stored_over_a_pretrained_base(tmp_path, tokenizer):
    from transformers import AutoConfig, AutoModel

    torch.manual_seed(0)
    enc_cfg = dict(TINY_BERT)
    base = AutoModel.from_config(AutoConfig.for_model(enc_cfg.pop("model_type"), **enc_cfg))
    base.save_pretrained(tmp_path / "base")
    cfg = tiny_config(encoder_config=None, encoder=str(tmp_path / "base"), tokenizer="packaged:all-MiniLM-L6-v2",
                      trainable_encoder_layers=1)
    model = CCGSModel(cfg).eval()
    keys = model.stored_keys()
    assert any(k.startswith("encoder.encoder.layer.1.") for k in keys)
    assert not any(k.startswith(("encoder.encoder.layer.0.", "encoder.embeddings.")) for k in keys)
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all(n.startswith("encoder.") for n in frozen)
    model.train()
    assert not model.encoder.embeddings.training and model.encoder.encoder.layer[1].training
    with torch.no_grad():
        model.encoder.encoder.layer[1].output.dense.weight.add_(0.25)  # "fine-tuned"
    model.eval().save_pretrained(tmp_path / "ck")
    from safetensors import safe_open

    with safe_open(str(tmp_path / "ck" / "model.safetensors"), "pt") as f:
        assert set(f.keys()) == set(keys)
        assert f.get_tensor("span_head.proj.weight").dtype == torch.float16
    loaded, _ = load_ccgs(tmp_path / "ck", device="cpu")
    w_new, w_old = loaded.encoder.encoder.layer[1].output.dense.weight, model.encoder.encoder.layer[1].output.dense.weight
    assert torch.allclose(w_new, w_old, atol=1e-3)


def test_from_pretrained_hub_id_offline_from_local_cache_snapshot(tmp_path, tokenizer, monkeypatch):
    torch.manual_seed(0)
    cfg = tiny_config()
    model = CCGSModel(cfg).eval()
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--someone--ccgs-tiny"
    snap = repo / "snapshots" / revision
    model.save_pretrained(snap)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    calls = []
    import huggingface_hub

    real = huggingface_hub.hf_hub_download

    def recording(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr("vcval.models.ccgs.modeling_ccgs.hf_hub_download", recording)
    monkeypatch.setattr("huggingface_hub.hub_mixin.hf_hub_download", recording)
    loaded, _ = load_ccgs("someone/ccgs-tiny", revision=revision, device="cpu", cache_dir=str(tmp_path / "hub"))
    assert {c["filename"] for c in calls} == {"config.json", "model.safetensors"}
    assert all(c["revision"] == revision for c in calls)
    inp = inputs_for(tokenizer, cfg, "how?", [make_cues(TEXTS_B)])
    assert torch.allclose(model(**inp).scores, loaded(**inp).scores, atol=5e-3)
    with pytest.raises(NotFoundError):  # a revision that is not in the cache cannot be fetched offline
        load_ccgs("someone/ccgs-tiny", revision="f" * 40, device="cpu", cache_dir=str(tmp_path / "hub"))


def _candidate(vid, cues, score):
    rec = VideoRecord(vid, f"title {vid}", cues[-1].end if cues else 30.0, "transcript", "transcript", vid, len(cues))
    return Candidate(rec, cues, None, score, [])


def test_localizer_ranks_spans_across_videos(tokenizer):
    torch.manual_seed(0)
    cfg = tiny_config()
    loc = CCGSLocalizer(CCGSModel(cfg), tokenizer, "cpu", batch_size=2, spans_per_video=2)
    cands = [_candidate("a", make_cues(TEXTS_A), 3.0), _candidate("b", make_cues(TEXTS_B, 5.0), 1.0),
             _candidate("c", make_cues(TEXTS_A[:1]), 2.0), _candidate("empty", [], 0.5)]
    answers = loc.localize("how do I paint a mask?", cands, top_n=10)
    spans = [a for a in answers if a.cues]
    assert [a.score for a in spans] == sorted((a.score for a in spans), reverse=True)
    assert answers[-1].video_id == "empty" and answers[-1].score < spans[-1].score
    assert {a.video_id for a in spans} == {"a", "b", "c"}
    for a in spans:
        assert a.start == a.cues[0].start and a.end == a.cues[-1].end and a.start <= a.end
        assert len(a.cues) <= cfg.max_span_cues
    assert len(loc.localize("how?", cands, top_n=2)) == 2
    assert loc.localize("how?", [], top_n=3) == []
    with pytest.raises(InvalidInputError):
        loc.localize("  ", cands)


def test_span_prior_fusion_moves_the_answer_towards_plausible_spans(tokenizer):
    from vcval.localization.prior import SpanPrior

    cfg = tiny_config()
    loc = CCGSLocalizer(CCGSModel(cfg), tokenizer, "cpu", spans_per_video=1)
    cues = make_cues([f"cue {k}" for k in range(30)], step=10.0)  # 300 s video, 10 s cues
    cand = _candidate("v", cues, 1.0)
    flat = np.where(np.triu(np.ones((30, 30), dtype=bool)), 0.0, -np.inf).astype(np.float32)
    flat[0, 0] = 0.5  # the model slightly prefers the first cue alone
    assert loc.spans_from_matrices([cand], [flat], prior_weight=0.0)[0][0][:2] == (0, 0)
    prior = SpanPrior(length_median_s=60.0, length_log_sigma=0.3, center_mean=0.5, center_std=0.1)
    loc.prior = prior
    (i, j, score), = loc.spans_from_matrices([cand], [flat], prior_weight=1.0)[0]
    assert (i, j) == (12, 17)  # 120-180 s: 60 s long, centred on the middle of the video
    expected = prior.log_prob(np.array([120.0]), np.array([180.0]), 300.0)[0]
    assert score == pytest.approx(expected)
    assert loc.spans_from_matrices([cand, cand], [None, flat], prior_weight=1.0)[0] == []
    # the model's own matrices feed the same decoder (score_videos = score_matrices + spans_from_matrices)
    loc.prior_weight = 0.0
    mats = loc.score_matrices("cue 3?", [cand])
    assert mats[0].shape == (30, 30) and np.isinf(mats[0][1, 0])
    assert loc.score_videos("cue 3?", [cand]) == loc.spans_from_matrices([cand], mats)


def test_baseline_fusion_with_a_dominant_weight_follows_the_baseline(tokenizer):
    from vcval.localization.baseline import BaselineLocalizer

    words = ["sling", "arm", "burn", "water", "cool", "elbow"]

    def embed(texts):  # bag of words, L2-normalised: (N, 6)
        v = np.array([[t.lower().count(w) for w in words] for t in texts], dtype=np.float32) + 1e-3
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    base = BaselineLocalizer(embed)
    texts = ["welcome", "a burn needs cool water", "hold it under cool water", "for ten minutes",
             "now the sling", "support the arm and elbow", "tie the sling", "thanks"]
    cand = _candidate("a", make_cues(texts, step=6.0), 1.0)
    question = "how do I put on a sling for my arm?"
    want = base.spans_for_video(base.cue_relevance(question, cand.cues), cand.cues, 1)[0][:2]
    torch.manual_seed(0)
    model = CCGSModel(tiny_config())
    loc = CCGSLocalizer(model, tokenizer, "cpu", spans_per_video=1, baseline=base, baseline_weight=1e4)
    assert loc.score_videos(question, [cand])[0][0][:2] == want
    mats = loc.score_matrices(question, [cand])
    pure = loc.spans_from_matrices([cand], mats, baseline_weight=0.0)[0][0]
    assert pure == decode_spans(np.where(np.isfinite(mats[0]), mats[0], 0), np.isfinite(mats[0]), 1)[0]
    with pytest.raises(InvalidInputError, match="baseline"):
        CCGSLocalizer(model, tokenizer, "cpu", baseline_weight=1.0)


def test_retrieval_fusion():
    s = np.array([1.0, 1.0, 0.0])
    assert np.allclose(fuse_scores(s, np.array([5.0, 1.0, 3.0]), 0.0), s)
    assert np.allclose(fuse_scores(s, np.array([5.0, 1.0, 3.0]), 2.0), [3.0, 1.0, 1.0])


def test_bad_config_values_raise():
    with pytest.raises(InvalidInputError):
        CCGSModel(tiny_config(span_head="diagonal"))
    with pytest.raises(InvalidInputError):
        CCGSModel(tiny_config(cue_pooling="max"))
    assert CCGSConfig.from_dict({**tiny_config().to_dict(), "future_key": 1}, strict=False) == tiny_config()


def test_sep_pooling_and_independent_heads_run(tokenizer):
    for kw in (dict(cue_pooling="sep"), dict(span_head="independent"), dict(use_rotary=False), dict(use_visual=False),
               dict(question_aware_head=True), dict(question_aware_head=True, span_head="independent")):
        cfg = tiny_config(**kw)
        out = CCGSModel(cfg)(**inputs_for(tokenizer, cfg, "q?", [make_cues(TEXTS_B)]), labels=torch.tensor([1]))
        assert torch.isfinite(out.loss)


def test_pool_question_averages_non_cue_tokens_per_pair():
    from vcval.models.ccgs.layers import pool_question

    hidden = torch.arange(2 * 4 * 1, dtype=torch.float32).reshape(2, 4, 1)  # 2 windows, 4 tokens
    att = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    token_cue = torch.tensor([[-1, -1, 0, -1], [-1, 1, -1, -1]])
    sep_cue = torch.tensor([[-1, -1, -1, -1], [-1, -1, 1, -1]])
    q = pool_question(hidden, att, token_cue, sep_cue, torch.tensor([0, 1]), 2)
    assert q[:, 0].tolist() == [0.5, (4 + 7) / 2]  # window 0: tokens 0, 1; window 1: tokens 0, 3


SHIPPED = __import__("pathlib").Path(__file__).resolve().parents[1] / "checkpoints"


@pytest.mark.skipif(not (SHIPPED / "config.json").exists(), reason="no shipped CCGS checkpoint")
def test_shipped_checkpoint_loads_offline_and_answers():
    from vcval.localization.ccgs import CCGSLocalizer

    assert (SHIPPED / "model.safetensors").stat().st_size < 50 * 2**20
    loc = CCGSLocalizer.from_pretrained(SHIPPED, device="cpu", precision="fp32")
    assert loc.model.config.encoder == "packaged:all-MiniLM-L6-v2"
    texts = ["welcome to this video about photo editing", "first open the layers panel from the window menu",
             "then click the new layer button at the bottom", "now pick the brush tool and paint", "thanks for watching"]
    other = ["today we cook pasta", "boil the water with salt", "add the pasta and stir"]
    answers = loc.localize("how do i create a new layer?", [_candidate("ps", make_cues(texts), 1.0),
                                                           _candidate("food", make_cues(other), 0.5)], top_n=4)
    assert answers and answers[0].video_id == "ps"
    assert all(a.start <= a.end for a in answers)


def test_retriever_order_mode_scores_only_the_videos_it_needs(tokenizer):
    torch.manual_seed(0)
    loc = CCGSLocalizer(CCGSModel(tiny_config()), tokenizer, "cpu", batch_size=8, spans_per_video=2,
                        keep_retriever_order=True)
    cands = [_candidate(f"v{k}", make_cues(TEXTS_A[: 3 + k]), float(10 - k)) for k in range(6)]
    cands = cands[::-1]  # arrival order must not matter: the retrieval score does
    scored = []
    original = loc.score_videos

    def recording(question, candidates):
        scored.extend(c.record.video_id for c in candidates)
        return original(question, candidates)

    loc.score_videos = recording
    answers = loc.localize("how do I paint a mask?", cands, top_n=3)
    assert scored == ["v0", "v1"]  # 2 spans per video: two videos give the 3 answers asked for
    assert [a.video_id for a in answers] == ["v0", "v0", "v1"]
    assert answers[0].score > answers[1].score > answers[2].score
    assert all(0 <= a.score < 6 for a in answers)
    full = loc.localize("how do I paint a mask?", cands, top_n=100)
    assert [a.video_id for a in full][::2] == ["v0", "v1", "v2", "v3", "v4", "v5"]
    assert [a.score for a in full] == sorted((a.score for a in full), reverse=True)
