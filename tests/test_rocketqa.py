"""RocketQAv2: delta weights over the packaged MiniLM, pair tokenization, the listwise losses, hybrid data
augmentation (denoising), joint training on a tiny set (tiny random BERT) and the served re-ranker matching
the trained one, the re-ranking retriever and how a checkpoint is found."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.test_repbert import _tiny_bert, data_dir  # noqa: F401  (fixture re-used)
from vcval import encoders
from vcval.errors import InvalidInputError, NotFoundError, VCVALError
from vcval.models.losses import listwise_losses
from vcval.models.reranker import ROCKETQA_MARKER, CrossEncoderReranker, load_rocketqa, resolve_checkpoint
from vcval.retrieval import RerankRetriever, make_retriever
from vcval.training.trainer_rocketqa import RocketQAConfig, RocketQATrainer
from vcval.types import Hit


def test_delta_weights_overlay_the_packaged_minilm(tmp_path):
    from safetensors.torch import save_file

    base = encoders.load_bert_weights(encoders._packaged_model_dir())
    name = "encoder.layer.5.output.dense.bias"
    save_file({name: torch.ones_like(base[name]).half(), "head.bias": torch.tensor([0.5]).half()},
              str(tmp_path / encoders.DELTA_WEIGHTS))
    merged = encoders.load_bert_weights(tmp_path)
    assert torch.equal(merged[name], torch.ones_like(base[name]))
    assert torch.equal(merged["head.bias"], torch.tensor([0.5]))
    other = "encoder.layer.0.output.dense.bias"
    assert torch.equal(merged[other], base[other])
    save_file({name: torch.ones(3).half()}, str(tmp_path / encoders.DELTA_WEIGHTS))
    with pytest.raises(VCVALError, match="another base model"):
        encoders.load_bert_weights(tmp_path)
    (tmp_path / encoders.DELTA_WEIGHTS).unlink()
    with pytest.raises(NotFoundError, match="holds no weights"):
        encoders.load_bert_weights(tmp_path)


def test_pair_tokenization_matches_transformers():
    from transformers import AutoTokenizer

    folder = encoders._packaged_model_dir()
    fast = encoders._FastTokenizer(folder / "tokenizer.json", 24, 0)
    ref = AutoTokenizer.from_pretrained(str(folder))
    qs, ts = ["how do i tie a sling", "short"], ["first fold the bandage into a triangle " * 3, "a window"]
    ids, mask, types = fast.batch(qs, ts)
    want = ref(qs, ts, padding=True, truncation="longest_first", max_length=24, return_tensors="np")
    assert np.array_equal(ids, want["input_ids"]) and np.array_equal(types, want["token_type_ids"])
    assert np.array_equal(mask, want["attention_mask"])
    assert types[1].max() == 1  # the window is segment B


def test_listwise_losses():
    s = torch.tensor([[3.0, 0.0, -1.0], [1.0, 2.0, 0.0]])
    loss, stats = listwise_losses(s.clone(), s.clone(), distill=True)
    assert stats["de_loss"] == pytest.approx(0.0, abs=1e-6)  # KL of equal distributions
    assert stats["ce_acc"] == 0.5
    loss2, stats2 = listwise_losses(s.clone(), s.clone(), distill=False)
    assert stats2["de_loss"] == pytest.approx(stats2["ce_loss"])  # apart: the retriever's own cross-entropy
    # distillation moves the retriever towards the re-ranker's distribution
    de = torch.zeros(1, 3, requires_grad=True)
    loss3, _ = listwise_losses(de, torch.tensor([[0.0, 5.0, 0.0]]), distill=True)
    loss3.backward()
    assert de.grad[0, 1] < 0  # gradient descent raises the column the re-ranker prefers


def _cfg(data_dir: Path, base: Path, out: Path, **kw) -> RocketQAConfig:  # noqa: F811
    values = dict(train_questions=str(data_dir / "train.json"), train_transcripts=str(data_dir / "transcripts"),
                  dev_questions=str(data_dir / "dev.json"), dev_transcripts=str(data_dir / "transcripts"),
                  out_dir=str(out), base=str(base), retriever_init="", seed=3, trainable_layers=1, batch_size=4,
                  list_size=4, warmup_steps=4, joint_steps=4, mine_depth=6, denoised=2, eval_every=0,
                  dev_limit=0, rerank_depth=4, max_len=32, query_max_len=16, pair_max_len=48, infer_max_len=32,
                  lr_retriever=1e-3, lr_reranker=1e-3, lr_warmup=1, log_every=1, hard_pool=6)
    values.update(kw)
    return RocketQAConfig.from_dict(values)


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> Path:
    return _tiny_bert(tmp_path_factory.mktemp("rq_base"), seed=1)


@pytest.fixture(scope="module")
def trained(data_dir, tiny_base, tmp_path_factory) -> tuple[RocketQATrainer, Path]:  # noqa: F811
    out = tmp_path_factory.mktemp("rq_run")
    trainer = RocketQATrainer(_cfg(data_dir, tiny_base, out))
    trainer.train()
    return trainer, out


def test_training_runs_both_phases_and_saves_a_loadable_checkpoint(trained):
    trainer, out = trained
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    phases = [r["phase"] for r in rows if r["kind"] == "train"]
    assert phases.count("warmup") == 4 and phases.count("joint") == 4
    dev = [r for r in rows if r["kind"] == "dev"]
    assert dev[0]["step"] == 0 and dev[-1]["step"] == 8 and "rr_MRR" in dev[-1] and "de_MRR" in dev[-1]
    assert (out / "warm.pt").is_file()
    best = out / "best"
    assert (best / ROCKETQA_MARKER).is_file()
    dual, reranker = load_rocketqa(best, device="cpu")
    assert dual.encode(["a question"]).shape == (1, 32)
    q, texts = "how do i use the sling", ["now the arm and the elbow step 0", "boil the pasta in salted water"]
    served = reranker.score(q, texts)
    best_state = json.loads((best / ROCKETQA_MARKER).read_text())
    assert best_state["step"] >= 1
    final = json.loads((out / "final" / ROCKETQA_MARKER).read_text())
    assert final["step"] == 8 and final["dev"]["step"] == 8  # the models as the run ended, whatever was best
    load_rocketqa(out / "final", device="cpu")
    assert served.shape == (2,) and np.isfinite(served).all()


def test_ablation_runs_share_the_warm_up_and_start_with_its_dev(trained, data_dir, tiny_base, tmp_path):  # noqa: F811
    trainer, out = trained
    warm = torch.load(out / "warm.pt", map_location="cpu", weights_only=True)
    ablation = RocketQATrainer(_cfg(data_dir, tiny_base, tmp_path, warm_start=str(out / "warm.pt"), distill=False,
                                    joint_steps=2))
    ablation.train()
    rows = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    phases = [r["phase"] for r in rows if r["kind"] == "train"]
    assert phases == ["joint", "joint"]  # no warm-up steps of its own
    dev = [r["step"] for r in rows if r["kind"] == "dev"]
    assert dev == [4, 6]  # the warm-up's end (its re-ranker, the packaged retriever), then the run's end
    # a run that skips the start dev only evaluates at its end
    quiet = RocketQATrainer(_cfg(data_dir, tiny_base, tmp_path / "q", warm_start=str(out / "warm.pt"), joint_steps=1,
                                 dev_at_start=False))
    quiet.train()
    rows = [json.loads(line) for line in (tmp_path / "q" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["kind"] == "dev"] == [5]
    assert int(warm["step"]) == 4
    with pytest.raises(InvalidInputError, match="warm-up steps"):
        RocketQATrainer(_cfg(data_dir, tiny_base, tmp_path / "bad", warm_start=str(out / "warm.pt"),
                             warmup_steps=3)).train()


def test_served_reranker_matches_the_training_model(data_dir, tiny_base, tmp_path):  # noqa: F811
    trainer = RocketQATrainer(_cfg(data_dir, tiny_base, tmp_path, warmup_steps=1, joint_steps=0))
    with torch.no_grad():
        trainer.reranker.head.weight.normal_()
    trainer.save_best({"test": True})
    served = CrossEncoderReranker(tmp_path / "best" / "reranker")
    q, texts = "how do i use the sling", ["now the arm and the elbow step 0", "boil the pasta " * 20, "x"]
    want = trainer.rerank_scores(q, texts)
    # fp16 storage: agreement to fp16 precision
    np.testing.assert_allclose(served.score(q, texts), want, rtol=2e-2, atol=2e-2)


def test_segment_cosine_head_starts_as_the_bi_encoder_read_jointly(data_dir, tiny_base, tmp_path):  # noqa: F811
    from vcval.models.reranker import mean_pool

    trainer = RocketQATrainer(_cfg(data_dir, tiny_base, tmp_path, warmup_steps=1, joint_steps=0,
                                   ce_head="segment-cosine"))
    model = trainer.reranker.eval()
    q, texts = "how do i use the sling", ["now the arm and the elbow step 0", "boil the pasta " * 20, "x"]
    batch = trainer.tokenizer([q] * 3, texts, padding=True, truncation="longest_first", max_length=48,
                              return_tensors="pt")
    with torch.no_grad():
        hidden = model.bert(**batch).last_hidden_state  # (3, L, H)
        real, win = batch["attention_mask"].bool(), batch["token_type_ids"].bool()
        want = 20.0 * torch.nn.functional.cosine_similarity(mean_pool(hidden, real & ~win),
                                                            mean_pool(hidden, real & win), dim=-1)
        got = model(trainer.tokenizer, [q] * 3, texts, 48)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)  # the linear part starts at zero
    assert {n for n, p in model.named_parameters() if n.startswith("head.")} == {"head.weight", "head.bias",
                                                                                "head.scale"}
    with torch.no_grad():  # a trained head: both parts count, and serving computes the same
        model.head.weight.normal_()
        model.head.scale.fill_(7.0)
    trainer.save_best({"test": True})
    served = CrossEncoderReranker(tmp_path / "best" / "reranker")
    assert served.head_scale is not None
    np.testing.assert_allclose(served.score(q, texts), trainer.rerank_scores(q, texts), rtol=2e-2, atol=2e-2)
    with pytest.raises(InvalidInputError, match="ce_head"):
        RocketQATrainer(_cfg(data_dir, tiny_base, tmp_path / "bad", ce_head="pooler"))


def test_denoising_drops_candidates_the_reranker_scores_above_the_answer(data_dir, tiny_base, tmp_path):  # noqa: F811
    trainer = RocketQATrainer(_cfg(data_dir, tiny_base, tmp_path, list_size=4, denoised=2, mine_depth=6))
    trainer.mine()
    assert trainer.mined is not None
    for i in range(len(trainer.data)):
        assert not set(trainer.mined[i].tolist()) & trainer.data.pairs[i].answers  # answers are never negatives
    cands = trainer.mined[0].tolist()
    # the re-ranker "thinks" the first two candidates beat the answer: denoising must skip them
    trainer.rerank_scores = lambda q, texts: np.array([1.0, 5.0, 4.0, 0.0, -1.0], np.float32)[: len(texts)]
    negs = trainer.negatives(0)
    assert negs[:2] == [cands[2], cands[3]] and len(negs) == 3
    assert cands[0] not in negs[:2] and cands[1] not in negs[:2]
    trainer.cfg.denoise = False
    assert trainer.negatives(0)[:2] == cands[:2]


class _FakeReranker:
    """Scores a window by how many question words it contains."""

    def score(self, question: str, texts: list[str]) -> np.ndarray:
        words = set(question.lower().split())
        return np.array([len(words & set(t.lower().split())) for t in texts], np.float32)


class _FixedRetriever:
    def __init__(self, hits: list[Hit]) -> None:
        self.hits = hits

    def search(self, query: str, k: int) -> list[Hit]:
        return self.hits[:k]


class _Corpus:
    def __init__(self, cues: dict) -> None:
        self._cues = cues

    def __len__(self) -> int:
        return len(self._cues)

    def windows(self, video_id: str) -> list:
        from vcval.ingest.windows import WindowConfig, make_windows

        return make_windows(self._cues[video_id], WindowConfig(max_cues=1, stride=1))


def test_rerank_retriever_reorders_the_head_and_keeps_the_tail_below():
    from vcval.types import Cue

    cues = {"a": [Cue(0, 0, 1, "the bandage"), Cue(1, 1, 2, "the arm sling knot")], "b": [Cue(0, 0, 1, "boil pasta")]}
    first = [Hit("b", 9.0, 0, 0, 0, 1), Hit("a", 8.0, 0, 0, 0, 1), Hit("a", 7.0, 1, 1, 1, 2), Hit("b", 6.0, 0, 0)]
    r = RerankRetriever(_Corpus(cues), _FixedRetriever(first), _FakeReranker(), depth=3)
    assert r.window_texts([first[2]]) == ["the arm sling knot"]
    hits = r.search("the arm sling knot", 4)
    assert [(h.video_id, h.first_cue) for h in hits[:3]] == [("a", 1), ("a", 0), ("b", 0)]
    assert hits[3].score < min(h.score for h in hits[:3])  # the un-reranked tail stays below
    assert len(r.search("arm", 2)) == 2


def test_rerank_fused_with_the_first_stage_order():
    """first_stage_weight > 0: RRF of the re-ranker's order and the first stage's; a large weight keeps the first
    stage's order, a small one the re-ranker's; the tail stays below either way; a negative weight is refused."""
    from vcval.types import Cue

    cues = {"a": [Cue(0, 0, 1, "the bandage"), Cue(1, 1, 2, "the arm sling knot")], "b": [Cue(0, 0, 1, "boil pasta")]}
    first = [Hit("b", 9.0, 0, 0, 0, 1), Hit("a", 8.0, 0, 0, 0, 1), Hit("a", 7.0, 1, 1, 1, 2), Hit("b", 6.0, 0, 0)]
    query = "the arm sling knot"  # re-ranker order: a1, a0, b0; first stage: b0, a0, a1

    def order(weight: float) -> list[tuple[str, int]]:
        r = RerankRetriever(_Corpus(cues), _FixedRetriever(first), _FakeReranker(), depth=3, first_stage_weight=weight)
        hits = r.search(query, 4)
        assert hits[3].score < min(h.score for h in hits[:3])
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        return [(h.video_id, h.first_cue) for h in hits[:3]]

    assert order(0.0) == [("a", 1), ("a", 0), ("b", 0)]
    assert order(0.5) == [("a", 1), ("a", 0), ("b", 0)]
    assert order(3.0) == [("b", 0), ("a", 0), ("a", 1)]
    assert order(1.0)[2] == ("a", 0)  # level weights: 1/61 + 1/63 > 2/62, the window both put second comes last
    with pytest.raises(InvalidInputError, match="first_stage_weight"):
        RerankRetriever(_Corpus(cues), _FixedRetriever(first), _FakeReranker(), first_stage_weight=-1.0)


def test_no_rocketqa_checkpoint_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv("VCVAL_ROCKETQA", raising=False)
    with pytest.raises(NotFoundError, match="vcval train rocketqa"):
        resolve_checkpoint(None)
    with pytest.raises(NotFoundError, match="does not exist"):
        resolve_checkpoint(tmp_path / "nope")
    with pytest.raises(NotFoundError, match="not a RocketQAv2 checkpoint"):
        resolve_checkpoint(tmp_path)
    with pytest.raises(NotFoundError, match="vcval train rocketqa"):
        make_retriever(_Corpus({"a": []}), "rocketqa")


def test_rocketqa_env_and_pipeline(trained, monkeypatch, tmp_path):
    from vcval.corpus import Corpus
    from vcval.pipeline import build_pipeline

    _trainer, out = trained
    corpus = Corpus.open(tmp_path / "corpus")
    transcripts = Path(_trainer.cfg.train_transcripts)
    corpus.add_transcripts([transcripts / f"{v}.json" for v in ("sling", "pasta")], progress=False)
    monkeypatch.setenv("VCVAL_ROCKETQA", str(out / "best"))
    qa = build_pipeline(corpus, "rocketqa", device="cpu")
    assert isinstance(qa.retriever, RerankRetriever)
    answers = qa.ask("how do i use the arm with the collarbone", k=2)
    assert answers and {a.video_id for a in answers} <= {"sling", "pasta"}
    corpus.close()


def test_a_checkpoint_path_is_loaded_not_mistaken_for_an_encoder(tmp_path):
    """``str`` has an ``encode`` method: a path given for the encoder must be loaded (or fail clearly)."""
    with pytest.raises(NotFoundError, match="does not exist"):
        make_retriever(_Corpus({"a": []}), "repbert-hybrid", repbert=str(tmp_path / "missing"))
    with pytest.raises(NotFoundError, match="does not exist"):
        make_retriever(_Corpus({"a": []}), "rocketqa", repbert=str(tmp_path / "missing"))


def test_baseline_localizer_reads_the_window_scores_of_the_hits():
    from vcval.localization.base import Candidate
    from vcval.localization.baseline import BaselineLocalizer
    from vcval.types import Cue, VideoRecord

    cues = [Cue(i, 10.0 * i, 10.0 * i + 10, f"cue {i} about nothing") for i in range(8)]
    hits = [Hit("v", 5.0, 5, 6, 50, 70), Hit("v", 1.0, 0, 1, 0, 20), Hit("v", 2.0, 4, 5, 40, 60)]
    rec = VideoRecord("v", "t", 80.0, "test", "none", "h", 8)
    cand = Candidate(record=rec, cues=cues, features=None, retrieval_score=1.0, hits=hits)
    w = BaselineLocalizer.window_relevance(cand)
    np.testing.assert_allclose(w, [0, 0, 0, 0, 0.25, 1, 1, 0])
    embed = lambda texts: np.ones((len(texts), 4), np.float32) / 2  # noqa: E731  (every cue equally similar)
    plain = BaselineLocalizer(embed, prior=None).localize("q", [cand], top_n=1)[0]
    guided = BaselineLocalizer(embed, prior=None, window_weight=1.0).localize("q", [cand], top_n=1)[0]
    assert (guided.start, guided.end) == (50.0, 70.0)
    assert (plain.start, plain.end) != (guided.start, guided.end)


def test_recipe_keys_files_and_data_are_checked(tmp_path):
    from vcval.errors import InvalidInputError
    from vcval.training.runtime import read_recipe, require_data

    with pytest.raises(InvalidInputError, match="unknown RocketQA config keys"):
        RocketQAConfig.from_dict({"no_such_key": 1})
    with pytest.raises(InvalidInputError, match="list_size"):
        RocketQAConfig.from_dict({"list_size": 1})
    with pytest.raises(InvalidInputError, match="not found"):
        read_recipe(tmp_path / "missing.json", {})
    (tmp_path / "r.json").write_text('{"seed": 1, "lr_head": 0.1}')
    assert read_recipe(tmp_path / "r.json", {"seed": 2}) == {"seed": 2, "lr_head": 0.1}
    with pytest.raises(InvalidInputError, match="convert_tutorialvqa"):
        require_data([str(tmp_path / "r.json"), str(tmp_path / "nope.json")])


def test_ablation_report_reads_the_models_each_run_ended_with(trained, tmp_path):
    import importlib.util
    import shutil

    spec = importlib.util.spec_from_file_location("rocketqa_ablations",
                                                  Path(__file__).resolve().parents[1] / "scripts" / "rocketqa_ablations.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _, out = trained
    folder, record = module.checkpoint_of(out)
    assert folder == out / "final" and record["step"] == 8
    # a run without final/ (older code): best/ only when it was saved at the run's last dev step
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(out / "log.jsonl", run / "log.jsonl")
    shutil.copytree(out / "final", run / "best")
    assert module.checkpoint_of(run)[0] == run / "best"
    best = json.loads((run / "best" / ROCKETQA_MARKER).read_text())
    (run / "best" / ROCKETQA_MARKER).write_text(json.dumps({**best, "step": 4}))
    with pytest.raises(SystemExit, match="rerun it"):
        module.checkpoint_of(run)
