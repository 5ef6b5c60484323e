"""A tiny CueSpan training run end to end: transcripts -> corpus unit encodings -> trainer -> curve,
fp16 best checkpoint -> dev tuning and calibration -> inference.json -> the "default" pipeline."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from test_ccgs_training import write_corpus

from vcval.localization.cuespan import CueSpanInference
from vcval.training.trainer_cuespan import CueSpanTrainConfig, TrainingData, train, tune_and_calibrate


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = write_corpus(tmp_path_factory.mktemp("cuespan"), n_videos=6, questions_per_video=6)
    (root / "offtopic.json").write_text(json.dumps([{"question": q} for q in
                                                    ("what is the capital of france", "how do i bake bread")]))
    fit = {"slope": 0.42, "intercept": 1.31, "resid_log_sigma": 0.75, "reference_duration_s": 485.0,
           "median_length_at_reference_s": 49.7}
    (root / "priors.json").write_text(json.dumps({"log_length_vs_log_duration": fit}))
    cfg = CueSpanTrainConfig(transcripts=str(root / "transcripts"), train=str(root / "train.json"),
                             dev=str(root / "dev.json"), offtopic_dev=str(root / "offtopic.json"),
                             length_prior=str(root / "priors.json"),
                             output=str(root / "run"), steps=6, batch=4, eval_every=3, warmup=2, crop=8,
                             model={"hidden": 16, "ff_dim": 32, "head_size": 8, "n_heads": 2, "max_span_cues": 4})
    import os

    old = os.environ.get("VCVAL_HOME")
    os.environ["VCVAL_HOME"] = str(root / "home")
    try:
        data = TrainingData(cfg.transcripts)
        summary = train(cfg, data)
        report = tune_and_calibrate(cfg, data)
    finally:
        if old is None:
            os.environ.pop("VCVAL_HOME")
        else:
            os.environ["VCVAL_HOME"] = old
    return cfg, data, summary, report


def test_training_writes_curve_and_fp16_best(trained):
    cfg, _, summary, _ = trained
    from safetensors.torch import load_file

    rows = list(csv.DictReader(open(f"{cfg.output}/curve.csv")))
    assert [int(r["step"]) for r in rows] == [3, 6]
    assert summary["best_step"] in (3, 6) and summary["train_questions"] == 24
    weights = load_file(f"{cfg.output}/best/model.safetensors")
    assert all(str(v.dtype) == "torch.float16" for v in weights.values())


def test_calibration_writes_inference_settings(trained):
    cfg, _, _, report = trained
    inf = CueSpanInference.from_json(f"{cfg.output}/best/inference.json")
    assert inf.calibration["features"] and 0.0 <= inf.threshold <= 1.0
    assert inf.retrieval_weight in (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
    assert (inf.target_length_median_s, inf.target_length_exponent, inf.target_reference_duration_s) == (49.7, 0.42, 485.0)
    assert inf.source_length_median_s == pytest.approx(3.0, abs=0.1) and inf.skip_first_units == 1
    assert inf.fact_max_units == 2  # the recipe's fact-question cap is shipped with the model
    assert inf.meta_edges is True  # and so is the rule that keeps clips off talk about the video
    assert inf.goal_split is True  # and the step/goal split of "how ... to <goal>" questions
    assert report["n"] == {"real": 12, "near_miss": 12, "off_topic": 2}
    assert 0.0 <= report["ece_rank1"] <= 1.0
    # the second calibration: "the answer's video is right", over the same features, with its own report
    assert inf.video_calibration["features"] == inf.calibration["features"]
    assert inf.video_calibration["coef"] != inf.calibration["coef"]
    assert 0.0 <= report["video_ece_rank1"] <= 1.0 and report["video_reliability_rank1"]
    assert 0.0 <= report["balanced_accuracy_if_gated_on_video_confidence"] <= 1.0


def test_trained_checkpoint_serves_as_the_default_method(trained):
    cfg, data, _, _ = trained
    from vcval.pipeline import build_pipeline

    qa = build_pipeline(data.corpus, "default", checkpoint=f"{cfg.output}/best", encoder=data.encoder)
    answers = qa.ask("how do i use the mask tool?", k=3)
    assert answers and all(a.confidence is not None and 0 <= a.confidence <= 1 for a in answers)
    assert all(isinstance(a.confident, bool) for a in answers)
    assert all(a.confidence <= a.video_confidence <= 1 for a in answers)  # a right span implies a right video


def test_training_with_frame_features_fuses_them_by_time(tmp_path, monkeypatch):
    import numpy as np

    monkeypatch.setenv("VCVAL_HOME", str(tmp_path / "home"))
    root = write_corpus(tmp_path / "vis", n_videos=4, questions_per_video=3)
    (root / "features").mkdir()
    for v in range(4):
        np.save(root / "features" / f"v{v}.npy", np.random.default_rng(v).normal(size=(30, 4)).astype(np.float32))
    cfg = CueSpanTrainConfig(transcripts=str(root / "transcripts"), features=str(root / "features"),
                             train=str(root / "train.json"), dev=str(root / "dev.json"), output=str(root / "run"),
                             steps=2, batch=2, eval_every=2, warmup=1, crop=8, length_prior="",
                             model={"hidden": 16, "ff_dim": 32, "head_size": 8, "n_heads": 2, "max_span_cues": 4,
                                    "visual_dim": 4})
    data = TrainingData(cfg.transcripts, cfg.features)
    pooled, has = data.visual("v0", 4)
    assert pooled.shape == (len(data.units["v0"]), 4) and has.all()
    assert data.visual("v0", 0) is None and data.visual("v0", 8) is None  # no branch / other extractor
    summary = train(cfg, data)
    assert summary["best_step"] == 2
    saved = json.loads(open(f"{cfg.output}/best/config.json").read())
    assert saved["visual_dim"] == 4


def test_a_fraction_length_model_is_served_without_a_seconds_tilt(trained, tmp_path, monkeypatch):
    """A checkpoint whose length bias reads shares of the video gets no seconds length target, even when the
    recipe names a length prior (the shares already match across domains)."""
    import shutil

    cfg, data, _, _ = trained
    folder = tmp_path / "fraction"
    shutil.copytree(f"{cfg.output}/best", folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "length_unit": "fraction"}))
    monkeypatch.setenv("VCVAL_HOME", str(tmp_path / "home"))
    report = tune_and_calibrate(cfg, data, checkpoint=folder)
    inf = CueSpanInference.from_json(folder / "inference.json")
    assert inf.target_length_median_s is None and inf.target_length_exponent == 0.0
    assert "dev_rank1_miou_with_length_shift" not in report


def test_merge_unit_runs_coarsens_times_texts_vectors_and_words():
    import numpy as np

    from vcval.corpus.encodings import encode_units, merge_unit_runs
    from vcval.types import Cue

    class Enc:
        dim = 3

        def encode(self, texts):
            rng = np.random.default_rng(len(texts))
            v = rng.normal(size=(len(texts), 3)).astype(np.float32)
            return v / np.linalg.norm(v, axis=1, keepdims=True)

    cues = [Cue(i, 2.0 * i, 2.0 * i + 1.5, f"Sentence number {w}.") for i, w in
            enumerate(["one", "two", "three", "four", "five"])]
    enc = encode_units(cues, Enc())
    assert len(enc) == 5
    merged = merge_unit_runs(enc, [2, 1, 2])
    assert [(u.start, u.end) for u in merged.units] == [(0.0, 3.5), (4.0, 5.5), (6.0, 9.5)]
    assert merged.units[0].text == "Sentence number one. Sentence number two."
    assert merged.first_cue.tolist() == [0, 2, 3] and merged.last_cue.tolist() == [1, 2, 4]
    mean = enc.vectors[:2].mean(0)
    assert np.allclose(merged.vectors[0], mean / np.linalg.norm(mean), atol=1e-6)
    assert np.allclose(merged.context[1], enc.context[2], atol=1e-6)
    assert merged.words[0] == enc.words[0] | enc.words[1]
    with pytest.raises(ValueError, match="sum to the 5 units"):
        merge_unit_runs(enc, [2, 2])


def test_coarsen_units_draws_runs_up_to_the_maximum_and_training_uses_it(trained, tmp_path):
    import random

    from vcval.training.trainer_cuespan import coarsen_units

    cfg, data, _, _ = trained
    vid = max(data.units, key=lambda v: len(data.units[v]))
    units = data.units[vid]
    a = coarsen_units(units, random.Random(3), 3)
    b = coarsen_units(units, random.Random(3), 3)
    assert [(u.start, u.end) for u in a.units] == [(u.start, u.end) for u in b.units]  # seeded
    assert a.units[0].start == units.units[0].start and a.units[-1].end == units.units[-1].end
    runs = (a.last_cue - a.first_cue + 1).tolist()
    assert -(-len(units) // 3) <= len(a) < len(units)  # runs of 1..3 units
    assert runs and min(runs) >= 1
    assert len(coarsen_units(units, random.Random(0), 1)) == len(units)  # runs of one: unchanged
    run = CueSpanTrainConfig(**{**cfg.to_dict(), "output": str(tmp_path / "coarse"), "steps": 3, "eval_every": 3,
                                "coarsen_prob": 1.0, "coarsen_max": 3})
    assert train(run, data)["best_step"] == 3


def test_an_ensemble_recipe_trains_each_seed_once_and_serves_them_as_one_checkpoint(trained, tmp_path, monkeypatch):
    cfg, data, summary, _ = trained
    import shutil

    from vcval.models.cuespan import CueSpanEnsemble
    from vcval.pipeline import build_pipeline
    from vcval.training import trainer_cuespan
    from vcval.training.trainer_cuespan import train_ensemble

    monkeypatch.setenv("VCVAL_HOME", str(tmp_path / "home"))
    out = tmp_path / "ens"
    shutil.copytree(f"{cfg.output}/best", out / f"seed-{cfg.seed}" / "best")  # a finished run of the same recipe
    calls = []
    real_train = trainer_cuespan.train
    monkeypatch.setattr(trainer_cuespan, "train", lambda c, d: calls.append(c.seed) or real_train(c, d))
    ens = CueSpanTrainConfig.from_dict({**cfg.to_dict(), "output": str(out), "ensemble_seeds": [cfg.seed, 7]})
    result = train_ensemble(ens, data)
    assert calls == [7]  # the finished seed was reused, wherever it had been written
    assert [m["seed"] for m in result["ensemble"]] == [cfg.seed, 7]
    assert result["ensemble"][0]["best_dev_miou"] == summary["best_dev_miou"]
    best = out / "best"
    assert sorted(p.name for p in best.glob("model*.safetensors")) == ["model-1.safetensors", "model.safetensors"]
    assert (best / "model.safetensors").read_bytes() == (out / f"seed-{cfg.seed}/best/model.safetensors").read_bytes()
    train_ensemble(ens, data)
    assert calls == [7]  # a second run trains nothing again
    shutil.copytree(out / "seed-7", tmp_path / "other" / "seed-7")
    changed = CueSpanTrainConfig.from_dict({**ens.to_dict(), "lr": 0.002, "ensemble_seeds": [7],
                                            "output": str(tmp_path / "other")})
    train_ensemble(changed, data)
    assert calls == [7, 7]  # another recipe is trained anew
    tune_and_calibrate(ens, data, checkpoint=best)
    qa = build_pipeline(data.corpus, "default", checkpoint=best, encoder=data.encoder)
    assert isinstance(qa.localizer.model, CueSpanEnsemble)
    answers = qa.ask("how do i use the mask tool?", k=3)
    assert answers and all(0 <= a.confidence <= 1 for a in answers)


def test_caption_style_augmentation_reads_rows_from_the_auto_caption_copy(trained, tmp_path, monkeypatch):
    """asr_prob = 1: every training row comes from the scripts/asr_style.py copy (its units, not the clean ones);
    a copy that lacks a training video, or a missing folder setting, is refused with what to do."""
    import subprocess
    import sys
    from pathlib import Path

    from vcval.training import trainer_cuespan

    cfg, data, _, _ = trained
    copy = tmp_path / "asr"
    script = Path(__file__).resolve().parents[1] / "scripts" / "asr_style.py"
    subprocess.run([sys.executable, str(script), cfg.transcripts, str(copy)], check=True, capture_output=True)
    monkeypatch.setenv("VCVAL_HOME", str(Path(cfg.output).parent / "home"))
    run = CueSpanTrainConfig(**{**cfg.to_dict(), "output": str(tmp_path / "aug"), "steps": 2, "eval_every": 2,
                                "asr_transcripts": str(copy), "asr_prob": 1.0})
    used: list[int] = []
    real_row = TrainingData.row

    def spy(self, *args, **kwargs):
        used.append(id(self))
        return real_row(self, *args, **kwargs)

    monkeypatch.setattr(TrainingData, "row", spy)
    assert train(run, data)["best_step"] == 2
    assert used and id(data) not in used  # no row was read from the clean corpus
    with pytest.raises(ValueError, match="asr_style.py"):
        trainer_cuespan.asr_data(CueSpanTrainConfig(**{**run.to_dict(), "asr_transcripts": ""}), ["x"])
    one = tmp_path / "one"
    one.mkdir()
    first = sorted(copy.glob("*.json"))[0]
    (one / first.name).write_text(first.read_text())
    with pytest.raises(ValueError, match="lacks"):
        trainer_cuespan.asr_data(CueSpanTrainConfig(**{**run.to_dict(), "asr_transcripts": str(one)}),
                                 sorted(data.units))


def test_vcval_train_cuespan_reports_progress_without_verbose(trained, tmp_path, monkeypatch, caplog):
    """Training takes minutes: the command shows the trainer's progress lines by default (it was silent)."""
    import logging
    from pathlib import Path

    from vcval.cli import main

    cfg, _, _, _ = trained
    monkeypatch.setenv("VCVAL_HOME", str(Path(cfg.output).parent / "home"))
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps({**cfg.to_dict(), "output": str(tmp_path / "run"), "steps": 2, "eval_every": 2}))
    trainer_log = logging.getLogger("vcval.training")
    monkeypatch.setattr(trainer_log, "level", trainer_log.level)  # restored after the test
    assert main(["train", "cuespan", "--config", str(path)]) == 0
    said = [r.getMessage() for r in caplog.records if r.name.startswith("vcval.training")]
    assert any(m.startswith("best dev mIoU") for m in said) and any("checkpoint ready" in m for m in said)


