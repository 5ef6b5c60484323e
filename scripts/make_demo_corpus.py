#!/usr/bin/env python
"""Render the embedded demo corpus: 8 short, original first-aid / physiotherapy videos.

Each video is narrated sentence by sentence with espeak-ng (fixed voice and speed), the
.srt cues are timed from the real (silence-trimmed) wav durations, and one slide per step
is drawn with Pillow. The bundled ffmpeg muxes slides + narration into H.264/AAC mp4.

Outputs (in ``--out``, default ``assets/demo``)::

    <slug>.mp4  <slug>.srt  catalog.json  questions.json

Deterministic: same espeak-ng / ffmpeg versions give the same cue times and frames.
The content, drawing and rendering live in the ``scripts/demo_assets`` package.

Usage::

    .venv/bin/python scripts/make_demo_corpus.py [--out assets/demo] [--only SLUG ...]
                                                 [--keep-slides DIR]
"""
from __future__ import annotations

import argparse
import logging
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

_SCRIPTS = Path(__file__).resolve().parent
if str(_SCRIPTS) not in sys.path:  # makes ``demo_assets`` importable when run as a script
    sys.path.insert(0, str(_SCRIPTS))

from demo_assets.render import build_corpus  # noqa: E402

DEFAULT_OUT = _SCRIPTS.parent / "assets" / "demo"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--only", nargs="*", default=None, help="render only these slugs (catalog keeps the others)")
    ap.add_argument("--keep-slides", type=Path, default=None, help="also save every slide PNG here")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Render the demo corpus; returns the exit status."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is not installed (apt-get install espeak-ng)")
    build_corpus(args.out, args.only, args.keep_slides)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
