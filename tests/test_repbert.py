"""RepBERT: training on a tiny synthetic set (tiny random BERT), resume, the corpus's per-encoder window
index, the pipeline / retriever wiring and how an encoder is found (folder, Hub id, $VCVAL_REPBERT)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from vcval import encoders
from vcval.corpus import Corpus
from vcval.encoders import REPBERT_MARKER, load_repbert
from vcval.errors import NotFoundError
from vcval.models.losses import in_batch_loss
from vcval.retrieval import EncoderRetriever, HybridRetriever, make_retriever
from vcval.training.trainer_repbert import (
    PairData,
    RepBERTConfig,
    RepBERTTrainer,
    RetrievalSplit,
    data_notices,
    transcript_windows,
    video_metrics,
)

TOPICS = {
    "sling": ["arm", "sling", "bandage", "elbow", "collarbone", "knot", "neck", "injury"],
    "layers": ["layer", "mask", "photoshop", "panel", "opacity", "brush", "canvas", "image"],
    "pasta": ["pasta", "spaghetti", "boil", "salt", "sauce", "tomato", "drain", "pot"],
    "bike": ["bike", "tyre", "chain", "brake", "pedal", "gear", "wheel", "saddle"],
    "garden": ["soil", "seed", "water", "plant", "compost", "spade", "root", "weed"],
    "guitar": ["guitar", "string", "chord", "fret", "tune", "strum", "capo", "pick"],
}
TRAIN, DEV = ("sling", "layers", "pasta", "bike"), ("garden", "guitar")


def _cue_text(video: str, i: int) -> str:
    words = TOPICS[video]
    return f"now the {words[i % 8]} and the {words[(i + 3) % 8]} step {i}"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """Transcripts of 6 videos (8 cues of 5 s each) and questions naming one cue's words."""
    root = tmp_path_factory.mktemp("repbert_data")
    (root / "transcripts").mkdir()
    for vid in TOPICS:
        cues = [{"start": 5.0 * i, "duration": 5.0, "text": _cue_text(vid, i)} for i in range(8)]
        (root / "transcripts" / f"{vid}.json").write_text(json.dumps(cues), "utf-8")
    for split, vids in (("train", TRAIN), ("dev", DEV)):
        rows = [{"question": f"how do i use the {TOPICS[v][i % 8]} with the {TOPICS[v][(i + 3) % 8]}",
                 "video_id": v, "answer_start_second": 5.0 * i, "answer_end_second": 5.0 * i + 5.0}
                for v in vids for i in range(8)]
        (root / f"{split}.json").write_text(json.dumps(rows), "utf-8")
    return root