def test_a_lexical_video_idf_recipe_trains_on_the_features_it_is_served_with(trained, tmp_path, monkeypatch):
    """model.lexical_video_idf: training rows read the within-video weighting, the checkpoint config carries it."""
    from vcval.models.cuespan import load_cuespan

    cfg, data, _, _ = trained
    vid = max(data.units, key=lambda v: len(data.units[v]))
    question = " ".join(sorted(data.units[vid].words[0]))
    plain = data.lexical(question, vid)
    flags: list[bool] = []
    real_row = TrainingData.row

    def spy(self, *args, **kwargs):
        flags.append(kwargs.get("within_video", False))
        return real_row(self, *args, **kwargs)

    monkeypatch.setattr(TrainingData, "row", spy)
    run = CueSpanTrainConfig(**{**cfg.to_dict(), "output": str(tmp_path / "lexvid"), "steps": 2, "eval_every": 2,
                                "model": {**cfg.model, "lexical_video_idf": True}})
    train(run, data)
    assert flags and all(flags) and load_cuespan(tmp_path / "lexvid" / "best").config.lexical_video_idf
    assert not np.allclose(data.lexical(question, vid, within_video=True), plain)
    np.testing.assert_allclose(data.lexical(question, vid), plain)  # the shared data is left as it was


