"""A shot's `sound:` against its neighbours and its clip, before anything is generated; and shots too
short to show on any frame.

A lead plays the clip's sound from before the part the film shows, a tail from after it (in sync):
footage is probed for the sound it has there; a generated clip is taken to have sound as long as
its picture, the duration it asks for (the clip's real sound is checked again when the film is
assembled)."""
from __future__ import annotations

from ...errors import MediaError, Problem
from ...media import probe
from ...model import Shot, Storyboard
from .timing import clip_length, shot_length

SLACK = 0.002  # seconds: timestamps and encoders' priming


def check_sound(storyboard: Storyboard) -> list[Problem]:
    problems: list[Problem] = []
    shots = storyboard.shots
    for position, shot in enumerate(shots):
        before = shots[position - 1] if position and shots[position - 1].index == shot.index - 1 else None
        after = shots[position + 1] if position + 1 < len(shots) and shots[position + 1].index == shot.index + 1 else None
        first = shot.index == 0
        last = shot.index == len(storyboard.document.data["shots"]) - 1
        for side, seconds in (("lead", shot.sound.lead), ("tail", shot.sound.tail)):
            if seconds > 0:
                neighbour = before if side == "lead" else after
                edge = first if side == "lead" else last
                problem = _check_side(storyboard, shot, side, seconds, neighbour, edge)
                if problem is not None:
                    problems.append(problem)
    return problems


def _check_side(storyboard: Storyboard, shot: Shot, side: str, seconds: float, neighbour: Shot | None,
                edge: bool) -> Problem | None:
    where = (*shot.where, "sound", side)
    document = storyboard.document
    label = f"shot {shot.id!r}: sound.{side} ({seconds:g} s)"
    if edge:
        return document.problem(where, f"{label}: the {'first' if side == 'lead' else 'last'} shot has no shot "
                                       f"{'before' if side == 'lead' else 'after'} it for its sound to play under")
    if neighbour is None:
        return None  # the neighbour was left out for its own problems
    if side == "lead" and neighbour.sound.tail > 0:
        return document.problem(where, f"{label}: shot {neighbour.id!r} before it already has sound.tail; a join "
                                       "takes a J-cut or an L-cut, not both")
    length = shot_length(storyboard, neighbour)
    if length is not None and seconds > length + 1e-9:
        return document.problem(where, f"{label} is longer than shot {neighbour.id!r} "
                                       f"{'before' if side == 'lead' else 'after'} it ({length:.3g} s long)")
    if shot.clip is not None and _silent(shot):
        return document.problem(where, f"{label} needs the clip's own sound, and {shot.clip.name} has none")
    available = _sound_beyond(storyboard, shot, side)
    if available is not None and seconds > available + SLACK:
        hint = "start the shot later in its clip (trim.start)" if side == "lead" else \
            "end the shot earlier in its clip (trim.end)"
        place = "before" if side == "lead" else "after"
        return document.problem(where, f"{label} plays the clip's sound from {place} the part the film shows, in sync, "
                                       f"and it has {max(0.0, available):.3g} s there: {hint}")
    return None


def _sound_beyond(storyboard: Storyboard, shot: Shot, side: str) -> float | None:
    """Seconds of the clip's sound before (lead) or after (tail) the part the film shows; None: not known."""
    start, end = shot.trim
    length = clip_length(storyboard, shot)
    if length is None:
        return None
    used_end = min(end, length) if end is not None else length
    if shot.clip is None:  # generated: sound along the picture
        return start if side == "lead" else length - used_end
    try:
        info = probe(shot.clip)
    except (MediaError, OSError):
        return None
    if info.audio is None:
        return 0.0
    sound_start, sound_end = info.audio.start - info.start, info.audio.end - info.start
    return start - sound_start if side == "lead" else sound_end - used_end


def _silent(shot: Shot) -> bool:
    assert shot.clip is not None
    try:
        return probe(shot.clip).audio is None
    except (MediaError, OSError):
        return False  # reported by the footage's own checks


def short_shot_warnings(storyboard: Storyboard) -> list[Problem]:
    """Shots that last less than one frame of the film: they may show on no frame at all."""
    frame = 1 / storyboard.output.fps
    warnings = []
    for shot in storyboard.shots:
        length = shot_length(storyboard, shot)
        if length is None or length >= frame - 1e-9:
            continue
        raw = storyboard.document.data["shots"][shot.index]
        where = (*shot.where, "trim") if "trim" in raw else shot.origins.get("duration", (*shot.where, "id"))
        warnings.append(storyboard.document.problem(
            where, f"warning: shot {shot.id!r} lasts {length:.3g} s in the film, less than one frame at "
                   f"{storyboard.output.fps:g} fps ({frame:.3g} s): it may show on no frame. Make it longer or leave it out"))
    return warnings
