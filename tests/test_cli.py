"""The `vcval` command line, end to end on small corpora made in the test."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest

from vcval.cli import main, print_answers
from vcval.types import Answer, Cue

SLING = [
    {"start": 0.0, "duration": 4.0, "text": "Welcome to this first aid video."},
    {"start": 4.0, "duration": 5.0, "text": "Fold a triangular bandage to make an arm sling."},
    {"start": 9.0, "duration": 5.0, "text": "Slide the sling under the injured arm and tie it behind the neck."},
    {"start": 14.0, "duration": 4.0, "text": "Thanks for watching."},
]
BURN = [
    {"start": 0.0, "duration": 5.0, "text": "Cool a minor burn under cool running water for twenty minutes."},
    {"start": 5.0, "duration": 5.0, "text": "Cover the burn loosely with cling film."},
]


@pytest.fixture
def transcripts(tmp_path):
    folder = tmp_path / "transcripts"
    folder.mkdir()
    (folder / "sling01.json").write_text(json.dumps(SLING))
    (folder / "burn01.json").write_text(json.dumps(BURN))
    return folder


def test_ingest_list_ask_remove(tmp_path, transcripts, capsys):
    corpus = str(tmp_path / "corpus")
    assert main(["ingest", str(transcripts), "--corpus", corpus, "--quiet"]) == 0
    assert main(["corpus", "list", "--corpus", corpus, "--json"]) == 0
    out = capsys.readouterr().out
    listed = json.loads(out[out.index("[") :])
    assert {r["video_id"] for r in listed} == {"sling01", "burn01"}

    assert main(["ask", "how do I tie an arm sling?", "--corpus", corpus, "--k", "3", "--json", "--method", "hybrid"]) == 0
    answers = json.loads(capsys.readouterr().out)
    assert answers[0]["video_id"] == "sling01"
    assert set(answers[0]) >= {"video_id", "start", "end", "score", "cues"}
    assert 4.0 <= answers[0]["start"] < answers[0]["end"] <= 18.0
    assert any("sling" in c["text"] for c in answers[0]["cues"])

    assert main(["corpus", "remove", "sling01", "--corpus", corpus]) == 0
    capsys.readouterr()
    assert main(["ask", "how do I tie an arm sling?", "--corpus", corpus, "--json", "--method", "hybrid"]) == 0
    assert all(a["video_id"] != "sling01" for a in json.loads(capsys.readouterr().out))


@pytest.mark.parametrize("method", ["default", "cuespan", "ccgs"])
def test_an_unreachable_hub_checkpoint_is_a_clear_error(tmp_path, transcripts, capsys, monkeypatch, method):
    """Offline (HF_HUB_OFFLINE=1, as in every test) with no cached copy: one line naming the repo and what to do,
    exit 2, not the Hub client's exception as an 'unexpected' error."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty Hub cache
    corpus = str(tmp_path / "corpus")
    assert main(["ingest", str(transcripts), "--corpus", corpus, "--quiet"]) == 0
    capsys.readouterr()
    rc = main(["ask", "how do I tie an arm sling?", "--corpus", corpus, "--method", method,
               "--checkpoint", "some-org/no-such-model"])
    err = capsys.readouterr().err
    assert rc == 2 and "unexpected" not in err, err
    assert "some-org/no-such-model" in err and ("HF_HUB_OFFLINE" in err or "Hub id" in err or "cache" in err)


def test_local_or_hub_folder_wraps_every_hub_failure(monkeypatch):
    import huggingface_hub

    from vcval.config import local_or_hub_folder
    from vcval.errors import NotFoundError

    def broken(*args, **kwargs):
        raise RuntimeError("HTTP 404")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", broken)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(NotFoundError, match=r"could not fetch the MBVR checkpoint 'a/b' at revision v1 .*check the "
                                            r"repo id and revision"):
        local_or_hub_folder("a/b", "v1", what="MBVR checkpoint")


