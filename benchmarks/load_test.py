"""Load test: N gradio_client clients x M questions, plus concurrent uploads, against ``vcval serve``
on 127.0.0.1. Prints p50/p95/max latency and the error count.

    HF_HUB_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False .venv/bin/python benchmarks/load_test.py \\
        --clients 16 --questions 25 --uploads 2

The served corpus is built first in a temporary folder from the demo videos (sidecar subtitles,
no visual features); each upload is a distinct synthetic video with subtitles. An answer counts
as an error when the call raises or the app reports one (a status starting with the red cross).
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_corpus(folder: Path, n_videos: int) -> list[str]:
    """The demo videos (sidecar .srt, no visual features) in a fresh corpus; returns the demo questions."""
    from vcval.corpus import Corpus

    demo = ROOT / "assets" / "demo"
    with Corpus.open(folder) as c:
        for mp4 in sorted(demo.glob("*.mp4"))[:n_videos]:
            c.add_video(mp4, subtitles=mp4.with_suffix(".srt"), visual_features=False)
    return [q["question"] for q in json.loads((demo / "questions.json").read_text(encoding="utf-8"))]


def make_upload(folder: Path, i: int) -> tuple[Path, Path]:
    from vcval import media

    video, srt = folder / f"upload{i}.mp4", folder / f"upload{i}.srt"
    subprocess.run([media.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=s=320x240:r=10:d={6 + i}", "-f", "lavfi", "-i", f"sine=f={300 + 50 * i}:d={6 + i}",
                    "-shortest", "-c:v", "mpeg4", "-c:a", "aac", str(video)], check=True)
    srt.write_text(f"1\n00:00:00,000 --> 00:00:03,000\nupload number {i}: press firmly on the bandage\n\n"
                   f"2\n00:00:03,000 --> 00:00:06,000\nthen raise the injured hand above the heart\n", encoding="utf-8")
    return video, srt


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--questions", type=int, default=25, help="questions per client")
    ap.add_argument("--uploads", type=int, default=2, help="concurrent /add_video uploads during the asks")
    ap.add_argument("--videos", type=int, default=8, help="demo videos in the served corpus")
    ap.add_argument("--timeout", type=float, default=240.0, help="seconds to wait for the server to start")
    args = ap.parse_args()
    from gradio_client import Client, handle_file

    work = Path(tempfile.mkdtemp(prefix="vcval-load-"))
    t0 = time.perf_counter()
    questions = build_corpus(work / "corpus", args.videos)
    print(f"corpus: {args.videos} demo videos in {time.perf_counter() - t0:.1f} s")
    uploads = [make_upload(work, i) for i in range(args.uploads)]
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("VCVAL_PUBLIC", None)
    server = subprocess.Popen([sys.executable, "-m", "vcval.cli", "serve", "--corpus", str(work / "corpus"),
                               "--host", "127.0.0.1", "--port", str(port)], env=env,
                              stdout=open(work / "server.log", "w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + args.timeout
        while True:
            try:
                Client(url, verbose=False)
                break
            except Exception:
                if server.poll() is not None or time.monotonic() > deadline:
                    print((work / "server.log").read_text()[-3000:])
                    raise SystemExit("the server did not start") from None
                time.sleep(1.0)
        print(f"server up on {url} after {time.perf_counter() - t0:.1f} s")
        latencies: list[float] = []
        upload_times: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()

        def asker(cid: int) -> None:
            client = Client(url, verbose=False)
            for j in range(args.questions):
                q = questions[(cid * args.questions + j) % len(questions)]
                t = time.perf_counter()
                try:
                    out = client.predict(q, api_name="/ask")
                    bad = isinstance(out, (list, tuple)) and any(isinstance(x, str) and x.startswith("\u274c")
                                                                for x in out)
                    if bad:
                        raise RuntimeError(f"app reported an error: {out!r:.200}")
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    with lock:
                        errors.append(f"ask {cid}/{j}: {type(exc).__name__}: {exc}"[:300])
                    continue
                with lock:
                    latencies.append(time.perf_counter() - t)

        def uploader(i: int) -> None:
            client = Client(url, verbose=False)
            video, srt = uploads[i]
            t = time.perf_counter()
            try:
                status, _ = client.predict(handle_file(str(video)), handle_file(str(srt)), f"upload {i}",
                                           api_name="/add_video")
                if not str(status).startswith("\u2705") and "added" not in str(status).lower():
                    raise RuntimeError(f"upload status: {status!r:.200}")
            except Exception as exc:  # noqa: BLE001 - counted and reported
                with lock:
                    errors.append(f"upload {i}: {type(exc).__name__}: {exc}"[:300])
                return
            with lock:
                upload_times.append(time.perf_counter() - t)

        threads = [threading.Thread(target=asker, args=(c,)) for c in range(args.clients)]
        threads += [threading.Thread(target=uploader, args=(i,)) for i in range(args.uploads)]
        t1 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t1
        n = args.clients * args.questions
        print(f"{args.clients} clients x {args.questions} questions = {n} asks + {args.uploads} concurrent uploads "
              f"in {wall:.1f} s ({len(latencies) / wall:.1f} answers/s)")
        if latencies:
            print(f"ask latency: p50 {statistics.median(latencies):.2f} s, p95 {percentile(latencies, 95):.2f} s, "
                  f"max {max(latencies):.2f} s")
        if upload_times:
            print("upload (add_video) times: " + ", ".join(f"{u:.1f} s" for u in upload_times))
        print(f"errors: {len(errors)}")
        for e in errors[:10]:
            print("  " + e)
        return 0 if not errors else 1
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    sys.exit(main())
