"""scripts/asr_style.py: punctuated transcripts rewritten as YouTube-style auto-captions, times kept."""
from __future__ import annotations

import importlib.util
import random
from pathlib import Path

SPEC = importlib.util.spec_from_file_location(
    "asr_style", Path(__file__).resolve().parents[1] / "scripts" / "asr_style.py")
asr_style = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(asr_style)

CUES = [
    {"start": 0.0, "duration": 4.0, "text": "Hello, and welcome! Today: the Arm Sling."},
    {"start": 5.0, "duration": 6.0, "text": "Fold the bandage (a triangle) and slide it under the forearm."},
    {"start": 12.0, "duration": 3.0, "text": "Don't tie it too tight?"},
]


def test_rewrites_as_rolling_unpunctuated_cues_keeping_words_and_times():
    out = asr_style.auto_caption_cues(CUES, random.Random(0), lowercase_prob=1.0)
    words = [w for c in out for w in c["text"].split()]
    assert words == "hello and welcome today the arm sling fold the bandage a triangle and slide it under the " \
                    "forearm don't tie it too tight".split()  # every word, in order, apostrophes kept
    assert all(4 <= len(c["text"].split()) <= 9 for c in out[:-1])
    assert not any(ch in c["text"] for c in out for ch in ".,!?:()")
    starts = [c["start"] for c in out]
    assert starts == sorted(starts) and starts[0] == 0.0
    for k in range(len(out) - 2):  # rolling: each cue lasts until the cue after next starts
        assert abs(out[k]["start"] + out[k]["duration"] - out[k + 2]["start"]) < 1e-2
    assert abs(out[-1]["start"] + out[-1]["duration"] - 15.0) < 1e-2  # the last one ends with the speech
    fold = next(c for c in out if "fold" in c["text"].split())
    assert fold["start"] >= 4.0  # "Fold" was spoken in the second cue (5-11 s), not earlier


def test_the_script_is_deterministic_per_seed(tmp_path):
    import json
    import subprocess
    import sys

    src = tmp_path / "src"
    src.mkdir()
    (src / "v1.json").write_text(json.dumps(CUES))
    runs = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        subprocess.run([sys.executable, SPEC.origin, str(src), str(tmp_path / name), "--seed", str(seed)],
                       check=True, capture_output=True)
        runs.append((tmp_path / name / "v1.json").read_text())
    assert runs[0] == runs[1] and json.loads(runs[2])  # same seed, same output


def test_bad_input_is_a_clear_error_and_writes_nothing(tmp_path):
    import subprocess
    import sys

    def run(src):
        return subprocess.run([sys.executable, SPEC.origin, str(src), str(tmp_path / "out")], capture_output=True,
                              text=True)

    missing = run(tmp_path / "nope")
    assert missing.returncode != 0 and "no <video_id>.json transcripts" in missing.stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.json").write_text('[{"start": 0, "duration": 1, "text": "fine"}]')
    (bad / "b.json").write_text('{"not": "a list"}')
    broken = run(bad)
    assert broken.returncode != 0 and "b.json is not a transcript" in broken.stderr
    assert "Traceback" not in broken.stderr and not (tmp_path / "out").exists()
