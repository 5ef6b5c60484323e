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
