"""Train the CueSpan localizer on CPU, then choose its serving settings and calibrate it on dev.

    vcval train cuespan --config configs/cuespan.json

Data: the labelled questions of ``train`` over the corpus of every transcript in ``transcripts``
(built once, exactly as ``vcval eval`` builds it, so training reads the unit encodings that
serving reads). Per step: ``batch`` questions, each with its video (positive row: the target is
the unit span best matching the answer), ``hard_negatives`` videos that whole-transcript BM25
ranks high for the question and ``random_negatives`` others (Loss2 rows). AdamW, linear warm-up,
cosine decay, gradient clipping; the dev metric (mIoU inside the right video) every
``eval_every`` steps goes to ``curve.csv``; the best step is kept in ``<output>/best`` (fp16).

:func:`tune_and_calibrate` then asks the dev questions through the real pipeline and writes
``inference.json``: the retrieval weight, the confidence calibrator (fitted on dev answers to
real questions, to the same questions with their video removed from the corpus (near-miss) and
to out-of-domain questions (off-topic)) and the ``confident`` threshold.
"""
from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import random
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from vcval.config import JsonConfig, cache_root
from vcval.evaluation.questions import Question, load_questions

logger = logging.getLogger(__name__)

TITLE_TEMPLATES = ("{q} to {t}?", "{q} for {t}?", "{t}: {q}?", "{q} ({t})?")  # title_prob's question forms


@dataclass
class CueSpanTrainConfig(JsonConfig):
    """A CueSpan training recipe (paths relative to the working directory)."""

    transcripts: str = "data/tutorialvqa/transcripts"
    features: str = ""  # folder of <video_id>.npy (T, D) frame features at 1 fps; set model.visual_dim = D to fuse them
    train: str = "data/tutorialvqa/train.json"
    dev: str = "data/tutorialvqa/dev.json"
    offtopic_dev: str = ""  # questions (any answer fields ignored) whose answer is not in the corpus
    output: str = "runs/cuespan"
    steps: int = 400
    batch: int = 16
    hard_negatives: int = 2
    random_negatives: int = 1
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup: int = 100
    eval_every: int = 100
    seed: int = 0
    crop: int = 64
    threads: int = 1
    coarsen_prob: float = 0.0  # granularity augmentation: share of training questions whose videos' units are
    # merged into random runs of 1..coarsen_max (see coarsen), so answer lengths cannot be learned in units
    coarsen_max: int = 3
    asr_transcripts: str = ""  # auto-caption-style copies of `transcripts` (same ids and times, made by
    # scripts/asr_style.py): lower case, no punctuation, short rolling cues, as most YouTube medical videos have
    asr_prob: float = 0.0  # caption-style augmentation: share of training questions whose rows (answer video and
    # Loss2 negatives) are read from the asr_transcripts copy instead
    skip_first_units: int = 1  # serve with no span starting on a video's first sentence (see CueSpanInference)
    fact_max_units: int = 2  # serve questions that ask for one fact ("where", "how long", "should I") spans of at
    # most this many sentences (CueSpanInference.fact_max_units; 0 = the model's lengths for every question)
    meta_edges: bool = True  # serve no span that starts or ends on talk about the video itself (CueSpanInference)
    goal_split: bool = True  # place a "how ... <step> to <goal>?" question's spans by its step (CueSpanInference)
    title_prob: float = 0.0  # topic augmentation: share of training questions asked restating their video's
    # title (with_title, a random TITLE_TEMPLATES form), as medical questions restate the video's topic
    # ("How to perform wrist extensions to fix wrist pain?"), so the topic words stop pulling spans to the intro
    titles: str = "data/tutorialvqa/videos.json"  # [{video_id, title}] for title_prob
    long_prob: float = 0.0  # long-video augmentation: share of training questions whose answer video is played
    # among long_around other training videos as one long video (the crop then keeps `crop` units around the
    # answer, so the row costs no more), as medical videos run to 800 s and 270 sentences
    long_around: int = 2
    question_layers: int = 0  # > 0: the localizer gets its own question encoder, the packaged MiniLM with its top
    # question_layers layers fine-tuned jointly with the head (the units keep the packaged encoder's stored
    # vectors), saved as a delta in <output>/best/question_tower (see vcval.localization.cuespan.QUESTION_TOWER)
    question_lr: float = 3e-5  # learning rate of those layers
    length_prior: str = "data/medvidqa/priors.json"  # answer length vs video length of the served domain
    # (scripts/convert_medvidqa.py: a fit over the 2,710 MedVidQA train annotations); "" = no length tilt,
    # see CueSpanInference.target_length_median_s
    model: dict = field(default_factory=lambda: {"dropout": 0.25})
    ensemble_seeds: list[int] = field(default_factory=list)  # non-empty: train one model per seed (each into
    # <output>/seed-<s>, best dev step kept) and serve them as one ensemble in <output>/best (see train_ensemble)

    def __post_init__(self) -> None:
        if self.ensemble_seeds and self.question_layers > 0:  # each seed would train its own question encoder
            raise ValueError("an ensemble recipe cannot train question towers (question_layers > 0): its members "
                             "share one question encoder; set question_layers to 0 or train a single seed")


