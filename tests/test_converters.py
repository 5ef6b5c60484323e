"""Dataset converters on small hand-made excerpts (plus a check against the real files when present)."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
if not SHARED.is_dir():
    SHARED = Path("/work/shared/data")


def load_script(name: str):
    """Import scripts/<name>.py as a module (scripts/ is not a package)."""
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tvqa = load_script("convert_tutorialvqa")
medvid = load_script("convert_medvidqa")
pstuts = load_script("convert_pstuts")


# ------------------------------------------------------------------ TutorialVQA excerpt
SENTS_A = ["Open the Character panel.", "Choose a font.", "Set the size.", "Click OK."]
SENTS_B = ["Add a gradient.", "Drag across the layer."]


def write_tvqa_excerpt(src: Path) -> None:
    """Two videos; sent_ids run across segments; one null begin, one null end, one negative span."""
    timed = [
        {
            "video_id": "100",
            "video_title": "Text",
            "segments": [
                {"segment_id": 0, "sentences": [
                    {"sent_id": 0, "sent": SENTS_A[0], "begin": "1.0", "end": "3.0", "events": []},
                    {"sent_id": 1, "sent": SENTS_A[1], "begin": "3.5", "end": None, "events": []},
                ]},
                {"segment_id": 1, "sentences": [
                    {"sent_id": 2, "sent": SENTS_A[2], "begin": None, "end": "9.0", "events": []},
                    {"sent_id": 3, "sent": SENTS_A[3], "begin": "9.5", "end": "12.25", "events": []},
                ]},
            ],
        },
        {
            "video_id": "7",
            "video_title": "Gradient",
            "segments": [{"segment_id": 0, "sentences": [
                {"sent_id": 0, "sent": SENTS_B[0], "begin": "0.5", "end": "2.0", "events": []},
                {"sent_id": 1, "sent": SENTS_B[1], "begin": "4.0", "end": "3.9", "events": []},  # end < begin
            ]}],
        },
    ]
    videos = [
        {"video_id": "100", "video_title": "Text", "transcript": SENTS_A, "segments": []},
        {"video_id": "7", "video_title": "Gradient", "transcript": SENTS_B, "segments": []},
    ]
    src.mkdir(parents=True, exist_ok=True)
    (src / "timed_transcripts.events.json").write_text(json.dumps(timed))
    (src / "videos.json").write_text(json.dumps(videos))
    (src / "train.json").write_text(json.dumps([
        {"video_id": "100", "question": "how do i open the character panel? ", "answer_start": 0, "answer_end": 1},
        {"video_id": "7", "question": "how to add a gradient?", "answer_start": 0, "answer_end": 1},
    ]))
    (src / "dev.json").write_text(json.dumps([
        {"video_id": "100", "question": " ", "answer_start": 0, "answer_end": 0},  # blank: dropped
        {"video_id": "100", "question": "how to set the size?", "answer_start": 2, "answer_end": 3},
    ]))
    (src / "test.json").write_text(json.dumps([
        {"video_id": "7", "question": "how to drag?", "answer_start": 1, "answer_end": 1},
    ]))


def test_fill_times_interpolates_and_clamps():
    # sequence b0 e0 b1 e1 b2 e2 = 1, 3, 3.5, ?, ?, 9 -> the two gaps split 3.5..9 in thirds
    times = tvqa.fill_times([1.0, 3.5, None], [3.0, None, 9.0])
    assert times[0] == (1.0, 3.0)
    assert times[1] == (3.5, pytest.approx(5.333, abs=1e-3))
    assert times[2] == (pytest.approx(7.167, abs=1e-3), 9.0)
    # edges copy the nearest known value; a negative duration becomes zero
    assert tvqa.fill_times([None, 2.0], [1.0, None]) == [(1.0, 1.0), (2.0, 2.0)]
    assert tvqa.fill_times([4.0], [3.9]) == [(4.0, 4.0)]
    with pytest.raises(tvqa.ConversionError):
        tvqa.fill_times([None], [None])


def test_tutorialvqa_excerpt_conversion(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    write_tvqa_excerpt(src)
    split_path = tmp_path / "split.json"
    split_path.write_text(json.dumps({"seed": 0, "train": ["100"], "dev": [], "test": ["7"]}))
    summary = tvqa.convert(src, out, split_path=split_path)
    assert summary["videos"] == 2 and summary["filled_null_times"] == 2

    cues = json.loads((out / "transcripts" / "100.json").read_text())
    assert [c["text"] for c in cues] == SENTS_A
    assert cues[0] == {"start": 1.0, "duration": 2.0, "text": SENTS_A[0]}
    assert cues[1]["start"] == 3.5 and cues[1]["duration"] == pytest.approx(1.833, abs=1e-3)
    assert cues[2]["start"] + cues[2]["duration"] == pytest.approx(9.0)
    assert all(c["duration"] >= 0 for c in cues)

    official_train = json.loads((out / "official_train.json").read_text())
    q0 = official_train[0]
    assert q0["question"] == "how do i open the character panel?"  # stripped
    assert (q0["answer_start_cue"], q0["answer_end_cue"]) == (0, 1)
    # answer seconds = [begin(sentence 0), end(sentence 1)] of the timed file
    assert q0["answer_start_second"] == 1.0
    assert q0["answer_end_second"] == pytest.approx(cues[1]["start"] + cues[1]["duration"])
    assert q0["video_length"] == 12.25 and q0["sample_id"] == "train-0" and q0["official_split"] == "train"
    assert summary["dropped_blank_questions"] == ["dev-0"]
    dev_rows = json.loads((out / "official_dev.json").read_text())
    assert len(dev_rows) == 1 and dev_rows[0]["sample_id"] == "dev-1"
    dev = dev_rows[0]
    assert dev["answer_start_second"] == pytest.approx(cues[2]["start"]) and dev["answer_end_second"] == 12.25
    # the zero-length answer (negative source span) stays a valid span
    t = json.loads((out / "official_test.json").read_text())[0]
    assert t["answer_start_second"] == t["answer_end_second"] == 4.0

    # by-video split: every question goes where its video is, whatever its official split
    train = json.loads((out / "train.json").read_text())
    test = json.loads((out / "test.json").read_text())
    assert {q["video_id"] for q in train} == {"100"} and len(train) == 2
    assert {q["video_id"] for q in test} == {"7"} and len(test) == 2
    assert json.loads((out / "dev.json").read_text()) == []


def test_tutorialvqa_is_deterministic(tmp_path):
    src = tmp_path / "src"
    write_tvqa_excerpt(src)
    split_path = tmp_path / "split.json"
    split_path.write_text(json.dumps({"seed": 0, "train": ["100"], "dev": [], "test": ["7"]}))
    for name in ("a", "b"):
        tvqa.convert(src, tmp_path / name, split_path=split_path)
    for f in sorted((tmp_path / "a").rglob("*.json")):
        assert f.read_bytes() == (tmp_path / "b" / f.relative_to(tmp_path / "a")).read_bytes()


def test_tutorialvqa_rejects_text_mismatch_and_bad_index(tmp_path):
    src = tmp_path / "src"
    write_tvqa_excerpt(src)
    videos = json.loads((src / "videos.json").read_text())
    videos[0]["transcript"] = SENTS_A[1:] + SENTS_A[:1]  # shifted: indexes would point to wrong text
    (src / "videos.json").write_text(json.dumps(videos))
    with pytest.raises(tvqa.ConversionError, match="differs"):
        tvqa.convert(src, tmp_path / "out", split_path=tmp_path / "s.json")
    write_tvqa_excerpt(src)
    (src / "test.json").write_text(json.dumps([{"video_id": "7", "question": "q", "answer_start": 1, "answer_end": 5}]))
    with pytest.raises(tvqa.ConversionError, match="outside"):
        tvqa.convert(src, tmp_path / "out", split_path=tmp_path / "s.json")


def test_video_split_is_seeded_and_disjoint():
    ids = [str(i) for i in range(76)]
    a = tvqa.make_video_split(ids, seed=3)
    assert a == tvqa.make_video_split(list(reversed(ids)), seed=3)  # input order does not matter
    assert a != tvqa.make_video_split(ids, seed=4)
    assert (len(a["train"]), len(a["dev"]), len(a["test"])) == (52, 8, 16)
    assert set(a["train"]) | set(a["dev"]) | set(a["test"]) == set(ids)
    assert not set(a["train"]) & set(a["test"]) and not set(a["dev"]) & set(a["test"])


def test_committed_split_partitions_the_76_videos():
    split = json.loads((SCRIPTS / "splits" / "tutorialvqa_video_split.json").read_text())
    parts = [set(split[k]) for k in ("train", "dev", "test")]
    assert [len(p) for p in parts] == [52, 8, 16]
    assert len(set().union(*parts)) == 76
    assert split == tvqa.make_video_split(sorted(set().union(*parts)), seed=split["seed"])  # reproducible


@pytest.mark.skipif(not (SHARED / "tutorialvqa" / "videos.json").exists(), reason="shared data not present")
def test_tutorialvqa_real_data_maps_answers(tmp_path):
    summary = tvqa.convert(SHARED / "tutorialvqa", tmp_path)
    assert summary["videos"] == 76
    files = summary["files"]
    assert files["official_train.json"]["questions"] == 3718 - 2  # two blank questions dropped
    assert sum(files[f"{k}.json"]["questions"] for k in ("train", "dev", "test")) == 3716 + 1238 + 1239
    assert files["test.json"]["videos"] == 16
    # official train row 0: video 15569, sentences 6..7; begin "38.249999", end "57.34" in the timed file
    q = json.loads((tmp_path / "official_train.json").read_text())[0]
    assert (q["video_id"], q["answer_start_cue"], q["answer_end_cue"]) == ("15569", 6, 7)
    assert (q["answer_start_second"], q["answer_end_second"]) == (38.25, 57.34)
    cues = json.loads((tmp_path / "transcripts" / "15569.json").read_text())
    assert cues[6]["text"].startswith("Open the Character panel here")


# ------------------------------------------------------------------ MedVidQA excerpt
def test_medvidqa_excerpt(tmp_path):
    src, tr, out = tmp_path / "mv", tmp_path / "tr", tmp_path / "out"
    src.mkdir(), tr.mkdir(), (tr / "meta").mkdir()
    ann = [
        {"sample_id": 1, "question": "q1", "answer_start_second": 10, "answer_end_second": 30, "video_length": 100, "video_id": "AAA"},
        {"sample_id": 2, "question": "q2", "answer_start_second": 0, "answer_end_second": 50, "video_length": 200, "video_id": "BBB"},
        {"sample_id": 3, "question": "q3", "answer_start_second": 60, "answer_end_second": 100, "video_length": 100, "video_id": "AAA"},
    ]
    (src / "train.json").write_text(json.dumps(ann))
    (tr / "AAA.json").write_text('[{"start": 0.5, "duration": 2.0, "text": "hello"}]')
    (tr / "ZZZ.json").write_text('[{"start": 0.5, "duration": 2.0, "text": "unused"}]')
    (tr / "meta" / "medvidqa_video_catalog.json").write_text(json.dumps({"documents": [{"video_id": "AAA", "title": "Sling"}]}))
    summary = medvid.convert(src, tr, out)
    assert summary == {"train_annotations": 3, "transcripts_available": 2, "questions_with_transcripts": 2,
                       "videos_with_transcripts": 1}
    sel = json.loads((out / "questions_with_transcripts.json").read_text())
    assert [q["sample_id"] for q in sel] == [1, 3]
    assert (out / "transcripts" / "AAA.json").read_bytes() == (tr / "AAA.json").read_bytes()
    assert not (out / "transcripts" / "ZZZ.json").exists()
    assert json.loads((out / "videos.json").read_text()) == [{"video_id": "AAA", "title": "Sling", "duration": 100.0}]
    pri = json.loads((out / "priors.json").read_text())
    # lengths 20, 50, 40 s; fractions 0.2, 0.25, 0.4; starts 0.1, 0.0, 0.6
    assert pri["n_annotations"] == 3
    assert pri["answer_length_seconds"]["mean"] == pytest.approx(110 / 3, abs=1e-5)
    assert pri["answer_length_seconds"]["p50"] == 40.0
    assert pri["answer_length_fraction"]["mean"] == pytest.approx(0.85 / 3, abs=1e-5)
    assert pri["answer_start_fraction"]["mean"] == pytest.approx(0.7 / 3, abs=1e-5)
    assert pri["answer_start_fraction_histogram"]["counts"] == [1, 1, 0, 0, 0, 0, 1, 0, 0, 0]


def test_percentile_matches_linear_interpolation():
    v = [1.0, 2.0, 3.0, 4.0]
    assert medvid.percentile(v, 50) == 2.5
    assert medvid.percentile(v, 25) == 1.75
    assert medvid.percentile(v, 100) == 4.0


# ------------------------------------------------------------------ PsTuts excerpt
def test_pstuts_excerpt(tmp_path):
    src, out = tmp_path / "ps", tmp_path / "out"
    src.mkdir()
    video = {
        "video_id": 42, "title": "Warp", "length": "00:01:05.50",
        "transcripts": [
            {"sent_id": 0, "sent": "Hello.", "begin": 0.5, "end": 1.0},
            {"sent_id": 1, "sent": "Select the tool.", "begin": None, "end": 4.0},
        ],
        "qa": [{"sent_id": 1, "q": " how to select the tool?", "a": "Tool"}],
    }
    (src / "train.json").write_text(json.dumps([video]))
    (src / "dev.json").write_text(json.dumps([]))
    (src / "test.json").write_text(json.dumps([dict(video, video_id=43, qa=str(video["qa"]))]))  # literal-string form
    summary = pstuts.convert(src, out)
    assert summary["train"] == {"videos": 1, "questions": 1} and summary["license"] == "CC BY-NC 4.0"
    q = json.loads((out / "train.json").read_text())[0]
    assert q["question"] == "how to select the tool?" and q["video_id"] == "42"
    assert (q["answer_start_cue"], q["answer_end_cue"]) == (1, 1)
    assert (q["answer_start_second"], q["answer_end_second"]) == (2.5, 4.0)  # null begin: midpoint of 1.0 and 4.0
    assert q["video_length"] == 65.5 and q["license"] == "CC BY-NC 4.0" and q["answer_label"] == "Tool"
    assert json.loads((out / "test.json").read_text())[0]["sample_id"] == "test-43-0"
    assert "NonCommercial" in (out / "NOTICE.txt").read_text()
    assert pstuts.parse_length("06:54.57") == pytest.approx(414.57)
