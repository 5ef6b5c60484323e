"""The 0.2 layout: old import paths still resolve (with a warning), one config idiom, one cache root,
bundled defaults found by one rule, cheap CLI import, CCGS inference settings beside the checkpoint."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import pytest

from vcval import config
from vcval.config import JsonConfig
from vcval.localization.ccgs import CCGSInference
from vcval.models.ccgs.configuration_ccgs import CCGSConfig


@pytest.mark.parametrize(
    "old, name, new",
    [
        ("vcval.localize", "BaselineLocalizer", "vcval.localization.baseline"),
        ("vcval.localize", "Candidate", "vcval.localization.base"),
        ("vcval.index", "WindowConfig", "vcval.ingest.windows"),
        ("vcval.index", "BM25Index", "vcval.corpus.indexes"),
        ("vcval.modeling.span", "decode_spans", "vcval.localization.spans"),
        ("vcval.modeling.ccgs", "CCGSConfig", "vcval.models.ccgs.configuration_ccgs"),
        ("vcval.eval.runner", "load_questions", "vcval.evaluation.questions"),
        ("vcval.training.losses", "GlobalSpanContrastiveLoss", "vcval.models.ccgs.modeling_ccgs"),
    ],
)
def test_old_import_paths_resolve_with_a_warning(old, name, new):
    import importlib

    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match="moved to"):
        module = importlib.import_module(old)
    assert getattr(module, name) is getattr(importlib.import_module(new), name)
    with pytest.raises(AttributeError, match="moved to"):
        module.no_such_name  # noqa: B018


def test_evaluation_legacy_names_warn():
    import vcval.evaluation as ev
    from vcval.localization.spans import temporal_iou

    with pytest.warns(DeprecationWarning):
        assert ev.temporal_iou is temporal_iou


@dataclass
class _Cfg(JsonConfig):
    a: int = 1
    b: str = "x"


def test_json_config_one_rule_for_unknown_keys(tmp_path):
    assert _Cfg.from_dict({"a": 2}) == _Cfg(a=2)
    with pytest.raises(ValueError, match=r"unknown config keys \['c'\]; known keys are \['a', 'b'\]"):
        _Cfg.from_dict({"a": 2, "c": 3})
    assert _Cfg.from_dict({"a": 2, "c": 3}, strict=False) == _Cfg(a=2)
    _Cfg(a=5).to_json(tmp_path / "c.json")
    assert _Cfg.from_json(tmp_path / "c.json") == _Cfg(a=5)


def test_one_cache_root(monkeypatch, tmp_path):
    monkeypatch.delenv("VCVAL_CACHE", raising=False)
    monkeypatch.setenv("VCVAL_HOME", str(tmp_path / "home"))
    assert config.cache_root() == tmp_path / "home"
    monkeypatch.delenv("VCVAL_HOME")
    monkeypatch.setenv("VCVAL_CACHE", str(tmp_path / "old"))  # deprecated spelling still honoured
    assert config.cache_root() == tmp_path / "old"
    monkeypatch.delenv("VCVAL_CACHE")
    assert config.cache_root().name == "vcval"


def test_bundled_defaults_are_found():
    ck = config.checkpoint_dir()
    assert ck is not None and (ck / "model.safetensors").is_file()
    assert (config.demo_assets_dir() / "catalog.json").is_file()


def test_shipped_inference_settings_live_beside_the_checkpoint():
    ck = config.checkpoint_dir()
    settings = CCGSInference.for_checkpoint(ck, CCGSConfig.from_json(ck / "config.json", strict=False))
    assert settings.keep_retriever_order and settings.baseline_weight == 4.0


def test_legacy_checkpoint_weights_are_read_from_config():
    old = CCGSInference.from_model_config(CCGSConfig(retrieval_weight=1e6, baseline_weight=4.0))
    assert old == CCGSInference(keep_retriever_order=True, retrieval_weight=0.0, prior_weight=0.0, baseline_weight=4.0)
    assert not CCGSInference.from_model_config(CCGSConfig(retrieval_weight=16.0)).keep_retriever_order


def test_cli_import_does_not_load_torch():
    code = "import sys, vcval.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_scripts_share_one_logging_setup():
    """Benchmarks and research scripts configure logging through vcval.utils.setup_script_logging only: it quiets
    the libraries' INFO chatter unless verbose, and no script repeats the setup by hand."""
    import logging
    from pathlib import Path

    from vcval.utils import CHATTY_LOGGERS, setup_script_logging

    saved = {name: logging.getLogger(name).level for name in CHATTY_LOGGERS}
    try:
        for name in CHATTY_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)
        setup_script_logging(verbose=True)
        assert all(logging.getLogger(name).level == logging.NOTSET for name in CHATTY_LOGGERS)
        setup_script_logging()
        assert all(logging.getLogger(name).level == logging.WARNING for name in CHATTY_LOGGERS)
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
    root = Path(__file__).resolve().parent.parent
    by_hand = [p.name for folder in ("benchmarks", "scripts") for p in sorted((root / folder).glob("*.py"))
               if 'logging.getLogger(name).setLevel(logging.WARNING)' in p.read_text()]
    assert by_hand == []
