"""Drawn pictures kept between assemblies, by everything that determines them, so that a change
only to the sound (music, volume, ducking, normalisation) mixes and muxes again and never draws
the picture again.

A picture's key covers each clip (its file: path, size, modification time), trims, fit,
transitions, the film's size, rate and encoder settings, and the subtitles burned into it; not
the soundtrack, the clips' sound or loudness. A picture is only ever moved into place complete
(`files.atomic_path`: a crash leaves a `.partial` file that `ClipStore.remove_leftovers` removes),
and only the most recent few are kept: each is the size of the film's video.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..files import atomic_path
from ..subtitles import Cue
from .captions import STYLE
from .timeline import FilmSettings, Timeline

VERSION = 1  # bump when the way a picture is drawn changes
KEEP = 3  # pictures kept: the latest film's, and a few to go back to


class PictureCache:
    def __init__(self, folder: Path, keep: int = KEEP):
        self.folder = folder
        self.keep = keep

    def key(self, timeline: Timeline, settings: FilmSettings, captions: Sequence[Cue]) -> str:
        facts = {
            "version": VERSION,
            "pieces": [[*_file(source.path), piece.trim_start, piece.trim_end, piece.transition,
                        piece.transition_duration, piece.fit]
                       for piece, source in zip(timeline.pieces, timeline.sources, strict=True)],
            "size": list(settings.size), "fps": settings.fps, "crf": settings.crf, "preset": settings.preset,
            "captions": [[cue.start, cue.end, cue.text] for cue in captions],
            "style": repr(STYLE) if captions else None,
        }
        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:32]

    def get(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.is_file() and path.stat().st_size > 0 else None

    @contextlib.contextmanager
    def writing(self, key: str) -> Iterator[Path]:
        """A temporary path to draw into; it becomes the kept picture only if the block succeeds."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(self._path(key)) as temporary:
            yield temporary
        self._prune(key)

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.mp4"

    def _prune(self, newest: str) -> None:
        pictures = [path for path in self.folder.glob("*.mp4") if not path.name.startswith(".")]  # not a .partial
        kept = sorted(pictures, key=lambda path: path.stat().st_mtime_ns, reverse=True)
        for old in [path for path in kept if path.stem != newest][self.keep - 1:]:
            with contextlib.suppress(OSError):
                old.unlink()


def _file(path: Path) -> list[object]:
    facts = os.stat(path)
    return [str(path.resolve()), facts.st_size, facts.st_mtime_ns]
