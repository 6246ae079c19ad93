"""The media of an exported cut, beside it: `cut.otio` gets `cut-media/`, holding one file per clip
in the cut with a name an editor can read, and the soundtrack; the timeline points at them by
relative URLs, so the cut and its folder can be moved, zipped or opened on another machine.

- a shot's clip is `NN-shot.ext`: NN its place in the film (1-based, two digits or more),
  `-takeK` after the shot id when the shot has several takes, its own extension
  (`03-sneak.mp4`, `04-dock-take2.mp4`, `05-walk.mov` for footage);
- the soundtrack is `soundtrack.ext`.

Each file is a hard link to the clip in the store (or to the footage) where the file system allows
one (no copy, no space), else a copy; written under a temporary name and renamed into place; a file
already there with the same content is kept. Nothing is written outside the folder, and a folder
holding any of the storyboard's inputs (or inside `.storyboard/`) is refused before anything is written.
"""
from __future__ import annotations

import filecmp
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote

from ..errors import UsageError
from ..model import STATE_DIR, Storyboard

if TYPE_CHECKING:
    from .cut import Cut

Media = Literal["collect", "store"]
MEDIA: tuple[Media, ...] = ("collect", "store")  # collect: beside the export (the default); store: the clip store's own files
SUFFIX = "-media"  # cut.otio -> cut-media/


@dataclass
class Collected:
    """The media folder and what the export put in it."""

    folder: Path
    clips: list[Path]  # one per shot in the cut, in film order
    soundtrack: Path | None = None
    stills: dict[str, Path] = field(default_factory=dict)  # shot id -> its approved still, beside its clip
    linked: list[Path] = field(default_factory=list)
    copied: list[Path] = field(default_factory=list)
    reused: list[Path] = field(default_factory=list)

    def url(self, path: Path) -> str:
        """`path`, one of the collected files, as a URL relative to the exported file (its folder's neighbour)."""
        return f"{quote(self.folder.name)}/{quote(path.name)}"

    @property
    def clip_urls(self) -> list[str]:
        return [self.url(path) for path in self.clips]

    @property
    def soundtrack_url(self) -> str | None:
        return None if self.soundtrack is None else self.url(self.soundtrack)


def media_folder(out: Path) -> Path:
    """Where the media of the cut written to `out` go: beside it, named after it."""
    return out.with_name(out.stem + SUFFIX)


def check_media(media: str) -> Media:
    if media not in MEDIA:
        raise UsageError(f"media must be one of {', '.join(MEDIA)}, not {media!r}")
    return "store" if media == "store" else "collect"


def check_media_folder(board: Storyboard, folder: Path) -> None:
    """UsageError unless `folder` can take the cut's media: it holds none of the storyboard's inputs
    (nor storyboard.lock, nor the film), is not inside `.storyboard/`, and is a folder if it exists."""
    from ..loading.checks.outputs import protected, resolved

    where = resolved(folder)
    if where is None:
        raise UsageError(f"{folder} cannot hold the export's media: its path cannot be resolved; name another file")
    shown = f"{folder}{os.sep}"
    for path, role in protected(board):
        found = resolved(path)
        if found is not None and found == where:
            raise UsageError(f"{folder}, where the export's media would go, is {role}; name another file")
        if found is not None and found.is_relative_to(where):
            raise UsageError(f"{shown}, where the export's media would go, holds {path.name}, {role}; "
                             "exporting could overwrite it. Name another file, or export with --media store")
    if where.is_relative_to(board.state_dir.resolve()):
        raise UsageError(f"{shown}, where the export's media would go, is inside {STATE_DIR}/, storyboard's own state; "
                         "name another file")
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder}, where the export's media would go, is a file, not a folder; "
                         "move it, or name another file")


def clip_names(cut: Cut) -> list[str]:
    """Each clip's file name in the media folder, in film order."""
    width = max(2, len(str(len(cut.shots))))
    names = []
    for position, (item, piece) in enumerate(zip(cut.shots, cut.timeline.pieces, strict=True), start=1):
        take = f"-take{item.take}" if item.takes > 1 and item.footage is None else ""
        names.append(f"{position:0{width}d}-{item.id}{take}{piece.path.suffix}")
    return names


def collect(cut: Cut, folder: Path) -> Collected:
    """Put each clip of the cut (and the soundtrack) in `folder`; see the module's docstring."""
    collected = Collected(folder, [folder / name for name in clip_names(cut)])
    wanted = list(zip([piece.path for piece in cut.timeline.pieces], collected.clips, strict=True))
    if cut.music is not None:
        collected.soundtrack = folder / ("soundtrack" + cut.music.settings.path.suffix)
        wanted.append((cut.music.settings.path, collected.soundtrack))
    for source, target in wanted:
        if target.parent != folder or target.name in ("", ".", ".."):  # never outside the folder
            raise UsageError(f"cannot collect {source.name} as {target.name!r}")
        if _same(source, target):
            collected.reused.append(target)
            continue
        if target.is_dir() and not target.is_symlink():
            raise UsageError(f"{target} is a folder; the export would put {source.name}'s clip there. Move it")
        from ..files import atomic_link_or_copy

        (collected.linked if atomic_link_or_copy(source, target) else collected.copied).append(target)
    return collected


def _same(source: Path, target: Path) -> bool:
    """Whether `target` is a file (not a link to one) with `source`'s content already."""
    try:
        here, there = os.lstat(target), os.stat(source)
    except OSError:
        return False
    if not stat.S_ISREG(here.st_mode):
        return False
    if os.path.samestat(here, there):
        return True
    return here.st_size == there.st_size and filecmp.cmp(source, target, shallow=False)
