"""What every trainer does the same way: seeding, thread count, strict recipe keys, recipe files and data checks."""
from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import fields
from pathlib import Path
from typing import Any

from vcval.errors import InvalidInputError


def seed_everything(seed: int, num_threads: int = 0) -> None:
    """Seed ``random``, numpy and torch; ``num_threads`` > 0 sets torch's intra-op threads."""
    import numpy as np
    import torch

    if num_threads > 0:
        torch.set_num_threads(num_threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def known_keys(cls: Any, data: dict[str, Any], what: str) -> dict[str, Any]:
    """``data`` unchanged when every key is a field of the dataclass ``cls``; else InvalidInputError naming them."""
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise InvalidInputError(f"unknown {what} config keys {sorted(unknown)}; known: {sorted(known)}")
    return data


def read_recipe(path: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    """The JSON recipe at ``path`` with ``overrides`` applied (InvalidInputError when the file is missing)."""
    if not Path(path).is_file():
        raise InvalidInputError(f"training config {path} not found; see the recipes in configs/")
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    data.update(overrides)
    return data


def require_data(paths: Iterable[str]) -> None:
    """InvalidInputError naming the first missing training/dev file, and how to make it."""
    for path in paths:
        if not Path(path).exists():
            raise InvalidInputError(f"{path} not found: prepare the data with scripts/convert_tutorialvqa.py "
                                    "(see README, Training)")


def freeze_lower_layers(model: Any, trainable_layers: int) -> None:
    """Train only the top ``trainable_layers`` encoder layers of a BERT (embeddings and lower layers frozen);
    0 or less leaves every parameter trainable."""
    if trainable_layers <= 0:
        return
    n = int(model.config.num_hidden_layers)
    keep = tuple(f"encoder.layer.{i}." for i in range(max(0, n - trainable_layers), n))
    for name, param in model.named_parameters():
        param.requires_grad_(name.startswith(keep))


def adamw(model: Any, lr: float, weight_decay: float, lr_head: float | None = None) -> Any:
    """AdamW over the trainable parameters of ``model``, without decay on biases / LayerNorms; parameters named
    ``head.*`` at ``lr_head`` when given (a new head learning from scratch)."""
    import torch

    no_decay = ("bias", "LayerNorm.weight")
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    is_head = [lr_head is not None and n.startswith("head.") for n, _ in params]
    body = [(n, p) for (n, p), h in zip(params, is_head) if not h]
    groups: list[dict[str, Any]] = [
        {"params": [p for n, p in body if not any(x in n for x in no_decay)], "weight_decay": weight_decay},
        {"params": [p for n, p in body if any(x in n for x in no_decay)], "weight_decay": 0.0}]
    head = [p for (_n, p), h in zip(params, is_head) if h]
    if head:
        groups.append({"params": head, "weight_decay": 0.0, "lr": lr_head})
    return torch.optim.AdamW(groups, lr=lr)


def save_training_state(out: Path, model: Any, optimizer: Any, scheduler: Any, **position: Any) -> None:
    """Everything needed to resume, in ``out/last/state.pt`` (atomic): weights, optimiser, scheduler, torch's RNG
    (so dropout continues as in an uninterrupted run) and ``position`` (step, epoch, best, history, ...)."""
    import torch

    from vcval.utils import atomic_write

    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
             "rng": torch.get_rng_state(), **position}
    atomic_write(Path(out) / "last" / "state.pt", lambda fh: torch.save(state, fh))


def load_training_state(out: Path, model: Any, optimizer: Any, scheduler: Any) -> dict[str, Any] | None:
    """Restore what :func:`save_training_state` wrote (``weights_only=True``); returns the rest of the state (the
    position), or None when ``out/last/state.pt`` does not exist."""
    import torch

    path = Path(out) / "last" / "state.pt"
    if not path.is_file():
        return None
    st = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(st.pop("model"))
    optimizer.load_state_dict(st.pop("optimizer"))
    scheduler.load_state_dict(st.pop("scheduler"))
    rng = st.pop("rng", None)
    if rng is not None:
        torch.set_rng_state(rng)
    return st


ENCODER_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json",
                 "modules.json", "config_sentence_transformers.json")
"""The files of a sentence encoder folder besides its weights (copied from the base next to a fine-tune's weights)."""


def trainable_fp16(model: Any, prefix: str = "") -> dict[str, Any]:
    """{``prefix`` + name: fp16 tensor} of the trainable parameters of ``model``: what a fine-tune over a frozen base
    ships as a delta (:data:`vcval.encoders.DELTA_WEIGHTS`)."""
    import torch

    return {prefix + n: p.detach().to(torch.float16).contiguous().cpu() for n, p in model.named_parameters()
            if p.requires_grad}


def write_encoder_folder(folder: Path, weights: dict[str, Any], base_dir: Path, marker: str, record: dict[str, Any],
                         *, full: bool = False, pooling_max_len: int | None = None) -> None:
    """Write ``folder`` as an encoder that vcval loads: ``weights`` as ``model.safetensors`` (``full``) or as the
    delta :data:`vcval.encoders.DELTA_WEIGHTS` over the packaged MiniLM, the base's tokenizer and config files
    (:data:`ENCODER_FILES`), and ``record`` as the ``marker`` file. ``pooling_max_len``: a sentence encoder (mean
    pooling, questions truncated at that many tokens), read by :meth:`vcval.encoders.TextEncoder.load`."""
    import shutil

    from safetensors.torch import save_file

    from vcval.encoders import DELTA_WEIGHTS

    folder.mkdir(parents=True, exist_ok=True)
    if full:
        save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    else:
        save_file(weights, str(folder / DELTA_WEIGHTS), metadata={"format": "pt", "base": "all-MiniLM-L6-v2"})
    for name in ENCODER_FILES:
        if (base_dir / name).is_file():
            shutil.copy2(base_dir / name, folder / name)
    if pooling_max_len is not None and (base_dir / "1_Pooling").is_dir():
        shutil.copytree(base_dir / "1_Pooling", folder / "1_Pooling", dirs_exist_ok=True)
        (folder / "sentence_bert_config.json").write_text(
            json.dumps({"max_seq_length": pooling_max_len, "do_lower_case": False}), encoding="utf-8")
    (folder / marker).write_text(json.dumps(record, indent=1), encoding="utf-8")
