"""A synthetic task where ONLY visual features tell the answer span apart.

Every cue has the same text, the question never changes and the answer position is uniform;
during the answer a marker lights up in feature dimension 0. A model that uses its visual branch
solves it; the text-only ablation of the same model can do no better than a position prior.
Used for CCGS (:func:`train_and_score`, tests/test_ccgs_visual.py, scripts/ccgs_ablations.py) and for the
CueSpan localizer's time-aligned visual fusion (:func:`train_and_score_cuespan`, tests/test_cuespan_visual.py,
scripts/cuespan_ablations.py).

:func:`mbvr_task` / :func:`train_and_score_mbvr`: the same idea for video RETRIEVAL (MBVR): every video's
transcript is the same, only its frames show its topic; see their docstrings.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from vcval.localization.spans import decode_spans

TINY_BERT = dict(
    model_type="bert", hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
    vocab_size=30522, max_position_embeddings=64,
)
N_CUES, SECONDS_PER_CUE, DIM = 6, 2.0, 8


def visual_task(n_videos: int, seed: int) -> tuple[list[np.ndarray], list[tuple[int, int]]]:
    """(features (T, DIM) per video at 1 fps, answer (first, last) cue per video)."""
    rng = np.random.default_rng(seed)
    feats, answers = [], []
    for _ in range(n_videos):
        first = int(rng.integers(0, N_CUES - 1))
        last = first + int(rng.integers(0, 2))  # one or two cues
        f = rng.normal(0.0, 0.3, size=(int(N_CUES * SECONDS_PER_CUE), DIM)).astype(np.float32)
        f[int(first * SECONDS_PER_CUE) : int((last + 1) * SECONDS_PER_CUE), 0] += 2.0
        feats.append(f)
        answers.append((first, last))
    return feats, answers


def _fit_and_score(model: torch.nn.Module, batch: Callable[[list[np.ndarray], list[tuple[int, int]]], dict],
                   steps: int, batch_size: int) -> float:
    """Train ``model`` on 96 task videos (``batch(features, answers)`` -> its keyword arguments, labels
    included) with AdamW, then its exact-span accuracy (best span == answer) on 48 held-out videos."""
    train_f, train_a = visual_task(96, seed=1)
    test_f, test_a = visual_task(48, seed=2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for step in range(steps):
        lo = (step * batch_size) % len(train_f)
        out = model(**batch(train_f[lo: lo + batch_size], train_a[lo: lo + batch_size]))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        res = model(**batch(test_f, test_a))
    hits = [decode_spans(res.scores[b], res.valid[b], 1)[0][:2] == tuple(test_a[b]) for b in range(len(test_a))]
    return float(np.mean(hits))


def train_and_score(use_visual: bool, steps: int = 30, seed: int = 0, batch_size: int = 16) -> float:
    """Train a tiny CCGS (text-only when ``use_visual`` is False) on the task; exact-span accuracy on held-out videos."""
    from vcval.models.ccgs.configuration_ccgs import CCGSConfig
    from vcval.models.ccgs.inputs import VideoText, batch_inputs, spec_from_tokenizer, tokenize_cues
    from vcval.models.ccgs.modeling_ccgs import CCGSModel, load_tokenizer

    torch.manual_seed(seed)
    cfg = CCGSConfig(encoder_config=TINY_BERT, trainable_encoder_layers=-1, max_len=40, overlap_tokens=4,
                     head_size=16, visual_dim=DIM, max_span_cues=3, max_span_seconds=None, dropout=0.0,
                     use_visual=use_visual)
    model = CCGSModel(cfg)
    tok = load_tokenizer(cfg)
    spec = spec_from_tokenizer(tok, cfg.max_len, cfg.overlap_tokens)
    starts = np.arange(N_CUES) * SECONDS_PER_CUE
    video = VideoText(tokenize_cues(tok, ["we do the next step"] * N_CUES), starts, starts + SECONDS_PER_CUE)
    q = tok("what happens here?", add_special_tokens=False)["input_ids"]

    def batch(feats, answers):
        inp = batch_inputs([q] * len(feats), [video] * len(feats), spec, feats if use_visual else None)
        inp["labels"] = torch.tensor([i * N_CUES + j for i, j in answers])
        return inp

    return _fit_and_score(model, batch, steps, batch_size)


def train_and_score_cuespan(use_visual: bool, steps: int = 60, seed: int = 0, batch_size: int = 16) -> float:
    """Train a tiny CueSpan head on the task (frames pooled per unit by time; text-only when ``use_visual``
    is False); exact-span accuracy of the best span on held-out videos."""
    from vcval.corpus.encodings import UnitEncodings
    from vcval.models.cuespan import CueSpanConfig, CueSpanModel, pool_frames
    from vcval.models.cuespan.inputs import Row, build_batch
    from vcval.types import Cue

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    emb = 8
    text = rng.normal(size=emb).astype(np.float32)
    text /= np.linalg.norm(text)
    question = rng.normal(size=emb).astype(np.float32)
    question /= np.linalg.norm(question)
    starts = np.arange(N_CUES) * SECONDS_PER_CUE
    cues = tuple(Cue(i, float(s), float(s + SECONDS_PER_CUE), "we do the next step") for i, s in enumerate(starts))
    vecs = np.tile(text, (N_CUES, 1))
    units = UnitEncodings(cues, np.arange(N_CUES), np.arange(N_CUES), vecs, vecs.copy())
    model = CueSpanModel(CueSpanConfig(emb_dim=emb, hidden=16, ff_dim=32, head_size=8, n_heads=2, n_layers=1,
                                       max_span_cues=3, dropout=0.0, visual_dim=DIM if use_visual else 0,
                                       visual_dropout=0.0))

    def batch(feats: list[np.ndarray], answers: list[tuple[int, int]]) -> dict:
        rows = [Row(question, units, np.zeros(N_CUES, np.float32),
                    visual=pool_frames(f, units.starts, units.ends) if use_visual else None, cell=a)
                for f, a in zip(feats, answers)]
        kwargs, _ = build_batch(rows)
        return kwargs

    return _fit_and_score(model, batch, steps, batch_size)


# --------------------------------------------------------------------------- MBVR: retrieval by vision only
MBVR_TEXT_DIM, MBVR_VISUAL_DIM, MBVR_FRAMES, MBVR_TOPICS = 32, 16, 12, 16


@dataclass(frozen=True)
class MBVRTask:
    """Videos (text tokens (L, MBVR_TEXT_DIM), frames (MBVR_FRAMES, MBVR_VISUAL_DIM)), each one's topic, and one
    query vector (MBVR_TEXT_DIM,) per video (its topic's query, freshly perturbed)."""

    texts: list[np.ndarray]
    frames: list[np.ndarray]
    topics: list[int]
    queries: np.ndarray


def mbvr_task(videos_per_topic: int, seed: int, *, title_leak: float = 0.0, n_topics: int = MBVR_TOPICS,
              world_seed: int = 0) -> MBVRTask:
    """Videos whose transcripts are near-identical (6 shared "generic step" sentence vectors + small noise,
    and a generic title) and whose frames show their topic: N(0, 1) noise with the topic's visual prototype
    (norm 3) added on a random half of the frames. A video's query is its topic's word vector + noise.

    ``title_leak``: the chance that a video's title token names its topic (the topic word vector + noise):
    a text shortcut, for training sets only, so a model may come to rely on text that is uninformative at
    test time (the modality imbalance MBVR's shuffled negatives fight). The "world" (topic words, visual
    prototypes, generic sentences) is fixed by ``world_seed``; ``seed`` draws the videos and queries.
    """
    world = np.random.default_rng(world_seed)

    def unit(x: np.ndarray) -> np.ndarray:
        return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)

    words = unit(world.normal(size=(n_topics, MBVR_TEXT_DIM)))
    protos = 3.0 * unit(world.normal(size=(n_topics, MBVR_VISUAL_DIM)))
    generic = unit(world.normal(size=(7, MBVR_TEXT_DIM)))  # generic title + 6 transcript sentences
    rng = np.random.default_rng(seed)
    texts, frames, topics, queries = [], [], [], []
    for topic in range(n_topics):
        for _ in range(videos_per_topic):
            title = words[topic] if rng.random() < title_leak else generic[0]
            text = unit(np.vstack([title, generic[1:]]) + rng.normal(0, 0.05, size=(7, MBVR_TEXT_DIM)))
            f = rng.normal(0, 1, size=(MBVR_FRAMES, MBVR_VISUAL_DIM)).astype(np.float32)
            first = int(rng.integers(0, MBVR_FRAMES // 2 + 1))
            f[first:first + MBVR_FRAMES // 2] += protos[topic]
            texts.append(text)
            frames.append(f)
            topics.append(topic)
            queries.append(unit(words[topic] + rng.normal(0, 0.35 / np.sqrt(MBVR_TEXT_DIM) * 3, MBVR_TEXT_DIM)))
    return MBVRTask(texts, frames, topics, np.stack(queries).astype(np.float32))


def train_and_score_mbvr(*, use_visual: bool = True, use_shuffled: bool = True, dynamic_margin: bool = True,
                         modality_dropout: float = 0.3, title_leak: float = 0.5, steps: int = 200, seed: int = 0,
                         lr: float = 1e-2, videos_per_topic: int = 2, text_skip: bool = False) -> dict[str, float]:
    """Train tiny MBVR towers on :func:`mbvr_task` (each step a fresh batch of ``videos_per_topic`` videos per
    topic with ``title_leak``: fresh videos, so the towers cannot memorise frame noise), then retrieve among
    held-out videos, one per topic, with no title leak (chance R@1 = 1 / MBVR_TOPICS), for 4 queries a topic.

    Returns R@1 / MRR (percent) of the full videos, and the modality-balance diagnostics: ``R@1 no vision``
    (frames removed) and ``R@1 no text`` (text removed), plus ``chance``. ``text_skip`` (off by default here:
    the transcripts carry nothing, and the skip path only slows the fused path down) as in :class:`MBVRConfig`.
    """
    from vcval.models.mbvr import MBVRConfig, MBVRLoss, MBVRModel, prepare_video
    from vcval.training.trainer_mbvr import batch_loss, rank_metrics

    torch.manual_seed(seed)
    cfg = MBVRConfig(text_dim=MBVR_TEXT_DIM, visual_dim=MBVR_VISUAL_DIM, hidden=32, n_layers=1, n_heads=2,
                     ff_dim=64, dropout=0.0, use_visual=use_visual, use_shuffled=use_shuffled,
                     dynamic_margin=dynamic_margin, modality_dropout=modality_dropout, scale=10.0,
                     text_skip=text_skip)
    model, loss_fn = MBVRModel(cfg), MBVRLoss(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    model.train()
    for step in range(steps):
        batch = mbvr_task(videos_per_topic, seed=10_000 * (seed + 1) + step, title_leak=title_leak)
        videos = [prepare_video(t, f, cfg) for t, f in zip(batch.texts, batch.frames)]
        out = batch_loss(model, loss_fn, batch.queries, videos, batch.topics, rng)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    test = mbvr_task(1, seed=1_000 + seed)
    test_videos = [prepare_video(t, f, cfg) for t, f in zip(test.texts, test.frames)]
    queries = np.concatenate([test.queries] + [mbvr_task(1, seed=2_000 + 10 * seed + r).queries for r in range(3)])
    gold = list(range(len(test.topics))) * 4
    q = model.encode_queries(queries)
    res = {"chance": 100.0 / len(test_videos)}
    for name, kw in (("", {}), (" no vision", {"drop_frames": True}), (" no text", {"drop_text": True})):
        m = rank_metrics(q @ model.encode_videos(test_videos, **kw).T, gold)
        res["R@1" + name] = m["R@1"]
        if not name:
            res["MRR"] = m["MRR"]
    return res
