"""Stage 7 (optional): the film's cut for an editor, as an OpenTimelineIO timeline.

    from storyboard.exporting import export
    export("film.yaml", "renders/film.otio")          # or .xml (FCP 7), .edl, .fcpxml

- `cut`: the shots' clips in the film and where the film places them (`assemble.Timeline`);
- `collect`: the clips (and the soundtrack) beside the export, in `film-media/`, with readable
  names, which the timeline refers to by relative URLs (`media="store"`: the clip store's own
  files, by absolute URLs, and no folder);
- `timeline`: that placement as an OTIO timeline: clips named by shot id, trims, dissolves, fades,
  the dialogue as markers;
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
from .collect import MEDIA, Collected, Media, check_media, check_media_folder, media_folder
from .formats import FORMATS, INSTALL_HINT, Format, check_rate, format_for

__all__ = ["FORMATS", "INSTALL_HINT", "MEDIA", "Collected", "Exported", "Media", "export", "media_folder"]


@dataclass(frozen=True)
class Exported:
    """The file written and what it holds."""

    path: Path
    format: Format
    shots: int
    frames: int  # the film's length: the timeline's
    fps: float
    media: Collected | None = None  # the media folder and what was put there; None: the clip store's files

    @property
    def seconds(self) -> float:
        return self.frames / self.fps


def export(storyboard: Storyboard | str | os.PathLike[str], out: str | os.PathLike[str],
           backend: str = "preview", media: Media = "collect") -> Exported:
    """Write the cut of `storyboard` (a loaded Storyboard or its file) to `out`, in the format its
    extension names (see FORMATS), from `backend`'s clips; atomically: a failure leaves `out` as it was.

    `media`: "collect" (the default) puts each clip of the cut, and the soundtrack, in a folder
    beside `out` named after it (`cut.otio`: `cut-media/03-sneak.mp4`...; hard links where the file
    system allows, else copies; see `collect`) and refers to them by relative URLs; "store" refers
    to the clip store's own files (and the footage, the soundtrack) by absolute `file://` URLs.

    Raises UsageError for an unknown extension, an adapter not installed, an `out` that is an
    input of the storyboard or a media folder that holds one (or is inside `.storyboard/`);
    cut.ClipsMissing naming each shot whose clip is not rendered yet. Nothing is written then."""
    from ..files import atomic_path
    from ..loading import load
    from .collect import collect
    from .cut import gather
    from .formats import write
    from .stills import collect_stills
    from .timeline import build

    destination = Path(out)
    chosen = format_for(destination)
    media = check_media(media)
    board = storyboard if isinstance(storyboard, Storyboard) else load(storyboard)
    _check_destination(board, destination)
    folder = media_folder(destination) if media == "collect" else None
    if folder is not None:
        check_media_folder(board, folder)
    check_rate(chosen, board.output.fps)
    cut = gather(board, backend)
    collected = collect(cut, folder) if folder is not None else None
    if collected is not None:
        collected.stills = collect_stills(cut.shots, cut.stills, collected.folder, [path.name for path in collected.clips])
    timeline = build(cut) if collected is None else build(cut, collected.clip_urls, collected.soundtrack_url,
                                                          {shot: collected.url(path) for shot, path in collected.stills.items()})
    with atomic_path(destination) as temporary:
        write(timeline, chosen, temporary)
    return Exported(destination, chosen, len(cut.shots), cut.timeline.frames, cut.fps, collected)


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
