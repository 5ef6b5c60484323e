"""The RocketQAv2 cross-encoder re-ranker: relevance of a (question, cue window) pair read jointly.

``[CLS] question [SEP] window [SEP]`` goes through a BERT (the packaged MiniLM fine-tuned by
``vcval train rocketqa``); the mean of the last hidden states over real tokens goes through one linear
layer to a relevance logit (:func:`pair_logits`; a "segment-cosine" head adds a learned ``head.scale`` times the
cosine of the question segment's and the window segment's mean states). Inference runs on the direct BERT forward of :mod:`vcval.encoders` (no
``transformers`` import); training (:mod:`vcval.training.trainer_rocketqa`) uses ``transformers`` with the
same weight names, so what is trained is what is served.

A re-ranker folder holds ``reranker.json`` (marker + training record), ``config.json``,
``tokenizer.json`` and either ``model.safetensors`` or ``delta.safetensors`` (the tensors training changed,
fp16, over the packaged MiniLM: :func:`vcval.encoders.load_bert_weights`), with the head as ``head.weight``
(1, H) and ``head.bias`` (1,).

A RocketQAv2 checkpoint (what ``--method rocketqa --checkpoint DIR`` takes) is a folder with
``rocketqa.json`` (training record; its ``inference`` holds serving settings chosen on dev by
``scripts/tune_rocketqa.py``: ``first_stage_weight``, the first stage's weight when its order is fused with the
re-ranker's (:class:`vcval.retrieval.RerankRetriever`; 0 = the re-ranker's order alone), and ``window_weight``,
how much the re-ranker's window scores weigh in the baseline localizer's per-cue relevance), ``retriever/``
(a RepBERT encoder folder) and ``reranker/``.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from vcval.errors import InvalidInputError, NotFoundError

logger = logging.getLogger(__name__)

RERANKER_MARKER = "reranker.json"
ROCKETQA_MARKER = "rocketqa.json"
ROCKETQA_ENV = "VCVAL_ROCKETQA"
"""Environment variable naming the RocketQAv2 checkpoint (a local folder or a Hub id) when none is passed."""
MAX_PAIR_TOKENS = 256
CE_HEADS = ("linear", "segment-cosine")  # RocketQAConfig.ce_head

_SMALL_BATCH_TOKENS = 256


class CrossEncoderReranker:
    """``score(question, texts) -> (N,) float32`` relevance logits (higher = more relevant)."""

    def __init__(self, model_dir: Path, device: str = "cpu", max_length: int | None = None) -> None:
        """``max_length``: pair tokens; default the length it was trained with (its ``reranker.json``)."""
        from vcval.encoders import _BertForward, _FastTokenizer, load_bert_weights

        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        if not _BertForward.supports(config):
            raise NotFoundError(f"{model_dir}: the re-ranker must be a BERT model (config.json model_type 'bert')")
        if max_length is None:
            try:
                record = json.loads((model_dir / RERANKER_MARKER).read_text(encoding="utf-8"))
                max_length = int(record.get("config", {}).get("pair_max_len", MAX_PAIR_TOKENS))
            except (OSError, ValueError):
                max_length = MAX_PAIR_TOKENS
        max_length = min(int(max_length), int(config.get("max_position_embeddings", 512)))
        weights = load_bert_weights(model_dir, device)
        if "head.weight" not in weights or "head.bias" not in weights:
            raise NotFoundError(f"{model_dir} has no re-ranker head (head.weight / head.bias); train one with "
                                "`vcval train rocketqa --config configs/rocketqa.json`")
        self.head_w = weights.pop("head.weight")  # (1, H)
        self.head_b = weights.pop("head.bias")  # (1,)
        self.head_scale = weights.pop("head.scale", None)  # (1,): a "segment-cosine" head
        self._forward = _BertForward(weights, config)
        self._tokenizer = _FastTokenizer(model_dir / "tokenizer.json", max_length, self._forward.pad_id)
        self.model_dir = model_dir
        self.device = device
        self.max_length = max_length
        self.name = str(model_dir)
        self.inference: dict[str, Any] = {}  # serving settings of the checkpoint (rocketqa.json "inference")
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"CrossEncoderReranker({self.name!r})"

    def score(self, question: str, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Relevance logits (N,) of ``question`` paired with each of ``texts`` (batched by length)."""
        import torch

        from vcval.utils import one_thread_if_small

        if isinstance(texts, str):
            raise InvalidInputError("score() takes a list of window texts, not a single string")
        out = np.zeros(len(texts), dtype=np.float32)
        if not texts:
            return out
        order = np.argsort([-len(t) for t in texts], kind="stable")
        with self._lock, torch.inference_mode():
            for start in range(0, len(texts), max(1, batch_size)):
                idx = order[start:start + batch_size]
                ids, mask, types = (torch.from_numpy(a).to(self.device)
                                    for a in self._tokenizer.batch([question] * len(idx), [texts[i] for i in idx]))
                with one_thread_if_small(ids.numel(), _SMALL_BATCH_TOKENS, self.device):
                    hidden = self._forward(ids, mask, types)  # (B, L, H)
                out[idx] = pair_logits(hidden, mask, types, self.head_w, self.head_b,
                                       self.head_scale).float().cpu().numpy()
        return out


