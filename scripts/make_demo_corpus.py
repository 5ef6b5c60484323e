#!/usr/bin/env python
"""Render the embedded demo corpus: 8 short, original first-aid / physiotherapy videos.

Each video is narrated sentence by sentence with espeak-ng (fixed voice and speed), the
.srt cues are timed from the real (silence-trimmed) wav durations, and one slide per step
is drawn with Pillow. The bundled ffmpeg muxes slides + narration into H.264/AAC mp4.

Outputs (in ``--out``, default ``assets/demo``)::

    <slug>.mp4  <slug>.srt  catalog.json  questions.json

Deterministic: same espeak-ng / ffmpeg versions give the same cue times and frames.

Usage::

    .venv/bin/python scripts/make_demo_corpus.py [--out assets/demo] [--only SLUG ...]
                                                 [--keep-slides DIR]
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import re
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger("make_demo_corpus")

# ----------------------------------------------------------------------------- settings
VOICE = "en-us"
SPEED_WPM = 150
SAMPLE_RATE = 22050  # espeak-ng native rate
LEAD_S = 0.6  # silence before the first cue
TAIL_S = 1.4  # silence after the last cue
PAUSE_CHUNK_S = 0.15  # between the parts of a split sentence
PAUSE_SENTENCE_S = 0.45  # between sentences of one step
PAUSE_SEGMENT_S = 1.0  # between steps (slides)
MAX_CUE_CHARS = 84  # longer sentences are split at commas into several cues
SILENCE_THRESHOLD = 200  # int16 amplitude below which espeak output counts as silence
TRIM_MARGIN_S = 0.02
FPS = 10
W, H = 640, 360
SS = 2  # supersampling factor for anti-aliased drawing
FOOTER = "Demo content \u2014 not medical advice"
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")

# Palette
C_BAR = (31, 95, 122)
C_BG = (255, 255, 255)
C_PANEL = (240, 246, 250)
C_INK = (40, 44, 52)
C_SKIN = (241, 194, 160)
C_SKIN_D = (196, 140, 104)
C_ACCENT = (220, 80, 60)
C_OK = (46, 150, 80)
C_BLUE = (60, 130, 210)
C_SLING = (235, 220, 160)
C_GREY = (150, 155, 160)
C_LIGHT = (225, 230, 235)


def _font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return ImageFont.truetype(str(FONT_DIR / name), size)


# ----------------------------------------------------------------------------- drawing kit
class Pen:
    """Draws in normalized [0, 1] x [0, 1] coordinates inside a pixel box of an image."""

    def __init__(self, draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int]) -> None:
        self.d = draw
        x0, y0, x1, y1 = box
        side = min(x1 - x0, y1 - y0)
        # a centred square drawing area keeps circles round
        self.ox = x0 + (x1 - x0 - side) / 2
        self.oy = y0 + (y1 - y0 - side) / 2
        self.k = side

    def p(self, x: float, y: float) -> tuple[float, float]:
        return (self.ox + x * self.k, self.oy + y * self.k)

    def s(self, v: float) -> int:
        return max(1, int(round(v * self.k)))

    def line(self, pts: Sequence[tuple[float, float]], color=C_INK, w: float = 0.022) -> None:
        xy = [self.p(*q) for q in pts]
        self.d.line(xy, fill=color, width=self.s(w), joint="curve")
        r = self.s(w) / 2  # round caps
        for x, y in (xy[0], xy[-1]):
            self.d.ellipse((x - r, y - r, x + r, y + r), fill=color)

    def circle(self, c: tuple[float, float], r: float, fill=None, outline=C_INK, w: float = 0.018) -> None:
        x, y = self.p(*c)
        rr = r * self.k
        self.d.ellipse((x - rr, y - rr, x + rr, y + rr), fill=fill, outline=outline, width=self.s(w) if outline else 0)

    def ellipse(self, a: tuple[float, float], b: tuple[float, float], fill=None, outline=C_INK, w: float = 0.014) -> None:
        self.d.ellipse((*self.p(*a), *self.p(*b)), fill=fill, outline=outline, width=self.s(w) if outline else 0)

    def poly(self, pts: Sequence[tuple[float, float]], fill=None, outline=C_INK, w: float = 0.012) -> None:
        self.d.polygon([self.p(*q) for q in pts], fill=fill, outline=outline, width=self.s(w) if outline else 0)

    def rect(self, a, b, fill=None, outline=C_INK, w: float = 0.012, radius: float = 0.0) -> None:
        self.d.rounded_rectangle((*self.p(*a), *self.p(*b)), radius=self.s(radius) if radius else 0,
                                 fill=fill, outline=outline, width=self.s(w) if outline else 0)

    def arc(self, c, r: float, start: float, end: float, color=C_INK, w: float = 0.016) -> None:
        x, y = self.p(*c)
        rr = r * self.k
        self.d.arc((x - rr, y - rr, x + rr, y + rr), start, end, fill=color, width=self.s(w))

    def arrow(self, a, b, color=C_ACCENT, w: float = 0.02, head: float = 0.05, both: bool = False) -> None:
        self.line([a, b], color, w)
        ends = [(a, b)] + ([(b, a)] if both else [])
        for src, dst in ends:
            ang = math.atan2(dst[1] - src[1], dst[0] - src[0])
            left = (dst[0] - head * math.cos(ang - 0.45), dst[1] - head * math.sin(ang - 0.45))
            right = (dst[0] - head * math.cos(ang + 0.45), dst[1] - head * math.sin(ang + 0.45))
            self.poly([dst, left, right], fill=color, outline=None)

    def arc_arrow(self, c, r: float, start: float, end: float, color=C_ACCENT, w: float = 0.018) -> None:
        """Arc from ``start`` to ``end`` degrees (clockwise, PIL convention) with a head at ``end``."""
        ccw = end < start
        self.arc(c, r, end if ccw else start, start if ccw else end, color, w)
        a = math.radians(end)
        tip = (c[0] + r * math.cos(a), c[1] + r * math.sin(a))
        tangent = a - math.pi / 2 if ccw else a + math.pi / 2
        back = (tip[0] - 0.05 * math.cos(tangent), tip[1] - 0.05 * math.sin(tangent))
        self.arrow(back, tip, color, w, head=0.045)

    def text(self, xy, s: str, size: float = 0.06, color=C_INK, bold: bool = True, anchor: str = "mm") -> None:
        self.d.text(self.p(*xy), s, font=_font(self.s(size), bold), fill=color, anchor=anchor)


# --- reusable figures ---------------------------------------------------------------------
Joints = dict[str, tuple[float, float]]


def stick(p: Pen, j: Joints, color=C_INK, w: float = 0.026, head_r: float = 0.055) -> None:
    """A stick figure from named joints: head, neck, hip, [lr]_elbow, [lr]_hand, [lr]_knee, [lr]_foot."""
    for side in ("l", "r"):
        p.line([j["neck"], j[f"{side}_elbow"], j[f"{side}_hand"]], color, w)
        p.line([j["hip"], j[f"{side}_knee"], j[f"{side}_foot"]], color, w)
    p.line([j["neck"], j["hip"]], color, w * 1.2)
    p.circle(j["head"], head_r, fill=C_SKIN, outline=color, w=w * 0.7)


STANDING: Joints = {
    "head": (0.5, 0.17), "neck": (0.5, 0.27), "hip": (0.5, 0.58),
    "l_elbow": (0.38, 0.42), "l_hand": (0.35, 0.56), "r_elbow": (0.62, 0.42), "r_hand": (0.65, 0.56),
    "l_knee": (0.45, 0.74), "l_foot": (0.43, 0.92), "r_knee": (0.55, 0.74), "r_foot": (0.57, 0.92),
}


def pose(base: Joints, **changes: tuple[float, float]) -> Joints:
    out = dict(base)
    out.update(changes)
    return out


def clock(p: Pen, label: str, c=(0.5, 0.42), r: float = 0.22, size: float = 0.08) -> None:
    p.circle(c, r, fill=C_BG, outline=C_INK, w=0.022)
    for i in range(12):
        a = math.radians(i * 30)
        p.line([(c[0] + 0.82 * r * math.cos(a), c[1] + 0.82 * r * math.sin(a)),
                (c[0] + 0.92 * r * math.cos(a), c[1] + 0.92 * r * math.sin(a))], C_INK, 0.01)
    p.line([c, (c[0], c[1] - 0.7 * r)], C_INK, 0.022)
    p.line([c, (c[0] + 0.5 * r, c[1] + 0.15 * r)], C_ACCENT, 0.018)
    p.text((c[0], c[1] + r + 0.1), label, size, C_BAR)


def phone(p: Pen, label: str = "Call for help", c=(0.5, 0.4)) -> None:
    x, y = c
    p.rect((x - 0.13, y - 0.24), (x + 0.13, y + 0.24), fill=C_INK, outline=None, radius=0.04)
    p.rect((x - 0.11, y - 0.19), (x + 0.11, y + 0.16), fill=(200, 230, 245), outline=None, radius=0.01)
    p.circle((x, y + 0.2), 0.018, fill=C_GREY, outline=None)
    # handset glyph
    p.arc((x, y - 0.01), 0.06, 120, 330, C_OK, 0.03)
    for i, rr in enumerate((0.11, 0.15)):
        p.arc((x - 0.02, y - 0.01), rr, 300, 350 - i * 5, C_OK, 0.012)
    p.text((x, y + 0.37), label, 0.07, C_BAR)


def hospital(p: Pen, label: str = "Get medical help") -> None:
    p.rect((0.22, 0.28), (0.78, 0.72), fill=(250, 250, 252), outline=C_INK, w=0.016)
    p.poly([(0.18, 0.3), (0.5, 0.12), (0.82, 0.3)], fill=C_LIGHT, outline=C_INK, w=0.016)
    p.rect((0.475, 0.33), (0.525, 0.5), fill=C_ACCENT, outline=None)
    p.rect((0.415, 0.39), (0.585, 0.44), fill=C_ACCENT, outline=None)
    p.rect((0.44, 0.58), (0.56, 0.72), fill=C_BAR, outline=None)
    for x in (0.28, 0.64):
        p.rect((x, 0.56), (x + 0.08, 0.64), fill=(200, 230, 245), outline=C_INK, w=0.008)
    p.text((0.5, 0.84), label, 0.07, C_BAR)


def warning(p: Pen, label: str, c=(0.5, 0.4)) -> None:
    x, y = c
    p.poly([(x, y - 0.25), (x - 0.27, y + 0.2), (x + 0.27, y + 0.2)], fill=(250, 205, 70), outline=C_INK, w=0.02)
    p.rect((x - 0.018, y - 0.12), (x + 0.018, y + 0.06), fill=C_INK, outline=None, radius=0.01)
    p.circle((x, y + 0.12), 0.022, fill=C_INK, outline=None)
    p.text((x, y + 0.34), label, 0.07, C_ACCENT)


def tick(p: Pen, c, r: float = 0.07) -> None:
    x, y = c
    p.circle(c, r, fill=C_OK, outline=None)
    p.line([(x - 0.5 * r, y), (x - 0.1 * r, y + 0.4 * r), (x + 0.5 * r, y - 0.4 * r)], C_BG, r * 0.28)


def cross(p: Pen, c, r: float = 0.07) -> None:
    x, y = c
    p.circle(c, r, fill=C_ACCENT, outline=None)
    d = 0.42 * r
    p.line([(x - d, y - d), (x + d, y + d)], C_BG, r * 0.28)
    p.line([(x - d, y + d), (x + d, y - d)], C_BG, r * 0.28)


def checklist(p: Pen, items: Sequence[str], ok: bool = False, title: str = "") -> None:
    y = 0.2 if title else 0.14
    if title:
        p.text((0.5, 0.09), title, 0.075, C_BAR)
    step = min(0.17, 0.72 / max(1, len(items)))
    for it in items:
        (tick if ok else cross)(p, (0.14, y + 0.04), 0.05)
        p.text((0.24, y + 0.04), it, 0.065, C_INK, anchor="lm")
        y += step


def ice_pack(p: Pen, c, wdt: float = 0.22, hgt: float = 0.12) -> None:
    x, y = c
    p.rect((x - wdt / 2, y - hgt / 2), (x + wdt / 2, y + hgt / 2), fill=(170, 215, 245), outline=C_BLUE, w=0.012, radius=0.03)
    for i in range(3):
        cx = x - wdt / 3 + i * wdt / 3
        p.line([(cx - 0.02, y), (cx + 0.02, y)], C_BG, 0.01)
        p.line([(cx, y - 0.02), (cx, y + 0.02)], C_BG, 0.01)


def label(p: Pen, s: str, y: float = 0.92, color=C_BAR) -> None:
    p.text((0.5, y), s, 0.07, color)


# --- topic drawings ---------------------------------------------------------------------
SLING_ARM = pose(STANDING, r_elbow=(0.63, 0.47), r_hand=(0.40, 0.42), l_elbow=(0.39, 0.44), l_hand=(0.44, 0.47))


def sling(p: Pen, stage: int) -> None:
    """Front view of a broad arm sling being applied; stage 0 (arm supported) .. 5 (pinned)."""
    tri_top, tri_bot, tri_pt = (0.42, 0.24), (0.42, 0.74), (0.72, 0.5)
    if stage == 1:  # the bandage lies behind the forearm
        p.poly([tri_top, tri_bot, tri_pt], fill=C_SLING, outline=C_SKIN_D, w=0.01)
    elif stage == 2:
        p.poly([(0.42, 0.40), tri_bot, tri_pt], fill=C_SLING, outline=C_SKIN_D, w=0.01)
    stick(p, SLING_ARM)
    if stage == 1:
        p.arrow((0.8, 0.66), (0.68, 0.56), C_ACCENT)
    elif stage == 2:
        p.line([(0.42, 0.40), (0.44, 0.26), (0.5, 0.22), (0.58, 0.27)], C_SKIN_D, 0.03)
        p.arrow((0.3, 0.16), (0.44, 0.16), C_ACCENT)
    elif stage == 3:
        p.poly([(0.38, 0.40), (0.38, 0.5), (0.68, 0.52), (0.68, 0.42)], fill=C_SLING, outline=C_SKIN_D, w=0.01)
        p.line([(0.4, 0.40), (0.44, 0.26), (0.5, 0.22), (0.58, 0.27)], C_SKIN_D, 0.03)
        p.line([(0.38, 0.48), (0.5, 0.42), (0.58, 0.3)], C_SKIN_D, 0.03)
        p.arrow((0.28, 0.6), (0.4, 0.5), C_ACCENT)
    elif stage >= 4:
        p.poly([(0.37, 0.39), (0.37, 0.5), (0.68, 0.53), (0.68, 0.43)], fill=C_SLING, outline=C_SKIN_D, w=0.01)
        p.line([(0.39, 0.40), (0.44, 0.26), (0.5, 0.22), (0.58, 0.27), (0.58, 0.31)], C_SKIN_D, 0.03)
        p.line([(0.39, 0.48), (0.5, 0.40), (0.58, 0.31)], C_SKIN_D, 0.03)
        p.circle((0.58, 0.31), 0.022, fill=C_SKIN_D, outline=C_INK, w=0.008)
        if stage == 4:
            p.circle((0.58, 0.31), 0.06, outline=C_ACCENT, w=0.012)
            p.text((0.76, 0.22), "knot", 0.06, C_ACCENT)
        else:
            p.circle((0.67, 0.48), 0.06, outline=C_ACCENT, w=0.012)
            p.text((0.82, 0.48), "pin", 0.06, C_ACCENT)
    else:  # stage 0: supporting the arm
        p.arrow((0.46, 0.62), (0.46, 0.5), C_OK)


FINGER_X = (0.31, 0.43, 0.55, 0.67)  # index, middle, ring, little (palm view, left to right)


def hand(p: Pen, tape: int = 0, pad: bool = False, hi: Sequence[int] = (), mark: str = "") -> None:
    """Palm-view hand; ``tape`` strips join the middle and ring fingers; ``hi`` highlights fingers."""
    p.rect((0.26, 0.48), (0.74, 0.86), fill=C_SKIN, outline=C_SKIN_D, w=0.012, radius=0.09)
    lengths = (0.30, 0.34, 0.32, 0.24)
    for i, (x, ln) in enumerate(zip(FINGER_X, lengths)):
        top = 0.52 - ln
        col = (255, 170, 150) if i in hi else C_SKIN
        p.rect((x - 0.05, top), (x + 0.05, 0.56), fill=col, outline=C_SKIN_D, w=0.012, radius=0.05)
        for jy in (top + ln * 0.35, top + ln * 0.68):
            p.line([(x - 0.03, jy), (x + 0.03, jy)], C_SKIN_D, 0.006)
    p.poly([(0.26, 0.66), (0.12, 0.50), (0.16, 0.45), (0.30, 0.56)], fill=C_SKIN, outline=C_SKIN_D, w=0.012)
    if pad:
        p.rect((0.475, 0.24), (0.505, 0.5), fill=(250, 250, 250), outline=C_GREY, w=0.006)
    bands = [(0.40, 0.45), (0.28, 0.33)][:tape]
    for y0, y1 in bands:
        p.rect((0.37, y0), (0.61, y1), fill=(245, 245, 240), outline=C_GREY, w=0.008, radius=0.01)
    if mark == "ok":
        tick(p, (0.84, 0.2))
    elif mark == "x":
        cross(p, (0.84, 0.2))


LYING_TOP: Joints = {  # person on their back seen from above: head left, feet right
    "head": (0.14, 0.5), "neck": (0.22, 0.5), "hip": (0.56, 0.5),
    "l_elbow": (0.34, 0.36), "l_hand": (0.48, 0.33), "r_elbow": (0.34, 0.64), "r_hand": (0.48, 0.67),
    "l_knee": (0.72, 0.44), "l_foot": (0.9, 0.42), "r_knee": (0.72, 0.56), "r_foot": (0.9, 0.58),
}


def lying_side_view(p: Pen, head_tilt: bool = False, y: float = 0.66) -> Joints:
    """A person on their back, side view (feet to the right) for CPR scenes."""
    j = {"head": (0.2, y - 0.05 if not head_tilt else y - 0.04), "neck": (0.27, y), "hip": (0.6, y),
         "l_elbow": (0.4, y + 0.02), "l_hand": (0.52, y + 0.03), "r_elbow": (0.4, y + 0.02), "r_hand": (0.52, y + 0.03),
         "l_knee": (0.75, y), "l_foot": (0.92, y), "r_knee": (0.75, y), "r_foot": (0.92, y)}
    p.line([(0.06, y + 0.07), (0.96, y + 0.07)], C_GREY, 0.01)
    stick(p, j)
    return j


def rescuer_kneeling(p: Pen, hands: tuple[float, float], straight: bool = True, color=C_BAR) -> None:
    """A rescuer kneeling behind a lying person, hands at ``hands`` (arms straight or bent)."""
    hx, hy = hands
    g = hy + 0.1  # ground line
    neck = (hx + 0.01, hy - 0.32) if straight else (hx + 0.1, hy - 0.3)
    elbow = (hx + 0.005, hy - 0.16) if straight else (hx + 0.1, hy - 0.12)
    j = {"head": (neck[0] - 0.04, neck[1] - 0.08), "neck": neck, "hip": (hx + 0.16, hy - 0.1),
         "l_elbow": elbow, "l_hand": (hx, hy), "r_elbow": elbow, "r_hand": (hx, hy),
         "l_knee": (hx + 0.12, g), "l_foot": (hx + 0.32, g), "r_knee": (hx + 0.14, g), "r_foot": (hx + 0.34, g)}
    stick(p, j, color=color)


def chest_hands(p: Pen, depth: bool = False) -> None:
    """Top view of a chest with interlocked hands on the centre (lower half of the breastbone)."""
    p.rect((0.25, 0.12), (0.75, 0.86), fill=C_SKIN, outline=C_SKIN_D, w=0.014, radius=0.12)
    p.circle((0.5, 0.07), 0.1, fill=C_SKIN, outline=C_SKIN_D, w=0.014)
    p.line([(0.5, 0.2), (0.5, 0.56)], C_SKIN_D, 0.012)
    p.ellipse((0.40, 0.38), (0.60, 0.56), fill=(226, 170, 135), outline=C_INK, w=0.012)
    p.ellipse((0.41, 0.34), (0.59, 0.52), fill=(232, 180, 145), outline=C_INK, w=0.012)
    for i in range(4):
        x = 0.43 + i * 0.04
        p.line([(x, 0.36), (x + 0.01, 0.28)], C_INK, 0.012)
    if depth:
        p.arrow((0.84, 0.22), (0.84, 0.5), C_ACCENT, 0.025)
        p.text((0.86, 0.6), "5-6 cm", 0.06, C_ACCENT)
    else:
        p.circle((0.5, 0.46), 0.15, outline=C_OK, w=0.012)


def recovery(p: Pen, stage: int) -> None:
    """Recovery-position sequence: 0 on back, 1 near arm out, 2 far hand to cheek, 3 knee up, 4 roll, 5 on side."""
    if stage <= 3:
        j = dict(LYING_TOP)
        if stage >= 1:
            j.update(r_elbow=(0.24, 0.78), r_hand=(0.12, 0.8))
        if stage >= 2:
            j.update(l_elbow=(0.36, 0.5), l_hand=(0.17, 0.56))
        if stage >= 3:
            j.update(l_knee=(0.64, 0.3), l_foot=(0.76, 0.42))
        stick(p, j)
        if stage == 0:
            tick(p, (0.14, 0.26))
            p.text((0.4, 0.2), "breathing", 0.06, C_OK)
        elif stage == 1:
            p.arc((0.22, 0.6), 0.08, 45, 135, C_ACCENT, 0.012)
            p.text((0.42, 0.88), "near arm at a right angle", 0.055, C_ACCENT)
        elif stage == 2:
            p.circle((0.17, 0.55), 0.06, outline=C_ACCENT, w=0.012)
            p.text((0.45, 0.12), "back of hand to cheek", 0.055, C_ACCENT)
        else:
            p.circle((0.64, 0.3), 0.05, outline=C_ACCENT, w=0.012)
            p.text((0.7, 0.14), "far knee up", 0.055, C_ACCENT)
        return
    if stage == 4:
        stick(p, pose(LYING_TOP, l_elbow=(0.36, 0.5), l_hand=(0.17, 0.56), r_elbow=(0.24, 0.78), r_hand=(0.12, 0.8),
                      l_knee=(0.64, 0.3), l_foot=(0.76, 0.42)), color=C_GREY)
        p.arc_arrow((0.55, 0.62), 0.22, 200, 330, C_ACCENT)
        p.text((0.55, 0.92), "roll towards you", 0.06, C_ACCENT)
        return
    # stage 5+: on the side, side view
    y = 0.62
    p.line([(0.06, y + 0.1), (0.96, y + 0.1)], C_GREY, 0.01)
    j = {"head": (0.16, y - 0.02), "neck": (0.24, y - 0.01), "hip": (0.56, y),
         "l_elbow": (0.3, y + 0.08), "l_hand": (0.2, y + 0.06), "r_elbow": (0.36, y + 0.09), "r_hand": (0.44, y + 0.09),
         "l_knee": (0.66, y - 0.12), "l_foot": (0.8, y + 0.02), "r_knee": (0.74, y + 0.04), "r_foot": (0.92, y + 0.06)}
    stick(p, j)
    if stage == 6:
        p.arrow((0.12, y - 0.2), (0.1, y - 0.06), C_ACCENT)
        p.text((0.35, 0.3), "head back, mouth down", 0.06, C_ACCENT)
    elif stage == 5:
        p.circle((0.66, y - 0.12), 0.06, outline=C_ACCENT, w=0.012)
        p.text((0.66, 0.3), "hip and knee at right angles", 0.055, C_ACCENT)


def head_profile(p: Pen, tilt: float = 0.0, pinch: bool = False, ice: bool = False, c=(0.5, 0.45)) -> None:
    """Side view of a head facing right; ``tilt`` in degrees (positive = forward/down)."""
    x, y = c
    a = math.radians(tilt)

    def rot(dx: float, dy: float) -> tuple[float, float]:
        return (x + dx * math.cos(a) - dy * math.sin(a), y + dx * math.sin(a) + dy * math.cos(a))

    p.line([(x - 0.03, y + 0.12), (x - 0.05, y + 0.3)], C_SKIN, 0.1)  # neck
    p.line([(x - 0.24, y + 0.34), (x + 0.14, y + 0.34)], C_BLUE, 0.08)  # shoulders
    p.circle(rot(0, 0), 0.17, fill=C_SKIN, outline=C_SKIN_D, w=0.012)
    p.poly([rot(0.15, -0.05), rot(0.25, 0.05), rot(0.15, 0.07)], fill=C_SKIN, outline=C_SKIN_D, w=0.01)  # nose
    p.circle(rot(0.08, -0.04), 0.017, fill=C_INK, outline=None)
    p.line([rot(0.1, 0.11), rot(0.14, 0.11)], C_SKIN_D, 0.01)  # mouth
    p.arc(rot(0, -0.02), 0.19, 200, 300, (90, 70, 50), 0.05)  # hair
    if pinch:  # a hand from below, finger and thumb on the soft part of the nose
        p.line([rot(0.2, 0.1), (x + 0.3, y + 0.4)], C_SKIN_D, 0.05)
        p.circle(rot(0.2, 0.04), 0.04, fill=(226, 170, 135), outline=C_INK, w=0.008)
    if ice:
        ice_pack(p, rot(0.18, -0.1), 0.14, 0.07)


def foot(p: Pen, bandage: bool = False, ice: bool = False, swelling: bool = True) -> None:
    """Side view of a lower leg and foot (toes to the right)."""
    p.poly([(0.3, 0.1), (0.44, 0.1), (0.46, 0.62), (0.8, 0.7), (0.84, 0.8), (0.3, 0.8), (0.28, 0.62)],
           fill=C_SKIN, outline=C_SKIN_D, w=0.012)
    if swelling:
        p.circle((0.38, 0.68), 0.07, fill=(240, 160, 140), outline=None)
    if bandage:
        for i in range(7):
            y = 0.36 + i * 0.06
            p.poly([(0.27, y), (0.47, y - 0.03), (0.48, y + 0.02), (0.27, y + 0.05)] if i < 5 else
                   [(0.3 + (i - 5) * 0.14, 0.64), (0.45 + (i - 5) * 0.14, 0.62), (0.48 + (i - 5) * 0.14, 0.79),
                    (0.33 + (i - 5) * 0.14, 0.8)], fill=(235, 225, 205), outline=C_GREY, w=0.006)
    if ice:
        ice_pack(p, (0.37, 0.56), 0.2, 0.1)


def table_figure(p: Pen, swing: str = "", standing: bool = False) -> None:
    """Pendulum exercise: a figure bent over a table, the free arm hanging; ``swing`` draws the motion."""
    p.rect((0.06, 0.5), (0.34, 0.54), fill=(170, 130, 90), outline=None)
    p.line([(0.1, 0.54), (0.1, 0.9)], (140, 100, 70), 0.02)
    p.line([(0.3, 0.54), (0.3, 0.9)], (140, 100, 70), 0.02)
    p.line([(0.02, 0.9), (0.98, 0.9)], C_GREY, 0.01)
    if standing:
        j = {"head": (0.52, 0.16), "neck": (0.52, 0.26), "hip": (0.54, 0.56),
             "l_elbow": (0.42, 0.42), "l_hand": (0.32, 0.5), "r_elbow": (0.58, 0.42), "r_hand": (0.6, 0.56),
             "l_knee": (0.52, 0.73), "l_foot": (0.52, 0.9), "r_knee": (0.57, 0.73), "r_foot": (0.58, 0.9)}
        stick(p, j)
        return
    j = {"head": (0.36, 0.3), "neck": (0.44, 0.34), "hip": (0.66, 0.48),
         "l_elbow": (0.36, 0.42), "l_hand": (0.3, 0.5), "r_elbow": (0.45, 0.52), "r_hand": (0.46, 0.68),
         "l_knee": (0.64, 0.7), "l_foot": (0.62, 0.9), "r_knee": (0.7, 0.7), "r_foot": (0.72, 0.9)}
    stick(p, j)
    if swing == "side":
        p.arrow((0.38, 0.76), (0.54, 0.76), C_ACCENT, both=True)
        p.text((0.78, 0.2), "side to side", 0.05, C_ACCENT)
    elif swing == "fwd":
        p.arc_arrow((0.45, 0.36), 0.38, 90, 118, C_ACCENT)
        p.arc_arrow((0.45, 0.36), 0.38, 90, 62, C_ACCENT)
        p.text((0.78, 0.2), "forwards and back", 0.05, C_ACCENT)
    elif swing == "circle":
        p.ellipse((0.38, 0.66), (0.54, 0.74), outline=C_ACCENT, w=0.012)
        p.arrow((0.45, 0.74), (0.43, 0.74), C_ACCENT, head=0.03)
        p.text((0.78, 0.2), "small circles", 0.05, C_ACCENT)
    elif swing == "hang":
        p.arrow((0.56, 0.5), (0.56, 0.66), C_OK)
        p.text((0.78, 0.2), "relaxed arm", 0.055, C_OK)


def tap_water(p: Pen, label_text: str = "20 minutes") -> None:
    p.rect((0.2, 0.1), (0.62, 0.18), fill=C_GREY, outline=C_INK, w=0.01, radius=0.02)
    p.rect((0.52, 0.1), (0.62, 0.26), fill=C_GREY, outline=C_INK, w=0.01, radius=0.02)
    p.rect((0.3, 0.04), (0.36, 0.1), fill=C_GREY, outline=C_INK, w=0.01)
    for i in range(5):
        x = 0.535 + i * 0.015
        p.line([(x, 0.28), (x, 0.5)], C_BLUE, 0.008)
    p.rect((0.3, 0.5), (0.86, 0.62), fill=C_SKIN, outline=C_SKIN_D, w=0.012, radius=0.05)
    p.circle((0.58, 0.55), 0.04, fill=(240, 150, 130), outline=None)
    p.text((0.5, 0.78), label_text, 0.08, C_BAR)


def hot_pan(p: Pen) -> None:
    p.ellipse((0.14, 0.48), (0.56, 0.6), fill=(90, 90, 95), outline=C_INK, w=0.01)
    p.line([(0.56, 0.54), (0.84, 0.5)], C_INK, 0.03)
    for i in range(3):
        x = 0.24 + i * 0.1
        p.arc((x, 0.38), 0.04, 90, 270, C_ACCENT, 0.012)
        p.arc((x, 0.3), 0.04, 270, 90, C_ACCENT, 0.012)
    p.arrow((0.6, 0.76), (0.86, 0.76), C_OK)
    p.text((0.42, 0.76), "move away", 0.06, C_OK)


def cling_film(p: Pen) -> None:
    p.rect((0.1, 0.42), (0.9, 0.58), fill=C_SKIN, outline=C_SKIN_D, w=0.012, radius=0.06)
    p.circle((0.5, 0.5), 0.05, fill=(240, 150, 130), outline=None)
    p.rect((0.3, 0.38), (0.7, 0.62), fill=None, outline=C_BLUE, w=0.01, radius=0.03)
    for x in (0.36, 0.46, 0.56, 0.64):
        p.line([(x, 0.4), (x + 0.03, 0.6)], (170, 210, 240), 0.006)
    p.text((0.5, 0.76), "loose, laid lengthways", 0.06, C_BAR)


def blister(p: Pen) -> None:
    p.rect((0.1, 0.46), (0.9, 0.62), fill=C_SKIN, outline=C_SKIN_D, w=0.012, radius=0.06)
    p.ellipse((0.42, 0.38), (0.58, 0.5), fill=(250, 235, 210), outline=C_SKIN_D, w=0.01)
    p.line([(0.62, 0.2), (0.52, 0.38)], C_GREY, 0.012)  # needle
    cross(p, (0.76, 0.22), 0.08)
    p.text((0.5, 0.76), "do not burst", 0.07, C_ACCENT)


def pills(p: Pen) -> None:
    p.rect((0.22, 0.22), (0.62, 0.66), fill=(245, 245, 250), outline=C_INK, w=0.012, radius=0.03)
    p.rect((0.22, 0.22), (0.62, 0.32), fill=C_BLUE, outline=C_INK, w=0.012)
    p.ellipse((0.66, 0.5), (0.84, 0.58), fill=(250, 250, 250), outline=C_INK, w=0.01)
    p.circle((0.72, 0.38), 0.05, fill=(250, 250, 250), outline=C_INK, w=0.01)
    p.text((0.42, 0.46), "read the", 0.05, C_INK, bold=False)
    p.text((0.42, 0.54), "leaflet", 0.05, C_INK, bold=False)


def blanket(p: Pen) -> None:
    j = pose(STANDING, l_elbow=(0.4, 0.44), r_elbow=(0.6, 0.44))
    stick(p, j)
    p.poly([(0.36, 0.3), (0.64, 0.3), (0.7, 0.66), (0.3, 0.66)], fill=(180, 120, 170), outline=C_INK, w=0.01)
    label(p, "keep the person warm", 0.97)


def elevated_leg(p: Pen) -> None:
    y = 0.7
    p.line([(0.04, y + 0.08), (0.96, y + 0.08)], C_GREY, 0.01)
    p.rect((0.62, 0.46), (0.9, 0.56), fill=C_LIGHT, outline=C_GREY, w=0.008, radius=0.04)
    p.rect((0.62, 0.56), (0.9, 0.66), fill=C_LIGHT, outline=C_GREY, w=0.008, radius=0.04)
    p.rect((0.62, 0.66), (0.9, 0.77), fill=C_LIGHT, outline=C_GREY, w=0.008, radius=0.04)
    j = {"head": (0.12, y - 0.02), "neck": (0.19, y), "hip": (0.46, y),
         "l_elbow": (0.3, y + 0.03), "l_hand": (0.4, y + 0.04), "r_elbow": (0.3, y + 0.03), "r_hand": (0.4, y + 0.04),
         "l_knee": (0.62, y - 0.12), "l_foot": (0.84, y - 0.28), "r_knee": (0.64, y), "r_foot": (0.8, y + 0.02)}
    stick(p, j)
    p.line([(0.06, y - 0.1), (0.96, y - 0.1)], C_ACCENT, 0.006)
    p.text((0.3, y - 0.16), "heart level", 0.05, C_ACCENT)


def ankle_circles(p: Pen) -> None:
    foot(p, swelling=False)
    p.arc_arrow((0.78, 0.62), 0.12, 200, 520 - 40, C_OK)
    p.text((0.5, 0.92), "gentle movement", 0.065, C_OK)


def aed(p: Pen) -> None:
    p.rect((0.26, 0.2), (0.74, 0.66), fill=(60, 160, 90), outline=C_INK, w=0.014, radius=0.05)
    p.poly([(0.5, 0.56), (0.36, 0.4), (0.38, 0.32), (0.44, 0.3), (0.5, 0.36), (0.56, 0.3), (0.62, 0.32), (0.64, 0.4)],
           fill=C_BG, outline=None)
    p.poly([(0.52, 0.33), (0.47, 0.44), (0.51, 0.44), (0.48, 0.53), (0.55, 0.41), (0.51, 0.41)], fill=C_ACCENT, outline=None)
    p.text((0.5, 0.76), "AED", 0.08, C_BAR)


def speech(p: Pen, text: str, at=(0.6, 0.18)) -> None:
    x, y = at
    p.rect((x - 0.3, y - 0.07), (x + 0.3, y + 0.07), fill=C_BG, outline=C_INK, w=0.01, radius=0.04)
    p.poly([(x - 0.1, y + 0.07), (x - 0.16, y + 0.16), (x - 0.02, y + 0.07)], fill=C_BG, outline=None)
    p.text(at, text, 0.055, C_INK)


def intro_icon(slug: str) -> Callable[[Pen], None]:
    """The title slide's picture for each video (its most telling step)."""
    return {
        "arm-sling": lambda p: sling(p, 5),
        "finger-buddy-taping": lambda p: hand(p, tape=2, pad=True),
        "hands-only-cpr": lambda p: (rescuer_kneeling(p, (0.4, 0.62)), lying_side_view(p)),
        "recovery-position": lambda p: recovery(p, 5),
        "minor-burn": lambda p: tap_water(p, "cool the burn"),
        "nosebleed": lambda p: head_profile(p, tilt=20, pinch=True),
        "ankle-sprain": lambda p: foot(p, ice=True),
        "pendulum-shoulder": lambda p: table_figure(p, "circle"),
    }[slug]


