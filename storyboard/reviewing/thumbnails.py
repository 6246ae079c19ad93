"""Small JPEG thumbnails of clips and reference images, as data URIs, kept in the project's state folder.

A clip's first, middle and last frame (of the part its trim keeps) are decoded once: the next
review finds them, with the clip's length, in `.storyboard/review/`, named by the clip's file
(its path, size and modification time: a clip made again gets new ones) and the trim. A project
that cannot be written to still gets its page, decoded afresh each time.

The middle frame is never a one-frame flash (the sync markers of `preview-sync` and of the
service emulator, `backends.animatic.marker_times`): a frame much brighter than the frames around
it gives way to the nearest one that is not.
"""
from __future__ import annotations

import base64
import bisect
import hashlib
import io
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import MediaError
from ..files import atomic_write_bytes
from ..media import FrameReader, probe

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

VERSION = 3  # of what the cache holds: a change of size, quality or choice of frames makes new files
BOX = (320, 320)  # thumbnails fit in this (pixels): sharp at 160 CSS pixels on a high-density screen
POSTER = (640, 640)  # the player's picture before it plays: its first frame, sharp in a card
QUALITY = 72  # JPEG
TIE = 1e-6  # seconds of rounding noise in a frame's timestamp
FLASH = 48  # a frame this much brighter (mean of 0–255) than the median of the frames around it is a flash
AROUND = 3  # frames either side that say how bright the picture is around a frame
SEARCH = 12  # frames either side of the middle looked at for one that is not a flash


@dataclass(frozen=True)
class Frame:
    at: float  # seconds from the clip's start
    uri: str  # data:image/jpeg;base64,…


@dataclass(frozen=True)
class ClipFacts:
    """What the page says about a clip: its length (from its start to the end of its picture), its
    shape, its first, middle and last frame within the trim, and a larger first frame for its player."""

    length: float
    width: int
    height: int
    frames: list[Frame]
    poster: str


class Thumbnails:
    """Thumbnails for one project; `cache`: the folder to keep them in (None: keep nothing)."""

    def __init__(self, cache: Path | None):
        self.cache = cache
        self.decoded = 0  # clips and images read this time rather than found in the cache
        self._lock = threading.Lock()  # clips are read in worker threads

    def clip(self, path: Path, trim: tuple[float, float | None] = (0.0, None)) -> ClipFacts:
        """Raises MediaError (or OSError) for a file that cannot be read as a video."""
        key = self._key(path, "clip", trim)
        found = self._load(key)
        if found is not None:
            return ClipFacts(found["length"], found["width"], found["height"],
                             [Frame(frame["at"], frame["uri"]) for frame in found["frames"]], found["poster"])
        facts = _read_clip(path, trim)
        with self._lock:
            self.decoded += 1
        self._save(key, {"length": facts.length, "width": facts.width, "height": facts.height,
                         "frames": [{"at": frame.at, "uri": frame.uri} for frame in facts.frames], "poster": facts.poster})
        return facts

    def poster(self, path: Path, at: float) -> str | None:
        """A player's poster for the video `path`: its frame at `at` seconds (never a flash), larger than
        a thumbnail; None if the file cannot be read."""
        try:
            key = self._key(path, "poster", round(at, 3))
            found = self._load(key)
            if found is not None:
                return str(found["uri"])
            uri = _read_poster(path, at)
        except (MediaError, OSError, ValueError):
            return None
        with self._lock:
            self.decoded += 1
        self._save(key, {"uri": uri})
        return uri

    def image(self, path: Path, kind: str) -> str | None:
        """A reference's thumbnail (a video's: its first frame); None if the file cannot be read."""
        try:
            if kind == "video":
                return self.clip(path).frames[0].uri
            key = self._key(path, "image", None)
            found = self._load(key)
            if found is not None:
                return str(found["uri"])
            from PIL import Image, UnidentifiedImageError

            try:
                with Image.open(path) as picture:
                    uri = _jpeg(picture.convert("RGB"))
            except UnidentifiedImageError:
                return None
            with self._lock:
                self.decoded += 1
            self._save(key, {"uri": uri})
            return uri
        except (MediaError, OSError, ValueError, IndexError):
            return None

    def _key(self, path: Path, what: str, extra: Any) -> str:
        facts = os.stat(path)
        name = json.dumps([VERSION, what, str(path.resolve()), facts.st_size, facts.st_mtime_ns, extra])
        return hashlib.sha256(name.encode()).hexdigest()[:32]

    def _load(self, key: str) -> dict[str, Any] | None:
        if self.cache is None:
            return None
        try:
            found = json.loads((self.cache / f"{key}.json").read_text())
        except (OSError, ValueError):
            return None
        return found if isinstance(found, dict) else None

    def _save(self, key: str, data: dict[str, Any]) -> None:
        if self.cache is None:
            return
        try:
            atomic_write_bytes(self.cache / f"{key}.json", json.dumps(data).encode())
        except OSError:
            self.cache = None  # a read-only project: decode each time, write nothing


