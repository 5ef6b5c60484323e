"""The Gradio app, launched for real over a small corpus and driven through gradio_client."""
from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import make_video

from vcval.types import Answer, Cue

ROOT = Path(__file__).resolve().parents[1]

NOSEBLEED_SRT = """1
00:00:00,000 --> 00:00:04,000
Sit down and lean forward during a nosebleed.

2
00:00:04,000 --> 00:00:09,000
Pinch the soft part of the nose for ten to fifteen minutes.

3
00:00:09,000 --> 00:00:13,000
Get medical help if the bleeding lasts more than twenty minutes.
"""

SLING_SRT = """1
00:00:00,000 --> 00:00:02,000
First, wash your hands with soap and water.

2
00:00:02,000 --> 00:00:04,000
Next, place the triangular sling under the injured arm.

3
00:00:04,000 --> 00:00:06,000
Finally, tie the sling with a knot behind the neck.
"""


def _load_app():
    import vcval.app

    return vcval.app


def _video_files(video) -> tuple[Path, Path | None]:
    """(clip, subtitles .vtt or None) from a gr.Video output as gradio_client returns it."""
    if isinstance(video, dict):
        path = video.get("video") or video.get("value")
        vtt = video.get("subtitles")
        return Path(path), (Path(vtt) if vtt else None)
    return Path(video), None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_module():
    return _load_app()


@pytest.fixture(scope="module")
def served(tmp_path_factory, app_module):
    """(client, demo, work dir): the app over a real pipeline on a 2-record corpus."""
    from gradio_client import Client

    from vcval.corpus import Corpus
    from vcval.pipeline import build_pipeline

    work = tmp_path_factory.mktemp("app")
    corpus = Corpus.open(work / "corpus")
    make_video(work / "sling_demo.mp4", seconds=6.0, srt_text=SLING_SRT)
    corpus.add_video(work / "sling_demo.mp4", title="Sling demo", video_id="sling", visual_features=False)
    (work / "nosebleed.srt").write_text(NOSEBLEED_SRT, encoding="utf-8")
    corpus.add_transcript(work / "nosebleed.srt", video_id="nosebleed", title="Nosebleed notes")
    pipeline = build_pipeline(corpus, "hybrid", device="cpu")

    demo = app_module.build_demo(pipeline, examples=["How do I tie a sling?"])
    port = _free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    # the corpus's media and clips are allowed wherever the corpus lives (here /tmp, which Gradio allows anyway)
    assert str(work / "corpus" / "clips") in demo.allowed_paths
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, analytics_enabled=False,
                        download_files=str(work / "downloads"))
        yield client, demo, work
    finally:
        demo.close()


def test_import_is_cheap(app_module):
    """`import app` must not build the default pipeline; `demo` is built on first access."""
    assert app_module._demo is None
    assert "demo" not in vars(app_module)


def test_formatting_helpers(app_module):
    assert app_module.fmt_time(0) == "00:00"
    assert app_module.fmt_time(83.4) == "01:23"
    assert app_module.fmt_time(3725) == "1:02:05"
    assert app_module.fmt_span(5, 65) == "00:05\u201301:05"
    cues = [Cue(i, i * 2.0, i * 2.0 + 2.0, f"cue <{i}>") for i in range(20)]
    ans = Answer("v", "T", 20.0, 24.0, 0.5, (cues[10], cues[11]))
    page = app_module.subtitles_html(cues, ans, context=2)
    assert page.count("<mark") == 2
    assert "cue &lt;10&gt;" in page and "cue <10>" not in page  # escaped
    assert "8 earlier cues" in page and "6 later cues" in page
    assert "00:20" in page  # timestamps per cue
    # no cue list on the answer: the cues overlapping the span are highlighted
    assert app_module.subtitles_html(cues, Answer("v", "T", 20.5, 23.0, 0.5)).count("<mark") == 2
    d = ans.to_dict()
    assert Answer.from_dict(d) == ans
    # the key sentence (cue 11) gets the bolder mark, the rest of the answer the plain one
    keyed = replace(ans, key_start=22.0, key_end=24.0)
    page = app_module.subtitles_html(cues, keyed, context=2)
    assert page.count("<mark") == 2 and page.count('<mark class="vcval-key"') == 1
    assert page.index('class="vcval-key"') > page.index("cue &lt;10&gt;")
    assert Answer.from_dict(keyed.to_dict()) == keyed and keyed.to_dict()["key_start"] == 22.0
    assert keyed.is_key_cue(cues[11]) and not keyed.is_key_cue(cues[10]) and not ans.is_key_cue(cues[11])
    # a closest match (not confident) shows no key sentence: its best sentence answers nothing
    unsure = replace(keyed, confidence=0.01, confident=False)
    assert not unsure.is_key_cue(cues[11]) and 'class="vcval-key"' not in app_module.subtitles_html(cues, unsure)


