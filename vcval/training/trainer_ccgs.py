"""Training recipe for CCGS: seeded, resumable, dev evaluation each epoch, best checkpoint kept.

Layout of ``out_dir``: ``train_config.json``, ``log.jsonl`` (one line per logged step/eval),
``last/`` (model + optimizer + scheduler + step, for resuming), ``best/`` (save_pretrained
checkpoint with the best dev ``selection_metric``), ``dev_metrics.json``.
"""
from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vcval.errors import InvalidInputError
from vcval.evaluation.questions import load_questions
from vcval.evaluation.runner import evaluate_corpus
from vcval.localization.ccgs import INFERENCE_FILE, CCGSInference, CCGSLocalizer
from vcval.models.ccgs.configuration_ccgs import CCGSConfig
from vcval.models.ccgs.inputs import spec_from_tokenizer
from vcval.models.ccgs.modeling_ccgs import CCGSModel, load_tokenizer
from vcval.training.collators import CCGSCollator
from vcval.training.datasets import CCGSTrainDataset, load_transcripts, split_examples
from vcval.training.schedules import linear_warmup_decay
from vcval.utils import resolve_device

logger = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """One training run (JSON round-trip; ``model`` holds CCGSConfig fields)."""

    model: dict = field(default_factory=dict)
    train_questions: str = "data/tutorialvqa/train.json"
    train_transcripts: str = "data/tutorialvqa/transcripts"
    dev_questions: str = "data/tutorialvqa/dev.json"
    dev_transcripts: str = "data/tutorialvqa/transcripts"
    out_dir: str = "runs/ccgs"
    seed: int = 13
    max_steps: int = 1000
    steps_per_epoch: int = 250  # dev evaluation + checkpoint after every epoch
    max_minutes: float = 0.0  # wall-clock budget (0 = none): stop, evaluate and save when it runs out
    questions_per_step: int = 1
    grad_accum: int = 2
    lr_encoder: float = 3e-5
    lr_head: float = 5e-4
    weight_decay: float = 0.01
    warmup_steps: int = 50
    max_grad_norm: float = 1.0
    n_hard: int = 2
    n_random: int = 1
    hard_pool: int = 8
    neg_max_tokens: int = 0  # > 0: negatives are cut to an excerpt of this many tokens (cheaper steps)
    pos_max_tokens: int = 0  # > 0: the positive is cut to an excerpt of this many tokens holding the answer
    dev_limit: int = 150
    dev_k_videos: int = 5
    dev_weights: list = field(default_factory=lambda: [0.0])
    selection_metric: str = "Rank@1 mIoU"
    bf16: bool = True
    num_threads: int = 0  # 0 = torch default
    device: str = "auto"
    save_every: int = 50
    log_every: int = 10

    @classmethod
    def from_json(cls, path: str | Path) -> TrainConfig:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InvalidInputError(f"unknown keys in {path}: {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class CCGSTrainer:
    """Runs :class:`TrainConfig`. ``train()`` resumes from ``out_dir/last`` when it exists."""

    def __init__(self, cfg: TrainConfig, *, model_config: CCGSConfig | None = None, progress: bool = True) -> None:
        self.cfg = cfg
        self.progress = progress
        if cfg.num_threads > 0:
            torch.set_num_threads(cfg.num_threads)
        seed_everything(cfg.seed)
        self.out = Path(cfg.out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.device = torch.device(resolve_device(cfg.device))
        mc = model_config or CCGSConfig.from_dict(cfg.model)
        self.model = CCGSModel(mc).to(self.device)
        self.tokenizer = load_tokenizer(mc)
        self.spec = spec_from_tokenizer(self.tokenizer, mc.max_len, mc.overlap_tokens, mc.max_question_tokens)
        train_q = load_questions(cfg.train_questions)
        train_tr = load_transcripts(cfg.train_transcripts, {q.video_id for q in train_q})
        self.dataset = CCGSTrainDataset(
            train_q, train_tr, n_hard=cfg.n_hard, n_random=cfg.n_random, hard_pool=cfg.hard_pool, seed=cfg.seed
        )
        self.collator = CCGSCollator(self.tokenizer, mc, self.spec, train_tr, neg_max_tokens=cfg.neg_max_tokens,
                                     pos_max_tokens=cfg.pos_max_tokens)
        self.dev_q, self.dev_tr = [], {}
        if cfg.dev_questions:
            dev_all = load_questions(cfg.dev_questions)
            self.dev_tr = load_transcripts(cfg.dev_transcripts, {q.video_id for q in dev_all})
            leak = set(self.dev_tr) & set(train_tr)
            if leak:
                raise InvalidInputError(f"{len(leak)} dev videos are also training videos (e.g. {sorted(leak)[0]}); split by video")
            self.dev_q = split_examples([q for q in dev_all if q.video_id in self.dev_tr], cfg.dev_limit, cfg.seed)
        head = [p for n, p in self.model.named_parameters() if p.requires_grad and not n.startswith("encoder.")]
        enc = [p for n, p in self.model.named_parameters() if p.requires_grad and n.startswith("encoder.")]
        groups = [{"params": head, "lr": cfg.lr_head}]
        if enc:
            groups.append({"params": enc, "lr": cfg.lr_encoder})
        self.optimizer = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, linear_warmup_decay(cfg.warmup_steps, cfg.max_steps))
        self.step = 0
        self.best = -math.inf
        self.history: list[dict[str, Any]] = []

    # ----------------------------------------------------------------- data order
    def items_for_step(self, step: int) -> list[list]:
        """Micro-batches of step ``step``: a pure function of (seed, step), so resuming replays exactly."""
        per_step = self.cfg.questions_per_step * self.cfg.grad_accum
        n = len(self.dataset)
        micro, out = [], []
        for k in range(per_step):
            pos = step * per_step + k
            epoch, r = divmod(pos, n)
            perm = np.random.default_rng(self.cfg.seed + 1000 * epoch).permutation(n)
            self.dataset.set_epoch(epoch)
            micro.append(self.dataset[int(perm[r])])
            if len(micro) == self.cfg.questions_per_step:
                out.append(micro)
                micro = []
        return out

    # ----------------------------------------------------------------- state
    def save_state(self) -> None:
        d = self.out / "last"
        d.mkdir(parents=True, exist_ok=True)
        trainable = {n: p.detach().cpu() for n, p in self.model.named_parameters() if p.requires_grad}
        torch.save(
            {
                "model": trainable,
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "step": self.step,
                "best": self.best,
                "history": self.history,
                "torch_rng": torch.get_rng_state(),
            },
            d / "state.pt.tmp",
        )
        (d / "state.pt.tmp").replace(d / "state.pt")

    def load_state(self) -> bool:
        path = self.out / "last" / "state.pt"
        if not path.exists():
            return False
        st = torch.load(path, map_location="cpu", weights_only=True)
        missing = self.model.load_state_dict(st["model"], strict=False)
        if missing.unexpected_keys:
            raise InvalidInputError(f"{path} does not match this model config: {missing.unexpected_keys[:3]}")
        self.optimizer.load_state_dict(st["optimizer"])
        self.scheduler.load_state_dict(st["scheduler"])
        self.step, self.best, self.history = st["step"], st["best"], st["history"]
        torch.set_rng_state(st["torch_rng"])
        logger.info("resumed from %s at step %d", path, self.step)
        return True

    def _log(self, row: dict[str, Any]) -> None:
        with open(self.out / "log.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")

    # ----------------------------------------------------------------- loop
    def train_step(self, step: int) -> dict[str, float]:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        sums = {"loss": 0.0, "loss_span": 0.0, "loss_contrastive": 0.0}
        micro = self.items_for_step(step)
        for items in micro:
            batch = {k: v.to(self.device) for k, v in self.collator(items).items()}
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg.bf16):
                out = self.model(**batch)
            (out.loss / len(micro)).backward()
            for k in sums:
                sums[k] += float(getattr(out, k).detach()) / len(micro)
        torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad], self.cfg.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        return sums

    def evaluate(self) -> dict[str, Any]:
        """Dev metrics (per retrieval-fusion weight) with the current weights."""
        if not self.dev_q:
            return {}
        self.model.eval()
        loc = CCGSLocalizer(self.model, self.tokenizer, self.device, batch_size=8,
                            precision="bf16" if self.cfg.bf16 else "fp32")
        res = evaluate_corpus(loc, self.dev_q, self.dev_tr, k_videos=self.cfg.dev_k_videos, weights=self.cfg.dev_weights)
        best_w = max(res.metrics, key=lambda w: res.metrics[w][self.cfg.selection_metric])
        return {"weights": {str(w): m for w, m in res.metrics.items()}, "best_weight": best_w,
                "score": res.metrics[best_w][self.cfg.selection_metric], "seconds_per_question": res.seconds_per_question}

    def train(self, steps: int | None = None) -> dict[str, Any]:
        """Run (or resume) to ``max_steps`` or the time budget; returns the best dev result.

        ``steps``: stop after this many steps of this call (state saved; a later call resumes).
        """
        from tqdm.auto import tqdm

        (self.out / "train_config.json").write_text(json.dumps(asdict(self.cfg), indent=2))
        self.load_state()
        t0 = time.monotonic()
        bar = tqdm(total=self.cfg.max_steps, initial=self.step, disable=not self.progress, desc="ccgs", dynamic_ncols=True)
        ema = None
        stop = False
        first = self.step
        while self.step < self.cfg.max_steps and not stop:
            logs = self.train_step(self.step)
            self.step += 1
            ema = logs["loss"] if ema is None else 0.95 * ema + 0.05 * logs["loss"]
            bar.update(1)
            bar.set_postfix(loss=f"{ema:.3f}")
            if self.step % self.cfg.log_every == 0:
                self._log({"step": self.step, **logs, "loss_ema": ema, "lr": self.scheduler.get_last_lr(),
                           "elapsed_s": round(time.monotonic() - t0, 1)})
            stop = self.cfg.max_minutes > 0 and (time.monotonic() - t0) / 60 >= self.cfg.max_minutes
            if self.step % self.cfg.steps_per_epoch == 0 or self.step == self.cfg.max_steps or stop:
                self._end_epoch()
            elif self.step % self.cfg.save_every == 0:
                self.save_state()
            if steps is not None and self.step - first >= steps and not stop:
                self.save_state()
                break
        bar.close()
        return {"best": self.best, "step": self.step, "history": self.history}

    def _end_epoch(self) -> None:
        ev = self.evaluate()
        row = {"step": self.step, "eval": ev}
        self.history.append(row)
        self._log(row)
        if ev:
            logger.info("step %d dev %s = %.2f (weight %s)", self.step, self.cfg.selection_metric, ev["score"], ev["best_weight"])
        if not ev or ev["score"] > self.best:
            self.best = ev.get("score", self.best)
            self.model.save_pretrained(self.out / "best")
            if ev:  # the dev-chosen fusion weight travels with the checkpoint
                CCGSInference(retrieval_weight=float(ev["best_weight"])).to_json(self.out / "best" / INFERENCE_FILE)
            (self.out / "dev_metrics.json").write_text(json.dumps(row, indent=2))
        self.save_state()
