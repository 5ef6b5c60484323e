"""Public mode, the page config, web-user messages and the per-client rate limit of the app."""
from __future__ import annotations

import json
import socket

import pytest
from conftest import make_video

from vcval import app
from vcval.app import AppSettings, PageConfig, RateLimiter, web_message


def test_web_message_drops_cli_hints_and_server_paths():
    tmp = app._TEMP_DIRS[0]
    assert web_message("the corpus is empty: add videos with `vcval ingest PATH` first") == "The corpus is empty"
    msg = web_message("could not reach example.org: check your internet connection; to add a local file use "
                      "`vcval ingest FILE` (timed out)")
    assert "vcval ingest" not in msg and "check your internet connection" in msg and "(timed out)" in msg
    msg = web_message("could not download http://10.0.0.1/x: 10.0.0.1 is a private address; set "
                      "VCVAL_ALLOW_PRIVATE_URLS=1 or pass `vcval ingest --allow-private-urls` to allow it for "
                      "trusted local use")
    assert "private address" in msg and "VCVAL_" not in msg and "vcval" not in msg
    assert web_message(f"{tmp}0123abcd/clip.png has no video stream") == "Clip.png has no video stream"
    assert web_message("no video 'x' in corpus /srv/data/corpus; list ids with `vcval corpus list`",
                       hide=["/srv/data/corpus"]) == "No video 'x' in corpus corpus"
    assert web_message("it's a 'title' & more") == "It's a 'title' & more"  # plain text, nothing escaped


def test_rate_limiter_token_bucket():
    now = [0.0]
    limiter = RateLimiter(per_minute=6, burst=2, clock=lambda: now[0])
    assert limiter.allow("a") and limiter.allow("a") and not limiter.allow("a")
    assert limiter.allow("b")  # per client
    assert limiter.retry_after("a") == pytest.approx(10.0)
    now[0] = 10.0
    assert limiter.allow("a") and not limiter.allow("a")
    small = RateLimiter(per_minute=60, max_clients=2, clock=lambda: now[0])
    for key in "xyz":
        small.allow(key)
    assert len(small._buckets) == 2


def test_client_key_behind_proxy():
    class Req:
        headers = {"x-forwarded-for": "6.6.6.6, 203.0.113.9"}

        class client:
            host = "10.0.0.2"

    assert app.client_key(Req(), behind_proxy=True) == "203.0.113.9"  # the hop the proxy added
    assert app.client_key(Req(), behind_proxy=False) == "10.0.0.2"
    assert app.client_key(None, behind_proxy=True) == "local"


def test_settings_from_env(monkeypatch):
    for k in ("VCVAL_PUBLIC", "VCVAL_ADMIN_TOKEN", "VCVAL_MAX_UPLOAD_MB", "VCVAL_ASK_PER_MINUTE"):
        monkeypatch.delenv(k, raising=False)
    local = AppSettings.from_env()
    assert not local.public and local.can_change and local.max_upload_mb is None and local.ask_per_minute is None
    monkeypatch.setenv("VCVAL_PUBLIC", "1")
    public = AppSettings.from_env()
    assert public.public and not public.can_change and public.max_upload_mb == 200 and public.ask_per_minute == 20
    monkeypatch.setenv("VCVAL_ADMIN_TOKEN", "s3cret")
    monkeypatch.setenv("VCVAL_MAX_UPLOAD_MB", "50")
    s = AppSettings.from_env()
    assert s.can_change and s.max_upload_mb == 50
    s.check_admin("s3cret")
    with pytest.raises(app.gr.Error, match="admin token"):
        s.check_admin("nope")
    with pytest.raises(app.gr.Error, match="turned off"):
        public.check_admin("s3cret")


