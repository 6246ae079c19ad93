"""Subtitles burned into the picture (`output.subtitles: burn`): each cue drawn once, by Pillow, as
an overlay image (white text, a dark outline and a soft shadow, centred at the bottom, wrapped
inside the title-safe area, sized by the film's short side) that ffmpeg lays over the frames it
covers (`encode.py`)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import MediaError
from .subtitles import Cue

if TYPE_CHECKING:  # Pillow is loaded only when subtitles are burned
    from PIL import ImageFont

STYLE = 2  # the look below; a film's fingerprint holds it, so a new look redraws films with burned subtitles
TEXT_SIZE = 0.055  # of the frame's short side: 40 px at 720p, 59 px at 1080p
SAFE_WIDTH = 0.80  # of the frame's width a line may take (title-safe: 10 % each side)
BOTTOM = 0.075  # of the frame's height between the last line's baseline area and the bottom edge
OUTLINE = 0.075  # of the text size
SHADOW_OFFSET = 0.06  # of the text size, down and right
SHADOW_BLUR = 0.08  # of the text size
SHADOW_OPACITY = 0.7
LINE_SPACING = 1.12  # of the font's height
WHITE = (255, 255, 255, 255)
OUTLINE_COLOUR = (8, 8, 8, 255)


@dataclass(frozen=True)
class Caption:
    """A cue as the picture shows it: its overlay image laid at (left, top) on film frames [first, end)."""

    text: str
    first: int
    end: int


def captions_of(cues: Sequence[Cue], fps: float) -> list[Caption]:
    """The cues on the film's frames (cues are on the frame grid: `subtitles.cues_of`)."""
    return sorted((Caption(cue.text, round(cue.start * fps), round(cue.end * fps)) for cue in cues),
                  key=lambda caption: caption.first)


def write_overlay(text: str, size: tuple[int, int], destination: Path) -> tuple[int, int]:
    """Draw the subtitle `text` for a film of `size` into `destination` (an RGBA PNG cropped to what it
    covers), once per line of dialogue; return where it goes on the frame: (left, top)."""
    from PIL import Image, ImageDraw, ImageFilter

    width, height = size
    font = _font(max(12, round(min(size) * TEXT_SIZE)))
    text_size = int(font.size)
    lines = wrap(text, font, int(width * SAFE_WIDTH))
    ascent, descent = font.getmetrics()
    step = round((ascent + descent) * LINE_SPACING)
    outline = max(1, round(text_size * OUTLINE))
    pad = outline + round(text_size * (SHADOW_OFFSET + 3 * SHADOW_BLUR)) + 2
    block = step * (len(lines) - 1) + ascent + descent
    top = max(0, height - round(height * BOTTOM) - block - pad)
    top -= top % 2  # on the chroma grid of a yuv420p film
    layer = Image.new("RGBA", (width, min(height - top, block + 2 * pad)), (0, 0, 0, 0))
    shadow = Image.new("L", layer.size, 0)
    draw, shade = ImageDraw.Draw(layer), ImageDraw.Draw(shadow)
    offset = max(1, round(text_size * SHADOW_OFFSET))
    for number, line in enumerate(lines):
        y = pad + number * step
        shade.text((width // 2 + offset, y + offset), line, font=font, fill=255, anchor="ma",
                   stroke_width=outline, stroke_fill=255)
        draw.text((width // 2, y), line, font=font, fill=WHITE, anchor="ma", stroke_width=outline,
                  stroke_fill=OUTLINE_COLOUR)
    shadow = shadow.filter(ImageFilter.GaussianBlur(max(1, text_size * SHADOW_BLUR)))
    drawn = np.asarray(layer, dtype=np.float32)
    text_opacity = drawn[..., 3:] / 255
    shadow_opacity = np.asarray(shadow, dtype=np.float32)[..., None] / 255 * SHADOW_OPACITY
    opacity = text_opacity + shadow_opacity * (1 - text_opacity)  # the text over its (black) shadow
    colour = np.divide(drawn[..., :3] * text_opacity, opacity, out=np.zeros_like(drawn[..., :3]), where=opacity > 0)
    covered = np.nonzero(opacity[..., 0].max(axis=0) > 0)[0]
    left, right = (int(covered[0]), int(covered[-1]) + 1) if len(covered) else (0, 2)
    left -= left % 2
    rgba = np.concatenate([colour, opacity * 255], axis=2)[:, left:right]
    Image.fromarray(np.round(rgba).astype(np.uint8)).save(destination, format="PNG")
    return left, top


def _font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's own scalable font (Aileron; no system fonts needed), as the animatics use."""
    from PIL import ImageFont

    font = ImageFont.load_default(size=size)
    if not isinstance(font, ImageFont.FreeTypeFont):
        raise MediaError("Pillow was built without FreeType, which burned subtitles need")
    return font


def wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """`text` in lines at most `width` wide: its own line breaks kept, each paragraph split at
    spaces into lines of about equal width (a word too wide for a line is cut)."""
    lines: list[str] = []
    for paragraph in text.splitlines():
        words = _fitting(paragraph.split(), font, width)
        if not words:
            continue
        greedy = _greedy(words, font, width)
        if len(greedy) > 1:  # the same number of lines, as even as they go: no long line over a short one
            target = font.getlength(" ".join(words)) / len(greedy)
            even = _greedy(words, font, min(width, int(target * 1.15)))
            greedy = even if len(even) == len(greedy) else greedy
        lines += greedy
    return lines or [""]


def _greedy(words: list[str], font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    lines: list[str] = []
    for word in words:
        if lines and font.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def _fitting(words: list[str], font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """`words`, each cut into pieces no wider than `width`."""
    pieces = []
    for word in words:
        while len(word) > 1 and font.getlength(word) > width:
            cut = max(1, int(len(word) * width / font.getlength(word)) - 1)
            pieces.append(word[:cut])
            word = word[cut:]
        pieces.append(word)
    return pieces
