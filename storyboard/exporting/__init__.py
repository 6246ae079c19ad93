"""Stage 7 (optional): the film's cut for an editor, as an OpenTimelineIO timeline.

    from storyboard.exporting import export
    export("film.yaml", "renders/film.otio")          # or .xml (FCP 7), .edl, .fcpxml

- `cut`: the shots' clips in the film and where the film places them (`assemble.Timeline`);
- `timeline`: that placement as an OTIO timeline: clips named by shot id, trims, dissolves, fades;
- `formats`: the extension's format, and the copy of the timeline each adapter can write.

The timeline lasts exactly as many frames as the film, at its rate. The heavy modules are
imported when `export` runs, so the command line starts as fast without them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..model import STATE_DIR, Storyboard
from .formats import FORMATS, INSTALL_HINT, Format, check_rate, format_for

__all__ = ["FORMATS", "INSTALL_HINT", "Exported", "export"]


@dataclass(frozen=True)
class Exported:
    """The file written and what it holds."""

    path: Path
    format: Format
    shots: int
    frames: int  # the film's length: the timeline's
    fps: float

    @property
    def seconds(self) -> float:
        return self.frames / self.fps


def export(storyboard: Storyboard | str | os.PathLike[str], out: str | os.PathLike[str],
           backend: str = "preview") -> Exported:
    """Write the cut of `storyboard` (a loaded Storyboard or its file) to `out`, in the format its
    extension names (see FORMATS), from `backend`'s clips; atomically: a failure leaves `out` as it was.

    Raises UsageError for an unknown extension, an adapter not installed or an `out` that is an
    input of the storyboard; cut.ClipsMissing naming each shot whose clip is not rendered yet."""
    from ..files import atomic_path
    from ..loading import load
    from .cut import gather
    from .formats import write
    from .timeline import build

    destination = Path(out)
    chosen = format_for(destination)
    board = storyboard if isinstance(storyboard, Storyboard) else load(storyboard)
    _check_destination(board, destination)
    check_rate(chosen, board.output.fps)
    cut = gather(board, backend)
    timeline = build(cut)
    with atomic_path(destination) as temporary:
        write(timeline, chosen, temporary)
    return Exported(destination, chosen, len(cut.shots), cut.timeline.frames, cut.fps)


def _check_destination(board: Storyboard, destination: Path) -> None:
    """OUT may be none of the storyboard's inputs, nor the film, nor inside its state folder."""
    from ..loading.checks.outputs import overwritten
    from ..messages import os_reason

    role = overwritten(board, destination)
    if role:
        raise UsageError(f"{destination} is {role}; exporting would overwrite it. Name another file")
    try:
        target = destination.resolve()
        if target.is_relative_to(board.state_dir.resolve()):
            raise UsageError(f"{destination} is inside {STATE_DIR}/, storyboard's own state; name another file")
    except (OSError, RuntimeError) as error:  # RuntimeError: a symbolic link loop
        raise UsageError(f"{destination} cannot be used: {os_reason(error)}") from None
    if destination.is_dir():
        raise UsageError(f"{destination} is a folder; name the file to write")
