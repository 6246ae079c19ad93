"""The film's picture cut into segments that can be encoded apart and joined by a stream copy.

A segment is a run of film frames that shows the same pieces: one clip's body (with the ramps
of a fade through black at its ends), or the overlap of a crossfade. What a segment shows is
determined by a few facts, none of them where it sits in the film: each clip (its file), the
time in the clip its first frame shows, its number of frames, fit, fades, the subtitles burned
into it, and the film's frame size, rate and encoder settings. Those facts are its key: an edit to one shot changes the keys
of the segments that show it, and every other segment is found again (`SegmentStore`).
"""
from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from .captions import STYLE, Caption
from .timeline import FilmSettings, Timeline

VERSION = 2  # bump when the way a segment is encoded changes
DECIMALS = 6  # times in keys rounded to the microsecond: float noise must not change a key


@dataclass(frozen=True)
class Layer:
    """One clip's part in a segment. Times are in seconds, from the segment's first frame."""

    piece: int
    origin: float  # time in the clip (from its start, trims included) that the segment's first frame shows
    fade_in: tuple[float, float] | None = None  # (start, duration) of a ramp up from black
    fade_out: tuple[float, float] | None = None  # (start, duration) of a ramp down to black


@dataclass(frozen=True)
class Segment:
    first: int  # film frames [first, end)
    end: int
    layers: tuple[Layer, ...]  # one, or two in a crossfade (the outgoing piece first)
    crossfade: float = 0.0  # the crossfade's length in seconds, when there are two layers
    crossfade_at: float = 0.0  # where the crossfade starts, in seconds from the first frame (<= 0: between frames)
    captions: tuple[Caption, ...] = ()  # burned subtitles on its frames, in frames from its first

    @property
    def frames(self) -> int:
        return self.end - self.first


def segments_of(timeline: Timeline, captions: Sequence[Caption] = ()) -> list[Segment]:
    """The film's frames, in order, cut wherever the set of pieces on screen changes; with the
    subtitles burned into each (`captions`, in film frames)."""
    spans = [timeline.frame_span(index) for index in range(len(timeline.pieces))]
    cuts = sorted({frame for span in spans for frame in span} | {0, timeline.frames})
    segments = []
    for first, end in itertools.pairwise(cuts):
        shown = tuple(index for index, (start, stop) in enumerate(spans) if start <= first < stop)
        if first < end and shown:
            on = tuple(replace(caption, first=max(0, caption.first - first), end=min(end, caption.end) - first)
                       for caption in captions if caption.first < end and caption.end > first)
            segments.append(replace(_segment(timeline, first, end, shown), captions=on))
    return segments


def _segment(timeline: Timeline, first: int, end: int, shown: tuple[int, ...]) -> Segment:
    at = first / timeline.fps
    seconds = (end - first) / timeline.fps
    layers = tuple(Layer(index, timeline.pieces[index].trim_start + at - timeline.starts[index],
                         *(_within(ramp, seconds) for ramp in _fades(timeline, index, at)))
                   for index in shown)
    incoming = timeline.pieces[shown[-1]]
    if len(shown) > 1 and incoming.transition == "crossfade":
        return Segment(first, end, layers, incoming.transition_duration, timeline.starts[shown[-1]] - at)
    return Segment(first, end, layers)


def _fades(timeline: Timeline, index: int, at: float) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    """The piece's fades through black (as Timeline draws them), in seconds from `at`."""
    piece, start, length = timeline.pieces[index], timeline.starts[index], timeline.lengths[index]
    fade_in = fade_out = None
    if index and piece.transition == "fade" and piece.transition_duration > 0:
        fade_in = (start - at, piece.transition_duration / 2)
    following = timeline.pieces[index + 1] if index + 1 < len(timeline.pieces) else None
    if following is not None and following.transition == "fade" and following.transition_duration > 0:
        ramp = following.transition_duration / 2
        fade_out = (start + length - ramp - at, ramp)
    return fade_in, fade_out


def _within(ramp: tuple[float, float] | None, seconds: float) -> tuple[float, float] | None:
    """The ramp if any of it falls within the segment's `seconds`."""
    return ramp if ramp is not None and ramp[0] < seconds and ramp[0] + ramp[1] > 0 else None


def segment_key(segment: Segment, timeline: Timeline, settings: FilmSettings, encoder: str) -> str:
    """What determines the segment's frames and their encoding, `encoder` naming the ffmpeg build (another
    build's x264 may write other parameter sets, and segments are joined only with their own); never where
    the segment sits in the film."""
    layers = []
    for layer in segment.layers:
        piece, source = timeline.pieces[layer.piece], timeline.sources[layer.piece]
        layers.append([*_file(source.path), round(layer.origin, DECIMALS), piece.fit,
                       _rounded(layer.fade_in), _rounded(layer.fade_out)])
    facts = {"version": VERSION, "encoder": encoder, "frames": segment.frames, "layers": layers,
             "crossfade": round(segment.crossfade, DECIMALS), "crossfade_at": round(segment.crossfade_at, DECIMALS),
             "size": list(settings.size), "fps": settings.fps, "crf": settings.crf, "preset": settings.preset,
             "keyframe_interval": settings.keyframe_interval,
             "captions": [[caption.text, caption.first, caption.end] for caption in segment.captions],
             "caption_style": STYLE if segment.captions else None}
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:32]


def _rounded(ramp: tuple[float, float] | None) -> list[float] | None:
    return None if ramp is None else [round(value, DECIMALS) for value in ramp]


def _file(path: Path) -> list[object]:
    facts = os.stat(path)
    return [str(path.resolve()), facts.st_size, facts.st_mtime_ns]


def describe(segment: Segment, timeline: Timeline) -> str:
    """'shot 'b'' or 'crossfade 'a' → 'b'', for progress and messages."""
    names = [timeline.pieces[layer.piece].shot or timeline.pieces[layer.piece].path.name for layer in segment.layers]
    if len(names) > 1:
        return f"crossfade {names[0]!r} → {names[1]!r}"
    return f"shot {names[0]!r}"