class TrainingData:
    """Corpus, unit encodings, IDF and question vectors for one transcripts folder."""

    def __init__(self, transcripts: str | Path, features: str | Path | None = None) -> None:
        from vcval.evaluation.runner import Evaluator

        self.corpus = Evaluator(transcripts, features or None).corpus
        self.encoder = self.corpus.text_encoder
        t0 = time.time()
        self.units = {vid: self.corpus.unit_encodings(vid) for vid in self.corpus.video_ids()}
        self._visual: dict[str, Any] = {}
        self.idf = self.corpus.word_idf()
        logger.info("unit encodings of %d videos ready in %.1f s", len(self.units), time.time() - t0)

    def question_vectors(self, questions: list[Question]) -> np.ndarray:
        """(Q, D) question vectors, cached on disk by (encoder, texts)."""
        texts = [q.question for q in questions]
        digest = hashlib.sha256(json.dumps([self.encoder.name, texts]).encode()).hexdigest()[:24]
        path = cache_root() / "training" / f"questions-{digest}.npy"
        if path.is_file():
            return np.load(path)
        vectors = np.asarray(self.encoder.encode(texts), np.float32)
        from vcval.utils import atomic_save_npy

        atomic_save_npy(path, vectors)
        return vectors

    def visual(self, vid: str, dim: int, units: Any = None) -> tuple[np.ndarray, np.ndarray] | None:
        """The video's frame features pooled per unit (see ``pool_frames``; ``units`` default: its stored
        units) when the model has a visual branch of size ``dim`` and the corpus has frames of that size."""
        if not dim:
            return None
        from vcval.models.cuespan import pool_frames

        if units is not None:
            feats = self.corpus.features(vid)
            if feats is None or feats.ndim != 2 or feats.shape[1] != dim:
                return None
            return pool_frames(feats, units.starts, units.ends)
        if vid not in self._visual:
            feats = self.corpus.features(vid)
            ok = feats is not None and feats.ndim == 2
            self._visual[vid] = pool_frames(feats, self.units[vid].starts, self.units[vid].ends) if ok else None
        pooled = self._visual[vid]
        return pooled if pooled is not None and pooled[0].shape[1] == dim else None

    def lexical(self, question: str, vid: str, units: Any = None, *, within_video: bool = False) -> np.ndarray:
        """(U,) lexical overlap of the question with the video's units (``units`` default: the stored ones);
        ``within_video``: the model's ``lexical_video_idf`` (see :func:`lexical_overlap`)."""
        from vcval.corpus.encodings import content_words, lexical_overlap, question_weights

        words = (units if units is not None else self.units[vid]).words
        return lexical_overlap(question_weights(content_words(question), self.idf), words,
                               within_video=within_video)

    def row(self, question: str, q_vec: np.ndarray, vid: str, visual_dim: int, group: int, *, target: Question | None = None,
            max_span: int = 0, coarsen: tuple[random.Random, int] | None = None, within_video: bool = False,
            around: tuple[list[str], int] | None = None) -> Any:
        """One training :class:`Row` for (question, video): the positive row (target cell from ``target``) or a
        negative one; ``coarsen`` = (rng, max run) merges the video's units into random runs first; ``around`` =
        (other video ids, position) plays the video among those as one long video (:meth:`long_units`; no
        frames), the target moved with it."""
        from vcval.models.cuespan.inputs import Row

        units = coarsen_units(self.units[vid], *coarsen) if coarsen is not None else self.units[vid]
        if around is not None:
            units, shift = self.long_units(units, *around)
            if target is not None:
                target = replace(target, start=target.start + shift, end=target.end + shift)
        cell = target_cell(units, target, max_span) if target is not None else None
        merged = units if coarsen is not None else None  # the stored units keep their cached frame pooling
        return Row(q_vec, units, self.lexical(question, vid, units, within_video=within_video), cell, group,
                   visual=None if around is not None else self.visual(vid, visual_dim, merged),
                   answer=(target.start, target.end) if target is not None else None)

    def long_units(self, units: Any, others: list[str], position: int) -> tuple[Any, float]:
        """``units`` played at ``position`` among the stored units of the ``others`` videos, as one long video
        (:func:`vcval.corpus.encodings.concat_units`); returns it and the seconds its times moved by."""
        from vcval.corpus.encodings import concat_units

        parts = [self.units[v] for v in others]
        parts.insert(position, units)
        long, offsets = concat_units(parts)
        return long, offsets[position]


