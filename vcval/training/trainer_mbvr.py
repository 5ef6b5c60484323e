"""MBVR training (``vcval train mbvr``): the towers of :mod:`vcval.models.mbvr` on (question, video) pairs.

Inputs are precomputed once and cached: the question's sentence vector, and per video its title vector
(optional) + the sentence vectors of the windows the corpus would index (same parsing, cleaning and
:class:`~vcval.ingest.windows.WindowConfig` as ``Corpus.add_transcript``), all by the packaged MiniLM
(:meth:`vcval.encoders.TextEncoder.load`, frozen), plus the video's frames from ``features`` (a folder of
``<video_id>.npy`` (T, D), e.g. the EfficientNet-Lite0 features ingest stores at 1 fps) when given.

One step (:func:`batch_loss`): B questions and their videos; in-batch InfoNCE over the B videos (modality
dropout applied; another question's copy of the same video is masked) + the modality-shuffled-negative hinge
with the dynamic margin (rows whose video has frames; see :class:`~vcval.models.mbvr.MBVRConfig`). Dev: video
R@1 / R@5 / MRR over the train + dev videos after every epoch; the best dev MRR is kept in ``best/`` (fp16
safetensors + config.json + mbvr.json, :meth:`MBVRModel.from_pretrained`). ``last/state.pt`` resumes at the
next epoch; ``log.jsonl`` has one row per logged step / dev evaluation.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vcval.errors import InvalidInputError
from vcval.evaluation.questions import load_questions, seeded_sample
from vcval.models.mbvr import (
    MBVRConfig,
    MBVRLoss,
    MBVRLossOutput,
    MBVRModel,
    VideoInputs,
    batch_videos,
    prepare_video,
    shuffle_partners,
)
from vcval.training.runtime import known_keys, load_training_state, save_training_state, seed_everything
from vcval.training.schedules import linear_warmup_decay

logger = logging.getLogger(__name__)


@dataclass
class MBVRTrainConfig:
    """One training run (JSON round-trip); ``model`` overrides :class:`MBVRConfig` keys.

    Ablation switches live in ``model``: use_shuffled (modality-shuffled negatives), dynamic_margin,
    use_visual (False = the text-only tower), modality_dropout.
    """

    train_questions: str = "data/tutorialvqa/train.json"
    train_transcripts: str = "data/tutorialvqa/transcripts"
    dev_questions: str = "data/tutorialvqa/dev.json"
    dev_transcripts: str = "data/tutorialvqa/transcripts"
    features: str = ""  # folder of <video_id>.npy (T, D) frame features; "" = none (text-only data)
    titles: str = ""  # videos.json with {video_id, title}: a title token per video (with model use_title)
    out_dir: str = "runs/mbvr"
    cache_dir: str = "runs/mbvr_cache"  # cached sentence vectors (keyed by content + encoder)
    seed: int = 13
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 20
    max_grad_norm: float = 1.0
    dev_limit: int = 0  # dev questions sampled (seeded) for the per-epoch metric; 0 = all
    log_every: int = 20
    num_threads: int = 1  # torch threads (0 = torch default)
    max_steps: int = 0  # > 0: stop after this many steps in all (tests, smoke runs)
    freeze_skip: bool = False  # keep the text skip paths (identity at init) fixed: train only what is fused on top
    model: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MBVRTrainConfig:
        known_keys(cls, data, "MBVR")
        cfg = cls(**data)
        cfg.model_config()  # unknown model keys fail early
        return cfg

    @classmethod
    def from_json(cls, path: str | Path) -> MBVRTrainConfig:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def model_config(self) -> MBVRConfig:
        try:
            return MBVRConfig.from_dict(dict(self.model))
        except ValueError as err:
            raise InvalidInputError(str(err)) from err


# --------------------------------------------------------------------------- one step
def batch_loss(model: MBVRModel, loss_fn: MBVRLoss, queries: np.ndarray, videos: Sequence[VideoInputs],
               keys: Sequence[Any], rng: np.random.Generator) -> MBVRLossOutput:
    """The training loss of B (question vector (B, text_dim), video, key) rows; ``keys[i]`` names row i's
    relevant video (same key = same video: masked as an in-batch negative, never a shuffled partner).

    Modality dropout (in-batch docs only): a row with both modalities loses its text or its frames with chance
    ``modality_dropout``. Shuffled negatives: row i's text with the frames of a row of another key
    (:func:`shuffle_partners`); the hinge compares it with the full video i.
    """
    cfg = model.config
    b = len(videos)
    has_frames = [cfg.use_visual and v.has_frames for v in videos]
    both = [f and len(v.text) > 0 for f, v in zip(has_frames, videos)]
    drop = rng.random(b) < cfg.modality_dropout
    text_side = rng.random(b) < 0.5
    drop_text = [bool(both[i] and drop[i] and text_side[i]) for i in range(b)]
    drop_frames = [bool(both[i] and drop[i] and not text_side[i]) for i in range(b)]
    q = model.embed_queries(torch.as_tensor(np.asarray(queries, np.float32)))  # (B, H)
    docs = model.embed_videos(**batch_videos(videos, cfg, drop_text=drop_text, drop_frames=drop_frames))  # (B, H)
    full = shuffled = vision = valid = None
    if cfg.use_shuffled and any(has_frames):
        partners = shuffle_partners(keys, has_frames, rng)  # (B,)
        valid = torch.from_numpy(partners >= 0)
        if bool(valid.any()):
            full = model.embed_videos(**batch_videos(videos, cfg))  # (B, H)
            shuffled = model.embed_videos(**batch_videos(videos, cfg, frames_of=partners.tolist()))  # (B, H)
            if cfg.dynamic_margin:
                with torch.no_grad():
                    vision = model.embed_videos(**batch_videos(videos, cfg, drop_text=[True] * b))  # (B, H)
    return loss_fn(q, docs, keys, full, shuffled, vision, valid)


def rank_metrics(scores: np.ndarray, gold: Sequence[int]) -> dict[str, float]:
    """Video R@1 / R@5 / R@10 / MRR (percent, :func:`vcval.evaluation.metrics.retrieval_metrics`) of the gold
    column ``gold[q]`` of each row of ``scores`` (Q, V). Ties rank the gold video last among its equals (a
    tower that embeds every video alike scores chance, not 100)."""
    from vcval.evaluation.metrics import retrieval_metrics

    preds, golds = [], []
    for row, g in zip(np.asarray(scores), gold):
        order = sorted(range(len(row)), key=lambda j: (-float(row[j]), j == g))
        preds.append([[str(j), 0.0, 0.0] for j in order])
        golds.append({"video_id": str(g), "answer_start_second": 0.0, "answer_end_second": 0.0})
    return retrieval_metrics(preds, golds)


# --------------------------------------------------------------------------- data
def _content_key(parts: Sequence[str], paths: Sequence[Path]) -> str:
    h = hashlib.sha256("\n".join(parts).encode())
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:20]


def encode_cached(texts: list[str], encoder: Any, cache: Path, key: str) -> np.ndarray:
    """``encoder.encode(texts)`` (N, D), cached in ``cache/<key>.npy``."""
    from vcval.utils import atomic_save_npy

    path = cache / f"{key}.npy"
    if path.is_file():
        vecs = np.load(path)
        if len(vecs) == len(texts):
            return vecs
    vecs = np.asarray(encoder.encode(texts), np.float32) if texts else np.zeros((0, int(encoder.dim)), np.float32)
    cache.mkdir(parents=True, exist_ok=True)
    atomic_save_npy(path, vecs)
    return vecs


def video_text_vectors(folder: str | Path, video_ids: set[str], encoder: Any, cache: Path,
                       titles: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    """Per video its text tokens (L, D): the title vector (when ``titles`` has one) then its window vectors."""
    from vcval.training.trainer_repbert import transcript_windows

    windows = transcript_windows(folder, video_ids)
    vids = sorted(windows)
    titles = titles or {}
    key = _content_key([str(encoder.fingerprint), json.dumps({v: titles.get(v, "") for v in vids})],
                       [Path(folder) / f"{v}.json" for v in vids])
    texts = [w.text for v in vids for w in windows[v]]
    vecs = encode_cached(texts, encoder, cache, f"windows-{key}")
    title_list = [titles[v] for v in vids if titles.get(v)]
    tvecs = encode_cached(title_list, encoder, cache, f"titles-{key}")
    out, start, ti = {}, 0, 0
    for v in vids:
        n = len(windows[v])
        parts = [vecs[start:start + n]]
        if titles.get(v):
            parts.insert(0, tvecs[ti:ti + 1])
            ti += 1
        out[v] = np.concatenate(parts, 0)
        start += n
    return out


def load_frames(folder: str | Path, video_id: str) -> np.ndarray | None:
    """``folder/<video_id>.npy`` (T, D) float32, or None."""
    path = Path(folder) / f"{video_id}.npy"
    return np.load(path).astype(np.float32) if folder and path.is_file() else None


# --------------------------------------------------------------------------- trainer
class MBVRTrainer:
    """Runs :class:`MBVRTrainConfig` on real question sets; :meth:`train` resumes from ``out_dir/last``."""

    def __init__(self, cfg: MBVRTrainConfig, encoder: Any = None) -> None:
        from vcval.encoders import TextEncoder

        self.cfg = cfg
        self.out = Path(cfg.out_dir)
        seed_everything(cfg.seed, cfg.num_threads)
        self.model_cfg = cfg.model_config()
        encoder = encoder or TextEncoder.load()
        if int(encoder.dim) != self.model_cfg.text_dim:
            raise InvalidInputError(f"the text encoder gives {encoder.dim}-d vectors, the model expects "
                                    f"text_dim={self.model_cfg.text_dim}")
        train_q = load_questions(cfg.train_questions)
        dev_q = load_questions(cfg.dev_questions)
        overlap = {q.video_id for q in train_q} & {q.video_id for q in dev_q}
        if overlap:
            raise InvalidInputError(f"{len(overlap)} videos are in both the train and the dev questions "
                                    f"(e.g. {sorted(overlap)[0]}); use a by-video split")
        titles = {}
        if cfg.titles and self.model_cfg.use_title:
            titles = {r["video_id"]: r.get("title") or "" for r in json.loads(Path(cfg.titles).read_text("utf-8"))}
        cache = Path(cfg.cache_dir)
        text = video_text_vectors(cfg.train_transcripts, {q.video_id for q in train_q}, encoder, cache, titles)
        text.update(video_text_vectors(cfg.dev_transcripts, {q.video_id for q in dev_q}, encoder, cache, titles))
        self.video_ids = sorted(text)
        frames = {v: load_frames(cfg.features, v) for v in self.video_ids} if cfg.features else {}
        if self.model_cfg.use_visual and not any(f is not None for f in frames.values()):
            # an untrained visual branch would only add noise to videos that do have frames at search time
            logger.info("no video has frames (features=%r): training the text-only tower (use_visual=False)",
                        cfg.features)
            self.model_cfg.use_visual = False
        self.videos = [prepare_video(text[v], frames.get(v), self.model_cfg) for v in self.video_ids]
        col = {v: i for i, v in enumerate(self.video_ids)}
        train_q = [q for q in train_q if q.video_id in col]
        if not train_q:
            raise InvalidInputError(f"no training questions with a transcript from {cfg.train_questions}")
        if cfg.dev_limit:
            dev_q = seeded_sample(dev_q, cfg.dev_limit, cfg.seed)
        dev_q = [q for q in dev_q if q.video_id in col]
        qvecs = encode_cached([q.question for q in train_q + dev_q], encoder, cache,
                              "questions-" + _content_key([str(encoder.fingerprint)] + [q.question for q in train_q + dev_q], []))
        self.train_vecs, self.dev_vecs = qvecs[:len(train_q)], qvecs[len(train_q):]
        self.train_gold = np.array([col[q.video_id] for q in train_q])
        self.dev_gold = [col[q.video_id] for q in dev_q]
        self.model = MBVRModel(self.model_cfg)
        self.loss_fn = MBVRLoss(self.model_cfg)
        self.batches_per_epoch = -(-len(train_q) // cfg.batch_size)
        total = cfg.epochs * self.batches_per_epoch
        self.total_steps = min(total, cfg.max_steps) if cfg.max_steps else total
        if cfg.freeze_skip:
            for name, param in self.model.named_parameters():
                if name.startswith(("query_skip.", "text_skip.")):
                    param.requires_grad_(False)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.params = params
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer,
                                                           linear_warmup_decay(cfg.warmup_steps, self.total_steps))
        self.step, self.epoch, self.best = 0, 0, -1.0
        self.history: list[dict[str, Any]] = []
        n_frames = sum(v.has_frames for v in self.videos)
        logger.info("MBVR: %d training questions, %d dev questions, %d videos (%d with frames), %d steps",
                    len(train_q), len(dev_q), len(self.videos), n_frames, self.total_steps)

    def evaluate(self, *, drop_text: bool = False, drop_frames: bool = False) -> dict[str, float]:
        """Dev video R@1 / R@5 / MRR over the train + dev videos (optionally with a modality removed)."""
        v = self.model.encode_videos(self.videos, drop_text=drop_text, drop_frames=drop_frames)  # (V, H)
        q = self.model.encode_queries(self.dev_vecs)  # (Q, H)
        return rank_metrics(q @ v.T, self.dev_gold)

    def _log(self, row: dict[str, Any]) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.out / "log.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")

    def save_state(self) -> None:
        """Model + optimiser + scheduler + position in ``last/state.pt`` (atomic; see
        :func:`~vcval.training.runtime.save_training_state`)."""
        save_training_state(self.out, self.model, self.optimizer, self.scheduler, step=self.step, epoch=self.epoch,
                            best=self.best, history=self.history)

    def load_state(self) -> bool:
        """Resume from ``last/state.pt``; False when there is none."""
        st = load_training_state(self.out, self.model, self.optimizer, self.scheduler)
        if st is None:
            return False
        self.step, self.epoch, self.best = int(st["step"]), int(st["epoch"]), float(st["best"])
        self.history = list(st["history"])
        logger.info("resumed from %s at step %d (epoch %d)", self.out / "last", self.step, self.epoch)
        return True

    def save_best(self, row: dict[str, Any]) -> None:
        """The towers with the best dev MRR, in ``best/`` (written to ``best.tmp`` then renamed)."""
        tmp = self.out / "best.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        self.model.save_pretrained(tmp, {"step": self.step, "epoch": self.epoch, "dev": row,
                                         "config": asdict(self.cfg), "trained_on": self.cfg.train_questions,
                                         "text_encoder": "packaged all-MiniLM-L6-v2 (frozen)"})
        best = self.out / "best"
        shutil.rmtree(best, ignore_errors=True)
        tmp.rename(best)

    def _dev(self, t0: float) -> None:
        metrics = self.evaluate()
        row = {"kind": "dev", "step": self.step, "epoch": self.epoch,
               "minutes": round((time.perf_counter() - t0) / 60, 2), **{k: round(v, 2) for k, v in metrics.items()}}
        self.history.append(row)
        self._log(row)
        logger.info("dev at epoch %d (step %d): video R@1 %.1f, R@5 %.1f, MRR %.1f", self.epoch, self.step,
                    metrics["R@1"], metrics["R@5"], metrics["MRR"])
        if self.step > 0 and metrics["MRR"] > self.best:
            self.best = metrics["MRR"]
            self.save_best(row)

    def train(self) -> dict[str, Any]:
        """Run (or resume) to the last epoch or ``max_steps``; returns a summary."""
        cfg = self.cfg
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(json.dumps(asdict(cfg), indent=1), encoding="utf-8")
        t0 = time.perf_counter()
        if not self.load_state():
            self._dev(t0)
        while self.epoch < cfg.epochs and not (cfg.max_steps and self.step >= cfg.max_steps):
            order = np.random.default_rng([cfg.seed, self.epoch]).permutation(len(self.train_gold))
            rng = np.random.default_rng([cfg.seed, self.epoch, 1])
            self.model.train()
            for s in range(0, len(order), cfg.batch_size):
                if cfg.max_steps and self.step >= cfg.max_steps:
                    break
                idx = order[s:s + cfg.batch_size]
                gold = self.train_gold[idx]
                out = batch_loss(self.model, self.loss_fn, self.train_vecs[idx], [self.videos[g] for g in gold],
                                 gold.tolist(), rng)
                self.optimizer.zero_grad(set_to_none=True)
                out.loss.backward()
                torch.nn.utils.clip_grad_norm_(self.params, cfg.max_grad_norm)
                self.optimizer.step()
                self.scheduler.step()
                self.step += 1
                if self.step % cfg.log_every == 0 or self.step == 1:
                    self._log({"kind": "train", "step": self.step, "epoch": self.epoch, "loss": float(out.loss.detach()),
                               "infonce": float(out.infonce.detach()), "shuffled": float(out.shuffled.detach()),
                               "margin": float(out.margin), "acc": float(out.acc.float().mean()),
                               "lr": self.scheduler.get_last_lr()[0]})
            self.epoch += 1
            self._dev(t0)
            self.save_state()
        return {"step": self.step, "best_dev_MRR": self.best, "history": self.history,
                "minutes": (time.perf_counter() - t0) / 60}
