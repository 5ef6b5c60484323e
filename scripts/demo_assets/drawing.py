"""Drawing for the demo slides: the Pillow ``Pen`` (normalized coordinates), reusable figures,
the topic diagrams, and the 640x360 slide layout."""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFont

if TYPE_CHECKING:
    from .content import Video

Color = tuple[int, int, int]
Point = tuple[float, float]

# ----------------------------------------------------------------------------- settings
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
    """DejaVu Sans (bold or regular) at ``size`` pixels."""
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

    def p(self, x: float, y: float) -> Point:
        """Pixel position of the normalized point (x, y)."""
        return (self.ox + x * self.k, self.oy + y * self.k)

    def s(self, v: float) -> int:
        """Pixel length (at least 1) of the normalized length ``v``."""
        return max(1, int(round(v * self.k)))

    def line(self, pts: Sequence[Point], color: Color = C_INK, w: float = 0.022) -> None:
        """A polyline of width ``w`` with round joints and caps."""
        xy = [self.p(*q) for q in pts]
        self.d.line(xy, fill=color, width=self.s(w), joint="curve")
        r = self.s(w) / 2  # round caps
        for x, y in (xy[0], xy[-1]):
            self.d.ellipse((x - r, y - r, x + r, y + r), fill=color)

    def circle(self, c: Point, r: float, fill: Color | None = None, outline: Color | None = C_INK,
               w: float = 0.018) -> None:
        """A circle of radius ``r`` centred on ``c``."""
        x, y = self.p(*c)
        rr = r * self.k
        self.d.ellipse((x - rr, y - rr, x + rr, y + rr), fill=fill, outline=outline, width=self.s(w) if outline else 0)

    def ellipse(self, a: Point, b: Point, fill: Color | None = None, outline: Color | None = C_INK,
                w: float = 0.014) -> None:
        """An ellipse inside the box with corners ``a`` and ``b``."""
        self.d.ellipse((*self.p(*a), *self.p(*b)), fill=fill, outline=outline, width=self.s(w) if outline else 0)

    def poly(self, pts: Sequence[Point], fill: Color | None = None, outline: Color | None = C_INK,
             w: float = 0.012) -> None:
        """A closed polygon through ``pts``."""
        self.d.polygon([self.p(*q) for q in pts], fill=fill, outline=outline, width=self.s(w) if outline else 0)

    def rect(self, a: Point, b: Point, fill: Color | None = None, outline: Color | None = C_INK,
             w: float = 0.012, radius: float = 0.0) -> None:
        """A (rounded when ``radius`` > 0) rectangle with corners ``a`` and ``b``."""
        self.d.rounded_rectangle((*self.p(*a), *self.p(*b)), radius=self.s(radius) if radius else 0,
                                 fill=fill, outline=outline, width=self.s(w) if outline else 0)

    def arc(self, c: Point, r: float, start: float, end: float, color: Color = C_INK, w: float = 0.016) -> None:
        """A circular arc from ``start`` to ``end`` degrees (clockwise, PIL convention)."""
        x, y = self.p(*c)
        rr = r * self.k
        self.d.arc((x - rr, y - rr, x + rr, y + rr), start, end, fill=color, width=self.s(w))

    def arrow(self, a: Point, b: Point, color: Color = C_ACCENT, w: float = 0.02, head: float = 0.05,
              both: bool = False) -> None:
        """A straight arrow from ``a`` to ``b`` (heads at both ends when ``both``)."""
        self.line([a, b], color, w)
        ends = [(a, b)] + ([(b, a)] if both else [])
        for src, dst in ends:
            ang = math.atan2(dst[1] - src[1], dst[0] - src[0])
            left = (dst[0] - head * math.cos(ang - 0.45), dst[1] - head * math.sin(ang - 0.45))
            right = (dst[0] - head * math.cos(ang + 0.45), dst[1] - head * math.sin(ang + 0.45))
            self.poly([dst, left, right], fill=color, outline=None)

    def arc_arrow(self, c: Point, r: float, start: float, end: float, color: Color = C_ACCENT,
                  w: float = 0.018) -> None:
        """Arc from ``start`` to ``end`` degrees (clockwise, PIL convention) with a head at ``end``."""
        ccw = end < start
        self.arc(c, r, end if ccw else start, start if ccw else end, color, w)
        a = math.radians(end)
        tip = (c[0] + r * math.cos(a), c[1] + r * math.sin(a))
        tangent = a - math.pi / 2 if ccw else a + math.pi / 2
        back = (tip[0] - 0.05 * math.cos(tangent), tip[1] - 0.05 * math.sin(tangent))
        self.arrow(back, tip, color, w, head=0.045)

    def text(self, xy: Point, s: str, size: float = 0.06, color: Color = C_INK, bold: bool = True,
             anchor: str = "mm") -> None:
        """Text ``s`` at ``xy`` (``anchor`` as in PIL), font size ``size`` in normalized units."""
        self.d.text(self.p(*xy), s, font=_font(self.s(size), bold), fill=color, anchor=anchor)


