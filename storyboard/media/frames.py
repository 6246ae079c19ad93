"""Single frames out of videos, as upright images; frame geometry."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .pictures import FrameReader
from .probe import probe

if TYPE_CHECKING:
    from PIL import Image


def frame_size(resolution: str, aspect_ratio: str) -> tuple[int, int]:
    """(width, height) for a resolution naming the short side and a 'W:H' aspect ratio."""
    short = int(str(resolution).rstrip("pP"))
    across, down = (int(part) for part in str(aspect_ratio).split(":"))
    if across >= down:
        return _even(short * across / down), _even(short)
    return _even(short), _even(short * down / across)


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def extract_frame(path: Path, at: str | float) -> Image.Image:
    """The picture shown at `at` ("start", "end" or seconds from the clip's start; past the end:
    the last frame), upright (as the display matrix turns it), as an RGB image."""
    from PIL import Image

    info = probe(path)
    video = info.picture
    if at == "start":
        seconds = video.start - info.start
    elif at == "end":
        seconds = video.frame_times[-1] - info.start
    else:
        seconds = float(at)
    with FrameReader(path, info) as reader:
        return Image.fromarray(reader.at(seconds))
