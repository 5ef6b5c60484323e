"""Download a video (and its English captions) with yt-dlp.

``download(url, workdir)`` fetches the best mp4 up to 720p plus English subtitles
(uploaded ones first, then automatic captions) as .srt/.vtt. ``download_from_info_json``
replays a saved ``.info.json`` (yt-dlp ``--write-info-json``) without re-extracting.
Network failures raise NetworkError; unusable URLs raise InvalidInputError.
"""
from __future__ import annotations

import json
import logging
import os
import re
import socket
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from vcval.errors import InvalidInputError, NetworkError, NotFoundError
from vcval.ingest.netguard import check_url, find_blocked, guarded

logger = logging.getLogger(__name__)

# best mp4 <= 720p (separate streams merged by ffmpeg, or a single file), then anything <= 720p
FORMAT = ("bv*[height<=720][ext=mp4]+ba[ext=m4a]/b[height<=720][ext=mp4]/"
          "bv*[height<=720]+ba/b[height<=720]/b")
SUBTITLE_LANGS = ["en", r"en[-_].*"]
_NETWORK_MSG_RE = re.compile(
    r"name or service not known|temporary failure in name resolution|getaddrinfo failed|failed to resolve|"
    r"nodename nor servname|network is unreachable|no route to host|connection refused|connection reset|"
    r"timed out|unable to download webpage|errno -[23]\b|errno 11001", re.I)


@dataclass
class DownloadResult:
    """What :func:`download` fetched. ``subtitle_source`` is "captions" or "none"."""

    video_path: Path
    subtitles_path: Path | None
    subtitle_source: str
    title: str
    url: str
    info: dict = field(repr=False)
    subtitle_lang: str | None = None
    automatic_captions: bool = False


class _YdlLogger:
    """Route yt-dlp's output to ``logging`` instead of stdout/stderr."""

    def debug(self, msg: str) -> None:
        logger.debug("yt-dlp: %s", msg)

    def info(self, msg: str) -> None:
        logger.debug("yt-dlp: %s", msg)

    def warning(self, msg: str) -> None:
        logger.warning("yt-dlp: %s", msg)

    def error(self, msg: str) -> None:
        logger.debug("yt-dlp error: %s", msg)  # re-raised as a typed exception by the caller


def validate_url(url: str, *, allow_private: bool | None = None) -> str:
    """Return ``url`` stripped if it is safe to fetch (:func:`vcval.ingest.netguard.check_url`), else raise
    InvalidInputError (NetworkError when its host does not resolve)."""
    return check_url(url, allow_private=allow_private)


def ydl_options(workdir: Path, prefer_captions: bool = True) -> dict[str, Any]:
    """The yt-dlp options vcval uses (mp4 <= 720p, English .srt/.vtt subtitles, quiet)."""
    from vcval.media import ffmpeg_exe

    return {
        "format": FORMAT,
        "merge_output_format": "mp4",
        "outtmpl": {"default": str(workdir / "%(id)s.%(ext)s")},
        "restrictfilenames": True,
        "noplaylist": True,
        "writesubtitles": prefer_captions,
        "writeautomaticsub": prefer_captions,
        "subtitleslangs": SUBTITLE_LANGS,
        "subtitlesformat": "srt/vtt/best",
        "ffmpeg_location": ffmpeg_exe(),
        "quiet": True,
        "no_warnings": False,
        "noprogress": True,
        "socket_timeout": 20,
        "retries": 3,
        "logger": _YdlLogger(),
        # every fetch stays in this thread, over yt-dlp's own HTTP stack, where the connect guard sees it
        "concurrent_fragment_downloads": 1,
        "external_downloader": {},
        "hls_prefer_native": True,
    }


def _causes(err: BaseException) -> list[BaseException]:
    """``err`` and everything it wraps (__cause__, __context__, yt-dlp .exc_info / .cause)."""
    out: list[BaseException] = []
    stack: list[Any] = [err]
    while stack:
        e = stack.pop()
        if not isinstance(e, BaseException) or any(e is o for o in out):
            continue
        out.append(e)
        exc_info = getattr(e, "exc_info", None)
        stack += [e.__cause__, e.__context__, getattr(e, "cause", None), exc_info[1] if exc_info else None]
    return out


def is_network_error(err: BaseException) -> bool:
    """True if ``err`` (typically a yt_dlp DownloadError) was caused by an unreachable network/host."""
    from yt_dlp.networking.exceptions import HTTPError as YdlHTTPError
    from yt_dlp.networking.exceptions import TransportError

    for e in _causes(err):
        if isinstance(e, (urllib.error.HTTPError, YdlHTTPError)):
            continue  # the host answered: not a connectivity problem
        if isinstance(e, (TransportError, urllib.error.URLError, socket.gaierror, socket.timeout,
                          ConnectionError, TimeoutError)):
            return True
    return bool(_NETWORK_MSG_RE.search(str(err)))


def _raise_typed(err: BaseException, url: str) -> None:
    host = urlparse(url).hostname or url
    blocked = find_blocked(_causes(err))
    if blocked is not None:
        raise InvalidInputError(f"could not download {url}: {blocked}") from err
    if is_network_error(err):
        raise NetworkError(f"could not reach {host}: check your internet connection; to add a local file use "
                           f"`vcval ingest FILE` ({_short(err)})") from err
    raise InvalidInputError(f"could not download {url}: {_short(err)}") from err


def _short(err: BaseException) -> str:
    return re.sub(r"^(ERROR:\s*)+", "", str(err).strip())[:300]


def _pick_subtitles(info: dict) -> tuple[Path | None, str | None, bool]:
    """Choose the downloaded subtitle file: uploaded before automatic, 'en' before 'en-XX'."""
    requested = info.get("requested_subtitles") or {}
    manual = set((info.get("subtitles") or {}).keys())
    best = None
    for lang, sub in requested.items():
        fp = sub.get("filepath")
        if not fp or not Path(fp).is_file() or sub.get("ext") not in ("srt", "vtt"):
            continue
        rank = (lang not in manual, lang != "en", lang)
        if best is None or rank < best[0]:
            best = (rank, Path(fp), lang)
    if best is None:
        return None, None, False
    return best[1], best[2], best[2] not in manual


def _result(info: dict, ydl: Any, url: str) -> DownloadResult:
    if info.get("_type") == "playlist":
        raise InvalidInputError(f"{url} is a playlist; give the URL of a single video")
    downloads = info.get("requested_downloads") or []
    path = Path(downloads[-1]["filepath"]) if downloads and downloads[-1].get("filepath") else None
    if path is None or not path.is_file():
        raise InvalidInputError(f"yt-dlp reported success for {url} but wrote no video file; "
                                "the page may have no downloadable video")
    subs, lang, auto = _pick_subtitles(info)
    return DownloadResult(
        video_path=path,
        subtitles_path=subs,
        subtitle_source="captions" if subs else "none",
        title=str(info.get("title") or path.stem),
        url=str(info.get("webpage_url") or info.get("original_url") or url),
        info=ydl.sanitize_info(info),
        subtitle_lang=lang,
        automatic_captions=auto,
    )


def _run(run: Callable[[Any], dict], opts: dict, ydl_factory: Callable[..., Any] | None, url: str,
         allow_private: bool | None = None) -> DownloadResult:
    """Run ``run(ydl)`` under the connect guard; retry once without subtitles if only the captions failed."""
    with guarded(allow_private=allow_private):
        return _run_unguarded(run, opts, ydl_factory, url)


def _run_unguarded(run: Callable[[Any], dict], opts: dict, ydl_factory: Callable[..., Any] | None,
                   url: str) -> DownloadResult:
    from yt_dlp.utils import DownloadError, YoutubeDLError

    if ydl_factory is None:
        from yt_dlp import YoutubeDL as ydl_factory  # noqa: N813
    try:
        with ydl_factory(opts) as ydl:
            return _result(run(ydl), ydl, url)
    except YoutubeDLError as e:
        if not isinstance(e, DownloadError) or "subtitles" not in str(e) or not opts.get("writesubtitles"):
            _raise_typed(e, url)
        logger.warning("captions for %s could not be downloaded (%s); continuing without them", url, _short(e))
    opts = {**opts, "writesubtitles": False, "writeautomaticsub": False}
    try:
        with ydl_factory(opts) as ydl:
            return _result(run(ydl), ydl, url)
    except YoutubeDLError as e:
        _raise_typed(e, url)
    raise AssertionError("unreachable")


def download(url: str, workdir: str | os.PathLike, *, prefer_captions: bool = True,
             ydl_factory: Callable[..., Any] | None = None, ydl_opts: dict | None = None,
             allow_private: bool | None = None) -> DownloadResult:
    """Download one video (best mp4 <= 720p) and its English captions into ``workdir``.

    ``ydl_factory(opts)`` builds the downloader (default ``yt_dlp.YoutubeDL``; a test seam);
    ``ydl_opts`` overrides entries of :func:`ydl_options`. Raises InvalidInputError for a
    non-http(s) URL, a non-public address (the URL's, a redirect's or a media URL's; see
    :mod:`vcval.ingest.netguard`; ``allow_private=True`` or ``$VCVAL_ALLOW_PRIVATE_URLS=1`` allows
    them) or an unsupported page, and NetworkError when the host cannot be reached.
    """
    url = validate_url(url, allow_private=allow_private)
    wd = Path(workdir)
    wd.mkdir(parents=True, exist_ok=True)
    opts = {**ydl_options(wd, prefer_captions), **(ydl_opts or {})}
    return _run(lambda ydl: ydl.extract_info(url, download=True), opts, ydl_factory, url, allow_private)


def download_from_info_json(info_json_path: str | os.PathLike, workdir: str | os.PathLike, *,
                            prefer_captions: bool = True, ydl_factory: Callable[..., Any] | None = None,
                            ydl_opts: dict | None = None, allow_private: bool | None = None) -> DownloadResult:
    """Replay a saved yt-dlp ``.info.json``: pick formats and download them without re-extracting.

    Same path as ``yt-dlp --load-info-json``: the info is sanitized and passed to
    ``YoutubeDL.process_ie_result(info, download=True)``.
    """
    p = Path(info_json_path)
    if not p.is_file():
        raise NotFoundError(f"{p}: info file not found; save one with `yt-dlp --write-info-json URL`")
    try:
        info = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InvalidInputError(f"{p}: not a valid yt-dlp .info.json ({e})") from e
    if not isinstance(info, dict) or not info.get("id"):
        raise InvalidInputError(f"{p}: not a yt-dlp .info.json (no 'id'); save one with `yt-dlp --write-info-json URL`")
    wd = Path(workdir)
    wd.mkdir(parents=True, exist_ok=True)
    opts = {**ydl_options(wd, prefer_captions), **(ydl_opts or {})}
    url = str(info.get("webpage_url") or p)

    def run(ydl: Any) -> dict:
        clean = ydl.sanitize_info(json.loads(json.dumps(info)), ydl.params.get("clean_infojson", True))
        return ydl.process_ie_result(clean, download=True)

    return _run(run, opts, ydl_factory, url, allow_private)