def test_with_title_restates_the_topic_in_each_form():
    from vcval.training.trainer_cuespan import TITLE_TEMPLATES, with_title

    q = "How do I open the character panel?"
    assert with_title(q, "Add text to a photo") == "How do I open the character panel to add text to a photo?"
    forms = {with_title(q, "Add text", t) for t in TITLE_TEMPLATES}
    assert len(forms) == len(TITLE_TEMPLATES) and all("add text" in f and "character panel" in f for f in forms)
    assert with_title(q, "  ") == q  # a video without a title keeps the question


def test_title_augmentation_trains_on_titled_questions_and_follows_the_titled_probe(trained, tmp_path, monkeypatch):
    from vcval.training import trainer_cuespan

    cfg, data, _, _ = trained
    titles = tmp_path / "videos.json"
    titles.write_text(json.dumps([{"video_id": v, "title": f"Editing photos part {v}"} for v in data.units]))
    asked: list[str] = []
    real_row = trainer_cuespan.TrainingData.row

    def row(self, question, *args, **kwargs):
        asked.append(question)
        return real_row(self, question, *args, **kwargs)

    monkeypatch.setattr(trainer_cuespan.TrainingData, "row", row)
    run = CueSpanTrainConfig(**{**cfg.to_dict(), "output": str(tmp_path / "titled"), "steps": 3, "eval_every": 3,
                                "title_prob": 1.0, "titles": str(titles)})
    train(run, data)
    assert asked and all("editing photos part v" in q for q in asked)  # every row asked the titled question
    rows = list(csv.DictReader(open(tmp_path / "titled" / "curve.csv")))
    assert rows and 0.0 <= float(rows[-1]["dev_titled_miou"]) <= 100.0
    asked.clear()
    train(CueSpanTrainConfig(**{**run.to_dict(), "title_prob": 0.0, "output": str(tmp_path / "plain")}), data)
    assert asked and not any("editing photos" in q for q in asked)
    assert "dev_titled_miou" not in open(tmp_path / "plain" / "curve.csv").readline()