def test_page_config(tmp_path):
    assert PageConfig.load(tmp_path) == PageConfig()  # no app.json: generic page, no banner, no examples
    assert PageConfig().banner is None and PageConfig().examples == ()
    (tmp_path / "qs.json").write_text(json.dumps([{"question": "Q2?"}, "Q3?"]), encoding="utf-8")
    (tmp_path / "app.json").write_text(json.dumps({"title": "Wound care <library>", "banner": "**Staff only.** ok",
                                                   "examples": ["Q1?", "Q2?"], "examples_file": "qs.json"}))
    page = PageConfig.load(tmp_path)
    assert page.title == "Wound care <library>" and page.examples == ("Q1?", "Q2?", "Q3?")
    head = page.header_html()
    assert "&lt;library&gt;" in head and "<b>Staff only.</b>" in head
    (tmp_path / "app.json").write_text("{not json")
    assert PageConfig.load(tmp_path) == PageConfig()
    demo = PageConfig.demo()
    assert "not medical advice" in (demo.banner or "") and len(demo.examples) >= 8


def test_parse_span():
    assert app.parse_span("1:05-1:30") == (65.0, 90.0)
    assert app.parse_span("65 to 90") == (65.0, 90.0)
    assert app.parse_span("  ") is None
    with pytest.raises(app.gr.Error, match="1:05-1:30"):
        app.parse_span("soon")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def corpus_pipeline(tmp_path_factory):
    from vcval.corpus import Corpus
    from vcval.pipeline import build_pipeline

    work = tmp_path_factory.mktemp("public")
    corpus = Corpus.open(work / "corpus")
    make_video(work / "sling.mp4", seconds=4.0,
               srt_text="1\n00:00:00,000 --> 00:00:04,000\nTie the sling with a knot behind the neck.\n")
    corpus.add_video(work / "sling.mp4", title="Sling", video_id="sling", visual_features=False)
    (work / "corpus" / "app.json").write_text(json.dumps({"title": "Clinic videos", "examples": ["Sling?"]}))
    return build_pipeline(corpus, "hybrid", device="cpu"), work


def _serve(demo):
    from gradio_client import Client

    port = _free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    return Client(f"http://127.0.0.1:{port}/", verbose=False, analytics_enabled=False, download_files=False)


def test_public_mode_without_token_has_no_way_to_change_the_corpus(corpus_pipeline):
    from gradio_client.exceptions import AppError

    pipeline, _ = corpus_pipeline
    demo = app.build_demo(pipeline, settings=AppSettings(public=True, ask_per_minute=2, max_upload_mb=5))
    try:
        assert demo.vcval_page.title == "Clinic videos" and demo.vcval_page.banner is None  # the corpus's page
        client = _serve(demo)
        api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
        assert set(api) == {"/ask", "/feedback", "/list_videos"}
        assert demo.max_file_size == 5 * 1024 * 1024
        client.predict("How do I tie a sling?", api_name="/ask")
        client.predict("How do I tie a sling?", api_name="/ask")
        with pytest.raises(AppError, match="Too many questions"):
            client.predict("How do I tie a sling?", api_name="/ask")
    finally:
        demo.close()


def test_public_mode_with_token(corpus_pipeline):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    pipeline, work = corpus_pipeline
    demo = app.build_demo(pipeline, settings=AppSettings(public=True, admin_token="tok"))
    try:
        client = _serve(demo)
        api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
        assert {"/add_video", "/add_url", "/remove_video"} <= set(api)
        assert [p["parameter_name"] for p in api["/add_video"]["parameters"]][-1] == "admin_token"
        bad = make_video(work / "bad.mp4", seconds=2.0)
        with pytest.raises(AppError, match="admin token"):
            client.predict(handle_file(str(bad)), None, "", "wrong", api_name="/add_video")
        with pytest.raises(AppError, match="admin token"):
            client.predict("sling", "", "", api_name="/remove_video")
        status, table = client.predict(handle_file(str(bad)), None, "Bad", "tok", api_name="/add_video")
        assert "Added" in status
        vid = next(r[0] for r in table["data"] if r[1] == "Bad")
        status, table = client.predict(vid, "tok", "", api_name="/remove_video")
        assert "Removed" in status and all(r[0] != vid for r in table["data"])
    finally:
        demo.close()
