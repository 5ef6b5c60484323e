"""A synthetic task where ONLY visual features tell the answer span apart.

Every cue has the same text, the question never changes and the answer position is uniform;
during the answer a marker lights up in feature dimension 0. A model that uses its visual branch
solves it; the text-only ablation of the same model can do no better than a position prior.
Used for CCGS (:func:`train_and_score`, tests/test_ccgs_visual.py, scripts/ccgs_ablations.py) and for the
CueSpan localizer's time-aligned visual fusion (:func:`train_and_score_cuespan`, tests/test_cuespan_visual.py,
scripts/cuespan_ablations.py).
"""
from __future__ import annotations

from collections.abc import Callable

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
