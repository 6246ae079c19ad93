"""A clip's sound, decoded in-process with PyAV and placed by its timestamps.

`SoundReader` gives samples at one rate and channel layout, numbered from an origin in the
clip's time: a sound track that starts after the picture keeps its place (silence before it),
one that starts before it is not cut, and a clip whose timestamps begin at +10 s is read the
same as one beginning at 0. An encoder's priming samples are dropped by the decoder.

Sound of more channels than wanted (5.1, 7.1) is folded down to stereo by `downmix_matrix`: every
channel kept, the LFE too, at the ITU-R BS.775 levels, and scaled so that no output channel can
exceed full scale however loud its inputs are.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MediaError

RESYNC = 0.02  # seconds: a frame whose timestamp strays further from the running count is placed by its timestamp
SEEK_AHEAD = 2.0  # seconds: reading from further into the sound than this seeks instead of decoding the way there


class SoundReader:
    """Samples from `origin` (seconds, in the file's own timestamps) onward, read forward in order.
    `ended_at` is the sample where the sound stopped, once it has (None before); after the end
    and with `path=None`: silence."""

    def __init__(self, path: Path | None, origin: float, rate: int, channels: int):
        self.rate, self.channels = rate, channels
        self.origin = origin
        self.ended_at: int | None = None if path is not None else 0
        self._buffer = np.zeros((0, channels), dtype=np.float32)
        self._buffer_at = 0  # sample number of the buffer's first sample
        self._container: Any = None
        self._frames: Any = None
        self._resampler: Any = None
        self._downmix: np.ndarray | None = None  # (channels in the file, 2) when it has more than wanted
        if path is not None:
            self._open(path)

    def read(self, offset: int, count: int) -> np.ndarray:
        """`count` samples from sample `offset` (not before the last read's end), zeros where there is no sound."""
        samples = np.zeros((count, self.channels), dtype=np.float32)
        if self._container is not None and not len(self._buffer) and offset > self._decoded_to() + SEEK_AHEAD * self.rate:
            self._seek(offset)
        while self._container is not None and self._buffer_at + len(self._buffer) < offset + count:
            if not self._decode_more():
                break
        start = max(offset, self._buffer_at)
        stop = min(offset + count, self._buffer_at + len(self._buffer))
        if stop > start:
            samples[start - offset:stop - offset] = self._buffer[start - self._buffer_at:stop - self._buffer_at]
        consumed = max(0, min(len(self._buffer), offset + count - self._buffer_at))
        self._buffer, self._buffer_at = self._buffer[consumed:], self._buffer_at + consumed
        return samples

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = self._frames = self._resampler = None

    def _open(self, path: Path) -> None:
        import av

        try:
            self._container = av.open(str(path))
            stream = self._container.streams.audio[0]
        except (av.FFmpegError, OSError, IndexError) as error:
            raise MediaError(f"{path.name}: its sound cannot be read ({error})") from None
        self._stream = stream
        names = [channel.name for channel in stream.layout.channels]
        self._downmix = downmix_matrix(names) if len(names) > self.channels == 2 else None
        self._restart()

    def _restart(self) -> None:
        import av

        self._frames = self._container.decode(self._stream)
        layout = self._stream.layout.name if self._downmix is not None else _layout(self.channels)
        self._resampler = av.AudioResampler(format="flt", layout=layout, rate=self.rate)
        self._next_sample: int | None = None  # where the resampler's next output goes

    def _decoded_to(self) -> int:
        """The sample number decoding has reached (before any: where the sound starts)."""
        if self._next_sample is not None:
            return self._next_sample
        start = self._stream.start_time
        return round((float(start * self._stream.time_base) - self.origin) * self.rate) if start is not None else 0

    def _seek(self, offset: int) -> None:
        import av

        target = self.origin + offset / self.rate - 1.0
        try:
            self._container.seek(int(target / self._stream.time_base), stream=self._stream, backward=True)
        except av.FFmpegError:
            return  # a container that cannot seek: decode the way there
        self._restart()
        self._buffer, self._buffer_at = self._buffer[:0], offset

    def _decode_more(self) -> bool:
        """Decode one more frame into the buffer; False at the end of the sound."""
        import av

        try:
            frame = next(self._frames, None)
            if frame is None:
                out = self._resampler.resample(None)
                self._place(None, out)
                self.ended_at = self._buffer_at + len(self._buffer)
                self.close()
                return False
            self._place(frame.time, self._resampler.resample(frame))
        except (av.FFmpegError, ValueError) as error:
            raise MediaError(f"{Path(self._container.name).name}: its sound cannot be decoded ({error})") from None
        return True

    def _place(self, time: float | None, frames: list[Any]) -> None:
        if time is not None:
            by_timestamp = round((time - self.origin) * self.rate)
            if self._next_sample is None or abs(by_timestamp - self._next_sample) > RESYNC * self.rate:
                self._next_sample = by_timestamp  # the first frame, or a gap or jump in the timestamps
        if not frames or self._next_sample is None:
            return
        decoded = self._downmix.shape[0] if self._downmix is not None else self.channels
        pcm = np.concatenate([frame.to_ndarray().reshape(-1, decoded) for frame in frames]).astype(np.float32)
        if self._downmix is not None:
            pcm = pcm @ self._downmix
        at, self._next_sample = self._next_sample, self._next_sample + len(pcm)
        end = self._buffer_at + len(self._buffer)
        if not len(self._buffer):
            self._buffer_at = end = max(at, self._buffer_at)
        if at < end:  # overlaps what is buffered (timestamps going back): keep the first
            pcm, at = pcm[end - at:], end
        if at > end:  # a gap: silence
            pcm = np.concatenate([np.zeros((at - end, self.channels), dtype=np.float32), pcm])
        self._buffer = np.concatenate([self._buffer, pcm]) if len(self._buffer) else pcm


_CENTRE = 0.5 ** 0.5  # -3 dB: what a channel between the two speakers (or behind, or the LFE) gives each


def downmix_matrix(names: list[str]) -> np.ndarray:
    """(inputs, 2) gains folding channels named as FFmpeg names them (FL, FR, FC, LFE, BL, SL...) into
    stereo: left channels to the left at 0 dB (front) or -3 dB (surround, back, wide, top), right ones
    to the right, centre and LFE to both at -3 dB; then scaled down so each output's gains add up to at
    most 1, so the downmix cannot clip."""
    matrix = np.zeros((len(names), 2), dtype=np.float32)
    for row, name in enumerate(names):
        front = name in ("FL", "FR")
        if name.endswith("L") or name in ("FLC", "TFL", "TBL"):
            matrix[row, 0] = 1.0 if front else _CENTRE
        elif name.endswith("R") or name in ("FRC", "TFR", "TBR"):
            matrix[row, 1] = 1.0 if front else _CENTRE
        else:  # FC, LFE, BC, TC...
            matrix[row] = _CENTRE
    loudest = float(matrix.sum(axis=0).max())
    return matrix / loudest if loudest > 1 else matrix


def _layout(channels: int) -> str:
    return {1: "mono", 2: "stereo"}.get(channels, f"{channels}c")
