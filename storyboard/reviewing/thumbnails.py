"""Small JPEG thumbnails of clips and reference images, as data URIs, kept in the project's state folder.

A clip's first, middle and last frame (of the part its trim keeps) are decoded once: the next
review finds them, with the clip's length, in `.storyboard/review/`, named by the clip's file
(its path, size and modification time: a clip made again gets new ones) and the trim. A project
that cannot be written to still gets its page, decoded afresh each time.
"""
from __future__ import annotations

import base64
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
    from PIL import Image

VERSION = 2  # of what the cache holds: a change of size or quality makes new files
BOX = (320, 320)  # thumbnails fit in this (pixels): sharp at 160 CSS pixels on a high-density screen
POSTER = (640, 640)  # the player's picture before it plays: its first frame, sharp in a card
QUALITY = 72  # JPEG
TIE = 1e-6  # seconds of rounding noise in a frame's timestamp


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
    wanted = [kept[0], kept[len(kept) // 2], kept[-1]]
    width, height = video.upright_size
    scale = min(POSTER[0] / width, POSTER[1] / height, 1.0)
    size = (max(2, round(width * scale)), max(2, round(height * scale)))
    from PIL import Image

    with FrameReader(path, info, size) as reader:
        pictures = [Image.fromarray(reader.at(t)) for t in wanted]
    frames = [Frame(round(t, 3), _jpeg(picture)) for t, picture in zip(wanted, pictures, strict=True)]
    return ClipFacts(round(length, 3), width, height, frames, _jpeg(pictures[0], POSTER))


def _jpeg(picture: Image.Image, box: tuple[int, int] = BOX) -> str:
    picture = picture.copy()
    picture.thumbnail(box)
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=QUALITY, optimize=True, progressive=True)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
