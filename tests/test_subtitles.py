"""Tests for vcval.ingest.subtitles: parsing SRT/VTT/JSON, encodings, errors, cleaning, sidecars."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from vcval.errors import NotFoundError, SubtitleError
from vcval.ingest.subtitles import (
    clean_cues,
    clean_text,
    find_sidecar,
    parse_subtitle_text,
    parse_subtitles,
    write_srt,
)
from vcval.types import Cue

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_TRANSCRIPTS = Path(__file__).resolve().parents[2] / "shared" / "data" / "medvidqa_transcripts"

VTT = """WEBVTT

NOTE a comment block

1
00:00:01.000 --> 00:00:02.500 line:0
<v Bob>Hold the <i>splint</i> &amp; tape</v>

00:00:03.000 --> 00:00:04.250
{\\an8}<c.yellow>Wrap   it</c>
twice
"""


def test_parse_srt(tmp_path, sample_srt):
    p = tmp_path / "a.srt"
    p.write_text(sample_srt, encoding="utf-8")
    cues = parse_subtitles(p)
    assert [c.index for c in cues] == [0, 1, 2]
    assert (cues[1].start, cues[1].end) == (2.0, 4.0)
    assert cues[0].text == "First, wash your hands with soap and water."


def test_parse_vtt_strips_tags_and_style():
    cues = parse_subtitle_text(VTT, "vtt")
    assert [(c.start, c.end, c.text) for c in cues] == [
        (1.0, 2.5, "Hold the splint & tape"),
        (3.0, 4.25, "Wrap it twice"),
    ]


def test_parse_youtube_rolling_vtt_deduplicates():
    cues = parse_subtitles(FIXTURES / "auto.en.vtt")
    assert [c.text for c in cues] == ["first wash your hands", "next place the sling"]
    assert cues[1].start == pytest.approx(3.01)


def test_parse_vtt_missing_blank_line_is_accepted():
    text = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nfirst\n00:00:02.000 --> 00:00:03.000\nsecond\n"
    assert [c.text for c in parse_subtitle_text(text, "vtt")] == ["first", "second"]


def test_parse_json_transcript(tmp_path):
    p = tmp_path / "vid.json"
    p.write_text(json.dumps([{"start": 0.5, "duration": 2.0, "text": "press\nfirmly"},
                             {"start": 2.0, "end": 3.5, "text": "[Music]"}]))
    cues = parse_subtitles(p)
    assert [(c.start, c.end, c.text) for c in cues] == [(0.5, 2.5, "press firmly"), (2.0, 3.5, "[Music]")]


@pytest.mark.skipif(not SHARED_TRANSCRIPTS.is_dir(), reason="shared MedVidQA transcripts not available")
def test_parse_real_youtube_transcripts():
    files = sorted(SHARED_TRANSCRIPTS.glob("*.json"))[:5]
    for f in files:
        cues, _ = clean_cues(parse_subtitles(f))
        assert cues and all(c.end > c.start for c in cues)
        assert all(a.end <= b.start + 1e-6 for a, b in zip(cues, cues[1:]))  # overlaps removed
        assert not any(c.text == "[Music]" for c in cues)


# ---------------------------------------------------------------- encodings


def test_utf8_bom_and_utf16(tmp_path, sample_srt):
    for name, data in [("bom.srt", sample_srt.encode("utf-8-sig")), ("u16.srt", sample_srt.encode("utf-16")),
                       ("u16be.srt", b"\xfe\xff" + sample_srt.encode("utf-16-be"))]:
        p = tmp_path / name
        p.write_bytes(data)
        cues = parse_subtitles(p)
        assert len(cues) == 3 and cues[0].text.startswith("First"), name


def test_cp1252_fallback_logs_warning(tmp_path, caplog):
    p = tmp_path / "latin.srt"
    p.write_bytes("1\n00:00:00,000 --> 00:00:01,000\nCafé – naïve “quotes”\n".encode("cp1252"))
    with caplog.at_level(logging.WARNING, logger="vcval.ingest.subtitles"):
        cues = parse_subtitles(p)
    assert cues[0].text == "Café – naïve “quotes”"
    assert "latin.srt" in caplog.text and "cp1252" in caplog.text


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("name", "content", "pattern"),
    [
        ("bad_ts.srt", "1\n00:00:0x,000 --> 00:00:02,000\nbad\n", r"bad_ts.srt: line 2: malformed timestamp"),
        ("huge.json", '[{"start": 1e300, "duration": 1, "text": "a"}]', r"huge.json: item 0: 'start' is 1e\+300 s"),
        ("huge.srt", "1\n99999:00:01,000 --> 99999:00:02,000\nhello\n", r"huge.srt: cue 1 ends at .* more than a week"),
        ("prose.srt", "Dear diary,\ntoday I went out.\n", r"prose.srt: line 1: expected a cue number"),
        ("noheader.vtt", "00:00:01.000 --> 00:00:02.000\nhello\n", r"noheader.vtt: line 1: expected the 'WEBVTT'"),
        ("bad_ts.vtt", "WEBVTT\n\n00:00:0x.000 --> 00:00:03.000\nbad\n", r"bad_ts.vtt: line 3: malformed cue"),
        ("bad.json", '[{"start": 1, "duration": 2, "text": "a"},\n{"start": ', r"bad.json: line 2: invalid JSON"),
        ("obj.json", '{"start": 1}', r"obj.json: expected a JSON list"),
        ("nostart.json", '[{"duration": 1, "text": "a"}]', r"nostart.json: item 0"),
        ("neg.json", '[{"start": -1, "duration": 1, "text": "a"}]', r"neg.json: item 0: 'start' must be"),
        ("empty.srt", "", r"empty.srt: the subtitle file is empty"),
        ("blank.vtt", "\ufeff \n\n", r"blank.vtt: the subtitle file is empty"),
        ("nocues.vtt", "WEBVTT\n\n", r"nocues.vtt: no subtitle cues"),
        ("notext.srt", "1\n00:00:01,000 --> 00:00:02,000\n<i></i>\n", r"notext.srt: all 1 cues have empty text"),
        ("subs.ass", "[Script Info]\n", r"unsupported subtitle format '.ass'"),
    ],
)
def test_malformed_files_raise_subtitle_error(tmp_path, name, content, pattern):
    p = tmp_path / name
    p.write_text(content, encoding="utf-8")
    with pytest.raises(SubtitleError, match=pattern):
        parse_subtitles(p)


@pytest.mark.parametrize(
    ("name", "content", "texts", "line"),
    [
        ("mid.srt", "1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:0x,000 --> 00:00:03,000\nbad\n\n"
         "3\n00:00:04,000 --> 00:00:05,000\nfine\n", ["ok", "fine"], 6),
        ("arrow.srt", "1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:03,000 -> 00:00:04,000\nbad\n",
         ["ok"], 6),
        ("noblank.srt", "1\n00:00:01,000 --> 00:00:02,000\nok\n2\n00:00:0x,000 --> 00:00:03,000\nbad\n\n"
         "3\n00:00:04,000 --> 00:00:05,000\nfine\n", ["ok", "fine"], 5),
        ("mid.vtt", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nok\n\n00:00:0x.000 --> 00:00:03.000\nbad\n",
         ["ok"], 6),
    ],
)
def test_malformed_cues_are_skipped_with_a_line_numbered_warning(tmp_path, caplog, name, content, texts, line):
    """A malformed cue is dropped with a warning naming its line; it never merges into the previous cue."""
    p = tmp_path / name
    p.write_text(content, encoding="utf-8")
    cues = parse_subtitles(p)
    assert [c.text for c in cues] == texts
    assert f"{name}: line {line}: malformed timestamp" in caplog.text and "skipped" in caplog.text


def test_missing_file_raises_not_found(tmp_path):
    with pytest.raises(NotFoundError, match="missing.srt"):
        parse_subtitles(tmp_path / "missing.srt")


def test_unknown_format_string():
    with pytest.raises(SubtitleError, match="unsupported"):
        parse_subtitle_text("x", "ass")


# ---------------------------------------------------------------- clean_cues


def test_clean_cues_sorts_drops_noise_and_reindexes():
    cues = [
        Cue(0, 5.0, 6.0, "third"),
        Cue(1, 0.0, 1.0, "[Music]"),
        Cue(2, 1.0, 2.0, "  "),
        Cue(3, 2.0, 3.0, "[Applause] first ♪"),
        Cue(4, 3.0, 4.0, "(laughs)"),
        Cue(5, 4.0, 5.0, "second"),
        Cue(6, 4.0, 5.0, "second"),
    ]
    out, warnings = clean_cues(cues)
    assert [(c.index, c.text) for c in out] == [(0, "first"), (1, "second"), (2, "third")]
    assert "2 noise-only cues (like [Music]) were dropped" in warnings
    assert "1 empty cues were dropped" in warnings
    assert "1 duplicate cues were dropped" in warnings


def test_clean_cues_fixes_overlaps_keeping_min_length():
    cues = [Cue(0, 0.0, 4.0, "a"), Cue(1, 2.0, 5.0, "b"), Cue(2, 2.05, 6.0, "c"), Cue(3, 7.0, 8.0, "d")]
    out, warnings = clean_cues(cues)
    assert [(c.start, c.end) for c in out] == [(0.0, 2.0), (2.0, 2.1), (2.05, 6.0), (7.0, 8.0)]
    assert any("overlapping" in w for w in warnings)


def test_clean_cues_past_video_end():
    cues = [Cue(i, float(s), float(s) + 2.0, f"cue {i}") for i, s in enumerate([50, 58, 61, 62, 63, 70])]
    out, warnings = clean_cues(cues, duration=62.0)
    assert [c.text for c in out] == ["cue 0", "cue 1", "cue 2"]
    assert out[-1].end == 62.0
    assert "3 cues past the video end (62.0 s) were dropped" in warnings
    assert "1 cues running past the video end (62.0 s) were cut at the end" in warnings


def test_clean_cues_bad_timing_and_clean_input_has_no_warnings():
    out, warnings = clean_cues([Cue(0, 3.0, 2.0, "backwards")])
    assert (out[0].start, out[0].end) == (3.0, 3.1) and warnings
    good = [Cue(0, 0.0, 1.0, "a"), Cue(1, 1.0, 2.0, "b")]
    assert clean_cues(good) == (good, [])


def test_clean_text():
    assert clean_text("{\\an8}<font color='red'>Hi</font>&nbsp;&lt;there&gt;\n  you") == "Hi <there> you"
    assert clean_text("a < b and c > d") == "a < b and c > d"


# ---------------------------------------------------------------- sidecar + write


def test_find_sidecar(tmp_path):
    video = tmp_path / "lesson.mp4"
    video.write_bytes(b"")
    assert find_sidecar(video) is None
    (tmp_path / "lesson.en.vtt").write_text("WEBVTT\n")
    (tmp_path / "lesson2.srt").write_text("")
    (tmp_path / "other.srt").write_text("")
    assert find_sidecar(video) == tmp_path / "lesson.en.vtt"
    (tmp_path / "lesson.vtt").write_text("WEBVTT\n")
    assert find_sidecar(video) == tmp_path / "lesson.vtt"
    (tmp_path / "lesson.SRT").write_text("")
    assert find_sidecar(video) == tmp_path / "lesson.SRT"


def test_write_srt_roundtrip(tmp_path):
    cues = [Cue(0, 0.0, 1.5, "Hello"), Cue(1, 1.5, 3.25, "Two words")]
    p = tmp_path / "sub" / "out.srt"
    write_srt(cues, p)
    assert parse_subtitles(p) == cues
    assert list(p.parent.iterdir()) == [p]