def test_ask_returns_clip_subtitles_and_table(served):
    client, _, _ = served
    info, video, download, subs, top, answers = client.predict("How do I tie the sling behind the neck?",
                                                               api_name="/ask")
    assert answers[0]["video_id"] == "sling"
    assert "Sling demo" in info and "score" in info
    assert "&#x27;" not in info and "&amp;" not in info
    path, vtt = _video_files(video)
    assert path.is_file() and path.suffix == ".mp4"
    assert vtt is not None and "knot behind the neck" in vtt.read_text(encoding="utf-8")
    assert "<mark" in subs and "knot behind the neck" in subs
    assert 'data-t="4.000"' in subs  # cues carry their time in the full video: a click seeks there
    assert Path(download["value"] if isinstance(download, dict) else download).suffix == ".mp4"  # clip download
    choices = top["choices"]
    assert choices[0][0].startswith("1. Sling demo") and "\u2013" in choices[0][0]
    assert len(choices) == len(answers) >= 1
    start, end = answers[0]["start"], answers[0]["end"]
    assert 0 <= start < end <= 6.5


def test_transcript_only_answer_has_no_video(served):
    client, _, _ = served
    info, video, _, subs, _, answers = client.predict("How long should I pinch my nose?", api_name="/ask")
    assert answers[0]["video_id"] == "nosebleed"
    assert video is None or (isinstance(video, dict) and video.get("value") is None)
    assert "Transcript-only" in info
    assert "<mark" in subs and "Pinch the soft part" in subs


def test_errors_are_clear_and_do_not_crash(served, monkeypatch):
    from gradio_client.exceptions import AppError

    client, demo, _ = served
    with pytest.raises(AppError, match="(?i)question is empty"):
        client.predict("   ", api_name="/ask")
    # an unexpected failure is logged and shown as a short generic message, no traceback
    def boom(*args, **kwargs):
        raise RuntimeError("internal detail that must not leak")

    monkeypatch.setattr(demo.vcval_handlers.pipeline, "ask", boom)
    with pytest.raises(AppError) as info:
        client.predict("How do I tie a sling?", api_name="/ask")
    assert "went wrong" in str(info.value) and "internal detail" not in str(info.value)
    monkeypatch.undo()
    rows = client.predict(api_name="/list_videos")  # the server is still up
    assert len(rows["data"] if isinstance(rows, dict) else rows) == 2


def test_list_videos(served):
    client, _, _ = served
    rows = client.predict(api_name="/list_videos")
    rows = rows["data"] if isinstance(rows, dict) else rows
    by_id = {r[0]: r for r in rows}
    assert set(by_id) >= {"sling", "nosebleed"}
    assert by_id["sling"][1] == "Sling demo" and by_id["sling"][2] == "00:06"
    assert by_id["nosebleed"][3] == "transcript"
    assert all(len(r) == 9 for r in rows)  # provenance columns
    filtered = client.predict("nosebleed", api_name="/list_videos")
    assert [r[0] for r in (filtered["data"] if isinstance(filtered, dict) else filtered)] == ["nosebleed"]


def test_add_video_and_url(served):
    from gradio_client import handle_file

    client, _, work = served
    (work / "upload").mkdir(exist_ok=True)
    clip = make_video(work / "upload" / "burn care.mp4", seconds=4.0,
                      srt_text="1\n00:00:00,000 --> 00:00:03,000\nCool a burn under running water.\n")
    srt_path = clip.with_suffix(".srt")
    status, table = client.predict(handle_file(str(clip)), handle_file(str(srt_path)), "Burn care",
                                   api_name="/add_video")
    assert "Added" in status and "Burn care" in status, status
    rows = table["data"] if isinstance(table, dict) else table
    burn = next(r for r in rows if r[1] == "Burn care")
    assert burn[4] == "upload: burn care.mp4"  # not the server's temp path
    # the same content again: a clear message, the corpus is unchanged
    status, table = client.predict(handle_file(str(clip)), None, "", api_name="/add_video")
    assert "same content" in status
    status, _ = client.predict(None, None, "", api_name="/add_video")
    assert "Choose a video" in status
    status, _ = client.predict("not a url", api_name="/add_url")
    assert status.startswith("\u274c") and "URL" in status
    *_, answers = client.predict("How do I cool a burn?", api_name="/ask")
    assert answers[0]["title"] == "Burn care"


