"""Retrieval training losses, one home for every trainer and model that needs them (RepBERT, RocketQAv2, MBVR)."""
from __future__ import annotations

import torch


def in_batch_loss(queries: torch.Tensor, docs: torch.Tensor, doc_keys: list, scale: float
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax cross-entropy of each query over all docs: queries (B, D), docs (N >= B, D) whose first B rows
    are the queries' positives; ``doc_keys`` (N,) identify docs, so a copy of query i's positive elsewhere in the
    batch is masked rather than counted as a negative. Returns (mean loss, (B,) bool: positive ranked first)."""
    scores = scale * queries @ docs.T  # (B, N)
    b = queries.shape[0]
    dup = torch.tensor([[doc_keys[j] == doc_keys[i] and j != i for j in range(len(doc_keys))] for i in range(b)],
                       dtype=torch.bool, device=scores.device)
    scores = scores.masked_fill(dup, float("-inf"))
    labels = torch.arange(b, device=scores.device)
    return torch.nn.functional.cross_entropy(scores, labels), scores.argmax(1) == labels


def listwise_losses(s_de: torch.Tensor, s_ce: torch.Tensor, distill: bool) -> tuple[torch.Tensor, dict[str, float]]:
    """Losses over lists whose column 0 is the answer: s_de, s_ce (B, M) -> (loss, stats).

    distill: KL(softmax(s_de) || softmax(s_ce)) + CE(s_ce); apart: CE(s_de) + CE(s_ce).
    """
    labels = torch.zeros(s_de.shape[0], dtype=torch.long, device=s_de.device)
    ce_sup = torch.nn.functional.cross_entropy(s_ce, labels)
    if distill:
        p_de = torch.log_softmax(s_de, -1)
        p_ce = torch.log_softmax(s_ce, -1)
        second = (p_de.exp() * (p_de - p_ce)).sum(-1).mean()
    else:
        second = torch.nn.functional.cross_entropy(s_de, labels)
    stats = {"ce_loss": float(ce_sup.detach()), "de_loss": float(second.detach()),
             "ce_acc": float((s_ce.argmax(-1) == 0).float().mean()),
             "de_acc": float((s_de.argmax(-1) == 0).float().mean())}
    return ce_sup + second, stats
