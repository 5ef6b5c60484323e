"""CCGS: the cross-encoder global-span model (configuration, modeling with its loss, layers, token-window inputs)."""
from __future__ import annotations

from vcval.models.ccgs.configuration_ccgs import CCGSConfig
from vcval.models.ccgs.modeling_ccgs import CCGSModel, CCGSOutput, GlobalSpanContrastiveLoss, load_ccgs

__all__ = ["CCGSConfig", "CCGSModel", "CCGSOutput", "GlobalSpanContrastiveLoss", "load_ccgs"]
