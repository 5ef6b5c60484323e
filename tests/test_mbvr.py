"""MBVR: tower shapes and masks, the shuffled negatives and their dynamic margin, the loss, checkpoints, the
trainer (tiny data, resume), retrieval over a corpus (``make_retriever(corpus, "mbvr")``, the pipeline, the
env var) and the synthetic task where only vision tells the relevant video apart."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vcval.errors import NotFoundError
from vcval.models.mbvr import (
    MBVRConfig,
    MBVRLoss,
    MBVRModel,
    VideoInputs,
    batch_videos,
    load_mbvr,
    pool_tokens,
    prepare_video,
    shuffle_partners,
    shuffled_margins,
)
from vcval.training.trainer_mbvr import MBVRTrainConfig, MBVRTrainer, batch_loss, rank_metrics


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread: these tiny models only lose time to thread start-up on a shared CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


TINY = dict(text_dim=8, visual_dim=6, hidden=16, n_layers=1, n_heads=2, ff_dim=32, dropout=0.0, max_text_tokens=5,
            max_frames=4)


def _video(rng: np.random.Generator, n_text: int, n_frames: int | None, cfg: MBVRConfig) -> VideoInputs:
    frames = None if n_frames is None else rng.normal(size=(n_frames, cfg.visual_dim))
    return prepare_video(rng.normal(size=(n_text, cfg.text_dim)), frames, cfg)


# --------------------------------------------------------------------------- inputs and towers
def test_pool_tokens_averages_contiguous_groups():
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    assert pool_tokens(x, 20).shape == (10, 1)
    pooled = pool_tokens(x, 5)
    assert pooled[:, 0].tolist() == [0.5, 2.5, 4.5, 6.5, 8.5]


def test_prepare_video_pools_and_drops_frames_of_another_size():
    cfg = MBVRConfig(**TINY)
    rng = np.random.default_rng(0)
    v = _video(rng, 12, 9, cfg)
    assert v.text.shape == (5, 8) and v.frames is not None and v.frames.shape == (4, 6) and v.has_frames
    assert prepare_video(np.zeros((3, 8)), np.zeros((9, 7)), cfg).frames is None  # wrong feature size
    assert prepare_video(np.zeros((3, 8)), np.zeros((9, 6)), MBVRConfig(**{**TINY, "use_visual": False})).frames is None


def test_shapes_and_masks():
    cfg = MBVRConfig(**TINY)
    torch.manual_seed(0)
    model = MBVRModel(cfg).eval()
    rng = np.random.default_rng(0)
    videos = [_video(rng, 3, 4, cfg), _video(rng, 5, None, cfg), _video(rng, 2, 2, cfg)]
    inp = batch_videos(videos, cfg)
    assert inp["text"].shape == (3, 5, 8) and inp["frames"].shape == (3, 4, 6)
    assert inp["text_mask"].sum(1).tolist() == [3, 5, 2] and inp["frame_mask"].sum(1).tolist() == [4, 0, 2]
    with torch.no_grad():
        emb = model.embed_videos(**inp)  # (3, H)
        assert emb.shape == (3, 16) and torch.allclose(emb.norm(dim=-1), torch.ones(3), atol=1e-5)
        # padding values never matter
        noisy = {k: v.clone() for k, v in inp.items()}
        noisy["text"][~inp["text_mask"]] = 100.0
        noisy["frames"][~inp["frame_mask"]] = -50.0
        assert torch.allclose(model.embed_videos(**noisy), emb, atol=1e-5)
        # a video alone embeds as in the batch; frames change the embedding; dropping them = no frames
        alone = model.embed_videos(**batch_videos(videos[:1], cfg))
        assert torch.allclose(alone, emb[:1], atol=1e-5)
        no_frames = model.embed_videos(**batch_videos(videos[:1], cfg, drop_frames=[True]))
        assert not torch.allclose(no_frames, emb[:1], atol=1e-3)
        text_only = VideoInputs(videos[0].text, None)
        assert torch.allclose(model.embed_videos(**batch_videos([text_only], cfg)), no_frames, atol=1e-5)
        scores = model(torch.randn(4, 8), **inp)
        assert scores.shape == (4, 3)
    # the text-only tower ignores frames
    t_model = MBVRModel(MBVRConfig(**{**TINY, "use_visual": False})).eval()
    with torch.no_grad():
        a = t_model.embed_videos(**inp)
        b = t_model.embed_videos(**batch_videos(videos, cfg, drop_frames=[True] * 3))
    assert torch.allclose(a, b, atol=1e-5)


def test_text_skip_starts_as_mean_pooled_cosine():
    cfg = MBVRConfig(**{**TINY, "hidden": 8, "text_skip": True})
    model = MBVRModel(cfg).eval()
    rng = np.random.default_rng(1)
    q = rng.normal(size=(2, 8)).astype(np.float32)
    assert np.allclose(model.encode_queries(q), q / np.linalg.norm(q, axis=1, keepdims=True), atol=1e-5)


# --------------------------------------------------------------------------- shuffled negatives and loss
def test_shuffle_partners_pick_another_video_with_frames():
    rng = np.random.default_rng(0)
    keys = ["a", "a", "b", "c", "d"]
    has = [True, True, True, False, True]
    for _ in range(50):
        p = shuffle_partners(keys, has, rng)
        assert p[3] == -1  # no frames: no shuffled negative
        for i in (0, 1, 2, 4):
            assert p[i] >= 0 and keys[p[i]] != keys[i] and has[p[i]]
    assert shuffle_partners(["a", "a"], [True, True], rng).tolist() == [-1, -1]  # no other video
    # the shuffled batch: row i keeps its text, takes its partner's frames
    cfg = MBVRConfig(**TINY)
    vids = [_video(rng, 2, 3, cfg) for _ in range(3)]
    inp = batch_videos(vids, cfg, frames_of=[2, -1, 0])
    assert torch.equal(inp["text"][0, :2], torch.from_numpy(vids[0].text))
    assert torch.equal(inp["frames"][0, :3], torch.from_numpy(vids[2].frames))
    assert not inp["frame_mask"][1].any()


def test_dynamic_margin_grows_with_visual_relevance_and_static_is_constant():
    cfg = MBVRConfig(**TINY, margin=0.4)
    q = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]), dim=-1)
    vis = torch.nn.functional.normalize(torch.tensor([[-1.0, 0.2], [0.0, 1.0], [1.0, 0.1]]), dim=-1)
    m = shuffled_margins(q, vis, cfg)
    assert m[0] < m[1] < m[2] and float(m.max()) < 0.4 and float(m[1]) == pytest.approx(0.2)
    static = shuffled_margins(q, vis, MBVRConfig(**TINY, margin=0.4, dynamic_margin=False))
    assert torch.allclose(static, torch.full((3,), 0.2))


def test_loss_hinge_is_zero_only_past_the_margin():
    cfg = MBVRConfig(**TINY, margin=0.4, dynamic_margin=False, shuffled_weight=1.0)
    loss = MBVRLoss(cfg)
    q = torch.tensor([[1.0, 0.0]])
    full = torch.tensor([[1.0, 0.0]])
    far = torch.tensor([[0.0, 1.0]])  # gap 1 > margin 0.2
    near = torch.nn.functional.normalize(torch.tensor([[1.0, 0.2]]), dim=-1)  # gap ~0.02 < 0.2
    valid = torch.tensor([True])
    assert float(loss(q, full, ["a"], full, far, None, valid).shuffled) == 0.0
    out = loss(q, full, ["a"], full, near, None, valid)
    assert float(out.shuffled) == pytest.approx(0.2 - (1 - float(near[0, 0])), abs=1e-5)
    off = MBVRLoss(MBVRConfig(**TINY, use_shuffled=False))(q, full, ["a"], full, near, None, valid)
    assert float(off.shuffled) == 0.0 and float(off.loss) == pytest.approx(float(off.infonce))


def test_training_steps_lower_the_loss():
    from vcval.training.synthetic import MBVR_TEXT_DIM, MBVR_VISUAL_DIM, mbvr_task

    torch.manual_seed(0)
    cfg = MBVRConfig(text_dim=MBVR_TEXT_DIM, visual_dim=MBVR_VISUAL_DIM, hidden=32, n_heads=2, ff_dim=64,
                     dropout=0.0, modality_dropout=0.0, text_skip=False)
    model, loss_fn = MBVRModel(cfg), MBVRLoss(cfg)
    task = mbvr_task(1, seed=5)
    videos = [prepare_video(t, f, cfg) for t, f in zip(task.texts, task.frames)]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(20):
        out = batch_loss(model, loss_fn, task.queries, videos, task.topics, rng)
        assert float(out.margin) > 0 and out.acc.shape == (len(videos),)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(float(out.loss.detach()))
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5])


def test_rank_metrics_count_ties_against_the_gold_video():
    assert rank_metrics(np.array([[1.0, 1.0, 1.0]]), [1])["R@1"] == 0.0
    m = rank_metrics(np.array([[0.1, 0.9, 0.5], [0.9, 0.1, 0.5]]), [1, 2])
    assert m["R@1"] == 50.0 and m["MRR"] == pytest.approx(75.0)


# --------------------------------------------------------------------------- the modality test
def test_only_mbvr_learns_the_vision_only_task():
    """Transcripts identical, frames carry the topic: MBVR must retrieve well, the text-only tower cannot."""
    from vcval.training.synthetic import train_and_score_mbvr

    mbvr = train_and_score_mbvr(steps=150)
    text_only = train_and_score_mbvr(use_visual=False, steps=60)
    assert mbvr["R@1"] >= 60.0, mbvr
    assert text_only["R@1"] <= 25.0, text_only  # chance is 6.25
    assert mbvr["R@1"] - text_only["R@1"] >= 40.0
    # modality balance diagnostics: the frames carry it, the text alone cannot
    assert mbvr["R@1 no text"] >= 50.0 and mbvr["R@1 no vision"] <= 25.0


# --------------------------------------------------------------------------- checkpoints
def test_checkpoint_round_trips_in_fp16(tmp_path, monkeypatch):
    cfg = MBVRConfig(**TINY)
    torch.manual_seed(0)
    model = MBVRModel(cfg).eval()
    folder = model.save_pretrained(tmp_path / "ckpt", {"dev": {"MRR": 1.0}})
    assert json.loads((folder / "mbvr.json").read_text())["kind"] == "mbvr"
    loaded = MBVRModel.from_pretrained(folder)
    rng = np.random.default_rng(0)
    vids = [_video(rng, 3, 2, cfg), _video(rng, 4, None, cfg)]
    assert np.allclose(model.encode_videos(vids), loaded.encode_videos(vids), atol=2e-2)
    assert loaded.config == cfg and loaded.fingerprint == MBVRModel.from_pretrained(folder).fingerprint
    monkeypatch.setenv("VCVAL_MBVR", str(folder))
    assert load_mbvr().config == cfg
    monkeypatch.delenv("VCVAL_MBVR")
    with pytest.raises(NotFoundError, match="vcval train mbvr"):
        load_mbvr()
    with pytest.raises(NotFoundError, match="does not exist"):
        load_mbvr(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotFoundError, match="not an MBVR checkpoint"):
        load_mbvr(tmp_path / "empty")


# --------------------------------------------------------------------------- trainer and retrieval
TOPICS = {
    "sling": ["arm", "sling", "bandage", "elbow", "collarbone", "knot", "neck", "injury"],
    "layers": ["layer", "mask", "photoshop", "panel", "opacity", "brush", "canvas", "image"],
    "pasta": ["pasta", "spaghetti", "boil", "salt", "sauce", "tomato", "drain", "pot"],
    "bike": ["bike", "tyre", "chain", "brake", "pedal", "gear", "wheel", "saddle"],
    "garden": ["soil", "seed", "water", "plant", "compost", "spade", "root", "weed"],
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """Transcripts of 5 videos (6 cues of 5 s), questions naming their words, and (T, 6) frame features."""
    root = tmp_path_factory.mktemp("mbvr_data")
    (root / "transcripts").mkdir()
    (root / "features").mkdir()
    rng = np.random.default_rng(0)
    for vid, words in TOPICS.items():
        cues = [{"start": 5.0 * i, "duration": 5.0, "text": f"now the {words[i]} and the {words[i + 2]}"}
                for i in range(6)]
        (root / "transcripts" / f"{vid}.json").write_text(json.dumps(cues), "utf-8")
        np.save(root / "features" / f"{vid}.npy", rng.normal(size=(30, 6)).astype(np.float32))
    for split, vids in (("train", ("sling", "layers", "pasta")), ("dev", ("bike", "garden"))):
        rows = [{"question": f"how do i use the {TOPICS[v][i]}", "video_id": v, "answer_start_second": 5.0 * i,
                 "answer_end_second": 5.0 * i + 5.0} for v in vids for i in range(6)]
        (root / f"{split}.json").write_text(json.dumps(rows), "utf-8")
    return root


def _train_cfg(data_dir: Path, out: Path, **kw) -> MBVRTrainConfig:
    return MBVRTrainConfig.from_dict({
        "train_questions": str(data_dir / "train.json"), "train_transcripts": str(data_dir / "transcripts"),
        "dev_questions": str(data_dir / "dev.json"), "dev_transcripts": str(data_dir / "transcripts"),
        "features": str(data_dir / "features"), "out_dir": str(out), "cache_dir": str(out / "cache"),
        "epochs": 2, "batch_size": 6, "lr": 1e-3, "warmup_steps": 1, "log_every": 1,
        "model": {"visual_dim": 6, "hidden": 384, "n_heads": 4, "ff_dim": 64, "max_frames": 8}, **kw})


def test_trainer_saves_a_loadable_best_and_resumes(data_dir, tmp_path):
    cfg = _train_cfg(data_dir, tmp_path / "run")
    summary = MBVRTrainer(cfg).train()
    assert summary["step"] == 6 and (tmp_path / "run" / "best" / "model.safetensors").is_file()
    rows = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if r["kind"] == "train"]
    assert all(r["shuffled"] >= 0 and r["margin"] > 0 for r in train_rows)  # every video has frames
    assert [r["epoch"] for r in rows if r["kind"] == "dev"] == [0, 1, 2]
    model = MBVRModel.from_pretrained(tmp_path / "run" / "best")
    assert model.config.visual_dim == 6 and model.config.use_shuffled
    # resume: a longer run picks up at epoch 2 and goes on
    more = MBVRTrainer(_train_cfg(data_dir, tmp_path / "run", epochs=3)).train()
    assert more["step"] == 9
    # no frames anywhere: the towers are saved text-only, so frames met at search time are ignored
    text_only = MBVRTrainer(_train_cfg(data_dir, tmp_path / "text", features="", epochs=1))
    assert text_only.model.config.use_visual is False
    with pytest.raises(Exception, match="unknown"):
        _train_cfg(data_dir, tmp_path / "x", model={"nope": 1})


@pytest.fixture()
def corpus(data_dir, tmp_path):
    from vcval.corpus import Corpus

    c = Corpus.open(tmp_path / "corpus")
    for vid in ("sling", "layers", "pasta"):
        c.add_transcript(data_dir / "transcripts" / f"{vid}.json",
                         features_path=data_dir / "features" / f"{vid}.npy" if vid != "pasta" else None)
    yield c
    c.close()


def test_make_retriever_mbvr_returns_whole_video_hits(corpus, tmp_path, monkeypatch):
    from vcval.pipeline import METHODS, build_pipeline
    from vcval.retrieval import METHODS as RETRIEVERS
    from vcval.retrieval import MBVRRetriever, make_retriever

    assert "mbvr" in METHODS and "mbvr" in RETRIEVERS
    torch.manual_seed(0)
    model = MBVRModel(MBVRConfig(visual_dim=6, hidden=384, n_heads=4, ff_dim=64)).eval()
    folder = model.save_pretrained(tmp_path / "towers")
    r = make_retriever(corpus, "mbvr", mbvr=model)
    assert isinstance(r, MBVRRetriever)
    hits = r.search("how do i boil the pasta with salt", 2)
    assert len(hits) == 2 and hits[0].score >= hits[1].score
    for h in hits:
        rec = corpus.get(h.video_id)
        assert (h.first_cue, h.last_cue) == (0, rec.n_cues - 1)
    # the video embedding is the towers' own: window vectors (the stored ones) + frames
    cfg = model.config
    ids, embs = r.video_embeddings()
    want = model.encode_videos([prepare_video(corpus.window_vectors(v), corpus.features(v), cfg) for v in ids])
    assert np.allclose(embs, want, atol=1e-5)
    assert np.allclose(corpus.window_vectors("sling"), corpus.text_encoder.encode(
        [w.text for w in corpus.windows("sling")]), atol=1e-4)
    # cached per (towers, content): a new video is embedded, a removed one dropped
    corpus.remove("layers")
    assert r.video_embeddings()[0] == ["sling", "pasta"]
    # pipeline + env var, and a clear error without a checkpoint
    monkeypatch.delenv("VCVAL_MBVR", raising=False)
    with pytest.raises(NotFoundError, match="vcval train mbvr"):
        build_pipeline(corpus, "mbvr", device="cpu")
    monkeypatch.setenv("VCVAL_MBVR", str(folder))
    monkeypatch.setenv("VCVAL_CHECKPOINT", str(tmp_path / "not-a-localizer"))  # not used by retriever methods
    from vcval.pipeline import VCVAL

    qa = VCVAL.from_pretrained(corpus=corpus, method="mbvr", device="cpu")
    answers = qa.ask("how do i use the bandage", k=2)
    assert answers and {a.video_id for a in answers} <= {"sling", "pasta"}


def test_cli_train_mbvr_with_ablation_flags_and_features(data_dir, tmp_path):
    from vcval.cli import main

    cfg = _train_cfg(data_dir, tmp_path / "cli", epochs=1, features="")
    path = tmp_path / "mbvr.json"
    path.write_text(json.dumps({**cfg.__dict__, "model": dict(cfg.model)}), "utf-8")
    code = main(["train", "mbvr", "--config", str(path), "--model-set", "use_shuffled=false",
                 "dynamic_margin=false", "--features", str(data_dir / "features")])
    assert code == 0
    saved = MBVRModel.from_pretrained(tmp_path / "cli" / "best").config
    assert saved.use_visual and not saved.use_shuffled and not saved.dynamic_margin
    assert main(["train", "mbvr", "--config", str(path), "--features", str(tmp_path / "nope")]) == 2