def coarsen_units(units: Any, rng: random.Random, max_run: int) -> Any:
    """``units`` merged into consecutive runs of 1..``max_run`` units, sizes drawn uniformly (granularity
    augmentation: sentence segmentation differs between subtitle sources, so a span's unit count says
    little about its length in another domain; see :func:`vcval.corpus.encodings.merge_unit_runs`)."""
    from vcval.corpus.encodings import merge_unit_runs

    sizes, left = [], len(units)
    while left > 0:
        sizes.append(min(left, rng.randint(1, max(1, max_run))))
        left -= sizes[-1]
    return merge_unit_runs(units, sizes)


def load_titles(path: str | Path) -> dict[str, str]:
    """{video_id: title} of a ``[{video_id, title}]`` JSON file (``data/<set>/videos.json``)."""
    return {str(v["video_id"]): str(v.get("title") or "") for v in json.loads(Path(path).read_text(encoding="utf-8"))}


def with_title(question: str, title: str, template: str = TITLE_TEMPLATES[0]) -> str:
    """``question`` restating its video's topic in ``template`` ({q}: the question without its "?", {t}: the title,
    first letter lower-cased), as medical questions do: "How to perform wrist extensions to fix wrist pain?"."""
    if not title.strip():
        return question
    title = title.strip()
    return template.format(q=question.rstrip().rstrip("?").rstrip(), t=title[0].lower() + title[1:])


def titled_questions(questions: list[Question], titles: dict[str, str], template: str = TITLE_TEMPLATES[0], *,
                     rng: random.Random | None = None) -> list[Question]:
    """``questions`` asked restating their video's title (:func:`with_title`, ``titles``: {video_id: title}) in
    ``template``, or with ``rng`` in a random :data:`TITLE_TEMPLATES` form each (drawn in order); answers kept."""
    return [replace(q, question=with_title(q.question, titles.get(q.video_id, ""),
                                           rng.choice(TITLE_TEMPLATES) if rng is not None else template))
            for q in questions]


def target_cell(units: Any, q: Question, max_span: int) -> tuple[int, int]:
    """The unit span (first, last), at most ``max_span`` units, best matching the answer by IoU."""
    from vcval.localization.spans import best_target_cell

    n = len(units.starts)
    off = np.arange(n)[None, :] - np.arange(n)[:, None]  # (N, N): j - i
    i, j, _ = best_target_cell(units.starts, units.ends, q.start, q.end, valid=(off >= 0) & (off < max_span))
    return i, j


def long_layout(questions: list[Question], pool: list[str], n: int, seed: int = 0) -> list[tuple[list[str], int]]:
    """The long-video probe's layout (:func:`oracle_eval` ``around``), the same for every model (seeded): for each
    question, ``n`` videos of ``pool`` other than its own and its video's position (0..n) among them."""
    rng = random.Random(seed)
    layout = []
    for q in questions:
        candidates = [v for v in pool if v != q.video_id]
        if len(candidates) < n:
            raise ValueError(f"the long-video probe needs {n} other videos per question; the pool has "
                             f"{len(candidates)} besides {q.video_id}: lower --around")
        others = rng.sample(candidates, n)
        layout.append((others, rng.randint(0, n)))
    return layout


def oracle_eval(model: Any, data: TrainingData, questions: list[Question], qvec: np.ndarray,
                chunk: int = 32, around: list[tuple[list[str], int]] | None = None,
                per_question: list[float] | None = None) -> dict[str, float]:
    """mIoU / IoU>=0.5 (in %) and median span length of the best span inside each question's own video.

    around: per question (other video ids, position): its video is played among those as one long video
    (:func:`long_layout`), the long-video probe; per_question: a list that receives each question's IoU."""
    import torch

    from vcval.localization.spans import temporal_iou
    from vcval.models.cuespan.inputs import Row, build_batch

    model.eval()
    ious, lengths = [], []
    with torch.inference_mode():
        dim = int(getattr(model.config, "visual_dim", 0) or 0)
        within = bool(getattr(model.config, "lexical_video_idf", False))
        for s in range(0, len(questions), chunk):
            part = questions[s: s + chunk]
            units, shifts = [], []
            for r, q in enumerate(part):
                u, shift = data.units[q.video_id], 0.0
                if around is not None:
                    u, shift = data.long_units(u, *around[s + r])
                units.append(u)
                shifts.append(shift)
            rows = [Row(qvec[s + r], units[r], data.lexical(q.question, q.video_id, units[r], within_video=within),
                        visual=None if around is not None else data.visual(q.video_id, dim))
                    for r, q in enumerate(part)]
            kwargs, _ = build_batch(rows)
            kwargs.pop("labels"), kwargs.pop("groups")
            band = model(**kwargs, return_full=False).band  # (B, N, W)
            w = band.shape[2]
            best = band.reshape(len(part), -1).argmax(1)
            for r, q in enumerate(part):
                i, o = divmod(int(best[r]), w)
                u = units[r].units
                span = (u[i].start, u[i + o].end)
                ious.append(temporal_iou(span, (q.start + shifts[r], q.end + shifts[r])))
                lengths.append(span[1] - span[0])
    iou = np.array(ious)
    if per_question is not None:
        per_question.extend(float(x) for x in iou)
    return {"miou": 100 * float(iou.mean()), "iou50": 100 * float((iou >= 0.5).mean()),
            "median_len_s": float(np.median(lengths))}


