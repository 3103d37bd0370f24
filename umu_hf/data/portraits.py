"""Procedural portraits for the synthetic profiles.

Each invented person gets a *look* — background colour and pattern, face shape, skin, hair style and colour,
eye colour, an accessory, shirt colour — and a cartoon portrait drawn from it with PIL. The big colour blocks
(background, shirt, hair, skin) survive a resize to 32×32, and a look is kept only if its portrait differs
clearly from every other one even shrunk to 16×16, so a tiny vision tower can tell the people apart. Drawing
and PNG encoding are deterministic: the same look gives the same bytes.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

RGB = tuple[int, int, int]

BACKGROUNDS: tuple[RGB, ...] = (
    (230, 57, 70), (29, 53, 87), (69, 123, 157), (42, 157, 143), (233, 196, 106),
    (244, 162, 97), (131, 56, 236), (255, 190, 11), (96, 108, 56), (240, 240, 235),
)  # fmt: skip
PATTERNS: tuple[str, ...] = ("plain", "hstripes", "vstripes", "dots", "diagonal")
FACE_SHAPES: tuple[str, ...] = ("oval", "round", "square")
SKINS: tuple[RGB, ...] = ((255, 224, 189), (241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36),
                          (94, 58, 30))  # fmt: skip
HAIR_STYLES: tuple[str, ...] = ("bald", "short", "long", "spiky", "bun")
HAIR_COLOURS: tuple[RGB, ...] = ((20, 20, 20), (101, 67, 33), (240, 210, 120), (200, 70, 30), (170, 170, 170),
                                 (40, 90, 220), (60, 170, 60))  # fmt: skip
EYE_COLOURS: tuple[RGB, ...] = ((60, 40, 20), (40, 110, 200), (40, 150, 70), (120, 120, 120), (150, 60, 160))
ACCESSORIES: tuple[str, ...] = ("none", "glasses", "hat", "earrings", "headband")
SHIRTS: tuple[RGB, ...] = (
    (200, 30, 30), (30, 30, 200), (30, 160, 30), (250, 250, 250), (15, 15, 15),
    (250, 140, 0), (150, 0, 150), (0, 180, 200), (120, 80, 40), (255, 105, 180),
)  # fmt: skip


@dataclass(frozen=True)
class Look:
    """The drawn attributes of one portrait (indices into the palettes above)."""

    background: int
    pattern: int
    face: int
    skin: int
    hair_style: int
    hair_colour: int
    eyes: int
    accessory: int
    shirt: int


#: number of choices per :class:`Look` field, in field order
ATTRIBUTE_SIZES: tuple[int, ...] = (
    len(BACKGROUNDS), len(PATTERNS), len(FACE_SHAPES), len(SKINS), len(HAIR_STYLES), len(HAIR_COLOURS),
    len(EYE_COLOURS), len(ACCESSORIES), len(SHIRTS),
)  # fmt: skip


def _thumbnail(look: Look) -> np.ndarray:
    """The 64-pixel portrait shrunk to 16×16 by 4×4 block means (integers: exact on every platform), flat."""
    import numpy as np

    pixels = np.asarray(draw_portrait(look, 64), dtype=np.int32)
    return (pixels.reshape(16, 4, 16, 4, 3).sum(axis=(1, 3)) // 16).astype(np.int16).ravel()


def draw_looks(n: int, rng: random.Random, min_pixel_distance: int = 20) -> list[Look]:
    """``n`` distinct looks whose portraits differ clearly, even shrunk to 16×16.

    Greedy rejection sampling from ``rng``: a candidate is kept when its thumbnail differs from every kept one
    by at least ``min_pixel_distance`` (mean absolute difference per pixel and channel, 0–255); the bar is
    lowered only if the space gets crowded. Deterministic for a given generator state.
    """
    import numpy as np

    kept: list[Look] = []
    thumbs = np.zeros((n, 16 * 16 * 3), dtype=np.int16)
    bar = min_pixel_distance * thumbs.shape[1]  # summed absolute differences
    seen: set[Look] = set()
    while len(kept) < n:
        for _ in range(500):
            look = Look(*(rng.randrange(size) for size in ATTRIBUTE_SIZES))
            if look in seen:
                continue
            seen.add(look)
            thumb = _thumbnail(look)
            if not kept or int(np.abs(thumbs[: len(kept)] - thumb).sum(axis=1, dtype=np.int32).min()) >= bar:
                thumbs[len(kept)] = thumb
                kept.append(look)
                break
        else:  # crowded at this bar: accept closer portraits from now on (bar 0 accepts any new look)
            bar = max(0, bar - 2 * thumbs.shape[1])
    return kept


def _shade(colour: RGB, factor: float) -> RGB:
    """Lighter (factor > 0, towards white) or darker (factor < 0, towards black) version of ``colour``."""
    if factor >= 0:
        return tuple(round(c + (255 - c) * factor) for c in colour)  # type: ignore[return-value]
    return tuple(round(c * (1 + factor)) for c in colour)  # type: ignore[return-value]


def draw_portrait(look: Look, size: int = 64) -> Image.Image:
    """The RGB portrait of ``look``, ``size``×``size`` pixels (drawn on a 64-unit grid scaled to ``size``)."""
    from PIL import Image, ImageDraw

    scale = size / 64

    def box(x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
        return round(x0 * scale), round(y0 * scale), round(x1 * scale), round(y1 * scale)

    def pt(x: float, y: float) -> tuple[int, int]:
        return round(x * scale), round(y * scale)

    def width(units: float) -> int:
        return max(1, round(units * scale))

    background = BACKGROUNDS[look.background]
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    accent = _shade(background, -0.45) if sum(background) > 450 else _shade(background, 0.45)
    pattern = PATTERNS[look.pattern]
    for step in range(0, 64, 8):
        if pattern == "hstripes":
            draw.rectangle(box(0, step, 64, step + 3), fill=accent)
        elif pattern == "vstripes":
            draw.rectangle(box(step, 0, step + 3, 64), fill=accent)
        elif pattern == "dots":
            for x in range(0, 64, 8):
                draw.ellipse(box(x + 1, step + 1, x + 5, step + 5), fill=accent)
        elif pattern == "diagonal":
            draw.line([pt(step * 2 - 64, 64), pt(step * 2, 0)], fill=accent, width=width(3))
            draw.line([pt(step * 2, 64), pt(step * 2 + 64, 0)], fill=accent, width=width(3))

    skin = SKINS[look.skin]
    hair = HAIR_COLOURS[look.hair_colour]
    style = HAIR_STYLES[look.hair_style]
    draw.ellipse(box(6, 46, 58, 90), fill=SHIRTS[look.shirt])  # shoulders
    draw.rectangle(box(27, 38, 37, 50), fill=skin)  # neck
    if style == "long":
        draw.rectangle(box(13, 14, 51, 54), fill=hair)
    face = FACE_SHAPES[look.face]
    if face == "oval":
        draw.ellipse(box(19, 8, 45, 46), fill=skin)
    elif face == "round":
        draw.ellipse(box(15, 12, 49, 46), fill=skin)
    else:
        draw.rounded_rectangle(box(17, 11, 47, 45), radius=width(5), fill=skin)
    eye = EYE_COLOURS[look.eyes]
    for x in (23, 35):
        draw.ellipse(box(x, 23, x + 7, 29), fill=(255, 255, 255))
        draw.ellipse(box(x + 2, 24, x + 5, 28), fill=eye)
    draw.line([pt(27, 38), pt(37, 38)], fill=(150, 40, 40), width=width(2))  # mouth
    if style in ("short", "long", "bun"):
        draw.chord(box(15, 4, 49, 30), start=180, end=360, fill=hair)
    if style == "spiky":
        for x in range(15, 49, 7):
            draw.polygon([pt(x, 18), pt(x + 3.5, 2), pt(x + 7, 18)], fill=hair)
        draw.rectangle(box(15, 13, 49, 18), fill=hair)
    if style == "bun":
        draw.ellipse(box(25, 0, 39, 11), fill=hair)

    accessory = ACCESSORIES[look.accessory]
    if accessory == "glasses":
        for x in (21, 33):
            draw.rectangle(box(x, 21, x + 10, 31), outline=(10, 10, 10), width=width(2))
        draw.line([pt(31, 25), pt(33, 25)], fill=(10, 10, 10), width=width(2))
    elif accessory == "hat":
        hat = _shade(SHIRTS[look.shirt], -0.5)
        draw.rectangle(box(20, 0, 44, 12), fill=hat)
        draw.rectangle(box(10, 11, 54, 16), fill=hat)
    elif accessory == "earrings":
        for x in (11, 48):
            draw.ellipse(box(x, 29, x + 6, 35), fill=(255, 215, 0))
    elif accessory == "headband":
        draw.rectangle(box(15, 13, 49, 18), fill=(255, 255, 255))
    return image


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes of ``image`` with fixed settings and no metadata (same pixels -> same bytes)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()
