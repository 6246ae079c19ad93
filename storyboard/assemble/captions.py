"""Subtitles burned into the picture (`output.subtitles: burn`): each cue drawn once as an overlay
(white text, a dark outline and a soft shadow, centred at the bottom, wrapped inside the
title-safe area, sized by the film's short side) and laid over the frames it covers."""
from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..errors import MediaError
from ..subtitles import Cue

if TYPE_CHECKING:  # Pillow is loaded only when subtitles are burned
    from PIL import ImageFont

STYLE = 1  # the look below; a film's fingerprint holds it, so a new look redraws films with burned subtitles
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


class Captions:
    """The cues of a film, drawn into its frames: `draw(frame, t)`."""

    def __init__(self, cues: Sequence[Cue], size: tuple[int, int], fps: float):
        self.size = size
        self.fps = fps
        self.cues = sorted(cues, key=lambda cue: cue.start)
        self.firsts = [round(cue.start * fps) for cue in self.cues]  # cues are on the frame grid (subtitles.cues_of)
        self.ends = [round(cue.end * fps) for cue in self.cues]
        self.font = _font(max(12, round(min(size) * TEXT_SIZE)))
        self._drawn: dict[int, tuple[int, int, np.ndarray, np.ndarray]] = {}  # cue -> (top, left, colour, opacity)

    def draw(self, frame: np.ndarray, t: float) -> np.ndarray:
        """`frame` (film time `t`) with the cue shown then, if any; a new array, never the one given."""
        index = self._shown(round(t * self.fps))
        if index is None:
            return frame
        top, left, colour, opacity = self._overlay(index)
        frame = frame.copy()
        region = frame[top:top + colour.shape[0], left:left + colour.shape[1]].astype(np.float32)
        region = region * (1 - opacity) + colour * opacity
        frame[top:top + colour.shape[0], left:left + colour.shape[1]] = np.round(region).astype(np.uint8)
        return frame

    def _shown(self, frame: int) -> int | None:
        index = bisect.bisect_right(self.firsts, frame) - 1  # the last cue starting at or before the frame
        return index if index >= 0 and frame < self.ends[index] else None

    def _overlay(self, index: int) -> tuple[int, int, np.ndarray, np.ndarray]:
        if index not in self._drawn:
            self._drawn = {index: self._render(self.cues[index].text)}  # cues come in order: keep one
        return self._drawn[index]

    def _render(self, text: str) -> tuple[int, int, np.ndarray, np.ndarray]:
        """The cue's overlay, cropped to what it covers: (top, left, RGB, opacity 0..1)."""
        from PIL import Image, ImageDraw, ImageFilter

        width, height = self.size
        font = self.font
        size = int(font.size)
        lines = wrap(text, font, int(width * SAFE_WIDTH))
        ascent, descent = font.getmetrics()
        step = round((ascent + descent) * LINE_SPACING)
        outline = max(1, round(size * OUTLINE))
        pad = outline + round(size * (SHADOW_OFFSET + 3 * SHADOW_BLUR)) + 2
        block = step * (len(lines) - 1) + ascent + descent
        top = max(0, height - round(height * BOTTOM) - block - pad)
        layer = Image.new("RGBA", (width, min(height - top, block + 2 * pad)), (0, 0, 0, 0))
        shadow = Image.new("L", layer.size, 0)
        draw, shade = ImageDraw.Draw(layer), ImageDraw.Draw(shadow)
        offset = max(1, round(size * SHADOW_OFFSET))
        for number, line in enumerate(lines):
            y = pad + number * step
            shade.text((width // 2 + offset, y + offset), line, font=font, fill=255, anchor="ma",
                       stroke_width=outline, stroke_fill=255)
            draw.text((width // 2, y), line, font=font, fill=WHITE, anchor="ma", stroke_width=outline,
                      stroke_fill=OUTLINE_COLOUR)
        shadow = shadow.filter(ImageFilter.GaussianBlur(max(1, size * SHADOW_BLUR)))
        drawn = np.asarray(layer, dtype=np.float32)
        text_opacity = drawn[..., 3:] / 255
        shadow_opacity = np.asarray(shadow, dtype=np.float32)[..., None] / 255 * SHADOW_OPACITY
        opacity = text_opacity + shadow_opacity * (1 - text_opacity)  # the text over its (black) shadow
        colour = np.divide(drawn[..., :3] * text_opacity, opacity, out=np.zeros_like(drawn[..., :3]), where=opacity > 0)
        covered = np.nonzero(opacity[..., 0].max(axis=0) > 0)[0]
        left, right = (int(covered[0]), int(covered[-1]) + 1) if len(covered) else (0, 1)
        return top, left, colour[:, left:right], opacity[:, left:right]


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