def test_confidence_labels_and_no_confident_answer_state(app_module):
    """Calibrated confidence reads as high / medium / low; all answers unconfident -> the plain "no confident
    answer" state above the closest matches; uncalibrated methods keep the raw score."""
    cue = Cue(0, 0.0, 4.0, "Pinch the soft part of the nose.")
    sure = Answer("v", "Nosebleed", 0.0, 4.0, 3.2, (cue,), confidence=0.83, confident=True)
    meh = Answer("v", "Nosebleed", 0.0, 4.0, 3.2, (cue,), confidence=0.3, confident=True)
    weak = Answer("v", "Nosebleed", 0.0, 4.0, 1.1, (cue,), confidence=0.02, confident=False)
    assert sure.confidence_label() == "high (83%)"
    assert meh.confidence_label() == "medium (30%)"
    assert weak.confidence_label() == "low (2%)"
    assert Answer("v", "N", 0.0, 4.0, 1.5).confidence_label() == "score 1.500"
    assert Answer("v", "N", 0.0, 4.0, 1.5, confidence=0.001, confident=False).confidence_label() == "low (<1%)"
    # with a calibrated video probability (checkpoints calibrated since 2026-12-03) both numbers are worded
    video = Answer("v", "N", 0.0, 4.0, 3.2, (cue,), confidence=0.05, confident=True, video_confidence=0.92)
    assert video.confidence_label() == "high (right video 92%, this stretch 5%)"
    assert replace(video, video_confidence=0.6).confidence_label() == "medium (right video 60%, this stretch 5%)"
    assert replace(video, confident=False, confidence=0.004, video_confidence=0.1).confidence_label() == (
        "low (right video 10%, this stretch <1%)")
    assert Answer.from_dict(video.to_dict()) == video and video.to_dict()["video_confidence"] == 0.92

    class Corpus:
        root = "mem"

        def media_file(self, video_id):
            return None

        def cues(self, video_id):
            return [cue]

    class Pipeline:
        corpus = Corpus()

        def __init__(self, answers):
            self.answers = answers

        def ask(self, question, k):
            return self.answers

        def clip_start(self, answer):
            return max(0.0, answer.start - 2.0)

    handlers = app_module.DemoHandlers(Pipeline([weak, weak]))
    info, _, _, _, top, data, _ = handlers.ask("what is the capital of France", progress=lambda *a, **k: None)
    assert info.startswith("**No confident answer in this corpus.**") and "closest match" in info
    assert top.choices[0][0].endswith("low (2%)") and "Closest matches" in top.label
    assert data[0]["confidence"] == 0.02  # the number itself in the JSON
    assert 'title="calibrated confidence 0.0200' in info  # and on hover
    info, *_ = app_module.DemoHandlers(Pipeline([sure, weak])).ask("nosebleed", progress=lambda *a, **k: None)
    assert "No confident answer" not in info and "confidence: high (83%)" in info
    info, _, _, _, top, data, _ = app_module.DemoHandlers(Pipeline([video, weak])).ask("nosebleed",
                                                                                     progress=lambda *a, **k: None)
    assert "confidence: high (right video 92%, this stretch 5%)" in info and "right video 0.9200" in info
    assert top.choices[0][0].endswith("high (right video 92%, this stretch 5%)") and data[0]["video_confidence"] == 0.92


def test_no_client_can_make_the_server_ingest_its_own_files(served):
    """A client that sends a server path it never uploaded (raw API call, no upload) is refused by Gradio's
    path check on every file input, and the corpus is unchanged."""
    import json

    import httpx

    client, demo, work = served
    base = client.src.rstrip("/")
    before = client.predict(api_name="/list_videos")
    secret = Path(__file__).resolve().parent / "fixtures" / "manual.en.vtt"  # a server file outside any upload
    server_video = work / "sling_demo.mp4"  # a server video in /tmp, never uploaded by this client
    for video, subs in ((str(secret), None), ("/etc/hostname", None), (str(server_video), str(secret))):
        payload = {"data": [{"path": video, "meta": {"_type": "gradio.FileData"}},
                            None if subs is None else {"path": subs, "meta": {"_type": "gradio.FileData"}},
                            "Stolen"]}
        with httpx.Client(timeout=60) as http:
            r = http.post(f"{base}/gradio_api/call/add_video", json=payload)
            if r.status_code == 200:
                event = r.json()["event_id"]
                stream = http.get(f"{base}/gradio_api/call/add_video/{event}").text
                assert "event: error" in stream and "not uploaded" in stream, stream
            else:
                assert r.status_code in (400, 403, 422), r.text
    after = client.predict(api_name="/list_videos")
    assert json.dumps(after, sort_keys=True) == json.dumps(before, sort_keys=True)
