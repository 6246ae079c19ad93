"""How long shots last, and what must fit in them: trims, transitions, first-frame times."""
from __future__ import annotations

from ...errors import MediaError, Problem
from ...media import probe
from ...model import FrameOf, Shot, Storyboard


def check_trim(storyboard: Storyboard, shot: Shot, readable: bool) -> list[Problem]:
    """A trim must keep part of the shot: checked against the shot's duration, or the footage's
    probed length (`readable`: the footage passed its own checks), at the trim's line."""
    if "trim" not in storyboard.document.data["shots"][shot.index]:
        return []
    start, end = shot.trim
    where = (*shot.where, "trim")
    if end is not None and end <= start:
        return [storyboard.document.problem((*where, "end"), f"shot {shot.id!r}: trim: end ({end:g} s) must be after start "
                                                             f"({start:g} s)")]
    source = _source(storyboard, shot) if readable or shot.clip is None else None
    if source is None:
        return []
    length, slack = source
    what = f"the clip ({length:.3g} s long)" if shot.clip is not None else f"the {length:g} s shot"
    if start >= length:
        return [storyboard.document.problem((*where, "start"), f"shot {shot.id!r}: trim: start ({start:g} s) is at or past "
                                                               f"the end of {what}; "
                                                               f"it must be less than {length:g}")]
    if end is not None and end > length + slack:
        return [storyboard.document.problem((*where, "end"), f"shot {shot.id!r}: trim: end ({end:g} s) is past the end of "
                                                             f"{what}; "
                                                             f"use at most {length:g}, or leave `end` out to keep the rest")]
    return []


def clip_length(storyboard: Storyboard, shot: Shot) -> float | None:
    """Seconds of the clip a shot cuts its trim from, known before rendering: its footage's (probed),
    or the duration it asks for. None where that is not known (footage that cannot be read)."""
    if shot.clip is not None:
        try:
            info = probe(shot.clip)
        except (MediaError, OSError):
            return None  # reported by the footage's own checks
        return info.picture.end - info.start
    profile = storyboard.profiles.get(shot.model)
    duration = shot.fields.get("duration", profile.default("duration") if profile else None)
    if not isinstance(duration, (int, float)) or isinstance(duration, bool):
        return None
    return float(duration)


def _source(storyboard: Storyboard, shot: Shot) -> tuple[float, float] | None:
    """(seconds, tolerance) of what the shot's trim cuts: footage gets half a frame of tolerance."""
    length = clip_length(storyboard, shot)
    if length is None:
        return None
    if shot.clip is None:
        return length, 0.0
    return round(length, 3), 0.5 / probe(shot.clip).picture.fps


def shot_length(storyboard: Storyboard, shot: Shot) -> float | None:
    """Seconds the shot lasts in the film, where known before rendering."""
    start, end = shot.trim
    source = _source(storyboard, shot)
    full = source[0] if source else None
    if end is not None:
        return min(end, full) - start if full is not None else end - start
    return full - start if full is not None else None


def check_transitions(storyboard: Storyboard) -> list[Problem]:
    problems = []
    for before, shot in zip(storyboard.shots, storyboard.shots[1:], strict=False):  # consecutive pairs
        if shot.index != before.index + 1:
            continue  # a shot between them was left out for its own problems: they are not neighbours
        kind, seconds = shot.transition.type, shot.transition.duration
        if kind == "cut" or seconds <= 0:
            continue
        needed = seconds if kind == "crossfade" else seconds / 2  # a fade spends half in each shot
        for side in (before, shot):
            length = shot_length(storyboard, side)
            if length is not None and needed > length + 1e-9:
                where = (*shot.where, "transition") if "transition" in storyboard.document.data["shots"][shot.index] \
                    else ("defaults", "transition")
                problems.append(storyboard.document.problem(
                    where, f"shot {shot.id!r}: a {seconds:g} s {kind} needs {needed:g} s of shot {side.id!r}, "
                           f"which lasts {length:g} s"))
                break
    return problems


def check_frame_time(storyboard: Storyboard, shot: Shot, by_id: dict[str, Shot]) -> list[Problem]:
    frame = shot.first_frame
    if not isinstance(frame, FrameOf) or isinstance(frame.at, str):
        return []
    source = by_id.get(frame.shot)
    length = shot_length(storyboard, source) if source is not None else None
    if source is None or length is None or frame.at < length:
        return []
    return [storyboard.document.problem(
        (*frame.where, "at"), f"first_frame at {frame.at:g} s is past the end of shot {source.id!r} ({length:g} s long)")]