def test_long_video_augmentation_trains_on_answers_placed_inside_longer_videos(trained, tmp_path, monkeypatch):
    from vcval.localization.spans import temporal_iou
    from vcval.training import trainer_cuespan

    cfg, data, _, _ = trained
    positives: list[tuple] = []
    real_row = trainer_cuespan.TrainingData.row

    def row(self, question, q_vec, vid, *args, **kwargs):
        out = real_row(self, question, q_vec, vid, *args, **kwargs)
        if kwargs.get("target") is not None:
            positives.append((vid, kwargs["target"], kwargs.get("around"), out))
        return out

    monkeypatch.setattr(trainer_cuespan.TrainingData, "row", row)
    train(CueSpanTrainConfig(**{**cfg.to_dict(), "output": str(tmp_path / "long"), "steps": 3, "eval_every": 3,
                                "long_prob": 1.0, "long_around": 2}), data)
    assert positives and all(around is not None for *_, around, _ in positives)
    for vid, q, (others, pos), r in positives:
        assert vid not in others and len(others) == 2 and 0 <= pos <= 2
        assert len(r.units) == len(data.units[vid]) + sum(len(data.units[o]) for o in others)
        _, shift = data.long_units(data.units[vid], others, pos)
        first, last = r.cell  # the target cell sits on the answer, moved with its video
        span = (r.units.units[first].start, r.units.units[last].end)
        assert r.answer == pytest.approx((q.start + shift, q.end + shift))
        assert temporal_iou(span, r.answer) > 0
    positives.clear()
    train(CueSpanTrainConfig(**{**cfg.to_dict(), "output": str(tmp_path / "short"), "steps": 3, "eval_every": 3}),
          data)
    assert positives and all(around is None for *_, around, _ in positives)  # off by default


