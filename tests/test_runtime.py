"""The ONNX runtime (vcval.runtime): exports compute what the torch modules compute, are keyed by what they
export and written all-or-nothing, and serve `vcval ask` without importing torch."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from vcval import runtime
from vcval.cli import ask_runtime
from vcval.encoders import _BertForward
from vcval.models.cuespan import CueSpanConfig, CueSpanModel

REPO = Path(__file__).resolve().parents[1]


def tiny_cuespan(folder: Path, emb_dim: int = 16, seed: int = 0) -> tuple[CueSpanModel, CueSpanConfig]:
    """A random tiny CueSpan checkpoint in ``folder`` (length biases non-zero, so their lookups are exercised)."""
    torch.manual_seed(seed)
    cfg = CueSpanConfig(emb_dim=emb_dim, hidden=16, ff_dim=32, head_size=8, n_heads=2, max_span_cues=6)
    model = CueSpanModel(cfg).eval()
    with torch.no_grad():
        model.offset_bias.weight.normal_()
        model.len_bias.weight.normal_()
    folder.mkdir(parents=True, exist_ok=True)
    cfg.to_json(folder / "config.json")
    save_file(model.state_dict(), str(folder / "model.safetensors"))
    return model, cfg


@pytest.mark.slow
def test_cuespan_export_computes_the_torch_model(tmp_path):
    model, cfg = tiny_cuespan(tmp_path / "ckpt")
    runtime.export_cuespan_model(model, tmp_path / "c.onnx")
    ort = runtime.OrtCueSpan(tmp_path / "c.onnx", cfg, threads=1)
    for b, n in [(3, 10), (1, 6), (2, 3), (4, 25)]:  # n < max_span_cues runs padded
        arrays = runtime.example_cuespan_arrays(b, n, cfg.emb_dim, seed=n)
        with torch.inference_mode():
            out = model(**{k: torch.from_numpy(v) for k, v in arrays.items()}, return_full=False)
        band, valid = ort(arrays)
        assert band.shape == tuple(out.band.shape) and valid.shape == tuple(out.valid.shape)
        assert np.array_equal(valid, out.valid.numpy())
        assert valid.any()
        np.testing.assert_allclose(band[valid], out.band.numpy()[valid], atol=1e-4, rtol=1e-4)


def tiny_bert(vocab: int = 4000, hidden: int = 16, layers: int = 2) -> _BertForward:
    g = torch.Generator().manual_seed(0)

    def r(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * 0.2

    w = {"embeddings.word_embeddings.weight": r(vocab, hidden), "embeddings.position_embeddings.weight": r(64, hidden),
         "embeddings.token_type_embeddings.weight": r(2, hidden),
         "embeddings.LayerNorm.weight": 1 + r(hidden), "embeddings.LayerNorm.bias": r(hidden)}
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for name, (o, i_) in {"attention.self.query": (hidden, hidden), "attention.self.key": (hidden, hidden),
                              "attention.self.value": (hidden, hidden), "attention.output.dense": (hidden, hidden),
                              "intermediate.dense": (2 * hidden, hidden), "output.dense": (hidden, 2 * hidden)}.items():
            w[p + name + ".weight"], w[p + name + ".bias"] = r(o, i_), r(o)
        for name in ("attention.output.LayerNorm", "output.LayerNorm"):
            w[p + name + ".weight"], w[p + name + ".bias"] = 1 + r(hidden), r(hidden)
    return _BertForward(w, {"hidden_size": hidden, "num_attention_heads": 2, "num_hidden_layers": layers,
                            "layer_norm_eps": 1e-12, "pad_token_id": 0})


@pytest.mark.slow
def test_bert_export_computes_the_torch_forward(tmp_path):
    forward = tiny_bert()
    runtime.export_bert_forward(forward, tmp_path / "b.onnx")
    ort = runtime.OrtBertForward(tmp_path / "b.onnx", forward.hidden, forward.pad_id, threads=1)
    rng = np.random.default_rng(0)
    for b, length in [(1, 7), (3, 12), (2, 40)]:
        ids = rng.integers(1, 4000, size=(b, length))
        lengths = rng.integers(2, length + 1, size=b)
        mask = (np.arange(length)[None] < lengths[:, None]).astype(np.int64)
        ids = ids * mask
        types = np.zeros_like(ids)
        with torch.inference_mode():
            ref = forward(*(torch.from_numpy(a) for a in (ids, mask, types))).numpy()
        got = ort(ids, mask, types)
        keep = mask.astype(bool)
        np.testing.assert_allclose(got[keep], ref[keep], atol=1e-4, rtol=1e-4)


def test_export_default_is_keyed_by_the_checkpoint_and_all_or_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("VCVAL_HOME", str(tmp_path / "home"))
    ckpt = tmp_path / "ckpt"
    tiny_cuespan(ckpt)
    calls = []

    def fake_bert(path: Path) -> tuple[int, int]:
        calls.append("bert")
        path.write_bytes(b"bert")
        return 16, 0

    def fake_cuespan(source: Path, path: Path) -> dict:
        calls.append("cuespan")
        path.write_bytes(b"cuespan")
        return {"max_span_cues": 6}

    monkeypatch.setattr(runtime, "_export_bert", fake_bert)
    monkeypatch.setattr(runtime, "_export_cuespan", fake_cuespan)
    assert runtime.find_export(ckpt, "all-MiniLM-L6-v2") is None
    started = []
    folder = runtime.export_default(ckpt, on_start=lambda: started.append(1))
    assert runtime.find_export(ckpt, "all-MiniLM-L6-v2") == folder
    assert json.loads((folder / runtime.MANIFEST).read_text())["format"] == runtime.FORMAT_VERSION
    assert runtime.export_default(ckpt, on_start=lambda: started.append(2)) == folder
    assert calls == ["bert", "cuespan"] and started == [1]  # reused, not redone (nor announced)
    first = folder
    assert runtime.find_export(ckpt, "another-encoder") is None
    # changed model code: a new key (the export computes that code)
    source = tmp_path / "modeling.py"
    source.write_text("v1")
    monkeypatch.setattr(runtime, "_source_files", lambda: [source])
    folder = runtime.export_default(ckpt)
    source.write_text("v2")
    assert runtime.find_export(ckpt, "all-MiniLM-L6-v2") is None
    source.write_text("v1")
    assert runtime.find_export(ckpt, "all-MiniLM-L6-v2") == folder
    # retrained weights: a new key, the old export is not used for them
    tiny_cuespan(ckpt, seed=1)
    assert runtime.find_export(ckpt, "all-MiniLM-L6-v2") is None

    def broken(source: Path, path: Path) -> dict:
        path.write_bytes(b"half")
        raise RuntimeError("killed mid-export")

    monkeypatch.setattr(runtime, "_export_cuespan", broken)
    with pytest.raises(RuntimeError):
        runtime.export_default(ckpt)
    assert runtime.find_export(ckpt, "all-MiniLM-L6-v2") is None
    # the two finished exports, no half-written one
    assert sorted(p.name for p in (tmp_path / "home" / "onnx").iterdir()) == sorted({first.name, folder.name})


def test_export_refuses_a_visual_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("VCVAL_HOME", str(tmp_path / "home"))
    ckpt = tmp_path / "ckpt"
    tiny_cuespan(ckpt)
    cfg = json.loads((ckpt / "config.json").read_text())
    (ckpt / "config.json").write_text(json.dumps({**cfg, "visual_dim": 8}))
    with pytest.raises(runtime.VCVALError, match="text-only"):
        runtime.export_default(ckpt)


def test_export_refuses_a_ccgs_checkpoint_by_name(tmp_path, monkeypatch):
    monkeypatch.setenv("VCVAL_HOME", str(tmp_path / "home"))
    with pytest.raises(runtime.VCVALError, match="is a CCGS checkpoint"):
        runtime.export_default(REPO / "checkpoints")
    assert not (tmp_path / "home" / "onnx").exists()


def _ask_args(**kw) -> argparse.Namespace:
    base = dict(runtime="auto", device="auto", checkpoint=None, method="default")
    return argparse.Namespace(**{**base, **kw})


def test_auto_chooses_the_onnx_runtime_only_when_it_can(monkeypatch, capsys, tmp_path):
    import vcval.pipeline
    from vcval.errors import InvalidInputError
    from vcval.pipeline import choose_runtime

    monkeypatch.delenv("VCVAL_CHECKPOINT", raising=False)
    monkeypatch.setattr(vcval.pipeline, "gpu_visible", lambda: False)
    monkeypatch.setattr(vcval.pipeline, "onnx_export_for", lambda method, checkpoint: (tmp_path, tmp_path))
    assert choose_runtime("auto").runtime == "onnx"
    assert choose_runtime("auto", device="cpu").runtime == "onnx"
    assert choose_runtime("torch").runtime == "torch"
    assert choose_runtime("onnx", "bm25").runtime == "onnx"  # asked for: build_pipeline then says what is wrong
    assert choose_runtime("auto", device="cuda").runtime == "torch"
    assert choose_runtime("auto", checkpoint="org/some-hub-model").runtime == "torch"  # Hub ids load through torch
    monkeypatch.setenv("VCVAL_CHECKPOINT", "org/some-hub-model")
    assert choose_runtime("auto").runtime == "torch"  # the Space's opt-in to Hub weights, too
    monkeypatch.delenv("VCVAL_CHECKPOINT")
    assert choose_runtime("auto", "bm25") == ("torch", False)  # not a method the export serves
    monkeypatch.setattr(vcval.pipeline, "gpu_visible", lambda: True)
    assert choose_runtime("auto").runtime == "torch"  # a GPU: torch uses it
    monkeypatch.setattr(vcval.pipeline, "gpu_visible", lambda: False)
    monkeypatch.setattr(vcval.pipeline, "onnx_export_for", lambda method, checkpoint: None)
    assert choose_runtime("auto") == ("torch", True)
    with pytest.raises(InvalidInputError, match="choose one of auto, torch, onnx"):
        choose_runtime("tensorrt")
    # vcval ask: the same choice, plus a hint on stderr when only the export is missing
    capsys.readouterr()
    assert ask_runtime(_ask_args()) == "torch"
    assert "vcval export" in capsys.readouterr().err
    assert ask_runtime(_ask_args(method="bm25")) == "torch"
    assert capsys.readouterr().err == ""  # no hint for methods the export does not serve


def test_the_app_runtime_comes_from_the_environment(monkeypatch, tmp_path, caplog):
    import vcval.pipeline
    from vcval.app import app_runtime
    from vcval.errors import VCVALError

    monkeypatch.setattr(vcval.pipeline, "gpu_visible", lambda: False)
    monkeypatch.setattr(vcval.pipeline, "onnx_export_for", lambda method, checkpoint: None)
    monkeypatch.delenv("VCVAL_RUNTIME", raising=False)
    monkeypatch.delenv("VCVAL_CHECKPOINT", raising=False)
    with caplog.at_level("INFO", logger="vcval.app"):
        assert app_runtime() == "auto"
    assert "vcval export" in caplog.text  # serving on torch, and how not to
    monkeypatch.setenv("VCVAL_RUNTIME", " Torch ")
    assert app_runtime() == "torch"
    monkeypatch.setenv("VCVAL_RUNTIME", "gpu")
    with pytest.raises(VCVALError, match="VCVAL_RUNTIME: unknown runtime 'gpu'"):
        app_runtime()


def test_onnx_runtime_without_an_export_says_how_to_make_one(tmp_path, monkeypatch):
    from vcval.corpus import Corpus
    from vcval.errors import NotFoundError
    from vcval.pipeline import build_pipeline

    monkeypatch.setenv("VCVAL_HOME", str(tmp_path / "home"))
    corpus = Corpus.open(tmp_path / "corpus")
    with pytest.raises(NotFoundError, match="vcval export"):
        build_pipeline(corpus, "default", runtime="onnx")
    with pytest.raises(NotFoundError, match="vcval export"):
        build_pipeline(corpus, "hybrid", runtime="onnx")


@pytest.fixture(scope="module")
def exported_default(tmp_path_factory):
    """The shipped default exported for real (packaged MiniLM + shipped CueSpan; about a minute on 2 cores)."""
    home = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    mp.setenv("VCVAL_HOME", str(home))
    folder = runtime.export_default()
    yield home, folder
    mp.undo()


@pytest.mark.slow
def test_the_exported_default_answers_as_torch_does_and_ask_never_imports_torch(exported_default, tmp_path,
                                                                                monkeypatch):
    """The default pipeline on both runtimes over the demo subtitles: the same answers for every demo question;
    and `vcval ask` in a fresh process answers without importing torch."""
    from vcval.corpus import Corpus
    from vcval.pipeline import build_pipeline

    home, _ = exported_default
    monkeypatch.setenv("VCVAL_HOME", str(home))
    demo = REPO / "assets" / "demo"
    corpus = Corpus.open(tmp_path / "corpus")
    for srt in sorted(demo.glob("*.srt")):
        corpus.add_transcript(srt, video_id=srt.stem, title=srt.stem.replace("-", " "))
    questions = [q["question"] for q in json.loads((demo / "questions.json").read_text())]
    questions += ["what is the capital of France", "asdkjh qwpoeiru zxmcnv"]
    on_torch = build_pipeline(corpus, "default", device="cpu")
    on_onnx = build_pipeline(Corpus.open(tmp_path / "corpus"), "default", runtime="onnx")
    assert type(on_onnx.localizer).__name__ == "CueSpanLocalizer"
    for q in questions:
        a, b = on_torch.ask(q, k=5), on_onnx.ask(q, k=5)
        assert [(x.video_id, x.start, x.end, x.confident) for x in a] == [(x.video_id, x.start, x.end, x.confident)
                                                                          for x in b], q
        np.testing.assert_allclose([x.score for x in a], [x.score for x in b], atol=1e-3)
        np.testing.assert_allclose([x.confidence for x in a], [x.confidence for x in b], atol=1e-3)
    script = ("import sys; from vcval.cli import main; rc = main(['ask', 'how do I put on a sling?', '--corpus', "
              f"{str(tmp_path / 'corpus')!r}, '--k', '2', '--json']); "
              "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr); sys.exit(rc)")
    env = {"VCVAL_HOME": str(home), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "NO-TORCH" in done.stderr
    answers = json.loads(done.stdout)
    assert answers and answers[0]["video_id"] == "arm-sling"


@pytest.mark.slow
def test_the_app_serves_the_export_without_torch_and_ingests_through_it(exported_default, tmp_path):
    """The app as `python app.py` builds it (VCVAL_RUNTIME unset = auto), over a corpus of demo subtitles: it
    serves on onnxruntime and never imports torch, and a transcript added through its corpus is found."""
    from vcval.corpus import Corpus

    home, _ = exported_default
    demo = REPO / "assets" / "demo"
    corpus = Corpus.open(tmp_path / "corpus")
    for name in ("arm-sling", "nosebleed"):
        corpus.add_transcript(demo / f"{name}.srt", video_id=name, title=name)
    corpus.close()
    script = f"""
