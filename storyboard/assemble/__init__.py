"""Stage 6: the film. Clips in order, fitted to one frame size, joined by cuts, crossfades or
fades through black, their sound kept in sync and the soundtrack mixed under it.

- `timeline`: the pieces, what each clip holds (`storyboard.media.probe`), where each sits in the film;
- `picture`: the video, stream-copied when the clips allow it, else drawn frame by frame (moviepy);
- `captions`: subtitles burned into the frames drawn (never stream-copied, then);
- `sound`: the mix, sample-exact, into a WAV;
- `mux`: picture and sound into the film.

Every failure leaves `assemble` as an `AssemblyError` (a `RenderError`) with a message for
the user, whatever raised it below: ffmpeg, PyAV, moviepy or the file system.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..errors import AssemblyError, MediaError
from ..files import atomic_path
from ..subtitles import Cue
from .captions import STYLE as CAPTION_STYLE
from .captions import Captions
from .mux import mux
from .picture import can_copy, copy_input, draw_picture
from .sound import Mixer
from .timeline import FilmSettings, Piece, Soundtrack, Source, Timeline

__all__ = ["CAPTION_STYLE", "AssemblyError", "FilmSettings", "Piece", "Soundtrack", "Source", "Timeline", "assemble",
           "film_timeline"]


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
             captions: Sequence[Cue] = ()) -> str:
    """Write the film to `destination` (atomically); return which way wrote the picture: 'copy' or 'moviepy'.
    Working files (the mix, the picture) go to a folder made inside `scratch` (default: the
    system's temporary folder) and removed. `captions`: subtitles to burn into the picture (which
    is then drawn, never copied). Raises AssemblyError."""
    with _as_assembly_error():
        timeline = film_timeline(pieces, settings.fps)
        if scratch is not None:
            scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="storyboard-film-", dir=scratch) as scratch_dir:
            scratch = Path(scratch_dir)
            way = "copy" if settings.fast_path and not captions and can_copy(timeline, settings) else "moviepy"
            if way == "copy":  # the clips' video copied straight into the film: no picture file between
                picture = copy_input(timeline, scratch)
            else:
                drawn = scratch / "picture.mp4"
                draw_picture(timeline, settings, drawn, Captions(captions, settings.size, settings.fps) if captions else None)
                picture = ["-i", str(drawn)]
            with atomic_path(destination) as temporary:
                mux(picture, Mixer(timeline, settings.music), timeline.duration, settings, temporary)
        return way


@contextlib.contextmanager
def _as_assembly_error() -> Iterator[None]:
    """Failures from below as AssemblyError; storyboard's own errors other than MediaError pass as they are."""
    try:
        yield
    except MediaError as error:  # ffmpeg failed, or a clip cannot be read
        raise AssemblyError(str(error)) from error
    except OSError as error:  # a full disk, a file that went away; moviepy reports its failures as OSError too
        raise AssemblyError(_describe(error)) from error
    except (ValueError, KeyError, IndexError, RuntimeError) as error:  # moviepy's other ways of saying a clip is odd
        raise AssemblyError(f"{type(error).__name__}: {error}") from error


def _describe(error: OSError) -> str:
    """'No space left on device: FILE' rather than '[Errno 28] ...'; moviepy's messages as they are."""
    if not error.strerror:
        return str(error).strip() or type(error).__name__
    names = [str(name) for name in (error.filename, error.filename2) if name is not None]
    return f"{error.strerror}: {' -> '.join(names)}" if names else error.strerror