@pytest.mark.parametrize("question", ["", "   \n "])
def test_empty_question_is_a_clear_error(tmp_path, transcripts, capsys, question):
    corpus = str(tmp_path / "corpus")
    main(["ingest", str(transcripts / "sling01.json"), "--corpus", corpus, "--quiet"])
    capsys.readouterr()
    assert main(["ask", question, "--corpus", corpus, "--method", "hybrid"]) == 2
    err = capsys.readouterr().err
    assert "question is empty" in err and "Traceback" not in err


def test_question_on_empty_corpus(tmp_path, capsys):
    from vcval.corpus import Corpus

    corpus = str(tmp_path / "empty")
    Corpus.open(corpus).close()
    assert main(["corpus", "list", "--corpus", corpus]) == 0
    capsys.readouterr()
    assert main(["ask", "how to splint a finger", "--corpus", corpus, "--method", "hybrid"]) == 2
    assert "corpus is empty" in capsys.readouterr().err
    (tmp_path / "new").mkdir()
    assert main(["ask", "how to splint a finger", "--corpus", str(tmp_path / "new")]) == 2
    assert "corpus is empty" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["corpus", "list"], ["corpus", "remove", "abc"], ["ask", "how to splint"]])
def test_read_commands_on_a_mistyped_corpus_path_create_nothing(tmp_path, capsys, command):
    typo = tmp_path / "corpsu"
    assert main([*command, "--corpus", str(typo)]) == 2
    err = capsys.readouterr().err
    assert str(typo) in err and err.count("\n") == 1 and "Traceback" not in err
    assert not typo.exists()