def asr_data(cfg: CueSpanTrainConfig, train_videos: list[str]) -> TrainingData | None:
    """The caption-style copy of the training corpus when the recipe augments with it (``asr_prob > 0``), else
    None. Raises ValueError when the copy lacks a training video (it must be made from the same folder)."""
    if not cfg.asr_prob:
        return None
    if not cfg.asr_transcripts:
        raise ValueError("asr_prob > 0 needs asr_transcripts: make the copy with "
                         f"`python scripts/asr_style.py {cfg.transcripts} DIR` and set asr_transcripts to DIR")
    asr = TrainingData(cfg.asr_transcripts)
    missing = sorted(set(train_videos) - set(asr.units))
    if missing:
        raise ValueError(f"asr_transcripts {cfg.asr_transcripts} lacks {len(missing)} training videos (e.g. "
                         f"{missing[0]!r}); make it from {cfg.transcripts} with scripts/asr_style.py")
    return asr


QUESTION_MAX_LEN = 128  # tokens of a question read by a fine-tuned question tower


def question_tower(layers: int) -> tuple[Any, Any]:
    """(BertModel of the packaged MiniLM with only its top ``layers`` layers trainable, its tokenizer): the
    localizer's own question encoder, trained by ``question_layers`` (mean pooled and L2-normalised by
    :func:`vcval.training.trainer_repbert.embed`)."""
    from transformers import AutoModel, AutoTokenizer

    from vcval.encoders import _packaged_model_dir
    from vcval.training.runtime import freeze_lower_layers

    base = _packaged_model_dir()
    model = AutoModel.from_pretrained(str(base), add_pooling_layer=False).float()
    freeze_lower_layers(model, layers)
    return model, AutoTokenizer.from_pretrained(str(base))