def _read_clip(path: Path, trim: tuple[float, float | None]) -> ClipFacts:
    info = probe(path)
    video = info.picture
    length = video.end - info.start
    start, end = trim
    end = length if end is None else min(end, length)
    times = [t - info.start for t in video.frame_times]
    kept = [t for t in times if start - TIE <= t < end - TIE] or [min(times, key=lambda t: abs(t - start))]
    from PIL import Image

    with FrameReader(path, info, _poster_size(video.upright_size)) as reader:
        first = reader.at(kept[0])
        middle_at, middle = steady_frame(reader, kept, len(kept) // 2)
        last = reader.at(kept[-1])
    pictures = [Image.fromarray(picture) for picture in (first, middle, last)]
    frames = [Frame(round(t, 3), _jpeg(picture)) for t, picture in zip((kept[0], middle_at, kept[-1]), pictures, strict=True)]
    width, height = video.upright_size
    return ClipFacts(round(length, 3), width, height, frames, _jpeg(pictures[0], POSTER))


def _read_poster(path: Path, at: float) -> str:
    """The frame shown at `at` seconds (the nearest one that is not a flash), as a player's poster."""
    info = probe(path)
    times = [t - info.start for t in info.picture.frame_times]
    if not times:
        raise MediaError(f"{path.name}: no frame to show")
    index = max(0, min(len(times) - 1, bisect.bisect_right(times, at + TIE) - 1))
    from PIL import Image

    with FrameReader(path, info, _poster_size(info.picture.upright_size)) as reader:
        _, picture = steady_frame(reader, times, index)
    return _jpeg(Image.fromarray(picture), POSTER)


def steady_frame(reader: FrameReader, times: list[float], index: int) -> tuple[float, np.ndarray]:
    """The frame `times[index]`, unless it is a flash (much brighter than the median of the frames
    around it): then the nearest frame that is not, within SEARCH frames (the first found either
    side, the earlier one on a tie). Returns (its time, its picture). Reads frames in increasing time."""
    import numpy as np

    low, high = max(0, index - SEARCH - AROUND), min(len(times), index + SEARCH + AROUND + 1)
    pictures = {i: reader.at(times[i]) for i in range(low, high)}
    brightness = {i: float(picture.mean()) for i, picture in pictures.items()}

    def flash(i: int) -> bool:
        around = [brightness[j] for j in range(max(low, i - AROUND), min(high, i + AROUND + 1))]
        return len(around) > 1 and brightness[i] - float(np.median(around)) > FLASH

    for offset in range(SEARCH + 1):
        for i in (index - offset, index + offset) if offset else (index,):
            if low <= i < high and not flash(i):
                return times[i], pictures[i]
    return times[index], pictures[index]


def _poster_size(size: tuple[int, int]) -> tuple[int, int]:
    width, height = size
    scale = min(POSTER[0] / width, POSTER[1] / height, 1.0)
    return max(2, round(width * scale)), max(2, round(height * scale))


def _jpeg(picture: Image.Image, box: tuple[int, int] = BOX) -> str:
    picture = picture.copy()
    picture.thumbnail(box)
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=QUALITY, optimize=True, progressive=True)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
