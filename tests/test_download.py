"""Tests for vcval.ingest.download (yt-dlp), fully offline.

The success path replays tests/fixtures/local_video.info.json whose format and subtitle
URLs point at local files (file:// URLs, which yt-dlp only fetches with its
``enable_file_urls`` option, passed here through ``ydl_opts``). Network failures are
simulated with a fake YoutubeDL (DNS failure) and with a real one against a closed port
on 127.0.0.1 (connection refused): nothing leaves the machine.
"""
from __future__ import annotations

import shutil
import socket
import urllib.error
from pathlib import Path

import pytest
from yt_dlp.utils import DownloadError

from vcval.errors import InvalidInputError, NetworkError, NotFoundError
from vcval.ingest.download import DownloadResult, download, download_from_info_json, is_network_error

FIXTURES = Path(__file__).parent / "fixtures"
LOCAL = {"enable_file_urls": True}


@pytest.fixture
def info_json(tmp_path, video_factory):
    """The fixture .info.json with its @BASE_URL@ placeholders pointing at files in tmp_path."""
    src = tmp_path / "src"
    src.mkdir()
    video_factory("src/clip.mp4", seconds=3.0)
    for name in ("manual.en.vtt", "auto.en.vtt"):
        shutil.copy(FIXTURES / name, src / name)
    text = (FIXTURES / "local_video.info.json").read_text(encoding="utf-8")
    out = tmp_path / "local_video.info.json"
    out.write_text(text.replace("@BASE_URL@", src.as_uri()), encoding="utf-8")
    return out


def test_replay_info_json_downloads_video_and_manual_captions(info_json, tmp_path):
    res = download_from_info_json(info_json, tmp_path / "work", ydl_opts=LOCAL)
    assert isinstance(res, DownloadResult)
    assert res.video_path == tmp_path / "work" / "vcval-fixture-001.mp4"
    assert res.video_path.read_bytes() == (tmp_path / "src" / "clip.mp4").read_bytes()
    assert res.info["format_id"] == "120p"  # the 1080p format is above the 720p cap
    assert res.subtitle_source == "captions" and res.subtitle_lang == "en"
    assert res.automatic_captions is False  # uploaded captions win over automatic ones
    assert res.subtitles_path is not None and res.subtitles_path.suffix == ".vtt"
    assert "wash your hands with soap" in res.subtitles_path.read_text()
    assert res.title == "How to tie an arm sling (local fixture)"
    assert res.url == "https://example.com/watch?v=vcval-fixture-001"


def test_replay_without_captions(info_json, tmp_path):
    res = download_from_info_json(info_json, tmp_path / "work", prefer_captions=False, ydl_opts=LOCAL)
    assert res.video_path.is_file()
    assert (res.subtitles_path, res.subtitle_source) == (None, "none")


def test_failed_caption_download_falls_back_to_video_only(info_json, tmp_path):
    (tmp_path / "src" / "manual.en.vtt").unlink()
    res = download_from_info_json(info_json, tmp_path / "work", ydl_opts=LOCAL)
    assert res.video_path.is_file() and res.subtitle_source == "none"


def test_file_urls_stay_disabled_by_default(info_json, tmp_path):
    with pytest.raises(InvalidInputError, match="file://"):
        download_from_info_json(info_json, tmp_path / "work")


def test_bad_info_json(tmp_path):
    with pytest.raises(NotFoundError):
        download_from_info_json(tmp_path / "missing.info.json", tmp_path)
    bad = tmp_path / "bad.info.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidInputError, match="bad.info.json"):
        download_from_info_json(bad, tmp_path)


@pytest.mark.parametrize("url", ["ftp://example.com/v.mp4", "file:///tmp/v.mp4", "/home/me/v.mp4",
                                 "www.youtube.com/watch?v=x", "https://", "javascript:alert(1)", ""])
def test_non_http_urls_are_rejected(url, tmp_path):
    def factory(opts):  # must never be reached
        raise AssertionError("yt-dlp was called")

    with pytest.raises(InvalidInputError, match="only http\\(s\\) URLs"):
        download(url, tmp_path, ydl_factory=factory)


class _OfflineYDL:
    """Stands in for yt_dlp.YoutubeDL when DNS resolution fails (as with no network)."""

    def __init__(self, opts):
        self.params = opts

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def extract_info(self, url, download=True):
        cause = urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))
        try:
            raise cause
        except urllib.error.URLError:
            import sys

            raise DownloadError("ERROR: [youtube] abc: Unable to download webpage", sys.exc_info()) from cause


def test_network_down_raises_network_error(tmp_path):
    with pytest.raises(NetworkError) as ei:
        download("https://www.youtube.com/watch?v=abc", tmp_path, ydl_factory=_OfflineYDL)
    msg = str(ei.value)
    assert "could not reach www.youtube.com" in msg
    assert "internet connection" in msg and "vcval ingest FILE" in msg


def test_connection_refused_with_real_yt_dlp(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(NetworkError, match="could not reach 127.0.0.1"):
        download(f"http://127.0.0.1:{port}/watch?v=x", tmp_path, ydl_opts={"extractor_retries": 0, "retries": 0},
                 allow_private=True)


def test_is_network_error_ignores_http_status_errors():
    err = urllib.error.HTTPError("https://x.org/v", 404, "Not Found", {}, None)
    assert not is_network_error(DownloadError("ERROR: HTTP Error 404: Not Found", (type(err), err, None)))
    assert is_network_error(ConnectionRefusedError(111, "Connection refused"))