# --- reusable figures ---------------------------------------------------------------------
Joints = dict[str, Point]
Picture = Callable[[Pen], object]  # draws one slide's diagram


def stick(p: Pen, j: Joints, color: Color = C_INK, w: float = 0.026, head_r: float = 0.055) -> None:
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


def pose(base: Joints, **changes: Point) -> Joints:
    """A copy of ``base`` with some joints moved."""
    out = dict(base)
    out.update(changes)
    return out


def clock(p: Pen, label: str, c: Point = (0.5, 0.42), r: float = 0.22, size: float = 0.08) -> None:
    """A clock face with a caption below."""
    p.circle(c, r, fill=C_BG, outline=C_INK, w=0.022)
    for i in range(12):
        a = math.radians(i * 30)
        p.line([(c[0] + 0.82 * r * math.cos(a), c[1] + 0.82 * r * math.sin(a)),
                (c[0] + 0.92 * r * math.cos(a), c[1] + 0.92 * r * math.sin(a))], C_INK, 0.01)
    p.line([c, (c[0], c[1] - 0.7 * r)], C_INK, 0.022)
    p.line([c, (c[0] + 0.5 * r, c[1] + 0.15 * r)], C_ACCENT, 0.018)
    p.text((c[0], c[1] + r + 0.1), label, size, C_BAR)


def phone(p: Pen, label: str = "Call for help", c: Point = (0.5, 0.4)) -> None:
    """A mobile phone with a handset glyph and a caption."""
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
    """A hospital building with a red cross and a caption."""
    p.rect((0.22, 0.28), (0.78, 0.72), fill=(250, 250, 252), outline=C_INK, w=0.016)
    p.poly([(0.18, 0.3), (0.5, 0.12), (0.82, 0.3)], fill=C_LIGHT, outline=C_INK, w=0.016)
    p.rect((0.475, 0.33), (0.525, 0.5), fill=C_ACCENT, outline=None)
    p.rect((0.415, 0.39), (0.585, 0.44), fill=C_ACCENT, outline=None)
    p.rect((0.44, 0.58), (0.56, 0.72), fill=C_BAR, outline=None)
    for x in (0.28, 0.64):
        p.rect((x, 0.56), (x + 0.08, 0.64), fill=(200, 230, 245), outline=C_INK, w=0.008)
    p.text((0.5, 0.84), label, 0.07, C_BAR)


def warning(p: Pen, label: str, c: Point = (0.5, 0.4)) -> None:
    """A yellow warning triangle with a caption."""
    x, y = c
    p.poly([(x, y - 0.25), (x - 0.27, y + 0.2), (x + 0.27, y + 0.2)], fill=(250, 205, 70), outline=C_INK, w=0.02)
    p.rect((x - 0.018, y - 0.12), (x + 0.018, y + 0.06), fill=C_INK, outline=None, radius=0.01)
    p.circle((x, y + 0.12), 0.022, fill=C_INK, outline=None)
    p.text((x, y + 0.34), label, 0.07, C_ACCENT)