def _tiny_bert(folder: Path, seed: int) -> Path:
    """A 2-layer, 32-wide random BERT with the packaged MiniLM's tokenizer, marked as a RepBERT encoder."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128)
    BertModel(cfg, add_pooling_layer=False).save_pretrained(str(folder))
    packaged = encoders._packaged_model_dir()
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy2(packaged / name, folder / name)
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64}), "utf-8")
    (folder / REPBERT_MARKER).write_text(json.dumps({"kind": "repbert", "test": True}), "utf-8")
    return folder


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    return _tiny_bert(tmp_path_factory.mktemp("tiny_bert"), seed=0)


def _config(data_dir: Path, base: Path, out: Path, **kw) -> RepBERTConfig:
    base_kw = dict(train_questions=str(data_dir / "train.json"), dev_questions=str(data_dir / "dev.json"),
                   train_transcripts=str(data_dir / "transcripts"), dev_transcripts=str(data_dir / "transcripts"),
                   out_dir=str(out), base=str(base), seed=3, epochs=6, batch_size=8, hard_negatives=1, hard_pool=4,
                   max_len=32, query_max_len=32, infer_max_len=64, lr=2e-3, warmup_steps=0, dev_limit=0,
                   save_every=1000, log_every=1000, num_threads=1)
    base_kw.update(kw)
    return RepBERTConfig(**base_kw)


def _pair_loss(trainer: RepBERTTrainer) -> tuple[float, float]:
    """Eval-mode in-batch loss and accuracy over all training pairs (positives only: a fixed yardstick)."""
    pairs = trainer.data.pairs
    q = torch.from_numpy(trainer.encode([p.question for p in pairs], 32))
    docs = [p.positive for p in pairs]
    d = torch.from_numpy(trainer.encode([trainer.data.texts[j] for j in docs], 32))
    loss, hit = in_batch_loss(q, d, docs, 20.0)
    return float(loss), float(hit.float().mean())


# --------------------------------------------------------------------------- pure pieces
def test_in_batch_loss_masks_duplicate_positives():
    q = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), dim=1)
    d = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), dim=1)
    # doc 0 is query 0's positive; doc 1 is query 1's "positive" but is the same window as doc 0 (key 7)
    loss_dup, hit_dup = in_batch_loss(q, d, [7, 7, 9], 10.0)
    loss_plain, _ = in_batch_loss(q, d, [7, 8, 9], 10.0)
    assert loss_dup < loss_plain  # the copy of query 0's positive is not held against it
    assert hit_dup.tolist() == [True, False]


def test_video_metrics_rank_videos_by_their_best_window():
    w = np.eye(3, dtype=np.float32)  # windows of videos a, a, b
    q = np.array([[0, 1, 0], [0, 0.4, 0.6]], dtype=np.float32)
    m = video_metrics(q, w, ["a", "a", "b"], ["a", "a"])
    assert m["R@1"] == 50.0 and m["MRR"] == 75.0


def test_pairs_use_the_corpus_windows_and_exclude_answer_windows_from_hard_negatives(data_dir):
    wins = transcript_windows(data_dir / "transcripts", set(TRAIN))
    questions = __import__("vcval.evaluation.questions", fromlist=["x"]).load_questions(data_dir / "train.json")
    data = PairData(questions, wins, hard_pool=5, seed=0)
    assert len(data) == len(questions)
    for q, p in zip(questions, data.pairs):
        vid, j = data.keys[p.positive]
        w = wins[vid][j]
        assert vid == q.video_id and w.start <= q.start and w.end >= q.end
        for h in p.hard:
            hv, hj = data.keys[h]
            hw = wins[hv][hj]
            assert hv != q.video_id or min(hw.end, q.end) <= max(hw.start, q.start)
    assert data.negatives(2, 0, 1) == data.negatives(2, 0, 1)  # a pure function of (seed, epoch, index)


def test_extra_questions_join_training_only_on_train_videos_and_their_notice_is_kept(data_dir, tmp_path):
    extra_dir = tmp_path / "extra"
    extra_dir.mkdir()
    rows = [{"question": "which sling knot", "video_id": "sling", "answer_start_second": 10.0,
             "answer_end_second": 15.0},
            {"question": "which guitar chord", "video_id": "guitar", "answer_start_second": 0.0,  # a dev video
             "answer_end_second": 5.0},
            {"question": "which cat", "video_id": "not-in-any-split", "answer_start_second": 0.0,
             "answer_end_second": 5.0}]
    (extra_dir / "train.json").write_text(json.dumps(rows), "utf-8")
    (extra_dir / "NOTICE.txt").write_text("Licence: CC BY-NC 4.0.\nNon-commercial use only.\n", "utf-8")
    plain = RetrievalSplit.load(_config(data_dir, Path("."), tmp_path / "a"))
    cfg = _config(data_dir, Path("."), tmp_path / "b", extra_train_questions=[str(extra_dir / "train.json")])
    split = RetrievalSplit.load(cfg)
    added = split.train_questions[len(plain.train_questions):]
    assert [q.question for q in added] == ["which sling knot"]
    assert split.dev_questions == plain.dev_questions and split.dev_texts == plain.dev_texts
    assert data_notices([str(data_dir / "train.json"), str(extra_dir / "train.json")]) == [
        f"{extra_dir / 'train.json'}: Licence: CC BY-NC 4.0. Non-commercial use only."]


# --------------------------------------------------------------------------- training
def test_training_improves_the_in_batch_loss_and_saves_a_loadable_encoder(data_dir, tiny_bert, tmp_path):
    trainer = RepBERTTrainer(_config(data_dir, tiny_bert, tmp_path / "run"))
    loss0, acc0 = _pair_loss(trainer)
    summary = trainer.train()
    loss1, acc1 = _pair_loss(trainer)
    assert loss1 < loss0 - 0.5 and acc1 > acc0
    dev = [r for r in summary["history"] if r["kind"] == "dev"]
    assert dev[0]["step"] == 0 and len(dev) == 1 + 6  # the training-free baseline, then one per epoch
    best = tmp_path / "run" / "best"
    record = json.loads((best / REPBERT_MARKER).read_text("utf-8"))
    assert record["dev"]["MRR"] == max(r["MRR"] for r in dev[1:])
    from safetensors import safe_open

    with safe_open(str(best / "model.safetensors"), "pt") as f:
        assert all(f.get_tensor(k).dtype == torch.float16 for k in f.keys())
    enc = load_repbert(best, device="cpu")
    vec = enc.encode(["how do i use the arm with the collarbone"])
    ref = trainer.encode(["how do i use the arm with the collarbone"], 64)
    assert np.allclose(vec, ref, atol=5e-3)  # fp16 storage, fp32 compute


def test_query_only_trains_the_question_tower_against_frozen_window_vectors(data_dir, tiny_bert, tmp_path):
    trainer = RepBERTTrainer(_config(data_dir, tiny_bert, tmp_path / "run", query_only=True))
    frozen = RepBERTTrainer(_config(data_dir, tiny_bert, tmp_path / "ref"))  # the base model, untrained
    windows = frozen.encode(trainer.data.texts, 64)
    assert trainer.doc_vecs is not None and np.allclose(trainer.doc_vecs.numpy(), windows, atol=1e-5)
    docs = [p.positive for p in trainer.data.pairs]

    def loss() -> float:  # questions by the trained tower against the frozen positives
        q = torch.from_numpy(trainer.encode([p.question for p in trainer.data.pairs], 32))
        return float(in_batch_loss(q, trainer.doc_vecs[torch.tensor(docs)], docs, 20.0)[0])

    before = loss()
    trainer.train()
    assert loss() < before - 0.3
    assert np.allclose(trainer.doc_vecs.numpy(), windows, atol=1e-5)  # the window side never moved
    assert np.allclose(trainer.dev_doc_vecs, frozen.encode(trainer.dev_texts, 64), atol=1e-5)
    assert json.loads((tmp_path / "run" / "best" / REPBERT_MARKER).read_text("utf-8"))["query_only"] is True


def test_resume_continues_where_it_stopped(data_dir, tiny_bert, tmp_path):
    straight = RepBERTTrainer(_config(data_dir, tiny_bert, tmp_path / "a", epochs=2, max_steps=4))
    straight.train()
    first = RepBERTTrainer(_config(data_dir, tiny_bert, tmp_path / "b", epochs=2, max_steps=4))
    first.train(steps=2)  # interrupted: state saved at step 2
    resumed = RepBERTTrainer(_config(data_dir, tiny_bert, tmp_path / "b", epochs=2, max_steps=4))
    assert resumed.load_state() and resumed.step == 2
    resumed.train()
    assert resumed.step == 4
    for (name, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-6), name


# --------------------------------------------------------------------------- loading the encoder
def test_no_checkpoint_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv("VCVAL_REPBERT", raising=False)
    with pytest.raises(NotFoundError, match="vcval train repbert"):
        load_repbert(None)
    (tmp_path / "plain").mkdir()
    with pytest.raises(NotFoundError, match=REPBERT_MARKER):
        load_repbert(tmp_path / "plain")
    with pytest.raises(NotFoundError, match="does not exist"):
        load_repbert(tmp_path / "missing")


def test_hub_id_is_fetched_with_snapshot_download(monkeypatch, tiny_bert):
    import huggingface_hub

    calls = []

    def fake_snapshot(repo_id, revision=None, **kw):
        calls.append((repo_id, revision))
        return str(tiny_bert)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    enc = load_repbert("someone/repbert-minilm", revision="abc123", device="cpu")
    assert calls == [("someone/repbert-minilm", "abc123")]
    assert enc.name == str(tiny_bert.resolve()) and enc.dim == 32


# --------------------------------------------------------------------------- the corpus's encoder index
@pytest.fixture
def corpus(tmp_path, data_dir):
    c = Corpus.open(tmp_path / "corpus")
    c.add_transcripts([data_dir / "transcripts" / f"{v}.json" for v in ("sling", "layers", "pasta")], progress=False)
    yield c
    c.close()


def _default_index_bytes(root: Path) -> dict[str, bytes]:
    files = [root / "index" / "dense.npz", *sorted((root / "index" / "vectors").glob("*.npy"))]
    return {str(f.relative_to(root)): f.read_bytes() for f in files}


def test_encoder_index_records_its_encoder_rebuilds_on_change_and_leaves_the_default_alone(
        corpus, tiny_bert, tmp_path, monkeypatch):
    folder = _tiny_bert(tmp_path / "enc", seed=1)
    before = _default_index_bytes(corpus.root)
    default_hits = make_retriever(corpus, "dense").search("tomato sauce", 3)
    enc = load_repbert(folder, device="cpu")
    hits = make_retriever(corpus, "repbert", repbert=enc).search("tomato sauce", 3)
    assert len(hits) == 3 and {h.video_id for h in hits} <= {"sling", "layers", "pasta"}
    key_dirs = list((corpus.root / "index" / "encoders").iterdir())
    assert len(key_dirs) == 1
    meta = json.loads((key_dirs[0] / "encoder.json").read_text("utf-8"))
    assert meta["name"] == enc.name and meta["fingerprint"] == enc.fingerprint and meta["dim"] == 32
    stored = np.load(key_dirs[0] / "vectors" / "pasta.npz")["vectors"]
    assert np.allclose(stored, enc.encode([w.text for w in corpus.windows("pasta")]), atol=1e-6)

    # retrain the same folder (new weights): the index sees the new fingerprint and rebuilds
    _tiny_bert(folder, seed=2)
    monkeypatch.setattr(encoders, "_CACHE", {})
    enc2 = load_repbert(folder, device="cpu")
    assert enc2.fingerprint != enc.fingerprint
    corpus.encoder_search(enc2, enc2.encode(["tomato sauce"]), 3)
    meta2 = json.loads((key_dirs[0] / "encoder.json").read_text("utf-8"))
    assert meta2["fingerprint"] == enc2.fingerprint
    stored2 = np.load(key_dirs[0] / "vectors" / "pasta.npz")["vectors"]
    assert np.allclose(stored2, enc2.encode([w.text for w in corpus.windows("pasta")]), atol=1e-6)
    assert not np.allclose(stored2, stored)

    # the default MiniLM index (and what the default localizer reads) is byte-identical, same hits
    assert _default_index_bytes(corpus.root) == before
    assert corpus.index_stats()["text_encoder"] == "all-MiniLM-L6-v2"
    assert make_retriever(corpus, "dense").search("tomato sauce", 3) == default_hits


def test_encoder_index_follows_corpus_changes(corpus, tiny_bert, data_dir):
    enc = load_repbert(tiny_bert, device="cpu")
    n0 = corpus.encoder_index(enc).ntotal
    corpus.add_transcripts([data_dir / "transcripts" / "bike.json"], progress=False)
    index = corpus.encoder_index(enc)
    assert index.ntotal == n0 + len(corpus.windows("bike"))
    hits = corpus.encoder_search(enc, enc.encode(["x"]), 1000)[0]
    assert "bike" in {h.video_id for h in hits}
    corpus.remove("bike")
    assert corpus.encoder_index(enc).ntotal == n0
    folder = next((corpus.root / "index" / "encoders").iterdir()) / "vectors"
    assert sorted(p.stem for p in folder.iterdir()) == ["layers", "pasta", "sling"]


# --------------------------------------------------------------------------- pipeline wiring
def test_pipeline_methods_and_env(corpus, tiny_bert, monkeypatch):
    from vcval.pipeline import METHODS, build_pipeline

    assert {"repbert", "repbert-hybrid"} <= set(METHODS)
    monkeypatch.delenv("VCVAL_REPBERT", raising=False)
    with pytest.raises(NotFoundError, match="configs/repbert.json"):
        build_pipeline(corpus, "repbert", device="cpu")
    qa = build_pipeline(corpus, "repbert", device="cpu", checkpoint=str(tiny_bert))
    assert isinstance(qa.retriever, EncoderRetriever)
    monkeypatch.setenv("VCVAL_REPBERT", str(tiny_bert))
    qa = build_pipeline(corpus, "repbert-hybrid", device="cpu")
    assert isinstance(qa.retriever, HybridRetriever) and isinstance(qa.retriever.retrievers[1], EncoderRetriever)
    answers = qa.ask("how do i use the tomato with the salt", k=2)
    assert answers and answers[0].video_id in {"sling", "layers", "pasta"}


def test_cli_ask_without_checkpoint_fails_clearly(corpus, monkeypatch, capsys):
    from vcval.cli import main

    monkeypatch.delenv("VCVAL_REPBERT", raising=False)
    root = str(corpus.root)
    corpus.close()
    code = main(["ask", "how do i boil pasta", "--corpus", root, "--method", "repbert"])
    assert code != 0
    assert "vcval train repbert" in capsys.readouterr().err


def test_read_only_corpus_searches_without_writing(corpus, tiny_bert):
    root = corpus.root
    corpus.close()
    ro = Corpus.open(root, read_only=True)
    try:
        enc = load_repbert(tiny_bert, device="cpu")
        hits = ro.encoder_search(enc, enc.encode(["tomato sauce"]), 2)[0]
        assert len(hits) == 2
        assert not (root / "index" / "encoders").exists()
    finally:
        ro.close()


def test_stop_at_step_keeps_the_schedule_of_the_full_run(data_dir, tiny_bert, tmp_path):
    """An ablation stopped where a time-budgeted reference stopped runs on the reference's LR schedule
    (max_steps would shorten the schedule and change the learning rates along the way)."""
    full = RepBERTTrainer(_config(data_dir, tiny_bert, tmp_path / "full", epochs=2, warmup_steps=2))
    stopped = RepBERTTrainer(_config(data_dir, tiny_bert, tmp_path / "stop", epochs=2, warmup_steps=2, stop_at_step=3))
    short = RepBERTTrainer(_config(data_dir, tiny_bert, tmp_path / "short", epochs=2, warmup_steps=2, max_steps=3))
    assert stopped.total_steps == full.total_steps > short.total_steps
    stopped.train()
    short.train()
    assert stopped.step == short.step == 3
    assert stopped.scheduler.get_last_lr()[0] > short.scheduler.get_last_lr()[0]  # short has decayed to its end