def train(cfg: CueSpanTrainConfig, data: TrainingData | None = None) -> dict[str, Any]:
    """Train, keep the best dev step in ``<output>/best``; returns a summary (also ``training.json``)."""
    import shutil

    import torch
    from safetensors.torch import save_file

    from vcval.localization.cuespan import QUESTION_TOWER
    from vcval.models.cuespan import CueSpanConfig, CueSpanModel
    from vcval.models.cuespan.inputs import build_batch
    from vcval.retrieval import TranscriptBM25
    from vcval.training.trainer_repbert import embed, encode_texts

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = random.Random(cfg.seed)
    data = data or TrainingData(cfg.transcripts, cfg.features or None)
    train_q = [q for q in load_questions(cfg.train) if q.video_id in data.units]
    dev_q = [q for q in load_questions(cfg.dev) if q.video_id in data.units]
    if not train_q or not dev_q:
        raise ValueError(f"no train ({len(train_q)}) or dev ({len(dev_q)}) questions match {cfg.transcripts}")
    train_vec, dev_vec = data.question_vectors(train_q), data.question_vectors(dev_q)
    train_vids = sorted({q.video_id for q in train_q})
    asr = asr_data(cfg, train_vids)
    bm25 = TranscriptBM25({v: data.corpus.cues(v) for v in train_vids})
    hard = {i: [v for v, _ in hits if v != q.video_id][:5]
            for i, (q, hits) in enumerate(zip(train_q, bm25.search([q.question for q in train_q], 8)))}
    mcfg = CueSpanConfig.from_dict({**CueSpanConfig().to_dict(), **cfg.model})
    model = CueSpanModel(mcfg)
    tower, tokenizer = question_tower(cfg.question_layers) if cfg.question_layers > 0 else (None, None)
    groups: list[dict[str, Any]] = [{"params": list(model.parameters())}]
    if tower is not None:
        groups.append({"params": [p for p in tower.parameters() if p.requires_grad], "lr": cfg.question_lr,
                       "weight_decay": 0.01})
        logger.info("question tower: the packaged MiniLM's top %d layers trained (%d params) at lr %g",
                    cfg.question_layers, sum(p.numel() for p in groups[1]["params"]), cfg.question_lr)
    opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / cfg.warmup) * max(
        0.05, 0.5 * (1 + math.cos(math.pi * s / cfg.steps))))
    out = Path(cfg.output)
    (out / "best").mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / "best" / QUESTION_TOWER, ignore_errors=True)  # a tower an earlier run left there

    def dev_vectors(qs: list[Question], static: np.ndarray) -> np.ndarray:
        """(Q, D) question vectors for a dev evaluation: the tower's current ones when it is trained."""
        if tower is None:
            return static
        return encode_texts(tower, tokenizer, [q.question for q in qs], QUESTION_MAX_LEN)

    logger.info("training CueSpan: %d params, %d train / %d dev questions, %d train videos",
                sum(p.numel() for p in model.parameters()), len(train_q), len(dev_q), len(train_vids))
    titled = None  # (train questions restating their video's title, their vectors) for title_prob
    dev_titled = None  # the same for dev: the curve then also follows the titled probe (the kept step is
    # still chosen on the plain dev metric)
    if cfg.title_prob:
        titles = load_titles(cfg.titles)
        train_t = titled_questions(train_q, titles, rng=random.Random(cfg.seed + 1))
        dev_t = titled_questions(dev_q, titles)
        titled, dev_titled = (train_t, data.question_vectors(train_t)), (dev_t, data.question_vectors(dev_t))
    order: list[int] = []
    curve: list[dict[str, Any]] = []
    losses: list[tuple[float, float]] = []
    best, best_step, train_s = -1.0, 0, 0.0
    for step in range(1, cfg.steps + 1):
        t0 = time.time()
        model.train()
        if tower is not None:
            tower.train()
        if len(order) < cfg.batch:
            order = list(range(len(train_q)))
            rng.shuffle(order)
        batch, order = order[: cfg.batch], order[cfg.batch:]
        rows, texts = [], []
        for g, i in enumerate(batch):
            q = train_q[i]
            coarsen = (rng, cfg.coarsen_max) if cfg.coarsen_prob and rng.random() < cfg.coarsen_prob else None
            src = asr if asr is not None and rng.random() < cfg.asr_prob else data  # this question's caption style
            text, vec = q.question, train_vec[i]
            if titled is not None and rng.random() < cfg.title_prob:  # asked restating its video's topic
                text, vec = titled[0][i].question, titled[1][i]
            texts.append(text)
            around = None  # the answer video played among others as one long video (long_prob)
            if cfg.long_prob and rng.random() < cfg.long_prob:
                pool = [v for v in train_vids if v != q.video_id]
                fillers = rng.sample(pool, min(cfg.long_around, len(pool)))
                around = (fillers, rng.randint(0, len(fillers)))
            rows.append(src.row(text, vec, q.video_id, mcfg.visual_dim, g, target=q, max_span=mcfg.max_span_cues,
                                coarsen=coarsen, within_video=mcfg.lexical_video_idf, around=around))
            if mcfg.contrastive_weight:
                negs = rng.sample(hard[i], min(cfg.hard_negatives, len(hard[i])))
                others = [v for v in train_vids if v != q.video_id and v not in negs]
                negs += rng.sample(others, min(cfg.random_negatives, len(others)))
                rows += [src.row(text, vec, v, mcfg.visual_dim, g, coarsen=coarsen,
                                 within_video=mcfg.lexical_video_idf) for v in negs]
        kwargs, _ = build_batch(rows, crop=cfg.crop, rng=rng)
        if tower is not None:  # the rows' question vectors from the trained tower: (G, D) -> (B, D) by group
            kwargs["question"] = embed(tower, tokenizer, texts, QUESTION_MAX_LEN)[kwargs["groups"]]
        o = model(**kwargs, return_full=False)
        opt.zero_grad()
        o.loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], 1.0)
        opt.step()
        sched.step()
        train_s += time.time() - t0
        lh = float(o.loss_highlight.detach()) if o.loss_highlight is not None else 0.0
        losses.append((float(o.loss1.detach()), float(o.loss2.detach()), lh))
        if step % cfg.eval_every == 0 or step == cfg.steps:
            m = oracle_eval(model, data, dev_q, dev_vectors(dev_q, dev_vec))
            m_titled = (oracle_eval(model, data, dev_titled[0], dev_vectors(*dev_titled))
                        if dev_titled is not None else None)
            l1, l2, lh = np.mean(losses, 0)
            losses = []
            row = {"step": step, "train_s": round(train_s, 1), "loss1": round(float(l1), 4), "loss2": round(float(l2), 4),
                   **({"loss_highlight": round(float(lh), 4)} if mcfg.highlight_weight else {}),
                   "dev_miou": round(m["miou"], 2), "dev_iou50": round(m["iou50"], 2),
                   "dev_median_len_s": round(m["median_len_s"], 1),
                   **({"dev_titled_miou": round(m_titled["miou"], 2)} if m_titled is not None else {})}
            curve.append(row)
            logger.info("%s", row)
            if m["miou"] > best:
                best, best_step = m["miou"], step
                save_file({k: v.detach().half().contiguous() for k, v in model.state_dict().items()},
                          str(out / "best" / "model.safetensors"))
                mcfg.to_json(out / "best" / "config.json")
                if tower is not None:
                    from vcval.encoders import REPBERT_MARKER, _packaged_model_dir
                    from vcval.training.runtime import trainable_fp16, write_encoder_folder

                    record = {"kind": "cuespan-question-tower", "step": step, "dev_miou": round(m["miou"], 2),
                              "layers": cfg.question_layers, "trained_on": cfg.train}
                    write_encoder_folder(out / "best" / QUESTION_TOWER, trainable_fp16(tower), _packaged_model_dir(),
                                         REPBERT_MARKER, record, pooling_max_len=QUESTION_MAX_LEN)
    with open(out / "curve.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(curve[0]))
        writer.writeheader()
        writer.writerows(curve)
    summary = {"best_step": best_step, "best_dev_miou": round(best, 2), "train_s": round(train_s, 1),
               "params": sum(p.numel() for p in model.parameters()), "recipe": cfg.to_dict(),
               "train_questions": len(train_q), "train_videos": len(train_vids)}
    (out / "best" / "training.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def train_ensemble(cfg: CueSpanTrainConfig, data: TrainingData | None = None) -> dict[str, Any]:
    """Train one model per seed of ``cfg.ensemble_seeds`` and write them as one checkpoint in ``<output>/best``
    (``model.safetensors`` = the first seed, ``model-<k>.safetensors`` the others; served with their scores
    averaged, :class:`vcval.models.cuespan.CueSpanEnsemble`). A seed whose ``<output>/seed-<s>/best`` was
    trained by the same recipe already is reused, so an interrupted run resumes at the next seed."""
    import shutil

    seeds = list(dict.fromkeys(int(s) for s in cfg.ensemble_seeds))
    if not seeds:
        raise ValueError("train_ensemble needs ensemble_seeds")
    data = data or TrainingData(cfg.transcripts, cfg.features or None)
    out = Path(cfg.output)
    members = []
    for seed in seeds:
        member = CueSpanTrainConfig.from_dict({**cfg.to_dict(), "seed": seed, "ensemble_seeds": [],
                                               "output": str(out / f"seed-{seed}")})
        done = Path(member.output) / "best" / "training.json"
        if done.is_file() and _same_recipe(json.loads(done.read_text(encoding="utf-8")).get("recipe"), member):
            logger.info("seed %d: already trained by this recipe (%s)", seed, done.parent)
            summary = json.loads(done.read_text(encoding="utf-8"))
        else:
            summary = train(member, data)
        members.append({"seed": seed, **{k: summary[k] for k in ("best_step", "best_dev_miou", "train_s")}})
    best = out / "best"
    best.mkdir(parents=True, exist_ok=True)
    for old in best.glob("model*.safetensors"):
        old.unlink()
    for k, seed in enumerate(seeds):
        name = "model.safetensors" if k == 0 else f"model-{k}.safetensors"
        shutil.copyfile(out / f"seed-{seed}" / "best" / "model.safetensors", best / name)
    shutil.copyfile(out / f"seed-{seeds[0]}" / "best" / "config.json", best / "config.json")
    summary = {"ensemble": members, "train_s": round(sum(m["train_s"] for m in members), 1),
               "recipe": cfg.to_dict()}
    (best / "training.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _same_recipe(recipe: dict | None, cfg: CueSpanTrainConfig) -> bool:
    """True when a finished run's ``recipe`` (its training.json) trained what ``cfg`` asks for: the same
    settings, wherever it was written and whichever fields later versions added with their defaults."""
    if not isinstance(recipe, dict):
        return False
    try:
        done = CueSpanTrainConfig.from_dict(recipe, strict=False).to_dict()
    except (TypeError, ValueError):
        return False
    want = cfg.to_dict()
    done["output"] = want["output"]
    return done == want


RETRIEVAL_WEIGHTS = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


def _rank(spans: list, weight: float) -> list:
    """Spans re-ranked by span score - weight * log(1 + retrieval rank) (the ``retrieval_rank`` feature)."""
    return sorted(spans, key=lambda sp: -(sp.score - weight * sp.features["retrieval_rank"]))


def _right(sp: Any, cands: list, q: Question, units: Any) -> tuple[bool, float]:
    from vcval.localization.spans import temporal_iou

    if cands[sp.candidate].record.video_id != q.video_id:
        return False, 0.0
    u = units[q.video_id].units
    iou = temporal_iou((u[sp.first_unit].start, u[sp.last_unit].end), (q.start, q.end))
    return iou >= 0.5, iou


def length_target(priors_path: str | Path) -> dict[str, float]:
    """CueSpanInference length-target fields from a priors file's ``log_length_vs_log_duration`` fit
    (``scripts/convert_medvidqa.py``); {} when ``priors_path`` is empty."""
    if not priors_path:
        return {}
    path = Path(priors_path)
    if not path.is_file():
        raise FileNotFoundError(f"length prior {path} not found: run scripts/convert_medvidqa.py, or set "
                                "length_prior to \"\" in the training config to serve without a length tilt")
    fit = json.loads(path.read_text(encoding="utf-8"))["log_length_vs_log_duration"]
    return {"target_length_median_s": float(fit["median_length_at_reference_s"]),
            "target_length_exponent": float(fit["slope"]),
            "target_reference_duration_s": float(fit["reference_duration_s"])}


def _best_threshold(p_top: np.ndarray, good: np.ndarray, none: np.ndarray) -> tuple[float, float]:
    """(threshold, balanced accuracy): the cut over the rank-1 probabilities ``p_top`` that best separates
    ``good`` (real questions whose top answer is the right video) from ``none`` (no answer in the corpus)."""
    best_t, best_bacc = 0.5, -1.0
    for t in np.unique(np.round(p_top, 4)):
        bacc = 0.5 * (float((good >= t).mean()) + float((none < t).mean()))
        if bacc > best_bacc:
            best_t, best_bacc = float(t), bacc
    return best_t, best_bacc


def tune_and_calibrate(cfg: CueSpanTrainConfig, data: TrainingData, checkpoint: str | Path | None = None,
                       answers_per_question: int = 3, seed: int = 0) -> dict[str, Any]:
    """Choose the retrieval weight, fit the confidence calibrator and the threshold on dev; write
    ``inference.json`` (and ``calibration.json``, the dev report) into the checkpoint folder."""
    from vcval.config import PipelineConfig
    from vcval.localization.confidence import (
        Calibrator,
        expected_calibration_error,
        reliability_table,
        served_video_confidence,
    )
    from vcval.localization.cuespan import CONFIDENCE_FEATURES, INFERENCE_FILE, CueSpanInference, CueSpanLocalizer
    from vcval.pipeline import VCVAL
    from vcval.retrieval import make_retriever

    folder = Path(checkpoint or Path(cfg.output) / "best")
    localizer = CueSpanLocalizer.from_pretrained(folder, encoder=data.encoder, idf=data.corpus.word_idf)
    train_len = np.log(np.maximum([q.end - q.start for q in load_questions(cfg.train)], 1.0))
    inference = localizer.inference = CueSpanInference(**{
        **localizer.inference.to_dict(), "source_length_median_s": round(float(np.exp(np.median(train_len))), 2),
        "length_log_sigma": round(max(float(train_len.std()), 0.25), 3), "target_length_median_s": None,
        "target_length_exponent": 0.0, "target_reference_duration_s": None,
        "skip_first_units": cfg.skip_first_units, "fact_max_units": cfg.fact_max_units,
        "meta_edges": cfg.meta_edges, "goal_split": cfg.goal_split})
    qa = VCVAL(data.corpus, make_retriever(data.corpus, inference.retriever, encoder=data.encoder), localizer,
               PipelineConfig())
    dev_q = [q for q in load_questions(cfg.dev) if q.video_id in data.units]
    rng = random.Random(seed)
    off_q: list[str] = []
    if cfg.offtopic_dev:
        rows = json.loads(Path(cfg.offtopic_dev).read_text(encoding="utf-8"))
        off_q = sorted({str(r["question"]).strip() for r in rows if str(r.get("question", "")).strip()})
        off_q = rng.sample(off_q, min(len(off_q), len(dev_q)))
    t0 = time.time()
    no_shift = []
    target = length_target(cfg.length_prior)
    if target and getattr(localizer.model.config, "length_unit", "seconds") == "fraction":
        logger.info("no length tilt: the model's length bias is a share of the video, and answers are about the "
                    "same share in the training data and in the length prior's domain")
        target = {}
    if target:
        for q in dev_q:
            cands = qa.candidates(q.question)
            no_shift.append((q, cands, localizer.score(q.question, cands)))
        for key, value in target.items():
            setattr(inference, key, value)
    real, near = [], []
    for n, q in enumerate(dev_q):
        if n % 200 == 0:
            logger.info("scoring dev questions: %d / %d", n, len(dev_q))
        cands = qa.candidates(q.question)
        real.append((q, cands, localizer.score(q.question, cands)))
        rest = [c for c in cands if c.record.video_id != q.video_id]
        near.append((q, rest, localizer.score(q.question, rest)))
    off = []
    for text in off_q:
        cands = qa.candidates(text)
        off.append((text, cands, localizer.score(text, cands)))
    logger.info("scored %d dev, %d near-miss, %d off-topic questions in %.1f s", len(real), len(near), len(off),
                time.time() - t0)

    def rank1_miou(weight: float) -> float:
        return 100 * float(np.mean([_right(_rank(s, weight)[0], c, q, data.units)[1] if s else 0.0
                                    for q, c, s in real]))

    by_weight = {w: rank1_miou(w) for w in RETRIEVAL_WEIGHTS}
    shift_report = {}
    if no_shift:
        shift_report = {"dev_rank1_miou_without_length_shift": 100 * float(np.mean(
            [_right(_rank(s, 0.0)[0], c, q, data.units)[1] if s else 0.0 for q, c, s in no_shift])),
            "dev_rank1_miou_with_length_shift": by_weight[0.0]}
    weight = max(RETRIEVAL_WEIGHTS, key=lambda w: (round(by_weight[w], 6), -w))
    x, y, y_video, kind = [], [], [], []
    for group, items in (("real", real), ("near-miss", near), ("off-topic", off)):
        for item in items:
            q, cands, spans = item
            for m, sp in enumerate(_rank(spans, weight)[:answers_per_question]):
                ok = group == "real" and _right(sp, cands, q, data.units)[0]
                x.append([sp.features[f] for f in CONFIDENCE_FEATURES])
                y.append(float(ok))
                y_video.append(float(group == "real" and cands[sp.candidate].record.video_id == q.video_id))
                kind.append((group, m))
    if not x:
        raise ValueError("no dev answers to calibrate on: do the dev questions' videos have transcripts?")
    x_arr, y_arr, yv_arr = np.array(x), np.array(y), np.array(y_video)
    calibrator = Calibrator.fit(x_arr, y_arr, CONFIDENCE_FEATURES, l2=1.0)
    video_calibrator = Calibrator.fit(x_arr, yv_arr, CONFIDENCE_FEATURES, l2=1.0)
    p = calibrator.predict(x_arr)
    p_video = served_video_confidence(video_calibrator.predict(x_arr), p)
    top = np.array([m == 0 for _, m in kind])
    # threshold: best balanced accuracy at rank 1 between "real question, right video" and "no answer here"
    pos = np.array([g == "real" for g, _ in kind]) & top
    right = pos & (yv_arr == 1)  # real questions whose top answer is in the right video
    p_real = p[pos]
    p_none = p[top & ~pos]
    good = p[right]
    best_t, best_bacc = _best_threshold(p[top], good, p_none)
    # the same choice on the video probability, reported only (the shipped gate stays on `confidence`)
    _, video_gate_bacc = _best_threshold(p_video[top], p_video[right], p_video[top & ~pos])
    inference = CueSpanInference(**{**inference.to_dict(), "retrieval_weight": weight, "threshold": round(best_t, 4),
                                    "calibration": calibrator.to_dict(),
                                    "video_calibration": video_calibrator.to_dict()})
    inference.to_json(folder / INFERENCE_FILE)
    report = {
        "dev_rank1_miou_by_retrieval_weight": by_weight, "retrieval_weight": weight, "threshold": best_t,
        "balanced_accuracy": best_bacc, "ece_all_answers": expected_calibration_error(p, y_arr),
        "ece_rank1": expected_calibration_error(p[top], y_arr[top]),
        "reliability_rank1": reliability_table(p[top], y_arr[top]),
        "accept_real_right_video": float((good >= best_t).mean()),
        "accept_real_all": float((p_real >= best_t).mean()),
        "refuse_near_miss": float((p[np.array([g == "near-miss" for g, _ in kind]) & top] < best_t).mean()),
        "refuse_off_topic": float((p[np.array([g == "off-topic" for g, _ in kind]) & top] < best_t).mean())
        if off else None,
        "balanced_accuracy_if_gated_on_video_confidence": video_gate_bacc,
        "video_ece_all_answers": expected_calibration_error(p_video, yv_arr),
        "video_ece_rank1": expected_calibration_error(p_video[top], yv_arr[top]),
        "video_reliability_rank1": reliability_table(p_video[top], yv_arr[top]),
        "video_coef": dict(zip(CONFIDENCE_FEATURES, video_calibrator.coef)),
        "n": {"real": len(real), "near_miss": len(near), "off_topic": len(off)},
        **shift_report,
        "coef": dict(zip(CONFIDENCE_FEATURES, calibrator.coef)),
    }
    (folder / "calibration.json").write_text(json.dumps(report, indent=2) + "\n")
    logger.info("calibration: %s", {k: v for k, v in report.items() if "reliability" not in k})
    return report
