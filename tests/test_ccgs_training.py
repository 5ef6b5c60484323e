"""A tiny CCGS training run end to end: data files -> trainer -> lower loss, dev eval, best
checkpoint, and an interrupted run that resumes to exactly the same weights."""
from __future__ import annotations

import json
import random
from dataclasses import asdict

import numpy as np
import pytest
import torch

from vcval.evaluation.questions import load_questions
from vcval.localization.ccgs import CCGSInference
from vcval.models.ccgs.configuration_ccgs import CCGSConfig
from vcval.models.ccgs.modeling_ccgs import load_ccgs
from vcval.training.collators import CCGSCollator
from vcval.training.datasets import CCGSTrainDataset, load_transcripts
from vcval.training.trainer_ccgs import CCGSTrainer, TrainConfig

TINY_BERT = dict(
    model_type="bert", hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
    vocab_size=30522, max_position_embeddings=64,
)
TOPICS = ["brush", "layer", "mask", "crop", "text", "color", "filter", "shape"]
FILLER = ["then we look at the screen", "this is a nice picture", "let us continue now", "okay that is all"]


def write_corpus(root, n_videos=6, questions_per_video=6, seed=0):
    """Videos of filler cues with a few topic cues; each question asks about one topic cue."""
    rng = random.Random(seed)
    tdir = root / "transcripts"
    tdir.mkdir(parents=True)
    qs = {"train": [], "dev": []}
    for v in range(n_videos):
        split = "dev" if v >= n_videos - 2 else "train"
        topics = rng.sample(TOPICS, 3)
        cues, pos = [], {}
        for k in range(10):
            text = rng.choice(FILLER)
            if k in (2, 5, 8):
                t = topics[(2, 5, 8).index(k)]
                text = f"now we use the {t} tool to change the {t}"
                pos[t] = k
            cues.append({"start": 3.0 * k, "duration": 3.0, "text": text})
        (tdir / f"v{v}.json").write_text(json.dumps(cues))
        for i in range(questions_per_video):
            t = topics[i % 3]
            k = pos[t]
            qs[split].append({"sample_id": f"{v}-{i}", "question": f"how do i use the {t} tool?", "video_id": f"v{v}",
                              "answer_start_second": 3.0 * k, "answer_end_second": 3.0 * k + 3.0, "video_length": 30.0})
    for split, rows in qs.items():
        (root / f"{split}.json").write_text(json.dumps(rows))
    return root


def tiny_train_config(root, out, **kw) -> TrainConfig:
    model = CCGSConfig(encoder_config=TINY_BERT, trainable_encoder_layers=-1, max_len=40, overlap_tokens=8,
                       head_size=16, visual_dim=8, max_span_cues=4, max_span_seconds=None, dropout=0.0).to_dict()
    base = dict(model=model, train_questions=str(root / "train.json"), train_transcripts=str(root / "transcripts"),
                dev_questions=str(root / "dev.json"), dev_transcripts=str(root / "transcripts"), out_dir=str(out),
                seed=3, max_steps=8, steps_per_epoch=4, questions_per_step=2, grad_accum=1, lr_encoder=1e-3,
                lr_head=3e-3, warmup_steps=2, n_hard=1, n_random=1, hard_pool=3, dev_limit=0, dev_k_videos=2,
                dev_weights=[0.0, 1.0], bf16=False, num_threads=1, save_every=2, log_every=1)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("tvqa"))


def test_dataset_mines_negatives_and_collator_labels(corpus):
    qs = load_questions(corpus / "train.json")
    tr = load_transcripts(corpus / "transcripts", {q.video_id for q in qs})
    ds = CCGSTrainDataset(qs, tr, n_hard=1, n_random=1, hard_pool=2, seed=0)
    item = ds[0]
    assert item.video_ids[0] == qs[0].video_id and len(set(item.video_ids)) == 3
    assert ds[0] == item  # deterministic for (seed, epoch, index)
    from vcval.models.ccgs.inputs import spec_from_tokenizer
    from vcval.models.ccgs.modeling_ccgs import load_tokenizer

    cfg = CCGSConfig(encoder_config=TINY_BERT, max_len=40, max_span_cues=4, max_span_seconds=None)
    tok = load_tokenizer(cfg)
    col = CCGSCollator(tok, cfg, spec_from_tokenizer(tok, 40, 8), tr, neg_max_tokens=30)
    batch = col([ds[0], ds[1]])
    n = batch["cue_mask"].shape[1]
    assert batch["groups"].tolist() == [0, 0, 0, 1, 1, 1]
    assert batch["labels"][[1, 2, 4, 5]].eq(-100).all()
    i, j = divmod(int(batch["labels"][0]), n)
    assert batch["cue_start"][0, i] == qs[0].start and batch["cue_end"][0, j] == qs[0].end
    assert batch["cue_mask"][1].sum() < 10  # negatives cut to an excerpt


