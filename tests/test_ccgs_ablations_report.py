"""scripts/ccgs_ablations.py report: cached runs of every length are rendered, each in its own table."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from test_converters import load_script

from vcval.evaluation import metric_names

abl = load_script("ccgs_ablations")


def make_args(tmp_path: Path) -> argparse.Namespace:
    return argparse.Namespace(
        config="configs/ccgs_minilm.json", dev_limit=60, dev_k=3, pos_tokens=256, neg_tokens=128, n_hard=1,
        n_random=1, checkpoint=tmp_path / "no-checkpoint", n_videos=10, seed=7, steps=[100],
    )


def write_row(cache: Path, name: str, value: float) -> None:
    row = {"metrics": {m: value for m in metric_names()}, "steps": 1, "train_minutes": 2.0, "seconds_per_question": 1.0}
    (cache / f"{name}.json").write_text(json.dumps(row))


def test_report_renders_every_cached_run_length(tmp_path, monkeypatch):
    monkeypatch.setattr(abl, "CACHE", tmp_path)
    args = make_args(tmp_path)
    base = abl.TrainConfig.from_json(abl.ROOT / args.config)
    write_row(tmp_path, abl.ablation_key("baseline", base, args, 100), 20.0)
    write_row(tmp_path, abl.ablation_key("full", base, args, 100), 11.0)
    write_row(tmp_path, abl.ablation_key("rotary_off", base, args, 100), 12.0)
    write_row(tmp_path, abl.ablation_key("full", base, args, 300), 31.0)
    # a run of another recipe (other excerpt length) must not be mixed in
    other = argparse.Namespace(**{**vars(args), "pos_tokens": 512})
    write_row(tmp_path, abl.ablation_key("no_contrastive", base, other, 300), 99.0)

    cached = abl._cached_ablations(args)
    assert list(cached) == [100, 300]
    assert list(cached[100]) == ["baseline", "full", "rotary_off"]  # VARIANTS order
    assert list(cached[300]) == ["baseline", "full"]

    text = abl.render(args, None, None, cached, None)
    assert "### 100 training steps" in text and "### 300 training steps" in text
    assert "| full | 31.00" in text and "| rotary_off | 12.00" in text and "99.00" not in text
    assert "--steps 300 --variants no_contrastive independent_heads" in text  # what is missing, and how to add it


def test_recipe_tag_changes_with_run_length(tmp_path):
    args = make_args(tmp_path)
    base = abl.TrainConfig.from_json(abl.ROOT / args.config)
    assert abl.recipe_tag(base, args, 100) != abl.recipe_tag(base, args, 300)
    assert abl.ablation_key("baseline", base, args, 100) == abl.ablation_key("baseline", base, args, 300)