def test_non_http_url_is_rejected(tmp_path, capsys):
    assert main(["ingest", "ftp://example.org/video.mp4", "--corpus", str(tmp_path / "c"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "http" in err and "Traceback" not in err
    assert main(["corpus", "list", "--corpus", str(tmp_path / "c")]) == 0
    assert "empty" in capsys.readouterr().out


def test_video_with_sidecar_to_clip(tmp_path, video_factory, sample_srt, capsys):
    """The whole path: ingest a real (synthetic) video + .srt, ask, get an H.264 answer clip."""
    video = video_factory("sling lesson.mp4", seconds=6.0, srt_text=sample_srt)
    corpus = str(tmp_path / "corpus")
    assert main(["ingest", str(video), "--corpus", corpus, "--quiet"]) == 0
    capsys.readouterr()
    assert main(["ask", "where do I tie the sling?", "--corpus", corpus, "--json", "--clip", "--method", "hybrid"]) == 0
    answers = json.loads(capsys.readouterr().out)
    clip = answers[0]["clip"]
    import imageio_ffmpeg

    probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", clip], capture_output=True, text=True)
    assert "h264" in probe.stderr and "aac" in probe.stderr
    # ingesting the same bytes again is refused and leaves one video
    assert main(["ingest", str(video), "--corpus", corpus, "--quiet"]) == 2
    assert "already" in capsys.readouterr().err


# --------------------------------------------------------------------------- ask: output, confidence
def _answer(video_id: str, confidence: float | None = None, confident: bool | None = None, **kw) -> Answer:
    cues = (Cue(0, 4.0, 9.0, "Fold a triangular bandage."), Cue(1, 9.0, 14.0, "Tie it behind the neck."))
    return Answer(video_id, video_id.title(), 4.0, 14.0, kw.pop("score", 1.5), cues, None, confidence, confident)


@pytest.fixture
def fake_ask(tmp_path, monkeypatch):
    """``vcval ask`` over a stand-in corpus and pipeline: (run(argv, answers) -> exit code, the questions asked)."""
    import vcval.corpus
    import vcval.pipeline

    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    (corpus_dir / "corpus.sqlite").touch()
    asked: list[tuple[str, int]] = []
    answers: list[Answer] = []

    class FakeCorpus:
        def __len__(self) -> int:
            return 2

    class FakePipeline:
        def ask(self, question: str, k: int = 5, *, with_clips: bool = False) -> list[Answer]:
            asked.append((question, k))
            return answers[:k]

    monkeypatch.setattr(vcval.corpus.Corpus, "open", classmethod(lambda cls, path, **kw: FakeCorpus()))
    monkeypatch.setattr(vcval.pipeline.VCVAL, "from_pretrained", classmethod(lambda cls, *a, **kw: FakePipeline()))

    def run(argv: list[str], given: list[Answer]) -> int:
        answers[:] = given
        return main(["ask", *argv, "--corpus", str(corpus_dir)])

    return run, asked


def test_ask_prints_confidence_of_confident_answers(fake_ask, capsys):
    run, asked = fake_ask
    assert run(["how do I tie a sling?", "--k", "2"], [_answer("sling", 0.834, True), _answer("burn", 0.41, False)]) == 0
    out = capsys.readouterr().out
    assert asked == [("how do I tie a sling?", 2)]
    lines = out.splitlines()
    assert lines[0].startswith("1. Sling [sling]") and lines[0].endswith("score 1.500  confidence high (83%)")
    assert any(line.startswith("2. Burn [burn]") and line.endswith("confidence low (41%)") for line in lines)
    assert "no confident answer" not in out and "closest match" not in out


def test_ask_says_when_no_answer_is_confident(fake_ask, capsys):
    run, _ = fake_ask
    given = [_answer("sling", 0.12, False), _answer("burn", 0.05, False), _answer("cpr", 0.001, False)]
    assert run(["how do I fix a car?"], given) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "no confident answer in this corpus; closest matches:"
    ranked = [line for line in out if line[:2] in ("1.", "2.", "3.")]
    assert len(ranked) == 3 and all(line[3:].startswith("closest match: ") for line in ranked)
    assert [line.rsplit("confidence ", 1)[1] for line in ranked] == ["low (12%)", "low (5%)", "low (<1%)"]


def test_ask_without_calibration_prints_as_before(fake_ask, capsys):
    run, _ = fake_ask
    assert run(["how do I tie a sling?"], [_answer("sling"), _answer("burn", score=0.5)]) == 0
    out = capsys.readouterr().out
    assert "confidence" not in out and "closest match" not in out
    assert out.splitlines()[0] == "1. Sling [sling]  00:04.00–00:14.00  score 1.500"
    assert "     00:04.00  Fold a triangular bandage." in out


def test_ask_json_carries_confidence_fields(fake_ask, capsys):
    run, _ = fake_ask
    first = replace(_answer("sling", 0.83456, True), video_confidence=0.97321, key_start=9.0, key_end=14.0)
    assert run(["how do I tie a sling?", "--json"], [first, _answer("burn")]) == 0
    answers = json.loads(capsys.readouterr().out)
    assert (answers[0]["confidence"], answers[0]["confident"], answers[0]["video_confidence"]) == (0.8346, True, 0.9732)
    assert (answers[0]["key_start"], answers[0]["key_end"]) == (9.0, 14.0)
    assert (answers[1]["confidence"], answers[1]["confident"], answers[1]["video_confidence"]) == (None, None, None)
    assert (answers[1]["key_start"], answers[1]["key_end"]) == (None, None)


def test_ask_demo_uses_the_embedded_demo_corpus(fake_ask, monkeypatch, tmp_path, capsys):
    """`vcval ask --demo` opens the demo corpus in the cache (as `vcval serve` does), saying so on first use."""
    import vcval.demo

    run, asked = fake_ask
    opened: list[dict] = []

    class DemoCorpus:
        def __len__(self) -> int:
            return 8

    def fake_ensure(directory=None, progress=None, **kwargs):  # ingests (reporting progress) only while missing
        from vcval.demo import default_demo_dir

        opened.append(kwargs)
        if not (default_demo_dir() / "corpus.sqlite").is_file():
            progress(0.0, desc="adding demo video 1/8: How to put on an arm sling")
            progress(1.0, desc="demo corpus ready")
        return DemoCorpus()

    monkeypatch.setenv("VCVAL_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(vcval.demo, "ensure_demo_corpus", fake_ensure)
    assert main(["ask", "how do I put on a sling?", "--demo", "--k", "1"]) == 0
    assert opened == [{"index": None}] and asked == [("how do I put on a sling?", 1)]
    err = capsys.readouterr().err
    assert f"building the demo corpus in {tmp_path / 'home' / 'demo-corpus'} (first use only)" in err
    assert "adding demo video 1/8" in err and "demo corpus ready" in err
    (tmp_path / "home" / "demo-corpus").mkdir(parents=True)
    (tmp_path / "home" / "demo-corpus" / "corpus.sqlite").touch()
    assert main(["ask", "how do I put on a sling?", "--demo"]) == 0
    assert "building" not in capsys.readouterr().err


def test_missing_default_corpus_points_to_the_demo(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["ask", "how do I put on a sling?"]) == 2
    assert "or ask the embedded demo corpus with --demo" in capsys.readouterr().err


def test_print_answers_of_nothing(capsys):
    print_answers([])
    assert capsys.readouterr().out == "no answer found in this corpus\n"


def test_the_key_sentence_is_marked(capsys):
    """The cues of the answer's key sentence carry a marker; an answer without one marks nothing."""
    print_answers([replace(_answer("sling", 0.9, True), key_start=9.0, key_end=14.0)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].strip().startswith("00:04") and lines[2].strip().startswith("\u25b6 00:09")
    print_answers([_answer("sling", 0.9, True)])
    assert "\u25b6" not in capsys.readouterr().out
    print_answers([replace(_answer("sling", 0.01, False), key_start=9.0, key_end=14.0)])  # a closest match
    assert "\u25b6" not in capsys.readouterr().out


def test_mixed_confidence_is_not_called_unconfident(capsys):
    print_answers([_answer("sling", 0.9, True), _answer("burn", 0.2, False)])
    out = capsys.readouterr().out
    assert "closest match" not in out and "confidence high (90%)" in out and "confidence low (20%)" in out


# --------------------------------------------------------------------------- ask: input checked before any model
_PROBE = """
import contextlib, io, json, sys
from vcval.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = main(argv)
        except SystemExit as exc:
            rc = exc.code
    results.append({"rc": rc, "err": err.getvalue()})
heavy = sorted(m for m in ("torch", "transformers", "faiss", "bm25s", "gradio", "sentence_transformers")
               if m in sys.modules)
print(json.dumps({"results": results, "heavy": heavy}))
"""


def _probe(argvs: list[list[str]]) -> dict:
    proc = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(argvs)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_bad_ask_input_fails_fast_without_loading_a_model(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "corpus.sqlite").touch()  # validation looks, it never opens it
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a corpus")
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.txt").write_text("x")
    cases = [
        (["ask", "", "--corpus", str(corpus)], "question is empty"),
        (["ask", "   ", "--corpus", str(corpus)], "question is empty"),
        (["ask", "how do I tie a sling?", "--k", "0", "--corpus", str(corpus)], "--k must be at least 1 (got 0)"),
        (["ask", "how do I tie a sling?", "--k", "-3", "--corpus", str(corpus)], "--k must be at least 1"),
        (["ask", "how do I tie a sling?", "--corpus", str(tmp_path / "no-such-corpus")], "does not exist"),
        (["ask", "how do I tie a sling?", "--corpus", str(a_file)], "is a file"),
        (["ask", "how do I tie a sling?", "--corpus", str(other)], "not a vcval corpus"),
        (["ask", "how do I tie a sling?", "--corpus", str(corpus), "--device", "gpu"], "--device must be"),
        (["ask", "how do I tie a sling?", "--corpus", str(corpus), "--checkpoint", "./no/such/ckpt"], "does not exist"),
        (["ask", "q" * 2000, "--corpus", str(corpus)], "characters long"),
        (["ask", "how do I tie a sling?", "--demo", "--corpus", str(corpus)], "--demo asks the embedded demo corpus"),
        (["ask", "how do I tie a sling?", "--demo", "--k", "0"], "--k must be at least 1"),
    ]
    out = _probe([argv for argv, _ in cases])
    for (argv, message), result in zip(cases, out["results"]):
        assert result["rc"] == 2, (argv, result)
        assert result["err"].startswith("error: ") and message in result["err"], (argv, result)
        assert "Traceback" not in result["err"]
    assert out["heavy"] == [], f"rejected input imported {out['heavy']}"


def test_help_imports_no_heavy_library():
    out = _probe([["--help"], ["ask", "--help"], ["eval", "--help"]])
    assert [r["rc"] for r in out["results"]] == [0, 0, 0]
    assert out["heavy"] == []
