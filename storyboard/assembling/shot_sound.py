"""Where each shot's own sound plays in the film, and how loud: its span in samples with its ramps,
moved by the J- and L-cuts of `sound:` (a join's sound moves by the outgoing shot's `tail` minus the
incoming shot's `lead`, while its picture stays), its gain (`volume`, `mute`, and with `normalize`
the gain that matches its loudness to the other shots', so that no cut jumps in level).

The sound stays in sync with the picture: a lead plays the clip's sound from before the part its
picture uses, a tail from after it, so the clip must have that much sound there (an error otherwise).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..errors import AssemblyError
from .loudness import loudness
from .timeline import Timeline

EDGE_RAMP = 0.004  # seconds: a fade this short is inaudible but removes the click of a hard cut
SLACK = 0.002  # seconds of sound a lead or tail may lack (timestamps, an encoder's priming)
MAX_BOOST = 24.0  # dB: the most a quiet shot is raised to match the others (further would raise its noise)


@dataclass(frozen=True)
class SoundSpan:
    """A piece's sound in the film: samples [begin, end); its clip's sound from `skip` samples before
    the piece's picture start (a lead) or after it; ramps in samples; a gain."""

    begin: int
    end: int
    origin: float  # seconds, in the clip's own timestamps, of the sound heard at `begin`
    ramp_in: int
    ramp_out: int
    gain: float


def sound_spans(timeline: Timeline, rate: int, match_loudness: bool = False, kept: Path | None = None) -> list[SoundSpan]:
    """Each piece's sound span. Raises AssemblyError for a lead or tail longer than its neighbour or
    than the sound its clip has beyond the part its picture uses. `kept`: where the shots' loudness
    measurements are kept between assemblies (`loudness`)."""
    pieces, sources = timeline.pieces, timeline.sources
    moves = [0.0] + [pieces[index - 1].sound.tail - pieces[index].sound.lead for index in range(1, len(pieces))] + [0.0]
    _check(timeline, moves)
    gains = _matching_gains(timeline, kept) if match_loudness else [1.0] * len(pieces)
    edge = round(EDGE_RAMP * rate)
    spans = []
    for index, (piece, source) in enumerate(zip(pieces, sources, strict=True)):
        begin_at = timeline.starts[index] + moves[index]
        end_at = timeline.starts[index] + timeline.lengths[index] + moves[index + 1]
        begin = round(begin_at * rate)
        following = pieces[index + 1] if index + 1 < len(pieces) else None
        gain = 0.0 if piece.sound.mute else piece.sound.volume * gains[index]
        spans.append(SoundSpan(
            begin=begin, end=round(end_at * rate),
            origin=source.start + piece.trim_start + moves[index],
            ramp_in=max(edge, _ramp(piece.transition, piece.transition_duration, rate) if index else 0),
            ramp_out=max(edge, _ramp(following.transition, following.transition_duration, rate) if following else 0),
            gain=gain))
    return spans


def _ramp(transition: str, seconds: float, rate: int) -> int:
    """Samples of a join's sound ramp: a crossfade's whole overlap; half a fade through black."""
    return round({"crossfade": seconds, "fade": seconds / 2}.get(transition, 0.0) * rate)


def _check(timeline: Timeline, moves: list[float]) -> None:
    pieces, sources = timeline.pieces, timeline.sources
    for index, piece in enumerate(pieces):
        name = f"shot {piece.shot!r}" if piece.shot else piece.path.name
        lead, tail = piece.sound.lead, piece.sound.tail
        if lead > 0 and index and lead > timeline.lengths[index - 1] + 1e-9:
            raise AssemblyError(f"{name}: sound.lead ({lead:g} s) is longer than the shot before it "
                                f"({timeline.lengths[index - 1]:.3g} s)")
        if tail > 0 and index + 1 < len(pieces) and tail > timeline.lengths[index + 1] + 1e-9:
            raise AssemblyError(f"{name}: sound.tail ({tail:g} s) is longer than the shot after it "
                                f"({timeline.lengths[index + 1]:.3g} s)")
        before = -moves[index] if index else 0.0  # seconds of sound wanted before the picture's part
        after = moves[index + 1] if index + 1 < len(pieces) else 0.0
        if before <= 0 and after <= 0:
            continue
        audio = sources[index].info.audio
        if audio is None:
            raise AssemblyError(f"{name}: sound.{'lead' if before > 0 else 'tail'} needs the clip's sound, and "
                                f"{piece.path.name} has none")
        clip_start = sources[index].start
        has_before = piece.trim_start - (audio.start - clip_start)
        has_after = (audio.end - clip_start) - (piece.trim_start + timeline.lengths[index])
        if before > has_before + SLACK:
            raise AssemblyError(f"{name}: sound.lead ({before:g} s) needs that much of the clip's sound before the "
                                f"part the film shows, and {piece.path.name} has {max(0.0, has_before):.3g} s there "
                                "(start the shot later into its clip with trim.start)")
        if after > has_after + SLACK:
            raise AssemblyError(f"{name}: sound.tail ({after:g} s) needs that much of the clip's sound after the "
                                f"part the film shows, and {piece.path.name} has {max(0.0, has_after):.3g} s there "
                                "(end the shot earlier in its clip with trim.end)")


def _matching_gains(timeline: Timeline, kept: Path | None) -> list[float]:
    """Linear gains that bring each shot's loudness (its part in the film, EBU R128 integrated) to the
    median of the shots': the cuts do not jump in level, and the film is then normalised as a whole."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        measured = list(pool.map(lambda index: _loudness(timeline, index, kept), range(len(timeline.pieces))))
    heard = sorted(value for value in measured if value is not None)
    if not heard:
        return [1.0] * len(measured)
    middle = heard[len(heard) // 2] if len(heard) % 2 else (heard[len(heard) // 2 - 1] + heard[len(heard) // 2]) / 2
    return [1.0 if value is None else 10 ** (min(MAX_BOOST, middle - value) / 20) for value in measured]


def _loudness(timeline: Timeline, index: int, kept: Path | None) -> float | None:
    """The piece's integrated loudness in LUFS over the part of its clip the film shows; None when it
    has no sound, or none above `loudness.SILENT`."""
    piece, source = timeline.pieces[index], timeline.sources[index]
    if not source.has_audio or piece.sound.mute:
        return None
    return loudness(source.path, piece.trim_start, timeline.lengths[index], kept)
