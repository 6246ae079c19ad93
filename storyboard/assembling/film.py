"""The film of a plan: its pieces from the clip store, its size, its fingerprint, its subtitles, and
the assembly itself (only when something it depends on changed). The exported cut is made of the same pieces."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from ..errors import RenderError
from ..events import Event
from ..media import frame_size, probe
from ..messages import describe_os_error, display_path
from ..model import ShotSound, Storyboard, sidecar_paths
from ..planning.plans import Plan
from ..project.store import ClipStore
from . import CAPTION_STYLE, FilmSettings, Piece, Progress, Soundtrack, assemble, film_timeline
from .subtitles import Cue, cues_of, write_sidecars


def preview_path(film: Path) -> Path:
    """Where a film of free (preview) clips goes when `film` holds clips that were paid for."""
    return film.with_name(f"{film.stem}.preview{film.suffix}")


def film_path(board: Storyboard, store: ClipStore, *, paid: bool) -> Path:
    """Where the film of a backend's clips is: `output.path`, except that a film of free clips never
    replaces one made from clips that were paid for; it goes beside it (`preview_path`)."""
    film = board.output.path
    return film if paid or store.paid_clips_in(film) == 0 else preview_path(film)


def assemble_film(the_plan: Plan, store: ClipStore, backend: str, emit: Callable[[Event], None], *,
                  paid: bool = False) -> Path | None:
    """Assemble the film of `the_plan` from `backend`'s clips (unless it is already current) and write its
    subtitle files; return its path, or None when some clip is missing. Raises RenderError."""
    board = the_plan.storyboard
    missing = [item.id for item in the_plan.shots if item.footage is None and not store.has_clip(backend, item.hash)]
    if missing:
        emit(Event(None, "note", f"film not assembled: no clip yet for {', '.join(missing)}"))
        return None
    output = board.output
    path = film_path(board, store, paid=paid)
    if path != output.path:
        emit(Event(None, "note", f"{display_path(output.path)} holds clips of the paid service and is kept; "
                                 f"this film of {backend} clips is {display_path(path)}"))
    paid_clips = sum(1 for item in the_plan.shots if item.footage is None) if paid else 0
    pieces = film_pieces(the_plan, store, backend)
    try:
        settings = FilmSettings(size=film_size(the_plan, pieces), fps=output.fps, crf=output.crf, preset=output.preset,
                                music=_soundtrack(board), normalize=output.normalize,
                                keyframe_interval=output.keyframe_interval)
        cues = _cues(the_plan, pieces, settings.fps) if output.subtitles != "none" else []
        burned = cues if output.subtitles == "burn" else []
        fingerprint = _film_fingerprint(the_plan, pieces, settings, burned)
        current = store.film_is_current(path, fingerprint)
        if not current:
            emit(Event(None, "assembling", display_path(path)))
            store.ensure()
            way = assemble(pieces, path, settings, scratch=store.scratch, captions=burned,
                           kept=store.root, progress=lambda done: _report_segment(done, emit))
            if way == "kept":
                emit(Event(None, "note", "the picture is unchanged: kept from the last assembly, only the sound mixed again"))
            store.remember_film(path, fingerprint, paid_clips)
    except (RenderError, OSError) as error:  # OSError: the film or the soundtrack could not be looked at
        raise RenderError(f"assembling the film failed: {error}") from error
    try:  # the subtitle files are compared with what they should hold: an edited line rewrites them, not the film
        subtitles = write_sidecars(cues, path) if output.subtitles == "sidecar" else []
    except OSError as error:
        raise RenderError(f"writing the subtitles failed: {describe_os_error(error)}; the film is written") from error
    film = display_path(path)
    written = ", ".join(display_path(path) for path in subtitles)
    if current and subtitles:
        emit(Event(None, "film", f"{written} (subtitles; the film {film} is up to date)"))
    elif current:
        emit(Event(None, "current", film))
    else:
        emit(Event(None, "film", f"{film} (subtitles: {written})" if subtitles else film))
        stale = [display_path(path) for path in sidecar_paths(path) if path.exists()]
        if output.subtitles == "burn" and stale:
            emit(Event(None, "note", f"{', '.join(stale)} next to the film would show over the burned subtitles "
                                     "in most players; delete them (they are not updated with output.subtitles: burn)"))
    return path


def _report_segment(progress: Progress, emit: Callable[[Event], None]) -> None:
    """The segments found, in one line; then each segment as it is encoded."""
    if progress.reused and progress.done == progress.reused_count:
        emit(Event(None, "segment", f"reused {progress.reused_count} of {progress.total} segments"))
    elif not progress.reused:
        emit(Event(None, "segment", f"encoded {progress.segment} "
                                    f"({progress.done - progress.reused_count} of {progress.total - progress.reused_count})"))


def _cues(the_plan: Plan, pieces: list[Piece], fps: float) -> list[Cue]:
    """The dialogue's subtitles, timed to the film as it is assembled (the clips' real lengths, trims, crossfades)."""
    timeline = film_timeline(pieces, fps)
    return cues_of([item.shot for item in the_plan.shots], timeline.starts, timeline.lengths, fps)


def _film_fingerprint(the_plan: Plan, pieces: list[Piece], settings: FilmSettings, burned: list[Cue]) -> str:
    """Everything the assembled film depends on: the clips in order, how they join, the output settings,
    the subtitles burned into it. (Sidecar subtitles are files of their own: they never make the film stale.)"""
    facts = {
        "clips": [item.hash for item in the_plan.shots],
        "backend": the_plan.backend,
        "pieces": [[str(piece.path), piece.trim_start, piece.trim_end, piece.transition, piece.transition_duration, piece.fit]
                   for piece in pieces],
        "settings": repr(settings),
        "music": _file_fact(settings.music.path) if settings.music else None,
        "assembler": 3,  # 3: the true-peak limiter, the ducker with hold, the 5.1 downmix
    }
    if any(piece.sound != ShotSound() for piece in pieces):  # only then, as for `burned`
        facts["sound"] = [list(dataclasses.astuple(piece.sound)) for piece in pieces]
    if burned:  # only then: films without burned subtitles keep the fingerprint they had
        facts["burned"] = [[cue.start, cue.end, cue.text] for cue in burned] + [CAPTION_STYLE]
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def _file_fact(path: Path) -> list[object]:
    stat = path.stat()
    return [str(path), stat.st_size, stat.st_mtime_ns]


def _soundtrack(board: Storyboard) -> Soundtrack | None:
    music = board.output.music
    if music is None:
        return None
    return Soundtrack(music.path, volume=music.volume, fade_in=music.fade_in, fade_out=music.fade_out,
                      loop=music.loop, duck=music.duck)


def film_pieces(the_plan: Plan, store: ClipStore, backend: str) -> list[Piece]:
    """The film's pieces in order: each shot's clip in the film (`backend`'s, or its footage), how it
    is trimmed, joined and fitted. The exported cut is made of the same pieces."""
    fit = the_plan.storyboard.output.fit
    return [
        Piece(item.footage or store.clip_path(backend, item.hash), trim_start=item.shot.trim[0], trim_end=item.shot.trim[1],
              transition=item.shot.transition.type, transition_duration=item.shot.transition.duration,
              fit=item.shot.fit or fit, shot=item.id, sound=item.shot.sound)
        for item in the_plan.shots
    ]


def film_size(the_plan: Plan, pieces: list[Piece]) -> tuple[int, int]:
    """`output.resolution`/`aspect_ratio` where given, else the first generated shot's, else the first clip's."""
    output = the_plan.storyboard.output
    generated = next((item for item in the_plan.shots if item.footage is None), None)
    resolution = output.resolution or (generated.setting("resolution") if generated else None)
    aspect_ratio = output.aspect_ratio or (generated.setting("aspect_ratio") if generated else None)
    if resolution and aspect_ratio:
        return frame_size(resolution, aspect_ratio)
    width, height = probe(pieces[0].path).picture.display_size  # footage only: the first clip's size and shape, as shown
    if resolution:
        return frame_size(resolution, f"{width}:{height}")
    if aspect_ratio:
        return frame_size(f"{min(width, height)}p", aspect_ratio)
    return width - width % 2, height - height % 2
