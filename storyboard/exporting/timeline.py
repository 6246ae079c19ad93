"""The cut as an OpenTimelineIO timeline, frame for frame the film's (`assemble.Timeline.frame_span`).

Tracks: V1 the shots' pictures, each shot's dialogue as markers on its clip; A1 their own sound
(a gap where a clip has none or the shot is muted; J- and L-cuts as sound clips that begin before
or end after their picture, in sync: a join on A1 is moved by the outgoing shot's `sound.tail`
minus the incoming one's `sound.lead`, its media range with it); A2 the soundtrack, when
`output.audio.music` is set. Every time is counted in frames of the film's
rate (`output.fps`; 29.97 and the like as the exact NTSC rate), media times from the clip's
start, as the storyboard's trims are.

Joins:
- cut: the clips meet;
- crossfade: an SMPTE dissolve centred on the cut, half the overlap before it (`in_offset`,
  the outgoing clip's last frames), half after (`out_offset`, the incoming clip's first): the
  clips' visible ranges meet at the middle of the overlap, so the track lasts as the film does;
- fade (out to black, then in): the film dims the outgoing clip over the last half of
  `duration` and brightens the incoming one over the first half, without adding time. So:
  a dissolve from the outgoing clip to a zero-length gap (black) ending at the cut
  (`in_offset` only), the gap, and a dissolve from it into the incoming clip starting at the
  cut (`out_offset` only): what FCP 7 XML calls end-black and start-black, and EDL a
  dissolve to and from BL.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import opentimelineio as otio

from ..assembling.subtitles import cues_of
from ..assembling.timeline import Timeline
from ..model import ShotSound
from .cut import Cut, Music
from .formats import film_rate
from .stills import still_marker, still_metadata

METADATA_KEY = "storyboard"
DISSOLVE = "Cross Dissolve"  # the name editors give the effect
MARKER_COLOR = otio.schema.MarkerColor.YELLOW  # not red: Final Cut Pro X takes a red marker for a to-do
# What XML 1.0 cannot hold (control characters but tab and line breaks, lone surrogates, U+FFFE and U+FFFF)
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass
class Placed:
    """A piece in the cut, in film frames: on screen over [first, end); the visible item over
    [cut_in, cut_out) (a crossfade's other half is a handle); media frame `media_first` at `first`."""

    first: int
    end: int
    cut_in: int
    cut_out: int
    media_first: int
    available: int  # frames of the clip, at the film's rate
    fade_in: int = 0  # frames of a dissolve into this piece starting at cut_in
    fade_out: int = 0  # frames of a dissolve out of it ending at cut_out

    @property
    def source_in(self) -> int:
        return self.media_first + self.cut_in - self.first


def place(timeline: Timeline) -> list[Placed]:
    """Where each piece sits in the cut, on the film's frames."""
    fps = timeline.fps
    placed = []
    for index, (piece, source) in enumerate(zip(timeline.pieces, timeline.sources, strict=True)):
        first, end = timeline.frame_span(index)
        frames = math.ceil(source.duration * fps - 1e-6)  # the clip's, at the film's rate
        media_first = round((piece.trim_start + first / fps - timeline.starts[index]) * fps)
        media_first = max(0, min(media_first, frames - (end - first)))  # within the clip, to the frame
        available = max(frames, media_first + end - first)
        placed.append(Placed(first, end, first, end, media_first, available))
    for before, after, piece in zip(placed[:-1], placed[1:], timeline.pieces[1:], strict=True):
        if piece.transition == "crossfade" and before.end > after.first:
            cut = after.first + (before.end - after.first) // 2
            before.cut_out = after.cut_in = cut
        else:
            before.cut_out = after.cut_in = after.first
    for before, after, piece in zip(placed[:-1], placed[1:], timeline.pieces[1:], strict=True):
        if piece.transition == "fade" and piece.transition_duration > 0:
            half = round(piece.transition_duration / 2 * fps)
            before.fade_out = min(half, before.cut_out - before.cut_in)
            after.fade_in = min(half, after.cut_out - after.cut_in)
    return placed


def build(cut: Cut, urls: Sequence[str] | None = None, soundtrack_url: str | None = None,
          still_urls: dict[str, str] | None = None) -> otio.schema.Timeline:
    """The OTIO timeline of the cut: one video track, the clips' sound, the soundtrack. Media are
    referred to by `urls` (one per shot, in film order) and `soundtrack_url`; without them, by the
    files' absolute `file://` URLs (the clip store's, the footage's, the soundtrack's)."""
    timeline = cut.timeline
    if urls is None:
        urls = [piece.path.absolute().as_uri() for piece in timeline.pieces]
    if cut.music is not None and soundtrack_url is None:
        soundtrack_url = cut.music.settings.path.absolute().as_uri()
    if still_urls is None:
        still_urls = {shot_id: path.absolute().as_uri() for shot_id, path in cut.stills.items()}
    placed = place(timeline)
    fps = cut.fps
    board = cut.board
    result = otio.schema.Timeline(name=board.title or board.file.stem, metadata={METADATA_KEY: {
        "file": str(board.file), "title": board.title, "backend": cut.plan.backend, "film": str(board.output.path), "fps": fps,
        "width": cut.size[0], "height": cut.size[1],
    }})
    result.tracks.append(_track(cut, placed, urls, "V1", otio.schema.TrackKind.Video, still_urls))
    if any(source.has_audio for source in timeline.sources):
        result.tracks.append(_track(cut, placed, urls, "A1", otio.schema.TrackKind.Audio, still_urls))
    if cut.music is not None and soundtrack_url is not None:
        result.tracks.append(_music_track(cut.music, soundtrack_url, timeline.frames, fps))
    _writable(result)
    return result


def writable_text(text: str) -> str:
    """`text` as every format can hold it: what XML 1.0 forbids (U+0000, U+001B, U+FFFF...) as U+FFFD."""
    return NOT_XML.sub("\ufffd", text)


def writable_name(text: str) -> str:
    """A name as every format can hold it, on one line: an EDL's title, clip and locator names are lines."""
    return " ".join(writable_text(text).split())


def _writable(timeline: otio.schema.Timeline) -> None:
    """Every text of the timeline (names, marker comments, metadata) made writable by every adapter:
    the storyboard's words (prompts, dialogue, titles) may hold anything."""
    timeline.name = writable_name(timeline.name)
    _writable_metadata(timeline.metadata)
    for track in timeline.tracks:
        track.name = writable_name(track.name)
        for item in track:
            item.name = writable_name(item.name)
            _writable_metadata(item.metadata)
            for marker in getattr(item, "markers", []):
                marker.name = writable_name(marker.name)
                marker.comment = writable_text(marker.comment)
                _writable_metadata(marker.metadata)


def _writable_metadata(metadata: Any) -> None:
    """The strings of OTIO metadata (a dictionary or a list, nested; keys too) made writable, in place."""
    if hasattr(metadata, "keys"):
        for key in list(metadata.keys()):
            if isinstance(key, str) and writable_text(key) != key:
                metadata[writable_text(key)] = metadata.pop(key)
                key = writable_text(key)
            _writable_value(metadata, key)
    else:
        for index in range(len(metadata)):
            _writable_value(metadata, index)


def _writable_value(container: Any, key: Any) -> None:
    value = container[key]
    if isinstance(value, str):
        container[key] = writable_text(value)
    elif hasattr(value, "keys") or (hasattr(value, "__len__") and not isinstance(value, bytes)):
        _writable_metadata(value)


def _track(cut: Cut, placed: list[Placed], urls: Sequence[str], name: str, kind: str,
           still_urls: dict[str, str]) -> otio.schema.Track:
    """The shots on one track: pictures, with the dialogue as markers; or their sound (a gap for a
    clip without sound)."""
    fps = cut.fps
    timeline = cut.timeline
    audio = kind == otio.schema.TrackKind.Audio
    heard = [not audio or (source.has_audio and not piece.sound.mute)
             for source, piece in zip(timeline.sources, timeline.pieces, strict=True)]
    spots = [replace(spot) for spot in placed]
    if audio:
        _move_sound_joins(spots, timeline, fps)
    for index, piece in enumerate(timeline.pieces[1:], start=1):
        before, after = spots[index - 1], spots[index]
        if piece.transition == "crossfade" and before.end > after.first and heard[index - 1] != heard[index]:
            # sound fading in from (or out to) silence plays its whole overlap, as in the film
            before.cut_out = after.cut_in = after.first if heard[index] else before.end
    items: list[otio.core.Composable] = []
    for index, (spot, item, piece) in enumerate(zip(spots, cut.shots, timeline.pieces, strict=True)):
        if index:
            about = {"transition": piece.transition, "duration": piece.transition_duration,
                     "from": cut.shots[index - 1].id, "to": item.id}
            items += _join(piece.transition, spots[index - 1], spot, (heard[index - 1], heard[index]), fps, about)
        duration = _time(spot.cut_out - spot.cut_in, fps)
        if not heard[index]:
            items.append(otio.schema.Gap(duration=duration))
            continue
        clip = otio.schema.Clip(
            name=item.id,
            media_reference=otio.schema.ExternalReference(
                target_url=urls[index],
                available_range=otio.opentime.TimeRange(_time(0, fps), _time(spot.available, fps))),
            source_range=otio.opentime.TimeRange(_time(spot.source_in, fps), duration),
            # "track" also tells a clip's sound from its picture, which FCP 7 XML would otherwise write as one clip
            metadata={METADATA_KEY: _shot_metadata(cut, index) | {"track": "sound" if audio else "picture"}},
        )
        if item.id in still_urls:  # the approved still it opens on travels with it
            still = still_metadata(cut.plan, item, still_urls[item.id])
            clip.metadata[METADATA_KEY]["still"] = still
            if not audio:
                clip.markers.append(still_marker(still, _time(spot.source_in, fps)))
        if not audio:
            clip.markers.extend(_dialogue(cut, index, spot))
        items.append(clip)
    track = otio.schema.Track(name=name, kind=kind)
    track.extend(_merge_gaps(items))
    return track


def _move_sound_joins(spots: list[Placed], timeline: Timeline, fps: float) -> None:
    """The sound's joins where the J- and L-cuts put them: each moved by the outgoing piece's tail minus
    the incoming one's lead, the incoming piece's media with it (so it stays in sync with its picture)."""
    pieces = timeline.pieces
    for index in range(1, len(spots)):
        move = round((pieces[index - 1].sound.tail - pieces[index].sound.lead) * fps)
        if not move:
            continue
        before, after = spots[index - 1], spots[index]
        before.end += move
        before.cut_out += move
        after.first += move
        after.cut_in += move
        after.media_first += move
        before.available = max(before.available, before.source_in + before.cut_out - before.cut_in)


def _join(transition: str, before: Placed, after: Placed, heard: tuple[bool, bool], fps: float,
          about: dict[str, Any]) -> list[otio.core.Composable]:
    """What stands between two neighbours on a track: nothing (a cut), a dissolve, or a fade through
    black (silence); `heard`: whether each side has sound (always, for pictures)."""
    if transition == "crossfade" and before.end > after.first and any(heard):
        if all(heard):  # centred on the cut
            return [_dissolve(before.cut_out - after.first, before.end - after.cut_in, fps, about)]
        overlap = before.end - after.first  # to or from silence: the clip's own frames, as the film mixes them
        return [_dissolve(overlap, 0, fps, about) if heard[0] else _dissolve(0, overlap, fps, about)]
    if transition != "fade" or not (before.fade_out or after.fade_in):
        return []
    note = (f"fade: out to black over the last {before.fade_out} frames of {about['from']!r}, "
            f"then in from black over the first {after.fade_in} frames of {about['to']!r}; no time is added")
    joined: list[otio.core.Composable] = []
    if heard[0] and before.fade_out:
        joined.append(_dissolve(before.fade_out, 0, fps, about | {"part": "out", "note": note}))
    joined.append(otio.schema.Gap(duration=_time(0, fps)))  # black, or silence, between the two
    if heard[1] and after.fade_in:
        joined.append(_dissolve(0, after.fade_in, fps, about | {"part": "in", "note": note}))
    return joined if len(joined) > 1 else []


def _dissolve(in_offset: int, out_offset: int, fps: float, about: dict[str, Any]) -> otio.schema.Transition:
    return otio.schema.Transition(
        name=DISSOLVE, transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
        in_offset=_time(in_offset, fps), out_offset=_time(out_offset, fps), metadata={METADATA_KEY: about})


def _merge_gaps(items: list[otio.core.Composable]) -> list[otio.core.Composable]:
    """Neighbouring gaps as one; a transition between two gaps (silence to silence) left out."""
    kept: list[otio.core.Composable] = []
    for item in items:
        if isinstance(item, otio.schema.Gap) and kept and isinstance(kept[-1], otio.schema.Gap):
            kept[-1].source_range = otio.opentime.TimeRange(kept[-1].source_range.start_time,
                                                            kept[-1].duration() + item.duration())
            continue
        kept.append(item)
    return kept


def _music_track(music: Music, url: str, frames: int, fps: float) -> otio.schema.Track:
    """The soundtrack from the film's start: looped to the film's length, or once then silence."""
    track = otio.schema.Track(name="A2", kind=otio.schema.TrackKind.Audio)
    length = music.duration * fps
    available = otio.opentime.TimeRange(_time(0, fps), _time(math.ceil(length - 1e-6), fps))
    settings = music.settings
    about = {"soundtrack": {"path": str(settings.path), "volume": settings.volume, "fade_in": settings.fade_in,
                            "fade_out": settings.fade_out, "loop": settings.loop, "duck": settings.duck}}
    loop = 0
    while True:
        start, end = round(loop * length), min(round((loop + 1) * length), frames)
        if start >= frames or end <= start:
            break
        track.append(otio.schema.Clip(
            name=settings.path.name,
            media_reference=otio.schema.ExternalReference(target_url=url, available_range=available),
            source_range=otio.opentime.TimeRange(_time(0, fps), _time(end - start, fps)),
            metadata={METADATA_KEY: about | {"loop": loop + 1}},
        ))
        loop += 1
        if not settings.loop:
            break
    played = track.duration().to_frames() if len(track) else 0
    if played < frames:
        track.append(otio.schema.Gap(duration=_time(frames - played, fps)))
    return track


def _dialogue(cut: Cut, index: int, spot: Placed) -> list[otio.schema.Marker]:
    """The shot's dialogue lines as markers on its clip: named by the speaker, the line as the
    comment, over the frames its subtitle shows (`subtitles.cues_of`), in the clip's media time. A
    line said under a crossfade's first half (before the clip's visible part begins) is marked at
    the clip's first visible frame, so that every line shows on the cut; `at` keeps its own time."""
    shot = cut.shots[index].shot
    if not shot.dialogue:
        return []
    timeline, fps = cut.timeline, cut.fps
    cues = cues_of([shot], [timeline.starts[index]], [timeline.lengths[index]], fps)  # in the line's order
    markers = []
    for cue, line in zip(cues, shot.dialogue, strict=True):
        first = min(max(round(cue.start * fps), spot.cut_in), spot.cut_out - 1)
        end = min(max(round(cue.end * fps), first + 1), spot.cut_out)
        markers.append(otio.schema.Marker(
            name=line.who, comment=line.say, color=MARKER_COLOR,
            marked_range=otio.opentime.TimeRange(_time(spot.media_first + first - spot.first, fps), _time(end - first, fps)),
            metadata={METADATA_KEY: {"shot": shot.id, "who": line.who, "say": line.say, "at": line.at}},
        ))
    return markers


def _shot_metadata(cut: Cut, index: int) -> dict[str, Any]:
    item = cut.shots[index]
    piece = cut.timeline.pieces[index]
    about: dict[str, Any] = {
        "shot": item.id,
        "position": index + 1,  # in the film
        "hash": item.hash,
        "trim": {"start": piece.trim_start, "end": piece.trim_end},
        "fit": piece.fit,
    }
    if piece.sound != ShotSound():
        about["sound"] = {"lead": piece.sound.lead, "tail": piece.sound.tail, "volume": piece.sound.volume,
                          "mute": piece.sound.mute}
    if item.footage is not None:
        return about | {"footage": str(item.footage)}
    return about | {
        "prompt": item.body.get("prompt"),
        "seed": item.setting("seed"),
        "take": item.take,
        "takes": item.takes,
        "model": item.shot.model,
        "held": item.held,
        "request": item.body,
    }


def _time(frames: int, fps: float) -> otio.opentime.RationalTime:
    """`frames` of the film, at its rate (the exact NTSC rate for 29.97 and the like)."""
    return otio.opentime.RationalTime(frames, film_rate(fps))