# ----------------------------------------------------------------------------- content
@dataclass(frozen=True)
class Step:
    heading: str
    sentences: tuple[str, ...]
    draw: Callable[[Pen], None]


@dataclass(frozen=True)
class Question:
    question: str
    steps: tuple[int, int]  # 1-based inclusive step range holding the answer


@dataclass(frozen=True)
class Video:
    slug: str
    title: str
    description: str
    intro: tuple[str, ...]
    steps: tuple[Step, ...]
    closing: tuple[str, ...]
    questions: tuple[Question, ...]


def S(heading: str, *sentences: str, draw: Callable[[Pen], None]) -> Step:
    return Step(heading, tuple(sentences), draw)


VIDEOS: tuple[Video, ...] = (
    Video(
        "arm-sling", "How to put on an arm sling",
        "Applying a broad arm sling with a triangular bandage to support an injured forearm or wrist.",
        ("This video shows how to put on a broad arm sling using a triangular bandage.",
         "A sling supports an injured forearm or wrist and keeps it still."),
        (
            S("Support the arm",
              "Ask the person to sit down and hold the injured arm across their body, with the hand slightly higher than the elbow.",
              "They can support it with their other hand while you work.", draw=lambda p: sling(p, 0)),
            S("Slide the bandage under",
              "Slide the triangular bandage between the chest and the injured forearm.",
              "The long edge runs down the uninjured side, and the point of the triangle sits beyond the elbow.",
              draw=lambda p: sling(p, 1)),
            S("Top end around the neck",
              "Take the upper end over the shoulder on the uninjured side and around the back of the neck.",
              draw=lambda p: sling(p, 2)),
            S("Bring the lower end up",
              "Bring the lower end of the bandage up over the forearm, to meet the upper end just above the collarbone on the injured side.",
              draw=lambda p: sling(p, 3)),
            S("Tie a reef knot",
              "Tie the two ends with a reef knot in the hollow above the collarbone.",
              "Tuck the loose ends under the knot, or add padding, so it does not press on the neck.",
              draw=lambda p: sling(p, 4)),
            S("Secure the elbow",
              "Twist the point of the bandage at the elbow and tuck it in, or fasten it with a safety pin.",
              "The elbow should sit snugly in the sling.", draw=lambda p: sling(p, 5)),
            S("Check the circulation",
              "Check that the fingers are warm and pink.",
              "Press a fingernail for a moment; the colour should return within two seconds.",
              "Loosen the sling if the fingers become pale, cold, numb or tingly, and recheck every ten minutes.",
              draw=lambda p: (hand(p, mark="ok"), clock(p, "every 10 min", c=(0.8, 0.7), r=0.09, size=0.055))),
            S("Go to hospital",
              "If you think a bone may be broken, take the person to hospital with the arm still supported in the sling.",
              draw=lambda p: hospital(p)),
        ),
        ("Remember, this is general information only.",
         "For any arm injury, get it checked by a doctor, nurse or trained first aider."),
        (Question("How do I put on a sling for a broken arm?", (2, 6)),
         Question("Where should the knot of an arm sling go?", (5, 5)),
         Question("How can I tell if a sling is too tight?", (7, 7))),
    ),
    Video(
        "finger-buddy-taping", "Buddy taping an injured finger",
        "Supporting a sprained or jammed finger by taping it to the healthy finger next to it.",
        ("Buddy taping supports a sprained or jammed finger by taping it to the healthy finger next to it.",
         "The neighbouring finger acts as a natural splint."),
        (
            S("Check the finger first",
              "Look at the injured finger before you tape it.",
              "If it is bent out of shape, very swollen, numb, or the skin is broken, do not tape it; get medical help instead.",
              draw=lambda p: hand(p, hi=(2,), mark="x")),
            S("Choose the buddy finger",
              "Pick a neighbouring finger of a similar length.",
              "For an injured ring finger, the middle finger usually works best.",
              draw=lambda p: hand(p, hi=(1, 2), mark="ok")),
            S("Pad between the fingers",
              "Place a thin piece of gauze or cotton padding between the two fingers.",
              "The padding stops the skin from rubbing and getting sore.",
              draw=lambda p: hand(p, pad=True)),
            S("First strip of tape",
              "Wrap a strip of medical tape around both fingers, between the knuckle and the middle joint.",
              "Keep it firm, but not tight.", draw=lambda p: hand(p, pad=True, tape=1)),
            S("Second strip of tape",
              "Add a second strip between the middle joint and the end joint.",
              "Leave the joints themselves free, so that the fingers can still bend.",
              draw=lambda p: hand(p, pad=True, tape=2)),
            S("Check the fingertips",
              "Check that both fingertips stay pink and warm, with no numbness or tingling.",
              "If they do not, remove the tape and put it on again more loosely.",
              draw=lambda p: hand(p, pad=True, tape=2, mark="ok")),
            S("Change the tape",
              "Replace the tape and padding whenever they get wet or dirty, and check the skin each time.",
              draw=lambda p: (hand(p, pad=True, tape=2), p.arc_arrow((0.84, 0.2), 0.08, 0, 300, C_BLUE))),
            S("Rest and follow up",
              "Avoid heavy gripping while the finger heals.",
              "If the pain or swelling does not improve within a few days, see a doctor or physiotherapist.",
              draw=lambda p: hospital(p, "see a professional")),
        ),
        ("This video is general guidance only.",
         "For a painful or misshapen finger, please seek professional medical advice."),
        (Question("How do I tape a sprained finger to the one next to it?", (3, 5)),
         Question("Which finger should I tape an injured ring finger to?", (2, 2)),
         Question("When should I not buddy tape a finger?", (1, 1))),
    ),
    Video(
        "hands-only-cpr", "Hands-only CPR for an adult",
        "Chest-compression-only CPR for an adult who is unresponsive and not breathing normally.",
        ("Hands-only CPR keeps blood flowing to the brain when an adult's heart has stopped.",
         "It uses chest compressions without rescue breaths."),
        (
            S("Check for danger and response",
              "Make sure the area is safe for you and the person.",
              "Gently shake their shoulders and ask loudly, are you all right?",
              draw=lambda p: (rescuer_kneeling(p, (0.36, 0.62), straight=False), lying_side_view(p),
                              speech(p, "Are you all right?", at=(0.4, 0.14)))),
            S("Check breathing",
              "If there is no response, tilt the head back and lift the chin.",
              "Look, listen and feel for normal breathing for no more than ten seconds.",
              draw=lambda p: (lying_side_view(p, head_tilt=True), clock(p, "10 seconds", c=(0.5, 0.26), r=0.13))),
            S("Call emergency services",
              "If they are not breathing normally, call emergency services straight away and put the phone on speaker.",
              "Ask someone to bring a defibrillator, called an AED, if there is one nearby.",
              draw=lambda p: phone(p, "call emergency services")),
            S("Hands in the centre of the chest",
              "Kneel beside the person.",
              "Place the heel of one hand in the centre of the chest, put your other hand on top, and interlock your fingers.",
              draw=lambda p: chest_hands(p)),
            S("Arms straight, shoulders over hands",
              "Lean over the person with your arms straight and your shoulders directly above your hands.",
              draw=lambda p: (rescuer_kneeling(p, (0.4, 0.62)), lying_side_view(p))),
            S("Push down 5 to 6 centimetres",
              "Push straight down by 5 to 6 centimetres, about 2 inches, then let the chest come all the way back up.",
              "Keep your hands on the chest between compressions.",
              draw=lambda p: chest_hands(p, depth=True)),
            S("100 to 120 a minute",
              "Push hard and fast, at a rate of 100 to 120 compressions a minute.",
              "That is about 2 compressions every second.",
              draw=lambda p: clock(p, "100-120 per minute")),
            S("Keep going",
              "Do not stop until emergency help takes over, the person starts breathing normally, or you are too exhausted to continue.",
              "If a defibrillator arrives, switch it on and follow its spoken instructions.",
              draw=lambda p: aed(p)),
        ),
        ("Take a certified first aid course to practise CPR properly.",
         "In an emergency, always call for professional help first."),
        (Question("Where do I put my hands for chest compressions?", (4, 4)),
         Question("How fast and how deep should CPR compressions be?", (6, 7)),
         Question("What should I do first when someone collapses and is not responding?", (1, 3))),
    ),
    Video(
        "recovery-position", "The recovery position",
        "Placing an unresponsive person who is breathing normally into the recovery position.",
        ("The recovery position keeps the airway of an unresponsive person open while they are breathing normally.",
         "It lets fluid drain from the mouth so they do not choke."),
        (
            S("Check they are breathing",
              "Use the recovery position only if the person is unresponsive but breathing normally.",
              "If they are not breathing, call emergency services and start CPR.",
              draw=lambda p: recovery(p, 0)),
            S("Near arm at a right angle",
              "Kneel beside the person lying on their back.",
              "Place the arm nearest you at a right angle to their body, with the elbow bent and the palm facing up.",
              draw=lambda p: recovery(p, 1)),
            S("Far hand to the cheek",
              "Bring their far arm across the chest, and hold the back of their hand against the cheek nearest to you.",
              draw=lambda p: recovery(p, 2)),
            S("Bend the far knee",
              "With your other hand, lift the far knee, so the leg is bent and the foot is flat on the floor.",
              draw=lambda p: recovery(p, 3)),
            S("Roll them towards you",
              "Keep their hand pressed against the cheek, and pull on the bent knee to roll them towards you onto their side.",
              draw=lambda p: recovery(p, 4)),
            S("Adjust the upper leg",
              "Adjust the upper leg so both the hip and the knee are bent at right angles.",
              "This stops them rolling onto their front.", draw=lambda p: recovery(p, 5)),
            S("Keep the airway open",
              "Tilt the head back slightly and lift the chin to keep the airway open.",
              "Make sure the mouth points slightly downwards, so any fluid can drain out.",
              draw=lambda p: recovery(p, 6)),
            S("Call for help and monitor",
              "Call emergency services if you have not already done so.",
              "Stay with the person and keep checking their breathing until help arrives.",
              draw=lambda p: phone(p, "call and keep checking")),
        ),
        ("This is general information only.",
         "Always get professional medical help for anyone who has been unresponsive."),
        (Question("How do I roll an unconscious person onto their side?", (2, 6)),
         Question("When should I put someone in the recovery position?", (1, 1)),
         Question("How do I keep the airway open once they are on their side?", (7, 7))),
    ),
    Video(
        "minor-burn", "First aid for a minor burn",
        "Cooling and covering a small burn or scald, and knowing when it needs medical care.",
        ("This video covers first aid for a small burn, such as touching a hot pan.",
         "Cooling it quickly reduces pain, swelling and the risk of scarring."),
        (
            S("Stop the burning",
              "Move away from the heat source straight away.",
              "Remove any clothing or jewellery near the burn, unless it is stuck to the skin.",
              draw=lambda p: hot_pan(p)),
            S("Cool with running water",
              "Hold the burn under cool or lukewarm running water for 20 minutes.",
              "Do not use ice, iced water, creams, or greasy things like butter.",
              draw=lambda p: tap_water(p)),
            S("Keep the person warm",
              "Keep the rest of the person warm with a blanket, so they do not get too cold while you cool the burn.",
              draw=lambda p: blanket(p)),
            S("Cover the burn loosely",
              "After cooling, cover the burn with a layer of cling film laid on lengthways, or a clean plastic bag over a hand.",
              "Do not wrap it tightly, because the area can swell.",
              draw=lambda p: cling_film(p)),
            S("Leave blisters alone",
              "Do not burst any blisters, and avoid touching the burn itself.",
              draw=lambda p: blister(p)),
            S("Ease the pain",
              "Over the counter painkillers can ease the pain.",
              "Always follow the instructions on the packet.",
              draw=lambda p: pills(p)),
            S("When to get medical help",
              "Get medical help for a burn larger than the person's hand, or a burn on the face, hands, feet or genitals.",
              "Chemical and electrical burns, deep burns, and burns on babies or young children also need a doctor.",
              draw=lambda p: hospital(p)),
        ),
        ("If you are unsure how serious a burn is, contact a doctor or emergency services.",
         "Professional advice is always the safest choice."),
        (Question("How long should I hold a burn under cold water?", (2, 2)),
         Question("How should I cover a burn after cooling it?", (4, 4)),
         Question("When does a burn need to be seen by a doctor?", (7, 7))),
    ),
    Video(
        "nosebleed", "How to stop a nosebleed",
        "Stopping a nosebleed by leaning forward and pinching the soft part of the nose.",
        ("Most nosebleeds are not serious and can be stopped at home.",
         "Here is how to stop one safely."),
        (
            S("Sit and lean forward",
              "Sit down and lean forward, with your head tilted slightly forward.",
              "Do not tilt your head back, because blood can run down the throat.",
              draw=lambda p: (head_profile(p, tilt=25, c=(0.32, 0.42)), tick(p, (0.32, 0.12)),
                              head_profile(p, tilt=-30, c=(0.74, 0.5)), cross(p, (0.74, 0.12)))),
            S("Pinch the soft part of the nose",
              "Pinch the soft part of your nose, just above the nostrils, firmly between your thumb and finger.",
              draw=lambda p: head_profile(p, tilt=20, pinch=True)),
            S("Hold for 10 to 15 minutes",
              "Keep pinching for 10 to 15 minutes without letting go.",
              "Breathe through your mouth, and spit out any blood rather than swallowing it.",
              draw=lambda p: clock(p, "10-15 minutes")),
            S("Cool the bridge of the nose",
              "Holding an ice pack wrapped in a cloth on the bridge of the nose may also help.",
              draw=lambda p: head_profile(p, tilt=20, pinch=True, ice=True)),
            S("Check and repeat",
              "After 15 minutes, slowly release the pressure.",
              "If it is still bleeding, pinch again for another 10 to 15 minutes.",
              draw=lambda p: (clock(p, "again if needed"), p.arc_arrow((0.5, 0.42), 0.3, 200, 330, C_BLUE))),
            S("Take care for a day",
              "For the next 24 hours, avoid blowing or picking your nose, heavy lifting, strenuous exercise and hot drinks.",
              draw=lambda p: checklist(p, ("blowing your nose", "heavy lifting", "hard exercise", "hot drinks"),
                                       title="for 24 hours, avoid")),
            S("When to get help",
              "Get urgent medical help if the bleeding lasts longer than 20 minutes, if it started after a blow to the head, or if there is a lot of blood.",
              "Also get help if the person feels faint or has trouble breathing.",
              draw=lambda p: hospital(p, "more than 20 minutes")),
        ),
        ("If nosebleeds keep coming back, talk to your doctor.",
         "When in doubt, seek professional medical help."),
        (Question("Should I tilt my head back when my nose is bleeding?", (1, 1)),
         Question("How long should I pinch my nose to stop the bleeding?", (2, 3)),
         Question("When is a nosebleed an emergency?", (7, 7))),
    ),
    Video(
        "ankle-sprain", "Ankle sprain: rest, ice, compression, elevation",
        "Looking after a sprained ankle in the first few days with rest, ice, compression and elevation.",
        ("A sprained ankle happens when the ligaments around the joint are stretched or torn.",
         "For the first few days, remember rest, ice, compression and elevation."),
        (
            S("Stop and check",
              "Stop the activity straight away.",
              "If you cannot put any weight on the foot, the ankle looks misshapen, or it feels numb, get medical help, because it could be broken.",
              draw=lambda p: warning(p, "could it be broken?")),
            S("Rest",
              "Rest the ankle for the first two to three days.",
              "Use crutches or a support if walking is painful.",
              draw=lambda p: (foot(p), p.text((0.72, 0.26), "REST", 0.12, C_BAR))),
            S("Ice",
              "Hold an ice pack or a bag of frozen peas, wrapped in a towel, on the ankle for up to 20 minutes every two to three hours.",
              "Never put ice directly on the skin.",
              draw=lambda p: (foot(p, ice=True), p.text((0.72, 0.26), "20 min", 0.1, C_BLUE))),
            S("Compression",
              "Wrap an elastic bandage around the foot and ankle, starting at the toes and working upwards.",
              "It should feel snug but not tight, and you should take it off before you go to sleep.",
              draw=lambda p: foot(p, bandage=True)),
            S("Elevation",
              "Raise the ankle above the level of your heart as often as you can, for example on a pile of pillows.",
              "This helps the swelling go down.",
              draw=lambda p: elevated_leg(p)),
            S("Avoid harm for three days",
              "For the first three days, avoid heat such as hot baths, alcohol, running, and massage.",
              "They can all increase the swelling.",
              draw=lambda p: checklist(p, ("heat", "alcohol", "running", "massage"), title="first 3 days, avoid")),
            S("Start moving gently",
              "As the pain eases, start gentle ankle movements, such as drawing circles with your toes.",
              "Then slowly return to walking.", draw=lambda p: ankle_circles(p)),
            S("When to see a professional",
              "See a doctor or physiotherapist if the pain and swelling are not getting better after a few days, or if the ankle keeps giving way.",
              draw=lambda p: hospital(p, "not improving?")),
        ),
        ("This video gives general advice only.",
         "If you are worried about an injury, seek help from a healthcare professional."),
        (Question("How do I use ice on a sprained ankle?", (3, 3)),
         Question("How tight should a compression bandage on an ankle be?", (4, 4)),
         Question("What should I avoid in the first days after spraining my ankle?", (6, 6))),
    ),
    Video(
        "pendulum-shoulder", "Pendulum exercises for a stiff shoulder",
        "Gentle pendulum exercises to move a stiff or painful shoulder, when advised by a physiotherapist.",
        ("Pendulum exercises gently move a stiff or painful shoulder, and are often given after a shoulder injury.",
         "Only do them if your doctor or physiotherapist has advised them."),
        (
            S("Stand by a table",
              "Stand beside a sturdy table or the back of a chair.",
              "Rest your good hand on it for support.", draw=lambda p: table_figure(p, standing=True)),
            S("Lean forward, let the arm hang",
              "Bend forward at the hips, keeping your back straight.",
              "Let the sore arm hang straight down towards the floor, fully relaxed.",
              draw=lambda p: table_figure(p, "hang")),
            S("Swing side to side",
              "Shift your weight gently from one foot to the other, so the arm swings from side to side.",
              "Let your body make the movement, not your shoulder muscles.",
              draw=lambda p: table_figure(p, "side")),
            S("Swing forwards and back",
              "Now rock your body forwards and backwards, so the arm swings forwards and back like a pendulum.",
              draw=lambda p: table_figure(p, "fwd")),
            S("Small circles",
              "Move your body in small circles, so the arm draws small circles in the air.",
              "Do 10 circles clockwise, then 10 anticlockwise.",
              draw=lambda p: table_figure(p, "circle")),
            S("How long and how often",
              "Do each movement for about 30 seconds to a minute.",
              "Repeat the exercises a few times a day, or as your physiotherapist advises.",
              draw=lambda p: clock(p, "30-60 seconds each")),
            S("Stand up slowly",
              "When you finish, stand up slowly, using your good arm to push off from the table.",
              draw=lambda p: (table_figure(p, standing=True), p.arrow((0.8, 0.6), (0.8, 0.25), C_OK))),
            S("Stop if it hurts",
              "Some mild discomfort is normal, but stop if the pain becomes sharp or keeps getting worse.",
              "Ask your physiotherapist for advice before you carry on.",
              draw=lambda p: warning(p, "sharp pain? stop")),
        ),
        ("This video is for general information and does not replace a personal exercise plan.",
         "Please seek advice from a physiotherapist or doctor about your shoulder."),
        (Question("How do I do pendulum exercises for a stiff shoulder?", (2, 5)),
         Question("How often should I do pendulum exercises?", (6, 6)),
         Question("What should I do if the shoulder exercise hurts?", (8, 8))),
    ),
)


