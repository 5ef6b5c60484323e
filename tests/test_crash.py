"""Crash test (slow): ``kill -9`` a ``vcval ingest`` / ``vcval corpus remove`` process at random points,
then check after every kill that the corpus opens and is consistent and that the interrupted
change happened completely or not at all.

    .venv/bin/python -m pytest -m slow tests/test_crash.py -s     # prints the tally
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vcval.corpus import Corpus

pytestmark = pytest.mark.slow

KILLS = int(os.environ.get("VCVAL_CRASH_KILLS", "30"))
LINES = ["wash your hands with soap and water", "place the sling under the injured arm",
         "tie the sling behind the neck", "check the fingers for circulation", "keep the arm raised"]


def _transcript(folder: Path, name: str, n: int) -> Path:
    p = folder / f"{name}.json"
    p.write_text(json.dumps([{"start": 3.0 * i, "duration": 3.0, "text": f"{LINES[i % len(LINES)]} {name} {i}"}
                             for i in range(n)]), encoding="utf-8")
    return p


def check_consistent(root: Path) -> list[str]:
    """Problems found in the corpus at ``root`` (empty list: consistent)."""
    problems: list[str] = []
    with Corpus.open(root) as c:  # recovers: stale indexes rebuilt, orphans removed
        ids = c.video_ids()
        stats = c.index_stats()
        if stats["bm25_videos"] != len(ids):
            problems.append(f"bm25 videos {stats['bm25_videos']} != {len(ids)} records")
        if stats["bm25_windows"] != stats["windows"] or stats["dense_vectors"] != stats["windows"]:
            problems.append(f"index sizes {stats} disagree with {stats['windows']} windows")
        for vid in ids:
            rec = c.get(vid)
            for rel in (rec.media_path, rec.features_path):
                if rel and not (root / rel).is_file():
                    problems.append(f"{vid}: missing {rel}")
            vec = root / "index" / "vectors" / f"{vid}.npy"
            if c.windows(vid) and (not vec.is_file() or len(np.load(vec)) != len(c.windows(vid))):
                problems.append(f"{vid}: window vectors missing or wrong length")
        for sub in ("media", "features"):
            for f in (root / sub).iterdir():
                if f.stem not in ids:
                    problems.append(f"orphan {sub}/{f.name}")
        if ids and not c.bm25_search("sling arm", 3):
            problems.append("search finds nothing")
    return problems


def test_kill_9_during_ingest_and_remove_leaves_a_consistent_corpus(tmp_path, video_factory, capsys):
    rng = random.Random(12)
    root = tmp_path / "corpus"
    src = tmp_path / "src"
    src.mkdir()
    video = video_factory("src/lesson.mp4", seconds=4.0)
    with Corpus.open(root) as c:
        c.add_transcript(_transcript(src, "base", 12))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    vcval = [sys.executable, "-m", "vcval.cli"]
    tally = {"kills": 0, "inconsistent": 0, "completed": 0, "rolled_back": 0}
    full: dict[str, float] = {}  # how long each kind of command takes uncut (measured on its first run)
    for i in range(KILLS + 3):
        before = set(Corpus.open(root).video_ids())
        kind = ["transcript", "video", "remove"][i % 3]
        if kind == "remove" and len(before) > 1:
            target = sorted(before - {"base"})[0]
            cmd = [*vcval, "corpus", "remove", target, "--corpus", str(root)]
        elif kind == "video":
            cmd = [*vcval, "ingest", str(video), "--corpus", str(root), "--quiet", "--no-visual",
                   "--title", f"v{i}"]
        else:
            cmd = [*vcval, "ingest", str(_transcript(src, f"t{i}", 40 + i)), "--corpus", str(root), "--quiet"]
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if kind in full:  # kill at a random point of the command's run time (most of it is start-up)
            time.sleep(rng.uniform(0.5 * full[kind], 1.05 * full[kind]))
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                tally["kills"] += 1
        proc.wait()
        full.setdefault(kind, time.monotonic() - t0)
        problems = check_consistent(root)
        after = set(Corpus.open(root).video_ids())
        if after == before:
            tally["rolled_back"] += 1
        else:
            tally["completed"] += 1
            changed = (after - before) | (before - after)
            if len(changed) != 1:
                problems.append(f"more than one video changed: {changed}")
        if problems:
            tally["inconsistent"] += 1
        assert not problems, (i, cmd, problems)
        if kind == "video" and after != before:  # re-ingesting the same bytes is refused: remove it again
            with Corpus.open(root) as c:
                for vid in after - before:
                    c.remove(vid)
    with capsys.disabled():
        print(f"\ncrash test: {KILLS} runs, {tally['kills']} kill -9, {tally['inconsistent']} inconsistent corpora, "
              f"{tally['completed']} changes completed, {tally['rolled_back']} rolled back")
    assert tally["kills"] >= KILLS * 2 // 3 and tally["completed"] > 0