def test_the_long_video_probe_finds_the_answer_where_its_video_was_placed(trained):
    from vcval.corpus.encodings import concat_units
    from vcval.training.trainer_cuespan import long_layout, oracle_eval

    cfg, data, _, _ = trained
    a, b = sorted(data.units)[:2]
    long, offsets = concat_units([data.units[a], data.units[b]], gap_s=1.0)
    assert len(long) == len(data.units[a]) + len(data.units[b])
    assert offsets == [0.0, data.units[a].units[-1].end + 1.0]
    assert long.units[len(data.units[a])].start == data.units[b].units[0].start + offsets[1]
    assert long.first_cue[len(data.units[a])] == data.units[a].last_cue.max() + 1  # cue indexes follow on
    assert long.words == data.units[a].words + data.units[b].words
    np.testing.assert_array_equal(long.vectors[len(data.units[a]):], data.units[b].vectors)

    from vcval.evaluation.questions import load_questions
    from vcval.models.cuespan import load_cuespan

    dev = load_questions(cfg.dev)
    layout = long_layout(dev, sorted(data.units), 2, seed=0)
    assert layout == long_layout(dev, sorted(data.units), 2, seed=0)  # the same layout for every model
    assert all(q.video_id not in others and len(others) == 2 and 0 <= pos <= 2
               for q, (others, pos) in zip(dev, layout))
    model = load_cuespan(f"{cfg.output}/best")
    qvec = data.question_vectors(dev)
    ious: list[float] = []
    oracle_eval(model, data, dev, qvec, around=layout, per_question=ious)
    assert len(ious) == len(dev) and all(0.0 <= x <= 1.0 for x in ious)
    for q, around in zip(dev, layout):  # the question's own video sits, times shifted, where the layout put it
        long, shift = data.long_units(data.units[q.video_id], *around)
        own = data.units[q.video_id]
        placed = [u for u in long.units if shift <= u.start <= shift + own.units[-1].end]
        assert [u.text for u in placed] == [u.text for u in own.units]
        assert placed[0].start == pytest.approx(own.units[0].start + shift)


