"""Dialogue lines: each said by a member of the cast, at a time the film shows.

A line's `at` is seconds into the shot's clip as generated, before its trim (the speech is in the
clip, so trimming never moves a line off it). A line the trim cuts off, or past the shot's end,
would be said in the clip but never heard or subtitled in the film: an error naming the line.
"""
from __future__ import annotations

import itertools

from ...errors import Problem
from ...messages import MAX_SUGGESTIONS, suggest
from ...model import Line, Shot, Storyboard
from .timing import clip_length

MAX_NAMES_SHOWN = 20  # cast members listed in a message
QUOTED = 40  # characters of a line quoted in a message


def check_dialogue(storyboard: Storyboard, cast_known: bool = True, untimed: set[int] | None = None) -> list[Problem]:
    """Every line's speaker is a cast member (unless the cast itself was refused: `cast_known`
    False), and its `at` falls in the part of the clip the film shows, in order. `untimed`: indexes
    of shots whose length is not known for their own problems (a refused duration)."""
    problems: list[Problem] = []
    for shot in storyboard.shots:
        if not shot.dialogue:
            continue
        if cast_known:
            problems += [_unknown(storyboard, shot, number, line) for number, line in enumerate(shot.dialogue, start=1)
                         if line.who not in storyboard.cast]
        if shot.index not in (untimed or set()):
            problems += _check_times(storyboard, shot)
    return problems


def quoted(line: Line) -> str:
    """The line as a message quotes it: “Hold on tight!”, shortened."""
    text = " ".join(line.say.split())
    return f"\u201c{text if len(text) <= QUOTED else text[:QUOTED - 1].rstrip() + '…'}\u201d"


def _unknown(storyboard: Storyboard, shot: Shot, number: int, line: Line) -> Problem:
    cast = storyboard.cast
    names = list(cast) if len(cast) <= MAX_SUGGESTIONS else []
    known = ", ".join(itertools.islice(cast, MAX_NAMES_SHOWN))
    known += f" and {len(cast) - MAX_NAMES_SHOWN} more" if len(cast) > MAX_NAMES_SHOWN else ""
    advice = f"cast: {known}" if known else "the storyboard has no cast; add the speaker under `cast:`"
    return storyboard.document.problem(
        (*line.where, "who"),
        f"shot {shot.id!r}: dialogue line {number}: unknown cast member {line.who!r}{suggest(line.who, names)}; {advice}")


def _check_times(storyboard: Storyboard, shot: Shot) -> list[Problem]:
    problems = []
    start, end = shot.trim
    length = clip_length(storyboard, shot)
    shown_end = length if end is None else end if length is None else min(end, length)
    before: tuple[int, float] | None = None  # the last line with `at`: its number and time
    for number, line in enumerate(shot.dialogue, start=1):
        if line.at is None:
            continue
        where = (*line.where, "at")
        said = f"shot {shot.id!r}: dialogue line {number} ({quoted(line)}) is at {line.at:g} s"
        if before is not None and line.at <= before[1]:
            problems.append(storyboard.document.problem(
                where, f"{said}, not after line {before[0]} (at {before[1]:g} s); list the lines in the order they are said"))
        elif line.at < start:
            problems.append(storyboard.document.problem(
                where, f"{said} of the clip, in the part `trim` cuts off (the film shows it from {start:g} s); "
                       f"use at least {start:g}, or change the trim"))
        elif shown_end is not None and line.at >= shown_end:
            trimmed = end is not None and (length is None or end <= length)
            what = (f"the part the film shows (the trim ends at {shown_end:g} s)" if trimmed
                    else f"the {shown_end:g} s shot" if shot.clip is None else f"the clip ({shown_end:.3g} s long)")
            problems.append(storyboard.document.problem(
                where, f"{said}, at or past the end of {what}; use less than {shown_end:g}"
                       + (", or change the trim" if trimmed else "")))
        before = (number, line.at)
    return problems
