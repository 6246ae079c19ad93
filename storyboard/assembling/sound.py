"""The film's sound: `Mixer` renders the mix chunk by chunk, sample-exact, as PCM that the final
mux pipes into ffmpeg and encodes once. Each clip's sound is placed by its own timestamps, relative to the
clip's start, as its picture is, over the span `shot_sound` gives it (J- and L-cuts move it, in
sync); edges get 4 ms ramps so cuts do not click; clips without sound, or with sound shorter than
their span, get silence. The soundtrack plays under it, looped or cut, faded, ducked (`ducking`)."""
from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Generator, Iterator
from pathlib import Path

import numpy as np

from ..errors import AssemblyError, MediaError
from ..media import SoundReader, probe, start_ffmpeg
from .ducking import Ducker
from .shot_sound import EDGE_RAMP, sound_spans
from .timeline import Soundtrack, Timeline

SAMPLE_RATE = 48_000
CHANNELS = 2
PCM_FORMAT = ["-f", "f32le", "-ar", str(SAMPLE_RATE), "-ac", str(CHANNELS)]  # ffmpeg input options for `Mixer.pcm`
CHUNK = SAMPLE_RATE // 2  # samples mixed at a time


class Mixer:
    """The film's sound, rendered in order, chunk by chunk: clip sound plus the soundtrack. Made before
    the picture, so that a shot's sound that cannot be placed (`shot_sound`) fails the assembly at once.
    `match_loudness`: each shot's sound brought to the loudness of the others (with `normalize`), their
    measurements kept in the folder `kept` (None: not kept)."""

    def __init__(self, timeline: Timeline, music: Soundtrack | None, match_loudness: bool = False,
                 kept: Path | None = None):
        self.timeline = timeline
        self.music = music
        self.total = round(timeline.duration * SAMPLE_RATE)
        self.spans = sound_spans(timeline, SAMPLE_RATE, match_loudness, kept)
        self._clip_sound: dict[int, SoundReader] = {}
        self.peak = 0.0  # the largest sample of the last mix rendered, before the limiter

    def pcm(self) -> Generator[bytes, None, None]:
        """The mix as 32-bit float little-endian interleaved PCM (`PCM_FORMAT`), chunk by chunk, in order: not
        clipped, whatever its level (the final mux limits its peaks)."""
        if self.music is not None:
            check_soundtrack(self.music.path)
        ducker = Ducker(self.music.duck, SAMPLE_RATE) if self.music is not None and self.music.duck is not None else None
        self.peak = 0.0
        try:
            with self._music_stream() as music:
                following: np.ndarray | None = self._clips(0, min(CHUNK, self.total))
                for first in range(0, self.total, CHUNK):
                    count = min(CHUNK, self.total - first)
                    assert following is not None
                    mixed = following
                    following = self._clips(first + count, min(CHUNK, self.total - first - count)) \
                        if first + count < self.total else None
                    if music is not None:
                        ducking = ducker.gains(mixed, following) if ducker is not None else None
                        mixed = mixed + self._soundtrack(music, first, count, ducking)
                    self.peak = max(self.peak, float(np.abs(mixed).max(initial=0.0)))
                    yield mixed.astype("<f4").tobytes()
        finally:
            for stream in self._clip_sound.values():
                stream.close()
            self._clip_sound.clear()

    def _clips(self, first: int, count: int) -> np.ndarray:
        mixed = np.zeros((count, CHANNELS), dtype=np.float32)
        for index, span in enumerate(self.spans):
            if span.end <= first:
                if index in self._clip_sound:
                    self._clip_sound.pop(index).close()  # passed
                continue
            if span.begin >= first + count or span.gain == 0:
                continue
            stream = self._sound_of(index)
            lo, hi = max(first, span.begin), min(first + count, span.end)
            offsets = np.arange(lo - span.begin, hi - span.begin)
            part = stream.read(lo - span.begin, hi - lo)
            length = span.end - span.begin
            gain = span.gain * np.clip(offsets / max(span.ramp_in, 1), 0, 1) \
                * np.clip((length - offsets) / max(span.ramp_out, 1), 0, 1)
            if stream.ended_at is not None:  # the sound is shorter than the span: fade it out where it stops
                gain *= np.clip((stream.ended_at - offsets) / (EDGE_RAMP * SAMPLE_RATE), 0, 1)
            mixed[lo - first:hi - first] += part * gain.astype(np.float32)[:, None]
        return mixed

    def _sound_of(self, index: int) -> SoundReader:
        """The piece's sound from its span's start, at the film's rate, placed by its timestamps, read as it is needed."""
        if index not in self._clip_sound:
            source = self.timeline.sources[index]
            self._clip_sound[index] = SoundReader(source.path if source.has_audio else None, self.spans[index].origin,
                                                  SAMPLE_RATE, CHANNELS)
        return self._clip_sound[index]

    @contextlib.contextmanager
    def _music_stream(self) -> Iterator[_Stream | None]:
        if self.music is None:
            yield None
            return
        loop = ["-stream_loop", "-1"] if self.music.loop else []
        stream = _Stream([*loop, "-i", str(self.music.path), "-vn", "-ac", str(CHANNELS), "-ar", str(SAMPLE_RATE),
                          "-f", "f32le", "-"])
        try:
            yield stream
        finally:
            stream.close()

    def _soundtrack(self, music: _Stream, first: int, count: int, ducking: np.ndarray | None) -> np.ndarray:
        assert self.music is not None
        samples = music.read(first, count)
        if music.ended_at is not None:  # music shorter than the film, not looped: no click where it stops
            samples *= np.clip((music.ended_at - np.arange(first, first + count)) / (EDGE_RAMP * SAMPLE_RATE), 0, 1)[:, None]
        positions = (np.arange(first, first + count) / SAMPLE_RATE).astype(np.float32)
        gain = np.full(count, self.music.volume, dtype=np.float32)
        if self.music.fade_in > 0:
            gain *= np.clip(positions / self.music.fade_in, 0, 1)
        if self.music.fade_out > 0:
            gain *= np.clip((self.total / SAMPLE_RATE - positions) / self.music.fade_out, 0, 1)
        if ducking is not None:
            gain *= ducking
        return samples * gain[:, None]