def test_vcval_train_cuespan_names_a_missing_titles_file_before_any_work(trained, tmp_path, capsys):
    from vcval.cli import main

    cfg, _, _, _ = trained
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({**cfg.to_dict(), "output": str(tmp_path / "out"), "title_prob": 0.5,
                                  "titles": str(tmp_path / "no-titles.json")}))
    assert main(["train", "cuespan", "--config", str(recipe)]) != 0
    err = capsys.readouterr().err
    assert "no-titles.json not found" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing trained or written


def test_a_question_tower_recipe_trains_its_top_layers_and_the_checkpoint_asks_with_them(trained, tmp_path):
    """question_layers: the top MiniLM layers train with the head, are saved as an fp16 delta beside the
    head, and the served localizer embeds questions with them (units keep the corpus's stored vectors)."""
    from safetensors.torch import load_file

    from vcval.encoders import _packaged_model_dir, load_bert_weights
    from vcval.localization.cuespan import QUESTION_TOWER, CueSpanLocalizer, load_question_tower
    from vcval.pipeline import build_pipeline

    cfg, data, _, _ = trained
    run = CueSpanTrainConfig(**{**cfg.to_dict(), "output": str(tmp_path / "qt"), "steps": 3, "eval_every": 3,
                                "question_layers": 1, "question_lr": 1e-3})
    train(run, data)
    best = tmp_path / "qt" / "best"
    delta = load_file(str(best / QUESTION_TOWER / "delta.safetensors"))
    assert delta and all(k.startswith("encoder.layer.5.") for k in delta)  # the top layer of 6, nothing else
    assert all(str(v.dtype) == "torch.float16" for v in delta.values())
    base = load_bert_weights(_packaged_model_dir())
    assert any(not np.allclose(v.float().numpy(), base[k].numpy(), atol=1e-3) for k, v in delta.items())

    loc = CueSpanLocalizer.from_pretrained(best, encoder=data.encoder)
    question = "how do i use the mask tool?"
    own, packaged = loc.question_vector(question), data.encoder.encode([question])[0]
    assert np.linalg.norm(own) == pytest.approx(1.0, abs=1e-4)
    assert not np.allclose(own, packaged, atol=1e-3) and float(own @ packaged) > 0.5
    tune_and_calibrate(run, data)
    qa = build_pipeline(data.corpus, "default", checkpoint=str(best), encoder=data.encoder)
    assert qa.ask(question, k=2)

    train(CueSpanTrainConfig(**{**run.to_dict(), "question_layers": 0}), data)  # a plain run into the same folder
    assert not (best / QUESTION_TOWER).exists() and load_question_tower(best) is None


def test_a_question_tower_folder_that_vcval_did_not_write_is_refused(tmp_path):
    from vcval.errors import NotFoundError
    from vcval.localization.cuespan import QUESTION_TOWER, load_question_tower

    (tmp_path / QUESTION_TOWER).mkdir()
    with pytest.raises(NotFoundError, match="question encoder"):
        load_question_tower(tmp_path)


def test_an_ensemble_recipe_with_question_towers_is_refused_before_any_training(tmp_path, capsys):
    """Ensemble members are served with one question encoder, so a recipe asking each seed for its own tower is
    refused when it is read: by the config, and by `vcval train cuespan` as a clear error before any work."""
    from vcval.cli import main

    with pytest.raises(ValueError, match="question encoder"):
        CueSpanTrainConfig(output=str(tmp_path / "ens"), ensemble_seeds=[1, 2], question_layers=2)
    recipe = tmp_path / "ens.json"
    recipe.write_text(json.dumps({"output": str(tmp_path / "ens"), "ensemble_seeds": [1, 2], "question_layers": 2}))
    assert main(["train", "cuespan", "--config", str(recipe)]) != 0
    assert "question encoder" in capsys.readouterr().err and not (tmp_path / "ens").exists()