# ----------------------------------------------------------------------------- slides
def _wrap(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    lines: list[str] = []
    cur = ""
    for word in text.split():
        trial = f"{cur} {word}".strip()
        if draw.textlength(trial, font=font) <= width or not cur:
            cur = trial
        else:
            lines.append(cur)
            cur = word
    if cur:
        lines.append(cur)
    return lines


def render_slide(video: Video, kind: str, step_no: int, heading: str, body: str,
                 picture: Callable[[Pen], None]) -> Image.Image:
    """One 640x360 RGB slide: title bar, step badge + heading (left), diagram (right), footer."""
    w, h = W * SS, H * SS
    img = Image.new("RGB", (w, h), C_BG)
    d = ImageDraw.Draw(img)
    bar = 44 * SS
    d.rectangle((0, 0, w, bar), fill=C_BAR)
    d.text((16 * SS, bar // 2), video.title, font=_font(20 * SS, True), fill=C_BG, anchor="lm")
    foot = 26 * SS
    d.rectangle((0, h - foot, w, h), fill=C_LIGHT)
    d.text((w // 2, h - foot // 2), FOOTER, font=_font(12 * SS), fill=(90, 95, 100), anchor="mm")
    panel = (338 * SS, 56 * SS, 628 * SS, h - foot - 12 * SS)
    d.rounded_rectangle(panel, radius=14 * SS, fill=C_PANEL)
    left_x, left_w = 22 * SS, 300 * SS
    y = 66 * SS
    if kind == "step":
        r = 34 * SS
        cx, cy = left_x + r, y + r
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=C_ACCENT)
        d.text((cx, cy), str(step_no), font=_font(40 * SS, True), fill=C_BG, anchor="mm")
        d.text((cx + r + 12 * SS, cy), f"Step {step_no} of {len(video.steps)}", font=_font(15 * SS), fill=C_GREY, anchor="lm")
        y = cy + r + 16 * SS
        head_font = _font(25 * SS, True)
    else:
        head_font = _font(26 * SS, True)
        y += 8 * SS
    for line in _wrap(d, heading, head_font, left_w):
        d.text((left_x, y), line, font=head_font, fill=C_INK)
        y += int(head_font.size * 1.22)
    if body:
        y += 8 * SS
        body_font = _font(15 * SS)
        for line in _wrap(d, body, body_font, left_w):
            d.text((left_x, y), line, font=body_font, fill=(80, 85, 90))
            y += int(body_font.size * 1.35)
    px0, py0, px1, py1 = panel
    picture(Pen(d, (px0 + 10 * SS, py0 + 8 * SS, px1 - 10 * SS, py1 - 8 * SS)))
    return img.resize((W, H), Image.LANCZOS)


# ----------------------------------------------------------------------------- narration
@dataclass
class CueSpan:
    start: float
    end: float
    text: str


@dataclass
class Segment:
    kind: str  # "intro" | "step" | "closing"
    step_no: int
    cues: list[CueSpan] = field(default_factory=list)

    @property
    def start(self) -> float:
        return self.cues[0].start

    @property
    def end(self) -> float:
        return self.cues[-1].end


def split_sentence(sentence: str, max_chars: int = MAX_CUE_CHARS) -> list[str]:
    """Split a long sentence at clause boundaries (', ' / '; ') into chunks of <= max_chars where possible."""
    if len(sentence) <= max_chars:
        return [sentence]
    clauses = re.split(r"(?<=[,;])\s+", sentence)
    chunks: list[str] = []
    cur = ""
    for c in clauses:
        if cur and len(cur) + 1 + len(c) > max_chars:
            chunks.append(cur)
            cur = c
        else:
            cur = f"{cur} {c}".strip()
    if cur:
        chunks.append(cur)
    # avoid a tiny dangling last chunk
    if len(chunks) > 1 and len(chunks[-1]) < 18:
        tail = chunks.pop()
        chunks[-1] = f"{chunks[-1]} {tail}"
    return chunks


def speak(text: str, tmp: Path) -> np.ndarray:
    """Narrate ``text`` with espeak-ng; returns int16 samples (N,) at SAMPLE_RATE, silence trimmed."""
    wav = tmp / "speech.wav"
    subprocess.run(["espeak-ng", "-v", VOICE, "-s", str(SPEED_WPM), "-w", str(wav), text], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with wave.open(str(wav)) as w:
        if w.getframerate() != SAMPLE_RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise RuntimeError(f"unexpected espeak-ng wav format for {text!r}")
        x = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    loud = np.flatnonzero(np.abs(x.astype(np.int32)) > SILENCE_THRESHOLD)
    if loud.size == 0:
        raise RuntimeError(f"espeak-ng produced silence for {text!r}")
    m = int(TRIM_MARGIN_S * SAMPLE_RATE)
    return x[max(0, loud[0] - m): loud[-1] + 1 + m]


def narrate(video: Video, tmp: Path) -> tuple[np.ndarray, list[Segment]]:
    """Build the whole narration track (N,) int16 and the timed segments (cue times in seconds)."""
    parts: list[np.ndarray] = []
    n = 0

    def silence(sec: float) -> None:
        nonlocal n
        k = int(round(sec * SAMPLE_RATE))
        parts.append(np.zeros(k, dtype=np.int16))
        n += k

    plan: list[tuple[str, int, tuple[str, ...]]] = [("intro", 0, video.intro)]
    plan += [("step", i + 1, s.sentences) for i, s in enumerate(video.steps)]
    plan += [("closing", 0, video.closing)]
    segments: list[Segment] = []
    silence(LEAD_S)
    for si, (kind, no, sentences) in enumerate(plan):
        if si:
            silence(PAUSE_SEGMENT_S)
        seg = Segment(kind, no)
        for ki, sentence in enumerate(sentences):
            if ki:
                silence(PAUSE_SENTENCE_S)
            for ci, chunk in enumerate(split_sentence(sentence)):
                if ci:
                    silence(PAUSE_CHUNK_S)
                audio = speak(chunk, tmp)
                start = n / SAMPLE_RATE
                parts.append(audio)
                n += audio.size
                seg.cues.append(CueSpan(round(start, 3), round(n / SAMPLE_RATE, 3), chunk))
        segments.append(seg)
    silence(TAIL_S)
    return np.concatenate(parts), segments


def srt_time(t: float) -> str:
    ms = int(round(t * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def write_srt(segments: Sequence[Segment], path: Path) -> int:
    blocks = []
    i = 0
    for seg in segments:
        for c in seg.cues:
            i += 1
            blocks.append(f"{i}\n{srt_time(c.start)} --> {srt_time(c.end)}\n{c.text}\n")
    path.write_text("\n".join(blocks), encoding="utf-8")
    return i


# ----------------------------------------------------------------------------- rendering
def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def render_video(video: Video, out_dir: Path, keep_slides: Path | None = None) -> dict:
    """Render one video (+ .srt); returns its catalog entry with per-step times."""
    with tempfile.TemporaryDirectory(prefix=f"demo-{video.slug}-") as td:
        tmp = Path(td)
        audio, segments = narrate(video, tmp)
        total = audio.size / SAMPLE_RATE
        wav_path = tmp / "narration.wav"
        with wave.open(str(wav_path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(SAMPLE_RATE)
            w.writeframes(audio.tobytes())
        # slides change halfway through the pause before their narration
        bounds = [0.0]
        for a, b in zip(segments, segments[1:]):
            bounds.append((a.end + b.start) / 2)
        bounds.append(total)
        concat = []
        for i, seg in enumerate(segments):
            if seg.kind == "intro":
                img = render_slide(video, "intro", 0, video.title, video.description, intro_icon(video.slug))
            elif seg.kind == "closing":
                img = render_slide(video, "closing", 0, "Seek professional help",
                                   "Demo content for learning only. Always follow advice from qualified professionals.",
                                   lambda p: hospital(p))
            else:
                step = video.steps[seg.step_no - 1]
                img = render_slide(video, "step", seg.step_no, step.heading, "", step.draw)
            png = tmp / f"slide_{i:02d}.png"
            img.save(png)
            if keep_slides is not None:
                keep_slides.mkdir(parents=True, exist_ok=True)
                shutil.copy(png, keep_slides / f"{video.slug}_{i:02d}.png")
            concat.append(f"file '{png}'\nduration {bounds[i + 1] - bounds[i]:.3f}\n")
        concat.append(f"file '{tmp / f'slide_{len(segments) - 1:02d}.png'}'\n")
        (tmp / "slides.txt").write_text("".join(concat))
        mp4 = out_dir / f"{video.slug}.mp4"
        cmd = [ffmpeg_exe(), "-y", "-loglevel", "error",
               "-f", "concat", "-safe", "0", "-i", str(tmp / "slides.txt"), "-i", str(wav_path),
               "-map", "0:v", "-map", "1:a", "-vf", f"fps={FPS},format=yuv420p",
               "-c:v", "libx264", "-preset", "medium", "-tune", "stillimage", "-crf", "26", "-g", str(FPS * 5),
               "-c:a", "aac", "-b:a", "48k", "-ac", "1", "-ar", "44100",
               "-t", f"{total:.3f}", "-map_metadata", "-1",
               # bit-exact, deterministic output: no version strings, interleaving strictly by timestamp
               "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact", "-max_interleave_delta", "0",
               "-movflags", "+faststart", str(mp4)]
        subprocess.run(cmd, check=True)
        n_cues = write_srt(segments, out_dir / f"{video.slug}.srt")
    steps = [{"step": s.step_no, "heading": video.steps[s.step_no - 1].heading,
              "start": round(s.start, 2), "end": round(s.end, 2)} for s in segments if s.kind == "step"]
    log.info("%s: %.1f s, %d cues, %d steps", video.slug, total, n_cues, len(steps))
    return {"slug": video.slug, "title": video.title, "description": video.description,
            "duration": round(total, 2), "video": mp4.name, "subtitles": f"{video.slug}.srt",
            "n_cues": n_cues, "steps": steps}


def questions_for(video: Video, entry: dict) -> list[dict]:
    """The video's example questions with the answer span (seconds) from its step timings."""
    out = []
    for q in video.questions:
        a, b = q.steps
        first, last = entry["steps"][a - 1], entry["steps"][b - 1]
        out.append({"question": q.question, "slug": video.slug, "title": video.title,
                    "steps": [a, b], "answer_start": first["start"], "answer_end": last["end"]})
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "assets" / "demo")
    ap.add_argument("--only", nargs="*", default=None, help="render only these slugs (catalog keeps the others)")
    ap.add_argument("--keep-slides", type=Path, default=None, help="also save every slide PNG here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is not installed (apt-get install espeak-ng)")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    slugs = [v.slug for v in VIDEOS]
    assert len(set(slugs)) == len(slugs)
    old = {}
    if (out / "catalog.json").exists():
        old = {e["slug"]: e for e in json.loads((out / "catalog.json").read_text())["videos"]}
    catalog, questions = [], []
    for v in VIDEOS:
        if args.only and v.slug not in args.only and v.slug in old:
            entry = old[v.slug]
        else:
            entry = render_video(v, out, args.keep_slides)
        catalog.append(entry)
        questions += questions_for(v, entry)
    meta = {"name": "vcval demo corpus", "license": "Apache-2.0 (original content)",
            "disclaimer": "Demo content - not medical advice.", "voice": f"espeak-ng {VOICE} {SPEED_WPM} wpm"}
    (out / "catalog.json").write_text(json.dumps({**meta, "videos": catalog}, indent=1) + "\n", encoding="utf-8")
    (out / "questions.json").write_text(json.dumps(questions, indent=1) + "\n", encoding="utf-8")
    size = sum(f.stat().st_size for f in out.iterdir() if f.is_file())
    log.info("wrote %d videos, %d questions to %s (%.2f MB)", len(catalog), len(questions), out, size / 1e6)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
