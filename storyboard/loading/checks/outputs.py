"""What storyboard writes (the film, its subtitles, a review page, an exported cut) may overwrite
nothing the storyboard reads, whatever name or link the file is reached by."""
from __future__ import annotations

import os
from pathlib import Path

from ...model import LOCK_FILE, Reference, Storyboard
from ..profiles import PROJECT_PROFILES_DIR, profile_files


def inputs(storyboard: Storyboard) -> list[tuple[Path, str]]:
    """Every file the storyboard reads, the storyboard first, and what it is to the storyboard."""
    found = [(storyboard.file, "the storyboard file itself")]
    for name, member in storyboard.cast.items():
        found += [(ref.path, f"a reference {ref.kind} of cast member {name!r}") for ref in member.references if ref.path]
    for shot in storyboard.shots:
        found += [(ref.path, f"a reference {ref.kind} of shot {shot.id!r}") for ref in shot.references if ref.path]
        if isinstance(shot.first_frame, Reference) and shot.first_frame.path:
            found.append((shot.first_frame.path, f"the first frame image of shot {shot.id!r}"))
        if shot.clip is not None:
            found.append((shot.clip, f"the clip of shot {shot.id!r}"))
    if storyboard.output.music is not None:
        found.append((storyboard.output.music.path, "the soundtrack"))
    found += [(path, f"the template snippet {name!r} a prompt includes") for path, name in storyboard.includes.items()]
    return found + [(path, f"the model profile {PROJECT_PROFILES_DIR}/{path.name}") for path in profile_files(storyboard.root)]


def protected(storyboard: Storyboard, *, film: bool = True) -> list[tuple[Path, str]]:
    """What storyboard may never write over: the inputs, storyboard.lock and (with `film`) the film,
    each with what it is to the storyboard."""
    found = [*inputs(storyboard), (storyboard.root / LOCK_FILE, f"{LOCK_FILE}, the record of generated clips")]
    if film:
        found.append((storyboard.output.path, "the film"))
    return found


def overwritten(storyboard: Storyboard, target: Path, *, film: bool = True) -> str | None:
    """What writing `target` would overwrite that the storyboard needs (an input, storyboard.lock, and
    with `film` the film), said as in "… is {it}"; None when it is none of them."""
    where, same = resolved(target), file_id(target)
    for path, role in protected(storyboard, film=film):
        if (where is not None and resolved(path) == where) or (same is not None and file_id(path) == same):
            return role
    return None


def resolved(path: Path) -> Path | None:
    """`path` with symbolic links and `..` resolved; None if it cannot be (a NUL, a link loop: reported elsewhere)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError):
        return None


def file_id(path: Path) -> tuple[int, int] | None:
    """(device, inode) of an existing file, after symbolic links: one file under any name."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return info.st_dev, info.st_ino
