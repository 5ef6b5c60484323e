"""CCGSCollator: TrainItems -> model inputs with span labels and question groups."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from vcval.localization.spans import best_target_cell, span_mask
from vcval.models.ccgs.configuration_ccgs import CCGSConfig
from vcval.models.ccgs.inputs import VideoText, WindowSpec, batch_inputs, tokenize_cues
from vcval.training.datasets import TrainItem
from vcval.types import Cue


@dataclass
class CCGSCollator:
    """Builds one batch from TrainItems (each: positive video then negatives of one question).

    Rows are (question, video) pairs; ``labels[b]`` is the flat cell i * N + j of the cue span with
    the highest IoU with the answer (positive rows; -100 for negatives) and ``groups[b]`` the
    question's index in the batch. Cue tokens are question-independent and cached per video.
    ``features``: optional {video_id: (T, D) array} for the visual branch.
    """

    tokenizer: Any
    config: CCGSConfig
    spec: WindowSpec
    transcripts: dict[str, list[Cue]]
    features: dict[str, np.ndarray] | None = None
    neg_max_tokens: int = 0  # > 0: a negative video is cut to a contiguous excerpt of about this many tokens
    pos_max_tokens: int = 0  # > 0: the positive video is cut to an excerpt around the answer
    _cache: dict[str, VideoText] = field(default_factory=dict, repr=False)

    def video(self, video_id: str) -> VideoText:
        if video_id not in self._cache:
            cues = self.transcripts[video_id]
            self._cache[video_id] = VideoText(
                tokenize_cues(self.tokenizer, [c.text for c in cues]),
                np.array([c.start for c in cues], dtype=np.float32),
                np.array([max(c.end, c.start) for c in cues], dtype=np.float32),
            )
        return self._cache[video_id]

    def crop(self, vt: VideoText, where: float, max_tokens: int | None = None,
             keep: tuple[int, int] | None = None) -> tuple[VideoText, slice]:
        """A contiguous excerpt of ``vt`` with <= max_tokens (default neg_max_tokens) cue tokens.

        ``where`` in [0, 1) picks the start among the allowed placements; ``keep`` = (first, last)
        cues that must stay inside (the answer; kept whole even when longer than max_tokens).
        """
        max_tokens = self.neg_max_tokens if max_tokens is None else max_tokens
        cost = np.array([len(t) + 1 for t in vt.cue_tokens])
        n = len(cost)
        if max_tokens <= 0 or cost.sum() <= max_tokens:
            return vt, slice(0, n)
        cum = np.concatenate([[0], np.cumsum(cost)])
        last_start = int(np.searchsorted(cum, cum[-1] - max_tokens))  # latest start that still fills
        lo, hi = 0, last_start
        if keep is not None:
            first, last = keep
            lo = int(np.searchsorted(cum, cum[last + 1] - max_tokens))  # earliest start still reaching `last`
            hi = min(first, max(lo, last_start))
            lo = min(lo, first)
        a = lo + int(where * (hi - lo + 1))
        a = min(max(a, lo), hi)
        b = max(a + 1, int(np.searchsorted(cum, cum[a] + max_tokens, side="right")) - 1)
        if keep is not None:
            b = max(b, keep[1] + 1)
        sl = slice(a, min(b, n))
        return VideoText(vt.cue_tokens[sl], vt.cue_start[sl], vt.cue_end[sl]), sl

    def __call__(self, items: Sequence[TrainItem]) -> dict[str, torch.Tensor]:
        q_tokens, videos, feats, labels, groups = [], [], [], [], []
        answers = []
        for g, item in enumerate(items):
            q = self.tokenizer(item.question, add_special_tokens=False)["input_ids"]
            for r, vid in enumerate(item.video_ids):
                vt = self.video(vid)
                if r > 0 and r - 1 < len(item.crops):
                    vt, _ = self.crop(vt, item.crops[r - 1])
                elif r == 0 and self.pos_max_tokens > 0:
                    inside = np.nonzero((vt.cue_end > item.start) & (vt.cue_start < item.end))[0]
                    keep = (int(inside[0]), int(inside[-1])) if len(inside) else None
                    vt, _ = self.crop(vt, item.pos_crop, self.pos_max_tokens, keep)
                q_tokens.append(q)
                videos.append(vt)
                f = None if self.features is None else self.features.get(vid)
                feats.append(f)
                groups.append(g)
                answers.append((item.start, item.end) if r == 0 else None)
        batch = batch_inputs(q_tokens, videos, self.spec, feats if self.features is not None else None)
        n_max = batch["cue_mask"].shape[1]
        valid = span_mask(
            batch["cue_mask"], self.config.max_span_cues, batch["cue_start"], batch["cue_end"], self.config.max_span_seconds
        ).numpy()  # (B, N, N)
        for b, (vt, ans) in enumerate(zip(videos, answers)):
            if ans is None:
                labels.append(-100)
                continue
            n = len(vt.cue_tokens)
            i, j, _ = best_target_cell(vt.cue_start, vt.cue_end, ans[0], ans[1], valid[b, :n, :n])
            labels.append(i * n_max + j)
        batch["labels"] = torch.tensor(labels, dtype=torch.long)
        batch["groups"] = torch.tensor(groups, dtype=torch.long)
        return batch
