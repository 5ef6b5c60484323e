"""Recipe 01: train CCGS on TutorialVQA (by-video split) from a JSON config.

    .venv/bin/python scripts/train_01_ccgs.py --config configs/ccgs_minilm.json
    # rerun the same command to resume from <out_dir>/last; the best dev checkpoint is <out_dir>/best
    # ship it:  cp <out_dir>/best/{config.json,model.safetensors} checkpoints/

Override any TrainConfig key with --set key=value (JSON values), e.g. --set max_steps=20, and
CCGSConfig keys with --model-set, e.g. --model-set use_rotary=false.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vcval.training.cli import add_train_arguments, run_train_command  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_train_arguments(ap)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return run_train_command(args)


if __name__ == "__main__":
    raise SystemExit(main())
