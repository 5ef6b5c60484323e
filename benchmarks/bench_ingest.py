"""Ingest speed: seconds of work per minute of video, by cue source and with/without visual features.

    .venv/bin/python benchmarks/bench_ingest.py [--videos 2]

Baseline row: sidecar subtitles without visual features (normalize + index only); ratios are
against it, measured in the same run on the embedded demo videos.
"""
from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from pathlib import Path

from vcval.corpus import Corpus
from vcval.demo import DEMO_ASSETS

logging.basicConfig(level=logging.WARNING)


def run(label: str, videos: list[Path], *, sidecar: bool, visual: bool) -> tuple[str, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for v in videos:
            shutil.copy(v, src / v.name)
            if sidecar:
                shutil.copy(v.with_suffix(".srt"), src / v.with_suffix(".srt").name)
        corpus = Corpus.open(Path(tmp) / "corpus")
        _ = corpus.text_encoder  # load encoders outside the timed region
        total_s = 0.0
        minutes = 0.0
        for v in sorted(src.glob("*.mp4")):
            t0 = time.perf_counter()
            rec = corpus.add_video(v, visual_features=visual)
            total_s += time.perf_counter() - t0
            minutes += rec.duration / 60
        return label, total_s / minutes, minutes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--videos", type=int, default=2, help="how many demo videos to ingest per row")
    args = parser.parse_args()
    videos = sorted(DEMO_ASSETS.glob("*.mp4"))[: args.videos]
    rows = [
        run("sidecar .srt, no visual (baseline)", videos, sidecar=True, visual=False),
        run("sidecar .srt + visual features", videos, sidecar=True, visual=True),
        run("ASR (whisper tiny.en) + visual features", videos, sidecar=False, visual=True),
    ]
    base = rows[0][1]
    print(f"{'ingest':44s} {'s per min of video':>20s} {'x baseline':>11s}")
    for label, per_min, _minutes in rows:
        print(f"{label:44s} {per_min:20.2f} {per_min / base:11.2f}")
    print(f"({len(videos)} demo videos, {rows[0][2]:.1f} min of video per row)")


if __name__ == "__main__":
    main()