import json, sys
from vcval.app import DemoHandlers, _default_pipeline, build_demo
qa = _default_pipeline({str(tmp_path / "corpus")!r}, demo=False)
build_demo(pipeline=qa, demo_corpus=False)
first = DemoHandlers(qa).ask("How long should I pinch my nose to stop the bleeding?")[5][0]["video_id"]
qa.corpus.add_transcript({str(demo / "minor-burn.srt")!r}, video_id="minor-burn", title="Minor burn")
added = qa.ask("How long should I hold a burn under cold water?", k=1)[0].video_id
print(json.dumps([first, added, "torch" in sys.modules, type(qa.corpus.text_encoder._fast[1]).__name__]))
"""
    env = {"VCVAL_HOME": str(home), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    first, added, torch_imported, forward = json.loads(done.stdout.strip().splitlines()[-1])
    assert (first, added) == ("nosebleed", "minor-burn")
    assert forward == "OrtBertForward" and torch_imported is False


def test_a_damaged_export_is_one_clear_error(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / runtime.MANIFEST).write_text(json.dumps({"format": runtime.FORMAT_VERSION, "hidden": 16, "pad_id": 0,
                                                       "cuespan_config": {"max_span_cues": 6}}))
    (folder / runtime.ENCODER_FILE).write_bytes(b"not onnx")
    (folder / runtime.CUESPAN_FILE).write_bytes(b"not onnx")
    with pytest.raises(runtime.ExportError, match=r"vcval export --force"):
        runtime.load_export(folder)
    (folder / runtime.MANIFEST).write_text(json.dumps({"format": 999}))
    with pytest.raises(runtime.ExportError, match="format 999"):
        runtime.load_export(folder)


def test_auto_answers_on_torch_when_the_chosen_export_is_damaged(tmp_path, monkeypatch, capsys, caplog):
    import vcval.cli
    import vcval.corpus
    import vcval.pipeline
    from vcval.types import Answer

    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    (corpus_dir / "corpus.sqlite").touch()

    class FakeCorpus:
        def __len__(self) -> int:
            return 1

    class FakePipeline:
        def ask(self, question: str, k: int = 5, *, with_clips: bool = False) -> list[Answer]:
            return [Answer(video_id="sling", title="Sling", start=1.0, end=9.0, score=1.0, cues=())]

    built: list[str] = []
    export_error = runtime.ExportError

    def build_pipeline(corpus, method, *, runtime: str = "torch", **kwargs):
        built.append(runtime)
        if runtime == "onnx":
            raise export_error("the ONNX export in X cannot be used (damaged)")
        return FakePipeline()

    monkeypatch.setattr(vcval.corpus.Corpus, "open", classmethod(lambda cls, path, **kw: FakeCorpus()))
    monkeypatch.setattr(vcval.pipeline, "build_pipeline", build_pipeline)
    monkeypatch.setattr(vcval.pipeline, "gpu_visible", lambda: False)
    monkeypatch.setattr(vcval.pipeline, "onnx_export_for", lambda method, checkpoint: (tmp_path, tmp_path))
    monkeypatch.delenv("VCVAL_CHECKPOINT", raising=False)
    with caplog.at_level("WARNING", logger="vcval.pipeline"):
        assert isinstance(vcval.pipeline.VCVAL.from_pretrained(corpus=FakeCorpus(), runtime="auto"), FakePipeline)
    assert built == ["onnx", "torch"] and "answering on torch" in caplog.text
    built.clear()  # asked for explicitly, the damaged export is the error
    with pytest.raises(runtime.ExportError):
        vcval.pipeline.VCVAL.from_pretrained(corpus=FakeCorpus(), runtime="onnx")
    assert built == ["onnx"]
    built.clear()  # vcval ask: auto by default, so it answers; --runtime onnx: one clear error, exit 2
    assert vcval.cli.main(["ask", "how do I tie a sling?", "--corpus", str(corpus_dir), "--json"]) == 0
    assert built == ["onnx", "torch"] and json.loads(capsys.readouterr().out)[0]["video_id"] == "sling"
    built.clear()
    assert vcval.cli.main(["ask", "how do I tie a sling?", "--corpus", str(corpus_dir), "--runtime", "onnx"]) == 2
    assert built == ["onnx"] and "vcval export --force" not in capsys.readouterr().out


def test_serve_hands_its_runtime_to_the_app(monkeypatch):
    import vcval.app
    import vcval.cli

    seen = []

    class Launched:
        def launch(self, **kwargs):
            seen.append(os.environ.get("VCVAL_RUNTIME"))

    monkeypatch.setattr(vcval.app, "build_demo", lambda **kwargs: Launched())
    monkeypatch.setenv("VCVAL_RUNTIME", "torch")
    assert vcval.cli.main(["serve", "--port", "7999"]) == 0  # no flag: the environment's choice stands
    assert vcval.cli.main(["serve", "--port", "7999", "--runtime", "onnx"]) == 0
    assert seen == ["torch", "onnx"]
    with pytest.raises(SystemExit):
        vcval.cli.main(["serve", "--runtime", "tensorrt"])


def _question_tower(folder: Path, seed: int = 0) -> None:
    """A question tower in ``folder``: the packaged MiniLM with its top layer perturbed (a stand-in for training)."""
    from vcval.encoders import REPBERT_MARKER, _packaged_model_dir
    from vcval.training.runtime import trainable_fp16, write_encoder_folder
    from vcval.training.trainer_cuespan import question_tower

    tower, _ = question_tower(1)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in tower.parameters():
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=g) * 0.02)
    write_encoder_folder(folder, trainable_fp16(tower), _packaged_model_dir(), REPBERT_MARKER, {"kind": "test"},
                         pooling_max_len=128)


def test_a_question_tower_is_exported_with_its_checkpoint_and_keys_the_export(tmp_path, monkeypatch):
    from vcval.localization.cuespan import QUESTION_TOWER

    monkeypatch.setenv("VCVAL_HOME", str(tmp_path / "home"))
    ckpt = tmp_path / "ckpt"
    tiny_cuespan(ckpt)
    plain = runtime.export_dir(ckpt, "all-MiniLM-L6-v2")
    _question_tower(ckpt / QUESTION_TOWER)
    calls = []

    def fake_bert(path: Path, model_dir: Path | None = None) -> tuple[int, int]:
        calls.append((path.name, model_dir))
        path.write_bytes(b"bert")
        return 16, 0

    monkeypatch.setattr(runtime, "_export_bert", fake_bert)
    monkeypatch.setattr(runtime, "_export_cuespan", lambda source, path: path.write_bytes(b"c") and {"max_span_cues": 6})
    folder = runtime.export_default(ckpt)
    assert folder != plain  # the tower's weights are part of the key
    assert calls == [(runtime.ENCODER_FILE, None), (runtime.QUESTION_FILE, ckpt / QUESTION_TOWER)]
    assert json.loads((folder / runtime.MANIFEST).read_text())["question_tower"] is True
    _question_tower(ckpt / QUESTION_TOWER, seed=1)  # a retrained tower: the old export is not used for it
    assert runtime.find_export(ckpt, "all-MiniLM-L6-v2") is None


def test_an_export_without_the_checkpoints_question_tower_is_refused(tmp_path):
    from vcval.errors import VCVALError
    from vcval.localization.cuespan import QUESTION_TOWER, CueSpanLocalizer

    ckpt = tmp_path / "ckpt"
    tiny_cuespan(ckpt)
    (ckpt / QUESTION_TOWER).mkdir()
    with pytest.raises(VCVALError, match="export --force"):
        CueSpanLocalizer.from_onnx(ckpt, object(), encoder=None)


@pytest.mark.slow
def test_the_exported_question_tower_computes_the_torch_tower(tmp_path, monkeypatch):
    from vcval.encoders import TextEncoder
    from vcval.localization.cuespan import QUESTION_TOWER

    monkeypatch.setenv("VCVAL_HOME", str(tmp_path / "home"))
    ckpt = tmp_path / "ckpt"
    tiny_cuespan(ckpt, emb_dim=384)
    _question_tower(ckpt / QUESTION_TOWER)
    _, _, question = runtime.load_export(runtime.export_default(ckpt))
    assert question is not None
    on_onnx = TextEncoder.load_onnx(question, ckpt / QUESTION_TOWER)
    on_torch = TextEncoder.load(ckpt / QUESTION_TOWER)
    texts = ["how do I put on a sling?", "where do my hands go for chest compressions"]
    np.testing.assert_allclose(on_onnx.encode(texts), on_torch.encode(texts), atol=1e-4)
    assert not np.allclose(on_onnx.encode(texts), TextEncoder.load().encode(texts), atol=1e-3)
