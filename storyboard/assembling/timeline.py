"""What the film is made of (pieces, soundtrack, settings), what each clip holds, and where
every piece sits in the film."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import AssemblyError, MediaError
from ..media import MediaInfo, VideoStream, check_intact, probe
from ..model import ShotSound


@dataclass(frozen=True)
class Piece:
    """One shot's footage in the film."""

    path: Path
    trim_start: float = 0.0
    trim_end: float | None = None  # time in the clip where the piece ends; None: the clip's end
    transition: str = "cut"  # how this piece begins after the previous one: cut | crossfade | fade
    transition_duration: float = 0.0
    fit: str = "contain"  # contain: letterbox; cover: fill and crop
    shot: str = ""  # the shot's id, to name it in messages
    sound: ShotSound = field(default_factory=ShotSound)  # J/L cut, gain, mute of the piece's own sound


@dataclass(frozen=True)
class Soundtrack:
    path: Path
    volume: float = 1.0
    fade_in: float = 0.0
    fade_out: float = 0.0
    loop: bool = True  # repeat when shorter than the film (else silence after its end)
    duck: float | None = None  # gain for the music while the clips have sound, e.g. 0.3


@dataclass(frozen=True)
class FilmSettings:
    size: tuple[int, int]
    fps: float
    crf: int = 20
    preset: str = "veryfast"
    music: Soundtrack | None = None
    normalize: bool = False  # EBU R128 loudness normalisation of the final mix (-16 LUFS)
    fast_path: bool = True  # allow copying video streams when the clips allow it
    keyframe_interval: float = 2.0  # seconds between the film's keyframes, at most (so editors can seek)


@dataclass(frozen=True)
class Source:
    """A clip as the assembly sees it. Its time starts at its earliest stream's first timestamp
    (trims count from there) and ends where its picture ends."""

    path: Path
    info: MediaInfo

    @classmethod
    def of(cls, piece: Piece) -> Source:
        """The piece's clip, read; one that cannot be used whole is an AssemblyError naming the shot and the file."""
        try:
            info = probe(piece.path)
            check_intact(info)  # a clip cut short would make a film whose picture stops while its sound runs on
            info.picture  # noqa: B018 - raises for a file without one
        except MediaError as error:
            raise AssemblyError(f"shot {piece.shot!r} ({piece.path}): {error}" if piece.shot else str(error)) from None
        return cls(piece.path, info)

    @property
    def video(self) -> VideoStream:
        return self.info.picture

    @property
    def has_audio(self) -> bool:
        return self.info.has_audio

    @property
    def start(self) -> float:
        return self.info.start

    @property
    def size(self) -> tuple[int, int]:
        """Upright, as it is shown, in square pixels."""
        return self.video.display_size

    @property
    def fps(self) -> float:
        return self.video.fps

    @property
    def duration(self) -> float:
        """From the clip's start to the end of its picture (timestamps, not a frame count; not a longer sound track)."""
        return self.video.end - self.start


@dataclass
class Timeline:
    """Where each piece sits in the film, in seconds and in output samples."""

    pieces: list[Piece]
    sources: list[Source]
    fps: float
    starts: list[float] = field(default_factory=list)
    lengths: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        at = 0.0
        for index, (piece, source) in enumerate(zip(self.pieces, self.sources, strict=True)):
            end = source.duration if piece.trim_end is None else min(piece.trim_end, source.duration)
            length = end - piece.trim_start
            if length <= 0:
                raise AssemblyError(f"{source.path.name}: trim leaves nothing ({piece.trim_start:g} s to {end:g} s)")
            if index and piece.transition == "crossfade":
                overlap = piece.transition_duration
                if overlap > min(length, self.lengths[-1]) + 1e-9:
                    raise AssemblyError(f"a {overlap:g} s crossfade is longer than the shots it joins")
                at -= overlap
            self.starts.append(at)
            self.lengths.append(length)
            at += length

    @property
    def duration(self) -> float:
        """Exact to the frame: the sum of the pieces minus the crossfade overlaps, on the frame grid."""
        return self.frames / self.fps

    @property
    def frames(self) -> int:
        return round((self.starts[-1] + self.lengths[-1]) * self.fps)

    def frame_span(self, index: int) -> tuple[int, int]:
        """The film frames [first, end) on which piece `index` is on screen: frame k is shown at
        t = k / fps and shows the pieces whose [start, start + length) holds t (see on_screen)."""
        start, end = self.starts[index], self.starts[index] + self.lengths[index]
        return min(self._first_frame_from(start), self.frames), min(self._first_frame_from(end), self.frames)

    def _first_frame_from(self, t: float) -> int:
        """The first film frame k with k / fps >= t, by the comparison on_screen makes."""
        k = max(0, math.ceil(t * self.fps - 1e-6))
        while k > 0 and (k - 1) / self.fps >= t:
            k -= 1
        while k / self.fps < t:
            k += 1
        return k

    def on_screen(self, t: float) -> list[tuple[int, float]]:
        """(piece index, opacity) of what shows at film time t."""
        shown = []
        for index, (start, length) in enumerate(zip(self.starts, self.lengths, strict=True)):
            if not start <= t < start + length:
                continue
            shown.append((index, self._opacity(index, t - start)))
        return shown

    def _opacity(self, index: int, into: float) -> float:
        """Fades of the picture: through black at `fade` joins; a crossfade's incoming piece over its overlap."""
        opacity = 1.0
        piece = self.pieces[index]
        if index and piece.transition in ("crossfade", "fade") and piece.transition_duration > 0:
            ramp = piece.transition_duration if piece.transition == "crossfade" else piece.transition_duration / 2
            opacity = min(opacity, into / ramp)
        following = self.pieces[index + 1] if index + 1 < len(self.pieces) else None
        if following is not None and following.transition == "fade" and following.transition_duration > 0:
            opacity = min(opacity, (self.lengths[index] - into) / (following.transition_duration / 2))
        return max(0.0, min(1.0, opacity))