def test_positive_excerpt_always_keeps_the_answer(corpus):
    from vcval.models.ccgs.inputs import spec_from_tokenizer
    from vcval.models.ccgs.modeling_ccgs import load_tokenizer

    qs = load_questions(corpus / "train.json")
    tr = load_transcripts(corpus / "transcripts", {q.video_id for q in qs})
    ds = CCGSTrainDataset(qs, tr, n_hard=0, n_random=0, seed=0)
    cfg = CCGSConfig(encoder_config=TINY_BERT, max_len=40, max_span_cues=4, max_span_seconds=None)
    tok = load_tokenizer(cfg)
    col = CCGSCollator(tok, cfg, spec_from_tokenizer(tok, 40, 8), tr, pos_max_tokens=25)
    starts = set()
    for k in range(len(ds)):
        item = ds[k]
        batch = col([item])
        n = int(batch["cue_mask"][0].sum())
        assert n < 10  # cut
        i, j = divmod(int(batch["labels"][0]), batch["cue_mask"].shape[1])
        assert batch["cue_start"][0, i] == item.start and batch["cue_end"][0, j] == item.end
        starts.add(float(batch["cue_start"][0, 0]))
    assert len(starts) > 3  # the excerpt moves around


def test_training_reduces_loss_evaluates_and_keeps_best(corpus, tmp_path):
    torch.manual_seed(0)
    cfg = tiny_train_config(corpus, tmp_path / "run", max_steps=40, steps_per_epoch=20, dev_limit=8)
    result = CCGSTrainer(cfg, progress=False).train()
    rows = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if "loss" in r]
    assert len(losses) == 40
    assert np.mean(losses[-8:]) < 0.6 * np.mean(losses[:8])
    evals = [r for r in rows if "eval" in r]
    assert len(evals) == 2 and "Rank@1 mIoU" in evals[0]["eval"]["weights"]["0.0"]
    assert result["best"] == max(e["eval"]["score"] for e in evals)
    model, _ = load_ccgs(tmp_path / "run" / "best", device="cpu")
    settings = CCGSInference.for_checkpoint(tmp_path / "run" / "best", model.config)
    assert settings.retrieval_weight in (0.0, 1.0) and not settings.keep_retriever_order


def test_interrupted_run_resumes_to_identical_weights(corpus, tmp_path):
    straight = CCGSTrainer(tiny_train_config(corpus, tmp_path / "a"), progress=False)
    straight.train()
    first = CCGSTrainer(tiny_train_config(corpus, tmp_path / "b"), progress=False)
    first.train(steps=3)  # "killed" after 3 steps
    assert first.step == 3
    resumed = CCGSTrainer(tiny_train_config(corpus, tmp_path / "b"), progress=False)
    resumed.train()
    assert resumed.step == 8
    a = dict(straight.model.named_parameters())
    for name, p in resumed.model.named_parameters():
        assert torch.allclose(p, a[name], atol=1e-6), name
    assert json.loads((tmp_path / "b" / "train_config.json").read_text()) == asdict(tiny_train_config(corpus, tmp_path / "b"))


def test_train_config_rejects_unknown_keys(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"max_stepz": 3}))
    from vcval.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="max_stepz"):
        TrainConfig.from_json(p)


def test_dev_videos_overlapping_train_videos_are_refused(corpus, tmp_path):
    from vcval.errors import InvalidInputError

    cfg = tiny_train_config(corpus, tmp_path / "leak", dev_questions=str(corpus / "train.json"))
    with pytest.raises(InvalidInputError, match="split by video"):
        CCGSTrainer(cfg, progress=False)


def test_vcval_train_ccgs_command_trains_and_resumes(corpus, tmp_path):
    from vcval.cli import main

    cfg_path = tmp_path / "cfg.json"
    cfg_path.write_text(json.dumps(asdict(tiny_train_config(corpus, tmp_path / "cli"))))
    assert main(["train", "ccgs", "--config", str(cfg_path), "--set", "max_steps=3", "--no-progress"]) == 0
    assert json.loads((tmp_path / "cli" / "train_config.json").read_text())["max_steps"] == 3
    assert (tmp_path / "cli" / "best" / "config.json").exists()
    # rerunning with a larger budget resumes from last/ instead of starting over
    assert main(["train", "ccgs", "--config", str(cfg_path), "--set", "max_steps=5", "--no-progress"]) == 0
    rows = [json.loads(x) for x in (tmp_path / "cli" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3, 4, 5]


def test_vcval_train_reports_a_missing_config(tmp_path, capsys):
    from vcval.cli import main

    code = main(["train", "ccgs", "--config", str(tmp_path / "nope.json")])
    assert code != 0
    assert "not found" in capsys.readouterr().err
