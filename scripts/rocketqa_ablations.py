#!/usr/bin/env python
"""The RocketQAv2 ablations side by side: each run's dual encoder on ALL TutorialVQA by-video dev questions,
beside the trainer's own dev log (100 questions, retriever alone and re-ranked).

    .venv/bin/python scripts/rocketqa_ablations.py full=runs/rq_abl_full2 no-distill=runs/rq_abl_nodistill \\
        no-denoise=runs/rq_abl_nodenoise --out benchmarks/rocketqa_ablations.md

Each NAME=RUN is a ``vcval train rocketqa`` output folder: its ``final/`` checkpoint (the models as the run
ended), else ``best/`` when that was saved at the run's last dev step. Every run must share one
``warm_start`` (the same warm-up re-ranker) and one number of joint steps, so that the switch named is the
only difference; the script refuses runs that do not. Row ``packaged`` is the untrained MiniLM (the
retriever every run starts from). Dev only: no test set is read.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

logger = logging.getLogger("rocketqa_ablations")

# what every compared run must share: only the ablation switches (distill, denoise) may differ
SHARED = ("warm_start", "warmup_steps", "joint_steps", "seed", "list_size", "denoised", "ce_head")


def checkpoint_of(run: Path) -> tuple[Path, dict[str, Any]]:
    """(checkpoint folder, its rocketqa.json record): ``final/``, else a ``best/`` saved at the last dev step."""
    from vcval.models.reranker import ROCKETQA_MARKER

    devs = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if '"dev"' in line]
    last = devs[-1]["step"] if devs else None
    for sub in ("final", "best"):
        marker = run / sub / ROCKETQA_MARKER
        if marker.is_file():
            record = json.loads(marker.read_text())
            if sub == "final" or record["step"] == last:
                return run / sub, record
    raise SystemExit(f"{run}: no final/ checkpoint and best/ is not the last dev step ({last}); rerun it")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="NAME=RUN_FOLDER")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "rocketqa_ablations.md")
    args = ap.parse_args()
    from vcval.utils import setup_script_logging

    setup_script_logging()

    from vcval.encoders import TextEncoder, load_repbert
    from vcval.training.trainer_repbert import RetrievalSplit, video_metrics

    runs = []
    for item in args.runs:
        name, sep, folder = item.partition("=")
        if not sep or not (Path(folder) / "log.jsonl").is_file():
            raise SystemExit(f"{item!r}: give NAME=RUN, RUN a `vcval train rocketqa` output folder (with log.jsonl)")
        ckpt, record = checkpoint_of(Path(folder))
        runs.append((name, Path(folder), ckpt, record))
    cfgs = [r[3]["config"] for r in runs]
    shared = {k: cfgs[0].get(k) for k in SHARED}
    for (name, *_), cfg in zip(runs, cfgs):
        diff = {k: cfg.get(k) for k in shared if cfg.get(k) != shared[k]}
        if diff:
            raise SystemExit(f"run {name} differs in more than the ablation switches: {diff}")
    cfg = SimpleNamespace(**{**cfgs[0], "dev_limit": 0})
    split = RetrievalSplit.load(cfg)
    gold = [q.video_id for q in split.dev_questions]
    questions = [q.question for q in split.dev_questions]
    logger.info("%d dev questions over %d windows", len(gold), len(split.dev_texts))

    def dev_all(encoder: Any) -> dict[str, float]:
        return video_metrics(encoder.encode(questions), encoder.encode(split.dev_texts), split.dev_videos, gold)

    rows = [("packaged (untrained MiniLM)", "-", "-", dev_all(TextEncoder.load(None)), None)]
    for name, _, ckpt, record in runs:
        c = record["config"]
        metrics = dev_all(load_repbert(ckpt / "retriever", device="cpu"))
        logger.info("%s: %s", name, metrics)
        rows.append((name, str(c["distill"]).lower(), str(c["denoise"]).lower(), metrics, record["dev"]))
    warm = runs[0][3]["config"]
    lines = [
        "# RocketQAv2 ablations (issue 11)",
        "",
        "`.venv/bin/python scripts/rocketqa_ablations.py " + " ".join(args.runs) + "`",
        "",
        f"Every run continues the same warm-up re-ranker (`{warm['warm_start']}`, {warm['warmup_steps']} steps) with "
        f"{warm['joint_steps']} joint steps of {warm['batch_size']} questions x lists of {warm['list_size']} (seed "
        f"{warm['seed']}); only `distill` / `denoise` differ. `distill=false`: the two models trained apart on the same "
        "lists (each on its own cross-entropy), `denoise=false`: the lists' hard negatives are the retriever's top "
        "windows as mined, without dropping those the re-ranker scores above the answer.",
        "",
        f"Dual encoder alone, video R@1 / R@5 / MRR (%) over ALL {len(gold)} TutorialVQA by-video dev questions "
        f"(videos ranked by their best window among the {len(split.dev_texts)} windows of the train + dev videos); "
        "then the trainer's own dev at the run's end: 100 sampled dev questions, retriever alone and re-ranked "
        "(the re-ranker re-scores the retriever's top 20 windows).",
        "",
        "| run | distill | denoise | dev all R@1 | R@5 | MRR | dev 100: retriever R@1 / MRR | re-ranked R@1 / MRR |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, distill, denoise, m, log in rows:
        tail = (f"{log['de_R@1']:.1f} / {log['de_MRR']:.1f} | {log['rr_R@1']:.1f} / {log['rr_MRR']:.1f}"
                if log else "- | -")
        lines.append(f"| {name} | {distill} | {denoise} | {m['R@1']:.2f} | {m['R@5']:.2f} | {m['MRR']:.2f} | {tail} |")
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