class _Stream:
    """The soundtrack: decoded samples from an ffmpeg pipe (looped by ffmpeg), read forward in order; silence after the end."""

    def __init__(self, arguments: list[str]):
        self.position = 0
        self.ended_at: int | None = None
        self._process: subprocess.Popen[bytes] | None = start_ffmpeg(arguments, stdout=subprocess.PIPE,
                                                                     stderr=subprocess.DEVNULL)

    def read(self, offset: int, count: int) -> np.ndarray:
        samples = np.zeros((count, CHANNELS), dtype=np.float32)
        if offset > self.position:  # asked further on: skip what lies between
            self.read(self.position, offset - self.position)
        if self._process is None or self._process.stdout is None or self.ended_at is not None:
            self.position = offset + count
            return samples
        wanted = count * CHANNELS * 4
        raw = bytearray()
        while len(raw) < wanted:
            more = self._process.stdout.read(wanted - len(raw))
            if not more:
                self.ended_at = offset + len(raw) // (CHANNELS * 4)
                break
            raw += more
        got = np.frombuffer(bytes(raw[: len(raw) - len(raw) % (CHANNELS * 4)]), dtype="<f4").reshape(-1, CHANNELS)
        samples[: len(got)] = got
        self.position = offset + count
        return samples

    def close(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None


def check_soundtrack(path: Path) -> None:
    """The soundtrack has sound that lasts: else a clear error now, rather than silence in the film."""
    try:
        info = probe(path)
    except MediaError:
        raise AssemblyError(f"the soundtrack {path.name} cannot be read") from None
    if not info.has_audio:
        raise AssemblyError(f"the soundtrack {path.name} has no sound")
    if not (info.duration or 0) > 0:
        raise AssemblyError(f"the soundtrack {path.name} is empty")
