"""The film's sound: `Mixer` renders the mix chunk by chunk, sample-exact, as PCM that the final
mux pipes into ffmpeg and encodes once. Each clip's sound is placed by its own timestamps, relative to the
clip's start, as its picture is; edges
get 4 ms ramps so cuts do not click; clips without sound, or with sound shorter than their
picture, get silence. The soundtrack plays under it, looped or cut, faded, ducked."""
from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Generator, Iterator
from pathlib import Path

import numpy as np

from ..errors import AssemblyError, MediaError
from ..media import SoundReader, probe, start_ffmpeg
from .timeline import Soundtrack, Timeline

SAMPLE_RATE = 48_000
CHANNELS = 2
PCM_FORMAT = ["-f", "f32le", "-ar", str(SAMPLE_RATE), "-ac", str(CHANNELS)]  # ffmpeg input options for `Mixer.pcm`
EDGE_RAMP = 0.004  # seconds: a fade this short is inaudible but removes the click of a hard cut
CHUNK = SAMPLE_RATE // 2  # samples mixed at a time
DUCK_THRESHOLD = 0.01  # clip sound louder than this (RMS, about -40 dBFS) ducks the music
DUCK_BLOCK = SAMPLE_RATE // 50  # 20 ms blocks for the ducking envelope
DUCK_SMOOTHING = 0.15  # per block: how fast the ducking gain follows (about 130 ms)


class Mixer:
    """The film's sound, rendered in order, chunk by chunk: clip sound plus the soundtrack."""

    def __init__(self, timeline: Timeline, music: Soundtrack | None):
        self.timeline = timeline
        self.music = music
        self.total = round(timeline.duration * SAMPLE_RATE)
        self._clip_sound: dict[int, SoundReader] = {}
        self._duck_gain = 1.0

    def pcm(self) -> Generator[bytes, None, None]:
        """The mix as 32-bit float little-endian interleaved PCM (`PCM_FORMAT`), chunk by chunk, in order: not
        clipped, whatever its level (the final mux limits its peaks)."""
        if self.music is not None:
            check_soundtrack(self.music.path)
        try:
            with self._music_stream() as music:
                for first in range(0, self.total, CHUNK):
                    count = min(CHUNK, self.total - first)
                    mixed = self._clips(first, count)
                    if music is not None:
                        mixed += self._soundtrack(music, first, count, mixed)
                    yield mixed.astype("<f4").tobytes()
        finally:
            for stream in self._clip_sound.values():
                stream.close()
            self._clip_sound.clear()

    def _clips(self, first: int, count: int) -> np.ndarray:
        mixed = np.zeros((count, CHANNELS), dtype=np.float32)
        timeline = self.timeline
        for index, (start, length) in enumerate(zip(timeline.starts, timeline.lengths, strict=True)):
            begin = round(start * SAMPLE_RATE)
            end = begin + round(length * SAMPLE_RATE)
            if end <= first:
                if index in self._clip_sound:
                    self._clip_sound.pop(index).close()  # passed
                continue
            if begin >= first + count:
                break
            stream = self._sound_of(index)
            lo, hi = max(first, begin), min(first + count, end)
            offsets = np.arange(lo - begin, hi - begin)
            part = stream.read(lo - begin, hi - lo)
            gain = self._gain(index, offsets, end - begin)
            if stream.ended_at is not None:  # the sound is shorter than the picture: fade it out where it stops
                gain *= np.clip((stream.ended_at - offsets) / (EDGE_RAMP * SAMPLE_RATE), 0, 1)
            mixed[lo - first:hi - first] += part * gain[:, None]
        return mixed

    def _gain(self, index: int, offsets: np.ndarray, length: int) -> np.ndarray:
        """Ramps of a piece's sound: crossfades and fades with the picture, tiny ramps at every other edge."""
        pieces = self.timeline.pieces
        piece = pieces[index]
        following = pieces[index + 1] if index + 1 < len(pieces) else None

        def ramp_in(samples: int) -> np.ndarray:
            return np.clip(offsets / max(samples, 1), 0, 1)

        def ramp_out(samples: int) -> np.ndarray:
            return np.clip((length - offsets) / max(samples, 1), 0, 1)

        edge = round(EDGE_RAMP * SAMPLE_RATE)
        gain = np.ones(len(offsets), dtype=np.float32)
        if index and piece.transition == "crossfade":
            gain *= ramp_in(max(edge, round(piece.transition_duration * SAMPLE_RATE)))
        elif index and piece.transition == "fade":
            gain *= ramp_in(max(edge, round(piece.transition_duration / 2 * SAMPLE_RATE)))
        else:
            gain *= ramp_in(edge)
        if following is not None and following.transition == "crossfade":
            gain *= ramp_out(max(edge, round(following.transition_duration * SAMPLE_RATE)))
        elif following is not None and following.transition == "fade":
            gain *= ramp_out(max(edge, round(following.transition_duration / 2 * SAMPLE_RATE)))
        else:
            gain *= ramp_out(edge)
        return gain

    def _sound_of(self, index: int) -> SoundReader:
        """The piece's sound from its trim start, at the film's rate, placed by its timestamps, read as it is needed."""
        if index not in self._clip_sound:
            piece, source = self.timeline.pieces[index], self.timeline.sources[index]
            self._clip_sound[index] = SoundReader(source.path if source.has_audio else None,
                                                  source.start + piece.trim_start, SAMPLE_RATE, CHANNELS)
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

    def _soundtrack(self, music: _Stream, first: int, count: int, clips: np.ndarray) -> np.ndarray:
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
        if self.music.duck is not None:
            gain *= self._ducking(clips, self.music.duck)
        return samples * gain[:, None]

    def _ducking(self, clips: np.ndarray, duck: float) -> np.ndarray:
        """Per-sample music gain: `duck` where the clips have sound, 1 elsewhere, smoothed."""
        gains = np.empty(len(clips), dtype=np.float32)
        for block in range(0, len(clips), DUCK_BLOCK):
            part = clips[block:block + DUCK_BLOCK]
            loud = float(np.sqrt(np.mean(part**2))) > DUCK_THRESHOLD if len(part) else False
            target = duck if loud else 1.0
            previous = self._duck_gain
            self._duck_gain += (target - self._duck_gain) * DUCK_SMOOTHING
            gains[block:block + DUCK_BLOCK] = np.linspace(previous, self._duck_gain, len(part), dtype=np.float32)
        return gains


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
