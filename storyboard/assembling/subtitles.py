"""The film's subtitles: the shots' dialogue lines as cues timed to the cut, written as SRT and WebVTT.

A line's cue starts where the line is said in the film: at its shot's place in the film plus its
`at` (seconds into the shot's clip as generated, so a trim moves the shot but never the line
within it). Lines without `at` share the time before the next line that has one (or the shot's
end), in order and in proportion to their length; the first of them starts when the shot shows. A
cue lasts until the next cue starts, or its shot ends; cues never overlap (where a crossfade
overlaps two shots, the incoming shot's first line ends the outgoing shot's last). Cues are on the
film's frame grid, so a burned subtitle and a sidecar one change on the same frame.

The files are written with pysubs2 (timecodes, numbering, the WebVTT header), next to the film,
with its name: `film.mp4` gets `film.srt` and `film.vtt`.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..files import atomic_write_bytes
from ..model import Line, Shot, sidecar_paths

PAUSE = 10  # characters' worth of time every line gets besides its own, when lines share a span
_BACKSLASH = "\ue000"  # stands for \ while pysubs2 writes the text: to it, \n, \N and \h are line breaks and spaces
TIMECODE = re.compile(r"\d+:\d{1,2}(?::\d{1,2})?[.,]\d{1,3}")  # SRT's 00:00:01,000, WebVTT's 00:01.000
RATIO = "\u2236"  # looks as ':' does, and is not one: two timecodes in a cue's text are no timing line


@dataclass(frozen=True)
class Cue:
    """One subtitle: from `start` to `end`, seconds of film time on the frame grid."""

    start: float
    end: float
    text: str
    shot: str  # the id of the shot whose line it is


def cues_of(shots: Sequence[Shot], starts: Sequence[float], lengths: Sequence[float], fps: float) -> list[Cue]:
    """Every dialogue line of `shots` (in film order) as a cue. `starts` and `lengths`: where each
    shot shows in the film and for how long, in seconds (the assembly's timeline: after its trim,
    a crossfade overlapping the shot before)."""
    placed: list[tuple[int, int, str, str]] = []  # (first frame, end frame, text, shot id)
    for shot, start, length in zip(shots, starts, lengths, strict=True):
        first = frame_at(start, fps)
        last = max(first + 1, frame_at(start + length, fps))
        times = [start - shot.trim[0] + line.at if line.at is not None else None for line in shot.dialogue]
        frames = [min(max(frame_at(t, fps), first), last - 1) for t in _shared(shot.dialogue, times, start, start + length)]
        for index, (frame, line) in enumerate(zip(frames, shot.dialogue, strict=True)):
            end = frames[index + 1] if index + 1 < len(frames) else last
            placed.append((frame, max(end, frame + 1), line.say, shot.id))
    placed.sort(key=lambda cue: cue[0])
    cues = []
    for index, (first, end, text, shot_id) in enumerate(placed):
        following = placed[index + 1][0] if index + 1 < len(placed) else None
        if following is not None and following > first:
            end = min(end, following)
        cues.append(Cue(first / fps, end / fps, text, shot_id))
    return cues


def frame_at(t: float, fps: float) -> int:
    """The first film frame shown at or after film time `t` (frame k is shown from k / fps)."""
    return max(0, math.ceil(t * fps - 1e-6))


def _shared(lines: Sequence[Line], times: list[float | None], start: float, end: float) -> list[float]:
    """Each line's start: its own time where it has one; lines without one share the span from the
    line with a time before them (or `start`) to the next (or `end`) with it, by their length."""
    result: list[float] = []
    group: list[int] = []  # the lines sharing the current span
    group_start = start

    def close(until: float) -> None:
        weights = [len(" ".join(lines[index].say.split())) + PAUSE for index in group]
        total, done = sum(weights), 0
        for weight in weights:
            result.append(group_start + (until - group_start) * done / total)
            done += weight

    for index, time in enumerate(times):
        if time is not None:
            anchor = max(time, group_start)  # never before the lines already placed
            if group:
                close(anchor)
            group, group_start = [], anchor
        group.append(index)
    close(max(end, group_start))
    return result


def sidecar_text(cues: Sequence[Cue], suffix: str) -> str:
    """The cues as a subtitle file of the format `suffix` names (`.srt` or `.vtt`)."""
    import pysubs2

    subtitles = pysubs2.SSAFile()
    for cue in cues:
        text = cue_line(cue.text).replace("\\", _BACKSLASH)
        if suffix == ".vtt":  # WebVTT cue text is markup: & and < must be escaped (and > so that --> cannot appear)
            text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        subtitles.append(pysubs2.SSAEvent(start=_milliseconds(cue.start), end=_milliseconds(cue.end), text=text))
    written = subtitles.to_string(suffix.lstrip("."), keep_ssa_tags=True)  # the text as given: braces are no SSA tags
    return str(written).replace(_BACKSLASH, "\\")


def cue_line(text: str) -> str:
    """A line's text as one line of a cue that nothing in it can end: its lines and blank lines joined
    (a blank line ends a cue; a number line then a timing line starts another), and where it holds two
    timecodes (what readers take for a timing line, with or without its arrow), their colons as RATIO."""
    line = " ".join(text.split())
    if len(TIMECODE.findall(line)) < 2:
        return line
    return TIMECODE.sub(lambda found: found.group().replace(":", RATIO), line)


def _milliseconds(t: float) -> int:
    """Whole milliseconds at or before `t`: a cue on frame k shows from that frame, not the next."""
    return math.floor(t * 1000 + 1e-6)


def write_sidecars(cues: Sequence[Cue], film: Path) -> list[Path]:
    """Write the film's subtitle files (each atomically) where they differ from `cues`, or are
    missing; return those written."""
    written = []
    for path in sidecar_paths(film):
        data = sidecar_text(cues, path.suffix).encode("utf-8")
        try:
            current = path.read_bytes() == data
        except OSError:
            current = False
        if not current:
            atomic_write_bytes(path, data)
            written.append(path)
    return written
