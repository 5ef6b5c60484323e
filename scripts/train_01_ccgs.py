"""Recipe 01: train CCGS on TutorialVQA (by-video split) from a JSON config.

    .venv/bin/python scripts/train_01_ccgs.py --config configs/ccgs_minilm.json
    # rerun the same command to resume from <out_dir>/last; the best dev checkpoint is <out_dir>/best
    # ship it:  cp <out_dir>/best/{config.json,model.safetensors} checkpoints/

Override any TrainConfig key with --set key=value (JSON values), e.g. --set max_steps=20.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vcval.training.trainer_ccgs import CCGSTrainer, TrainConfig  # noqa: E402


def parse_sets(pairs: list[str]) -> dict:
    out = {}
    for p in pairs:
        key, _, value = p.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, default=Path("configs/ccgs_minilm.json"))
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override TrainConfig keys")
    ap.add_argument("--model-set", nargs="*", default=[], metavar="KEY=VALUE", help="override CCGSConfig keys")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    cfg = TrainConfig.from_json(args.config)
    data = asdict(cfg)
    data.update(parse_sets(args.set))
    data["model"] = {**data["model"], **parse_sets(args.model_set)}
    cfg = TrainConfig(**data)
    result = CCGSTrainer(cfg, progress=not args.no_progress).train()
    logging.info("done: step %d, best dev %s = %.2f", result["step"], cfg.selection_metric, result["best"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
