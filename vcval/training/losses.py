"""CCGS losses over global-span matrices.

Loss1 (span): cross-entropy over the flattened valid cells of the positive video's matrix,
target = the labelled cell. Loss2 (contrastive): cross-entropy over the concatenation of the
positive matrix with the matrices of M negative videos for the SAME question, so that span
scores are comparable across videos. Invalid cells must already hold a large negative value.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def span_loss(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Loss1. scores: (B, N, N) masked; labels: (B,) flat cell index i * N + j, or -100 for
    rows without an answer (negatives). Mean over labelled rows; 0 when there are none."""
    flat = scores.reshape(scores.shape[0], -1).float()  # (B, N*N)
    keep = labels >= 0
    if not keep.any():
        return flat.sum() * 0.0
    return F.cross_entropy(flat[keep], labels[keep])


def contrastive_loss(scores: torch.Tensor, labels: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """Loss2. Rows that share a ``groups`` id belong to one question: the labelled row is the
    positive video, the others its negatives. For each positive: cross-entropy over all cells of
    all the group's matrices (B_g * N * N logits). Mean over positives; 0 without negatives."""
    flat = scores.reshape(scores.shape[0], -1).float()  # (B, N*N)
    cells = flat.shape[1]
    losses = []
    for p in torch.nonzero(labels >= 0).flatten().tolist():
        rows = torch.nonzero(groups == groups[p]).flatten()
        if len(rows) < 2:
            continue
        logits = flat[rows].reshape(1, -1)  # (1, B_g * N * N)
        target = int((rows == p).nonzero()[0, 0]) * cells + int(labels[p])
        losses.append(F.cross_entropy(logits, torch.tensor([target], device=flat.device)))
    if not losses:
        return flat.sum() * 0.0
    return torch.stack(losses).mean()


class GlobalSpanContrastiveLoss(nn.Module):
    """Loss = span_weight * Loss1 + contrastive_weight * Loss2 (both 1.0 in the paper).

    forward(scores (B, N, N) masked, labels (B,), groups (B,) | None) -> (loss, loss1, loss2).
    """

    def __init__(self, span_weight: float = 1.0, contrastive_weight: float = 1.0) -> None:
        super().__init__()
        self.span_weight = span_weight
        self.contrastive_weight = contrastive_weight

    def forward(
        self, scores: torch.Tensor, labels: torch.Tensor, groups: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        l1 = span_loss(scores, labels)
        if groups is None or self.contrastive_weight == 0:
            l2 = l1.detach() * 0.0
        else:
            l2 = contrastive_loss(scores, labels, groups)
        return self.span_weight * l1 + self.contrastive_weight * l2, l1, l2