def tick(p: Pen, c: Point, r: float = 0.07) -> None:
    """A green round tick badge."""
    x, y = c
    p.circle(c, r, fill=C_OK, outline=None)
    p.line([(x - 0.5 * r, y), (x - 0.1 * r, y + 0.4 * r), (x + 0.5 * r, y - 0.4 * r)], C_BG, r * 0.28)


def cross(p: Pen, c: Point, r: float = 0.07) -> None:
    """A red round cross badge."""
    x, y = c
    p.circle(c, r, fill=C_ACCENT, outline=None)
    d = 0.42 * r
    p.line([(x - d, y - d), (x + d, y + d)], C_BG, r * 0.28)
    p.line([(x - d, y + d), (x + d, y - d)], C_BG, r * 0.28)


def checklist(p: Pen, items: Sequence[str], ok: bool = False, title: str = "") -> None:
    """A list of items, each with a tick (``ok``) or a cross, under an optional title."""
    y = 0.2 if title else 0.14
    if title:
        p.text((0.5, 0.09), title, 0.075, C_BAR)
    step = min(0.17, 0.72 / max(1, len(items)))
    for it in items:
        (tick if ok else cross)(p, (0.14, y + 0.04), 0.05)
        p.text((0.24, y + 0.04), it, 0.065, C_INK, anchor="lm")
        y += step


def ice_pack(p: Pen, c: Point, wdt: float = 0.22, hgt: float = 0.12) -> None:
    """A blue ice pack centred on ``c``."""
    x, y = c
    p.rect((x - wdt / 2, y - hgt / 2), (x + wdt / 2, y + hgt / 2), fill=(170, 215, 245), outline=C_BLUE, w=0.012, radius=0.03)
    for i in range(3):
        cx = x - wdt / 3 + i * wdt / 3
        p.line([(cx - 0.02, y), (cx + 0.02, y)], C_BG, 0.01)
        p.line([(cx, y - 0.02), (cx, y + 0.02)], C_BG, 0.01)


def label(p: Pen, s: str, y: float = 0.92, color: Color = C_BAR) -> None:
    """A centred caption at height ``y``."""
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


def rescuer_kneeling(p: Pen, hands: Point, straight: bool = True, color: Color = C_BAR) -> None:
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


def head_profile(p: Pen, tilt: float = 0.0, pinch: bool = False, ice: bool = False,
                 c: Point = (0.5, 0.45)) -> None:
    """Side view of a head facing right; ``tilt`` in degrees (positive = forward/down)."""
    x, y = c
    a = math.radians(tilt)

    def rot(dx: float, dy: float) -> Point:
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
    """A hand under a running tap, with a caption."""
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
    """A hot pan and a 'move away' arrow."""
    p.ellipse((0.14, 0.48), (0.56, 0.6), fill=(90, 90, 95), outline=C_INK, w=0.01)
    p.line([(0.56, 0.54), (0.84, 0.5)], C_INK, 0.03)
    for i in range(3):
        x = 0.24 + i * 0.1
        p.arc((x, 0.38), 0.04, 90, 270, C_ACCENT, 0.012)
        p.arc((x, 0.3), 0.04, 270, 90, C_ACCENT, 0.012)
    p.arrow((0.6, 0.76), (0.86, 0.76), C_OK)
    p.text((0.42, 0.76), "move away", 0.06, C_OK)


def cling_film(p: Pen) -> None:
    """An arm with a burn loosely covered by cling film."""
    p.rect((0.1, 0.42), (0.9, 0.58), fill=C_SKIN, outline=C_SKIN_D, w=0.012, radius=0.06)
    p.circle((0.5, 0.5), 0.05, fill=(240, 150, 130), outline=None)
    p.rect((0.3, 0.38), (0.7, 0.62), fill=None, outline=C_BLUE, w=0.01, radius=0.03)
    for x in (0.36, 0.46, 0.56, 0.64):
        p.line([(x, 0.4), (x + 0.03, 0.6)], (170, 210, 240), 0.006)
    p.text((0.5, 0.76), "loose, laid lengthways", 0.06, C_BAR)


