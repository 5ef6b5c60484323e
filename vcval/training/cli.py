"""``vcval train ccgs`` (and scripts/train_01_ccgs.py): argument parsing without importing torch."""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, fields
from pathlib import Path

from vcval.errors import InvalidInputError

logger = logging.getLogger(__name__)


def _parse_sets(pairs: list[str]) -> dict:
    """``["key=value", ...]`` -> dict, values parsed as JSON when they are JSON (else kept as strings)."""
    out = {}
    for p in pairs:
        key, sep, value = p.partition("=")
        if not sep:
            raise InvalidInputError(f"--set expects KEY=VALUE, got {p!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def add_train_arguments(ap) -> None:
    """Arguments of ``vcval train ccgs`` / scripts/train_01_ccgs.py on an argparse parser."""
    ap.add_argument("--config", type=Path, default=Path("configs/ccgs_minilm.json"), help="TrainConfig JSON")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override TrainConfig keys (JSON values)")
    ap.add_argument("--model-set", nargs="*", default=[], metavar="KEY=VALUE", help="override CCGSConfig keys")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_train_command(args) -> int:
    """Train (or resume) from parsed :func:`add_train_arguments` args; returns an exit code."""
    from vcval.training.trainer_ccgs import CCGSTrainer, TrainConfig

    if not Path(args.config).is_file():
        raise InvalidInputError(f"training config {args.config} not found; see configs/ccgs_minilm.json")
    cfg = TrainConfig.from_json(args.config)
    data = asdict(cfg)
    data.update(_parse_sets(args.set))
    data["model"] = {**data["model"], **_parse_sets(args.model_set)}
    unknown = set(data) - {f.name for f in fields(TrainConfig)}
    if unknown:
        raise InvalidInputError(f"unknown TrainConfig keys {sorted(unknown)}")
    cfg = TrainConfig(**data)
    result = CCGSTrainer(cfg, progress=not args.no_progress).train()
    logger.info("done: step %d, best dev %s = %.2f; best checkpoint: %s", result["step"], cfg.selection_metric,
                result["best"], Path(cfg.out_dir) / "best")
    return 0


def add_cuespan_arguments(ap) -> None:
    """Arguments of ``vcval train cuespan``."""
    ap.add_argument("--config", type=Path, default=Path("configs/cuespan.json"), help="CueSpanTrainConfig JSON")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override recipe keys (JSON values)")
    ap.add_argument("--calibrate-only", action="store_true",
                    help="skip training: re-tune and re-calibrate <output>/best on dev")


def run_cuespan_command(args) -> int:
    """Train CueSpan, then tune and calibrate it on dev (:mod:`vcval.training.trainer_cuespan`)."""
    from vcval.training.trainer_cuespan import (
        CueSpanTrainConfig,
        TrainingData,
        train,
        train_ensemble,
        tune_and_calibrate,
    )

    if not Path(args.config).is_file():
        raise InvalidInputError(f"training config {args.config} not found; see configs/cuespan.json")
    data = json.loads(Path(args.config).read_text(encoding="utf-8"))
    data.update(_parse_sets(args.set))
    try:
        cfg = CueSpanTrainConfig.from_dict(data)
    except ValueError as err:
        raise InvalidInputError(str(err)) from err
    for path in (cfg.train, cfg.dev, cfg.transcripts, *([cfg.titles] if cfg.title_prob else [])):
        if not Path(path).exists():
            raise InvalidInputError(f"{path} not found: prepare the data with scripts/convert_tutorialvqa.py "
                                    "(see README, Training)")
    td = TrainingData(cfg.transcripts, cfg.features or None)
    if not args.calibrate_only and cfg.ensemble_seeds:
        summary = train_ensemble(cfg, td)
        logger.info("ensemble of seeds %s: best dev mIoU %s (%.0f s of training)", cfg.ensemble_seeds,
                    [m["best_dev_miou"] for m in summary["ensemble"]], summary["train_s"])
    elif not args.calibrate_only:
        summary = train(cfg, td)
        logger.info("best dev mIoU %.2f at step %d (%.0f s of training)", summary["best_dev_miou"],
                    summary["best_step"], summary["train_s"])
    report = tune_and_calibrate(cfg, td)
    logger.info("checkpoint ready: %s (threshold %.3f, dev ECE %.3f)", Path(cfg.output) / "best",
                report["threshold"], report["ece_rank1"])
    return 0


def add_repbert_arguments(ap) -> None:
    """Arguments of ``vcval train repbert``."""
    ap.add_argument("--config", type=Path, default=Path("configs/repbert.json"), help="RepBERTConfig JSON")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override config keys (JSON values)")


def run_repbert_command(args) -> int:
    """Fine-tune the packaged MiniLM as the RepBERT bi-encoder (:mod:`vcval.training.trainer_repbert`)."""
    from vcval.training.runtime import read_recipe, require_data
    from vcval.training.trainer_repbert import RepBERTConfig, RepBERTTrainer

    cfg = RepBERTConfig.from_dict(read_recipe(args.config, _parse_sets(args.set)))
    require_data((cfg.train_questions, cfg.dev_questions, cfg.train_transcripts, cfg.dev_transcripts))
    summary = RepBERTTrainer(cfg).train()
    logger.info("done: step %d, best dev video MRR %.2f; encoder: %s (use --method repbert --checkpoint %s)",
                summary["step"], summary["best_dev_MRR"], Path(cfg.out_dir) / "best", Path(cfg.out_dir) / "best")
    return 0


def add_rocketqa_arguments(ap) -> None:
    """Arguments of ``vcval train rocketqa``."""
    ap.add_argument("--config", type=Path, default=Path("configs/rocketqa.json"), help="RocketQAConfig JSON")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override config keys (JSON values)")


def run_rocketqa_command(args) -> int:
    """Train the RocketQAv2 retriever + re-ranker (:mod:`vcval.training.trainer_rocketqa`)."""
    from vcval.training.runtime import read_recipe, require_data
    from vcval.training.trainer_rocketqa import RocketQAConfig, RocketQATrainer

    cfg = RocketQAConfig.from_dict(read_recipe(args.config, _parse_sets(args.set)))
    require_data((cfg.train_questions, cfg.dev_questions, cfg.train_transcripts, cfg.dev_transcripts))
    summary = RocketQATrainer(cfg).train()
    best = Path(cfg.out_dir) / "best"
    logger.info("done: step %d, best dev re-ranked video MRR %.2f; checkpoint: %s (use --method rocketqa "
                "--checkpoint %s)", summary["step"], summary["best_dev_rr_MRR"], best, best)
    return 0


def add_mbvr_arguments(ap) -> None:
    """Arguments of ``vcval train mbvr``."""
    ap.add_argument("--config", type=Path, default=Path("configs/mbvr.json"), help="MBVRTrainConfig JSON")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override config keys (JSON values)")
    ap.add_argument("--model-set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="override MBVRConfig keys, e.g. use_shuffled=false dynamic_margin=false (ablations)")
    ap.add_argument("--features", type=Path, default=None,
                    help="folder of <video_id>.npy (T, D) frame features (overrides the config's features)")


def run_mbvr_command(args) -> int:
    """Train the MBVR towers (:mod:`vcval.training.trainer_mbvr`)."""
    from vcval.training.runtime import read_recipe, require_data

    data = read_recipe(args.config, _parse_sets(args.set))
    data["model"] = {**data.get("model", {}), **_parse_sets(args.model_set)}
    if args.features is not None:
        if not Path(args.features).is_dir():
            raise InvalidInputError(f"features folder {args.features} does not exist")
        data["features"] = str(args.features)
    from vcval.training.trainer_mbvr import MBVRTrainConfig, MBVRTrainer

    cfg = MBVRTrainConfig.from_dict(data)
    require_data((cfg.train_questions, cfg.dev_questions, cfg.train_transcripts, cfg.dev_transcripts))
    summary = MBVRTrainer(cfg).train()
    logger.info("done: step %d, best dev video MRR %.2f; towers: %s (use --method mbvr --checkpoint %s)",
                summary["step"], summary["best_dev_MRR"], Path(cfg.out_dir) / "best", Path(cfg.out_dir) / "best")
    return 0
