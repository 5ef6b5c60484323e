"""Learning-rate schedules shared by the trainers."""
from __future__ import annotations

from collections.abc import Callable


def linear_warmup_decay(warmup: int, total: int) -> Callable[[int], float]:
    """LR multiplier for ``torch.optim.lr_scheduler.LambdaLR``: linear warm-up over ``warmup`` steps to 1,
    then linear decay to 0 at ``total``."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor
