"""Try hostile and mistaken inputs against the CLI and the Python API; print a Markdown table.

Every row runs against a small reference corpus (a transcript + a video) and checks: the input
is refused (exit code 2 / ``InvalidInputError`` family), the error is one line without a
traceback, and the corpus is byte-for-byte unchanged afterwards. The SSRF rows point at an HTTP
server on 127.0.0.1 that counts requests: it must receive none.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bad_inputs.py [--out benchmarks/bad_inputs.md]
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.server
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vcval import media  # noqa: E402
from vcval.cli import main  # noqa: E402
from vcval.corpus import Corpus  # noqa: E402
from vcval.errors import VCVALError  # noqa: E402

LINES = ["wash your hands with soap and water", "place the sling under the injured arm",
         "tie the sling behind the neck", "check the fingers for circulation"]


def snapshot(root: Path) -> str:
    """sha256 over every file of the corpus except the lock file (its holder note changes)."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != ".lock":
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def ffmpeg(*args: str) -> None:
    subprocess.run([media.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def make_files(d: Path) -> dict[str, Path]:
    """The bad (and a few good) input files."""
    f: dict[str, Path] = {}
    d.mkdir(parents=True, exist_ok=True)

    def text(name: str, content: str | bytes) -> Path:
        p = d / name
        p.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        f[name] = p
        return p

    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=160x120:r=10:d=3", "-f", "lavfi", "-i", "sine=d=3", "-shortest",
           "-c:v", "mpeg4", "-c:a", "aac", str(d / "good.mp4"))
    f["good.mp4"] = d / "good.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=s=160x120:r=10:d=3", "-c:v", "mpeg4", str(d / "good2.mp4"))
    f["good2.mp4"] = d / "good2.mp4"
    text("good2.json", json.dumps([{"start": 1, "duration": 2, "text": "a different transcript"}]))
    ffmpeg("-f", "lavfi", "-i", "testsrc=s=64x48", "-frames:v", "1", "-f", "image2", "-c:v", "png", str(d / "image.mp4"))
    f["image.mp4"] = d / "image.mp4"
    ffmpeg("-f", "lavfi", "-i", "sine=d=2", "-c:a", "aac", str(d / "audio.m4a"))
    f["audio.m4a"] = d / "audio.m4a"
    data = (d / "good.mp4").read_bytes()
    text("truncated.mp4", data[: len(data) // 2])
    text("text.mp4", "this is a text file, not a video\n")
    text("empty.mp4", b"")
    text("random.mp4", os.urandom(20000))
    text("video.exe", b"MZ" + os.urandom(1000))
    text("bad_ts.srt", "1\n00:00:0x,000 --> 00:00:02,000\nbad\n")
    text("prose.srt", "Dear diary,\ntoday I went out.\n")
    text("huge.json", json.dumps([{"start": 1e300, "duration": 1, "text": "a"}]))
    text("neg.json", json.dumps([{"start": -5, "duration": 1, "text": "a"}]))
    text("nan.json", '[{"start": NaN, "duration": 1, "text": "a"}]')
    text("obj.json", '{"start": 1}')
    text("broken.json", '[{"start": 1, "duration": 2, "text": "a"},\n{"start": ')
    text("empty.json", "[]")
    text("notext.json", json.dumps([{"start": 1, "duration": 1, "text": ""}]))
    text("latin1.json", '[{"start": 1, "duration": 1, "text": "caf\xe9 ' .encode("latin-1") + b'\xff\xfe"}]')
    text("noheader.vtt", "00:00:01.000 --> 00:00:02.000\nhello\n")
    text("big_hours.srt", "1\n99999:00:01,000 --> 99999:00:02,000\nhello\n")
    text("subs.ass", "[Script Info]\n")
    text("not_npy.npy", "not an array")
    text("a_file", "x")
    (d / "not_a_corpus").mkdir(exist_ok=True)
    (d / "not_a_corpus" / "x.txt").write_text("x")
    f["not_a_corpus"] = d / "not_a_corpus"
    return f


class CountingServer:
    """HTTP server on 127.0.0.1 counting requests (any would be an SSRF)."""

    def __init__(self) -> None:
        self.count = 0
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.count += 1
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"x" * 100)

            def log_message(self, *a: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def run_cli(argv: list[str]) -> tuple[int | str, str]:
    """(exit code or 'traceback', stderr) of ``vcval ARGV`` run in this process."""
    err, out = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code: int | str = main(argv)
    except SystemExit as e:  # argparse usage errors
        code = int(e.code or 0)
    except BaseException:
        return "traceback", traceback.format_exc()
    return code, err.getvalue()


def run_api(fn: Callable[[], object]) -> tuple[int | str, str]:
    try:
        fn()
    except VCVALError as e:
        return type(e).__name__, str(e)
    except BaseException:
        return "traceback", traceback.format_exc()
    return "accepted", ""


def main_(out_path: Path | None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.pop("VCVAL_ALLOW_PRIVATE_URLS", None)
    work = Path(tempfile.mkdtemp(prefix="vcval-bad-"))
    files = make_files(work / "in")
    corpus = work / "corpus"
    src = work / "src"
    src.mkdir()
    tr = src / "sling.json"
    tr.write_text(json.dumps([{"start": 4.0 * i, "duration": 4.0, "text": t} for i, t in enumerate(LINES)]))
    c = Corpus.open(corpus)
    c.add_transcript(tr)
    c.add_video(files["good.mp4"], visual_features=False)
    vid = [v for v in c.video_ids() if v != "sling"][0]
    from vcval.pipeline import build_pipeline

    qa = build_pipeline(c, "bm25")
    server = CountingServer()
    P = server.port
    cs = str(corpus)
    ing = ["ingest", "--corpus", cs, "--quiet", "--no-visual"]
    cli_cases: list[tuple[str, list[str]]] = [
        ("text file named .mp4", [*ing[:1], str(files["text.mp4"]), *ing[1:]]),
        ("PNG renamed .mp4", ["ingest", str(files["image.mp4"]), "--corpus", cs, "--quiet"]),
        ("empty .mp4", ["ingest", str(files["empty.mp4"]), "--corpus", cs, "--quiet"]),
        ("truncated .mp4", ["ingest", str(files["truncated.mp4"]), "--corpus", cs, "--quiet"]),
        ("random bytes .mp4", ["ingest", str(files["random.mp4"]), "--corpus", cs, "--quiet"]),
        ("audio-only .m4a", ["ingest", str(files["audio.m4a"]), "--corpus", cs, "--quiet"]),
        ("unsupported .exe", ["ingest", str(files["video.exe"]), "--corpus", cs, "--quiet"]),
        ("missing file", ["ingest", str(work / "nope.mp4"), "--corpus", cs, "--quiet"]),
        ("duplicate video", ["ingest", str(files["good.mp4"]), "--corpus", cs, "--quiet", "--no-visual"]),
        ("malformed-only .srt for a video", ["ingest", str(files["good2.mp4"]), "--subtitles", str(files["prose.srt"]),
                                             "--corpus", cs, "--quiet"]),
        ("missing --subtitles file", ["ingest", str(files["good.mp4"]), "--subtitles", str(work / "no.srt"),
                                      "--corpus", cs, "--quiet"]),
        ("transcript start 1e300", ["ingest", str(files["huge.json"]), "--corpus", cs, "--quiet"]),
        ("transcript start -5", ["ingest", str(files["neg.json"]), "--corpus", cs, "--quiet"]),
        ("transcript start NaN", ["ingest", str(files["nan.json"]), "--corpus", cs, "--quiet"]),
        ("transcript not a list", ["ingest", str(files["obj.json"]), "--corpus", cs, "--quiet"]),
        ("transcript truncated JSON", ["ingest", str(files["broken.json"]), "--corpus", cs, "--quiet"]),
        ("transcript empty list", ["ingest", str(files["empty.json"]), "--corpus", cs, "--quiet"]),
        ("transcript with only empty text", ["ingest", str(files["notext.json"]), "--corpus", cs, "--quiet"]),
        ("transcript duplicate of corpus", ["ingest", str(tr), "--corpus", cs, "--quiet"]),
        ("corpus path is a file", ["ingest", str(files["good.mp4"]), "--corpus", str(files["a_file"])]),
        ("corpus dir not a corpus", ["ingest", str(tr), "--corpus", str(files["not_a_corpus"])]),
        ("--lock-timeout -1", ["ingest", str(tr), "--corpus", cs, "--lock-timeout", "-1"]),
        ("--lock-timeout nan", ["ingest", str(tr), "--corpus", cs, "--lock-timeout", "nan"]),
        ("ask: empty question", ["ask", "", "--corpus", cs]),
        ("ask: whitespace question", ["ask", "  \t ", "--corpus", cs]),
        ("ask: invalid UTF-8 question", ["ask", "ab\udcff\udcfecd", "--corpus", cs]),
        ("ask: 5000-char question", ["ask", "why " * 1250, "--corpus", cs]),
        ("ask: --k 0", ["ask", "sling", "--k", "0", "--corpus", cs]),
        ("ask: --k -3", ["ask", "sling", "--k", "-3", "--corpus", cs]),
        ("ask: --k abc", ["ask", "sling", "--k", "abc", "--corpus", cs]),
        ("ask: --device tpu", ["ask", "sling", "--device", "tpu", "--corpus", cs]),
        ("ask: --method nope", ["ask", "sling", "--method", "nope", "--corpus", cs]),
        ("ask: --checkpoint missing dir", ["ask", "sling", "--checkpoint", str(work / "ckpt/"), "--corpus", cs]),
        ("ask: mistyped corpus path", ["ask", "sling", "--corpus", cs + "x"]),
        ("list: mistyped corpus path", ["corpus", "list", "--corpus", cs + "x"]),
        ("remove: mistyped corpus path", ["corpus", "remove", vid, "--corpus", cs + "x"]),
        ("remove: unknown id", ["corpus", "remove", "nope", "--corpus", cs]),
        ("remove: id with path separators", ["corpus", "remove", "../../etc", "--corpus", cs]),
        ("list: corpus path is a file", ["corpus", "list", "--corpus", str(files["a_file"])]),
        ("unknown command", ["frobnicate"]),
    ]
    ssrf_urls = [
        ("ftp:// URL", "ftp://example.com/v.mp4"), ("file:// URL", "file:///etc/passwd"),
        ("javascript: URL", "javascript:alert(1)"), ("URL without host", "http://"),
        ("cloud metadata 169.254.169.254", "http://169.254.169.254/latest/meta-data/"),
        ("private 10.0.0.1", "http://10.0.0.1/v.mp4"), ("private 192.168.1.1", "http://192.168.1.1/v.mp4"),
        ("private 172.16.0.1", "http://172.16.0.1/v.mp4"), ("CGNAT 100.64.0.1", "http://100.64.0.1/v.mp4"),
        ("unspecified 0.0.0.0", f"http://0.0.0.0:{P}/v.mp4"), ("IPv6 unique-local [fd00::1]", "http://[fd00::1]/v.mp4"),
        ("IPv6 link-local [fe80::1]", "http://[fe80::1]/v.mp4"), ("multicast 224.0.0.1", "http://224.0.0.1/"),
        ("loopback 127.0.0.1", f"http://127.0.0.1:{P}/v.mp4"), ("loopback HTTP:// caps", f"HTTP://127.0.0.1:{P}/v.mp4"),
        ("localhost", f"http://localhost:{P}/v.mp4"), ("hex 0x7f000001", f"http://0x7f000001:{P}/v.mp4"),
        ("integer 2130706433", f"http://2130706433:{P}/v.mp4"), ("short 127.1", f"http://127.1:{P}/v.mp4"),
        ("octal 0177.0.0.1", f"http://0177.0.0.1:{P}/v.mp4"), ("IPv6 loopback [::1]", f"http://[::1]:{P}/v.mp4"),
        ("IPv4-mapped [::ffff:127.0.0.1]", f"http://[::ffff:127.0.0.1]:{P}/v.mp4"),
        ("6to4 of loopback [2002:7f00:1::]", f"http://[2002:7f00:1::]:{P}/v.mp4"),
        ("NAT64 of metadata [64:ff9b::a9fe:a9fe]", "http://[64:ff9b::a9fe:a9fe]/"),
        ("userinfo trick user@127.0.0.1", f"http://example.com@127.0.0.1:{P}/v.mp4"),
    ]
    api_cases: list[tuple[str, Callable[[], object]]] = [
        ("add_video(None)", lambda: c.add_video(None)),  # type: ignore[arg-type]
        ("add_video(123)", lambda: c.add_video(123)),  # type: ignore[arg-type]
        ("add_video(path, video_id='../x')", lambda: c.add_video(files["good.mp4"], video_id="../x")),
        ("add_video(path, title=5)", lambda: c.add_video(files["good.mp4"], title=5)),  # type: ignore[arg-type]
        ("add_transcript(p, duration=nan)", lambda: c.add_transcript(tr, duration=math.nan)),
        ("add_transcript(p, duration=inf)", lambda: c.add_transcript(tr, duration=math.inf)),
        ("add_transcript(p, duration=-1)", lambda: c.add_transcript(tr, duration=-1)),
        ("add_transcript(p, duration=1e300)", lambda: c.add_transcript(tr, duration=1e300)),
        ("add_transcript(p, features_path=not .npy)", lambda: c.add_transcript(files["good2.json"],
                                                                             features_path=files["not_npy.npy"])),
        ("add_transcript(big_hours.srt)", lambda: c.add_transcript(files["big_hours.srt"])),
        ("add_transcript(subs.ass)", lambda: c.add_transcript(files["subs.ass"])),
        ("add_transcript(noheader.vtt)", lambda: c.add_transcript(files["noheader.vtt"])),
        ("add_path(None)", lambda: c.add_path(None)),  # type: ignore[arg-type]
        ("add_url(None)", lambda: c.add_url(None)),  # type: ignore[arg-type]
        ("add_url('HTTP://127.0.0.1')", lambda: c.add_url(f"HTTP://127.0.0.1:{P}/v.mp4")),
        ("remove(None)", lambda: c.remove(None)),  # type: ignore[arg-type]
        ("get(5)", lambda: c.get(5)),  # type: ignore[arg-type]
        ("clip(id, nan, 3)", lambda: c.clip(vid, math.nan, 3)),
        ("clip(id, 0, inf)", lambda: c.clip(vid, 0, math.inf)),
        ("clip(id, 2, 1)", lambda: c.clip(vid, 2, 1)),
        ("clip(transcript id, 0, 3)", lambda: c.clip("sling", 0, 3)),
        ("ask(q, k='5')", lambda: qa.ask("sling", k="5")),  # type: ignore[arg-type]
        ("ask(q, k=0)", lambda: qa.ask("sling", k=0)),
        ("ask(q, k=True)", lambda: qa.ask("sling", k=True)),
        ("ask('\\ud800')", lambda: qa.ask("\ud800")),
        ("ask(None)", lambda: qa.ask(None)),  # type: ignore[arg-type]
        ("ask(b'bytes')", lambda: qa.ask(b"bytes")),  # type: ignore[arg-type]
        ("ask('nul\\x00')", lambda: qa.ask("nul\x00")),
        ("Corpus.open(mistyped, create=False)", lambda: Corpus.open(work / "typo", create=False)),
        ("Corpus.open(None)", lambda: Corpus.open(None)),  # type: ignore[arg-type]
    ]
    before = snapshot(corpus)
    rows: list[tuple[str, str, str, str, bool]] = []

    def record(kind: str, name: str, outcome: int | str, message: str) -> None:
        nonlocal before
        first = next((ln for ln in message.splitlines() if ln.strip()), "").replace(str(work), "WORK")
        lines = len([ln for ln in message.splitlines() if ln.strip() and not ln.startswith(("WARNING", "usage:"))])
        unchanged = snapshot(corpus) == before
        refused = outcome == 2 or (isinstance(outcome, str) and outcome.endswith("Error"))
        ok = refused and "Traceback" not in message and unchanged and (kind != "CLI" or lines <= 1
                                                                         or first.startswith("usage:"))
        rows.append((kind, name, str(outcome), first[:150].replace("|", "\\|"), ok and unchanged))

    for name, argv in cli_cases:
        code, err = run_cli(argv)
        record("CLI", name, code, err)
    ssrf_rows = []
    for name, url in ssrf_urls:
        n0 = server.count
        code, err = run_cli(["ingest", url, "--corpus", cs, "--quiet"])
        record("CLI URL", name, code, err)
        ssrf_rows.append((name, url.replace(str(P), "PORT"), str(code), server.count - n0))
    for name, fn in api_cases:
        outcome, msg = run_api(fn)
        record("API", name, outcome, msg)

    n_ok = sum(r[4] for r in rows)
    n_tb = sum(r[2] == "traceback" for r in rows)
    lines = ["| # | via | input | result | message (first line) | ok |", "|---|---|---|---|---|---|"]
    lines += [f"| {i} | {k} | {n} | {o} | {m} | {'yes' if ok else '**NO**'} |" for i, (k, n, o, m, ok) in enumerate(rows, 1)]
    lines += ["", f"**{len(rows)} bad inputs: {n_ok} refused cleanly (exit 2 / typed error, one line, corpus "
              f"byte-identical), {n_tb} tracebacks.**", "", "SSRF matrix (`vcval ingest URL`; a loopback HTTP server "
              "counted the requests it received):", "", "| target | URL | exit | requests received |",
              "|---|---|---|---|"]
    lines += [f"| {n} | `{u}` | {c_} | {r} |" for n, u, c_, r in ssrf_rows]
    lines += ["", f"**{len(ssrf_rows)} URLs, {sum(r[3] for r in ssrf_rows)} requests reached the loopback server.**"]
    text = "\n".join(lines)
    print(text)
    if out_path:
        out_path.write_text("# Bad inputs (generated by `benchmarks/bad_inputs.py`)\n\n" + text + "\n", encoding="utf-8")
    return 0 if n_ok == len(rows) and n_tb == 0 and server.count == 0 else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="also write the table to this Markdown file")
    sys.exit(main_(ap.parse_args().out))
