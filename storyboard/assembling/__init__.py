"""Stage 6: the film. Clips in order, fitted to one frame size, joined by cuts, crossfades or
fades through black, their sound kept in sync and the soundtrack mixed under it.

- `timeline`: the pieces, what each clip holds (`storyboard.media.probe`), where each sits in the film;
- `picture`: the video stream-copied when the clips allow it (the fast path);
- `segments`, `encode`: otherwise the picture cut into segments (a clip's body, a crossfade), each encoded by
  ffmpeg alone, several at once, kept by what determines it, and joined by a stream copy: an edit encodes
  only the segments it touched, and a change only to the sound encodes none;
- `captions`: subtitles burned in, each line drawn once as an image that ffmpeg lays over its frames;
- `sound`: the mix, sample-exact, chunk by chunk;
- `mux`: picture and sound into the film (the mix piped into ffmpeg as it is rendered).

Every failure leaves `assemble` as an `AssemblyError` (a `RenderError`) with a message for
the user, whatever raised it below: ffmpeg, PyAV, Pillow or the file system.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import av

from ..errors import AssemblyError, MediaError
from ..files import atomic_path
from ..media import probe
from ..messages import describe_os_error, os_reason
from .captions import STYLE as CAPTION_STYLE
from .captions import Caption, captions_of
from .encode import Progress, SegmentStore, encode_segments, release
from .mux import mux
from .picture import can_copy, concat_input, copy_input
from .sound import Mixer
from .subtitles import Cue
from .timeline import FilmSettings, Piece, Soundtrack, Source, Timeline

__all__ = ["CAPTION_STYLE", "AssemblyError", "AssemblyWay", "FilmSettings", "Piece", "Progress", "Soundtrack", "Source",
           "Timeline", "assemble", "film_timeline"]

AssemblyWay = Literal["copy", "segments", "kept"]  # how `assemble` made the film's picture (see there)


def film_timeline(pieces: list[Piece], fps: float) -> Timeline:
    """Where each piece sits in the film (each clip probed, as many at once as there are cores:
    PyAV lets go of the GIL while it reads). Raises AssemblyError."""
    with _as_assembly_error():
        if not pieces:
            raise AssemblyError("nothing to assemble")
        with ThreadPoolExecutor(max_workers=max(1, min(len(pieces), os.cpu_count() or 1))) as pool:
            sources = list(pool.map(Source.of, pieces))  # the first failure in the film's order is raised
        return Timeline(pieces, sources, fps)


def assemble(pieces: list[Piece], destination: Path, settings: FilmSettings, scratch: Path | None = None,
             captions: Sequence[Cue] = (), kept: Path | None = None,
             progress: Callable[[Progress], None] | None = None) -> AssemblyWay:
    """Write the film to `destination` (atomically); return which way made the picture: 'copy' (the
    clips' video stream-copied), 'segments' (encoded by segments, those made before found again) or
    'kept' (every segment found as it was: only the sound was mixed again).

    Working files go to a folder made inside `scratch` (default: the system's temporary folder) and
    are removed. `captions`: subtitles to burn into the picture (which is then never copied).
    `kept`: a folder whose `segments/` keeps the segments and the shots' loudness (`loudness`) between
    assemblies; None: nothing kept.
    `progress`: told of each segment found or encoded. Raises AssemblyError."""
    with _as_assembly_error():
        timeline = film_timeline(pieces, settings.fps)
        segments = kept / "segments" if kept is not None else None  # the segments, and the shots' loudness
        # the mixer refuses a sound it cannot place: before anything is encoded
        mixer = Mixer(timeline, settings.music, match_loudness=settings.normalize, kept=segments)
        if scratch is not None:
            scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="storyboard-film-", dir=scratch) as scratch_dir:
            scratch = Path(scratch_dir)
            if settings.fast_path and not captions and can_copy(timeline, settings):  # the clips' video, as it is
                with atomic_path(destination) as temporary:
                    mux(copy_input(timeline, scratch), mixer, timeline.duration, settings, temporary)
                return "copy"
            store = SegmentStore(segments or scratch / "segments")
            return _from_segments(timeline, mixer, settings, store, scratch, captions_of(captions, settings.fps),
                                  destination, progress)


def _from_segments(timeline: Timeline, mixer: Mixer, settings: FilmSettings, store: SegmentStore, scratch: Path,
                   captions: Sequence[Caption], destination: Path, progress: Callable[[Progress], None] | None) -> AssemblyWay:
    """The film from its segments; a kept segment found damaged when they are joined is encoded again, once."""
    for attempt in (1, 2):
        encoded, made = encode_segments(timeline, settings, store, scratch, captions, progress)
        picture = concat_input([(path, 0.0, frames / settings.fps) for path, frames in encoded], scratch)
        try:
            with atomic_path(destination) as temporary:
                mux(picture, mixer, timeline.duration, settings, temporary)
                _check_frames(temporary, timeline.frames)  # ffmpeg's concat skips a file it cannot read
        except MediaError as error:
            release(encoded)
            if attempt == 2 or not store.discard_damaged(encoded):
                if made == len(encoded):
                    raise
                raise MediaError(f"{error} (if a kept segment is to blame, removing {store.folder} has every segment "
                                 "encoded again)") from None
            continue
        release(encoded)
        break
    return "segments" if made else "kept"


def _check_frames(film: Path, expected: int) -> None:
    frames = probe(film).picture.frames
    if frames != expected:
        raise MediaError(f"the film's picture has {frames} frames where {expected} were expected")


@contextlib.contextmanager
def _as_assembly_error() -> Iterator[None]:
    """What ffmpeg, PyAV and the file system refuse, as AssemblyError. Anything else is a bug of
    storyboard's own and goes up as it is (the command line writes a crash report for it)."""
    try:
        yield
    except MediaError as error:  # ffmpeg failed, or a clip cannot be read
        raise AssemblyError(str(error)) from error
    except av.FFmpegError as error:  # PyAV, decoding a clip's sound or frames
        raise AssemblyError(f"a clip cannot be decoded: {os_reason(error)}") from error
    except OSError as error:  # a full disk, a file that went away
        raise AssemblyError(describe_os_error(error)) from error