def blister(p: Pen) -> None:
    """A blister, a needle and a 'do not burst' cross."""
    p.rect((0.1, 0.46), (0.9, 0.62), fill=C_SKIN, outline=C_SKIN_D, w=0.012, radius=0.06)
    p.ellipse((0.42, 0.38), (0.58, 0.5), fill=(250, 235, 210), outline=C_SKIN_D, w=0.01)
    p.line([(0.62, 0.2), (0.52, 0.38)], C_GREY, 0.012)  # needle
    cross(p, (0.76, 0.22), 0.08)
    p.text((0.5, 0.76), "do not burst", 0.07, C_ACCENT)


def pills(p: Pen) -> None:
    """A painkiller packet and tablets."""
    p.rect((0.22, 0.22), (0.62, 0.66), fill=(245, 245, 250), outline=C_INK, w=0.012, radius=0.03)
    p.rect((0.22, 0.22), (0.62, 0.32), fill=C_BLUE, outline=C_INK, w=0.012)
    p.ellipse((0.66, 0.5), (0.84, 0.58), fill=(250, 250, 250), outline=C_INK, w=0.01)
    p.circle((0.72, 0.38), 0.05, fill=(250, 250, 250), outline=C_INK, w=0.01)
    p.text((0.42, 0.46), "read the", 0.05, C_INK, bold=False)
    p.text((0.42, 0.54), "leaflet", 0.05, C_INK, bold=False)


def blanket(p: Pen) -> None:
    """A standing figure wrapped in a blanket."""
    j = pose(STANDING, l_elbow=(0.4, 0.44), r_elbow=(0.6, 0.44))
    stick(p, j)
    p.poly([(0.36, 0.3), (0.64, 0.3), (0.7, 0.66), (0.3, 0.66)], fill=(180, 120, 170), outline=C_INK, w=0.01)
    label(p, "keep the person warm", 0.97)


def elevated_leg(p: Pen) -> None:
    """A person lying down with one leg raised on pillows above heart level."""
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
    """A foot with a circular 'gentle movement' arrow."""
    foot(p, swelling=False)
    p.arc_arrow((0.78, 0.62), 0.12, 200, 520 - 40, C_OK)
    p.text((0.5, 0.92), "gentle movement", 0.065, C_OK)


def aed(p: Pen) -> None:
    """A defibrillator (AED) box."""
    p.rect((0.26, 0.2), (0.74, 0.66), fill=(60, 160, 90), outline=C_INK, w=0.014, radius=0.05)
    p.poly([(0.5, 0.56), (0.36, 0.4), (0.38, 0.32), (0.44, 0.3), (0.5, 0.36), (0.56, 0.3), (0.62, 0.32), (0.64, 0.4)],
           fill=C_BG, outline=None)
    p.poly([(0.52, 0.33), (0.47, 0.44), (0.51, 0.44), (0.48, 0.53), (0.55, 0.41), (0.51, 0.41)], fill=C_ACCENT, outline=None)
    p.text((0.5, 0.76), "AED", 0.08, C_BAR)


def speech(p: Pen, text: str, at: Point = (0.6, 0.18)) -> None:
    """A speech bubble holding ``text``."""
    x, y = at
    p.rect((x - 0.3, y - 0.07), (x + 0.3, y + 0.07), fill=C_BG, outline=C_INK, w=0.01, radius=0.04)
    p.poly([(x - 0.1, y + 0.07), (x - 0.16, y + 0.16), (x - 0.02, y + 0.07)], fill=C_BG, outline=None)
    p.text(at, text, 0.055, C_INK)


# ----------------------------------------------------------------------------- slides
def _wrap(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Greedy word wrap of ``text`` to lines at most ``width`` pixels wide."""
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
                 picture: Picture) -> Image.Image:
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