def pair_logits(hidden: Any, mask: Any, types: Any, head_w: Any, head_b: Any, scale: Any = None) -> Any:
    """(B,) relevance logits of (question, window) pairs: ``mean_pool(hidden) @ head_w.T + head_b``, plus, with
    ``scale`` (1,), ``scale * cos(mean of the question segment, mean of the window segment)``.

    hidden (B, L, H) last states; mask (B, L) real tokens; types (B, L) token types (0: ``[CLS] question
    [SEP]``, 1: ``window [SEP]``); head_w (1, H), head_b (1,). Training and serving both call this.
    """
    import torch

    logits = (mean_pool(hidden, mask) @ head_w.T + head_b)[:, 0]  # (B,)
    if scale is None:
        return logits
    real = mask.bool()
    window = types.bool() & real  # (B, L)
    q_vec = mean_pool(hidden, real & ~window)  # (B, H)
    w_vec = mean_pool(hidden, window)  # (B, H)
    return logits + scale.to(hidden.dtype) * torch.nn.functional.cosine_similarity(q_vec, w_vec, dim=-1)


def mean_pool(hidden: Any, mask: Any) -> Any:
    """Mean of the hidden states over real tokens: (B, L, H), (B, L) -> (B, H) (no normalisation)."""
    m = mask.unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


def resolve_checkpoint(checkpoint: str | os.PathLike | None, *, revision: str | None = None) -> Path:
    """The local folder of a RocketQAv2 checkpoint: ``checkpoint`` (a folder, or a Hub id fetched with
    ``huggingface_hub.snapshot_download`` at ``revision``: opt-in network), else ``$VCVAL_ROCKETQA``.

    NotFoundError, saying how to train one, when neither is given or the folder is not a RocketQAv2 checkpoint.
    """
    from vcval.config import local_or_hub_folder

    raw = os.fspath(checkpoint) if checkpoint is not None else os.environ.get(ROCKETQA_ENV, "").strip()
    how = "train one with `vcval train rocketqa --config configs/rocketqa.json` (writes runs/rocketqa/best)"
    if not raw:
        raise NotFoundError(f"method 'rocketqa' needs a trained RocketQAv2 checkpoint and this install ships none: "
                            f"{how}, then pass --checkpoint runs/rocketqa/best or set {ROCKETQA_ENV}")
    folder = local_or_hub_folder(raw, revision, what="RocketQAv2 checkpoint", how=how)
    if not (folder / ROCKETQA_MARKER).is_file():
        raise NotFoundError(f"{raw} is not a RocketQAv2 checkpoint (no {ROCKETQA_MARKER}); {how}")
    return folder


def load_rocketqa(checkpoint: str | os.PathLike | None = None, *, revision: str | None = None,
                  device: str = "auto") -> tuple[Any, CrossEncoderReranker]:
    """(dual-encoder TextEncoder, CrossEncoderReranker) of a RocketQAv2 checkpoint (:func:`resolve_checkpoint`)."""
    from vcval.encoders import load_repbert
    from vcval.utils import resolve_device

    folder = resolve_checkpoint(checkpoint, revision=revision)
    for sub, marker in (("retriever", "repbert.json"), ("reranker", RERANKER_MARKER)):
        if not (folder / sub / marker).is_file():
            raise NotFoundError(f"{folder} is incomplete: {sub}/{marker} is missing; retrain with "
                                "`vcval train rocketqa`")
    retriever = load_repbert(folder / "retriever", device=device)
    reranker = CrossEncoderReranker(folder / "reranker", device=resolve_device(device))
    try:
        record = json.loads((folder / ROCKETQA_MARKER).read_text(encoding="utf-8"))
    except ValueError as err:
        raise NotFoundError(f"{folder / ROCKETQA_MARKER} is not valid JSON ({err}); retrain or re-tune") from err
    reranker.inference = dict(record.get("inference") or {})
    return retriever, reranker
