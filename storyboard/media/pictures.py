"""A clip's pictures, decoded in-process with PyAV and picked by presentation time.

Asked for an instant, `FrameReader` gives the frame its timestamps put there (a variable frame
rate is read by its timestamps, never as a frame count at a nominal rate), turned upright as
the display matrix says, at the size asked for. For a film at another frame rate, each source
frame lands on the film frame nearest its timestamp: at most half a film frame off.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import MediaError
from .probe import MediaInfo, probe
from .streams import picture_stream

if TYPE_CHECKING:
    import numpy as np

SEEK_MARGIN = 1.0  # seconds before a far instant to seek to; decoding goes on from the keyframe there
TIE = 1e-6  # seconds of rounding noise allowed when a frame's timestamp is compared with an instant


class FrameReader:
    """Frames of one clip, asked for in (mostly) increasing time; seeks when asked far ahead or back."""

    def __init__(self, path: Path, info: MediaInfo | None = None, size: tuple[int, int] | None = None):
        """`size`: (width, height) of the upright frames returned; None: the clip's upright size."""
        import av

        self.info = info or probe(path)
        video = self.info.picture
        self.path = path
        self.size = size or video.upright_size
        self._turns = (video.rotation // 90) % 4  # quarter turns counter-clockwise
        self._decoded_size = self.size if self._turns % 2 == 0 else (self.size[1], self.size[0])
        try:
            self._container = av.open(str(path))
        except (av.FFmpegError, OSError) as error:
            raise MediaError(f"{path.name}: cannot be read ({error})") from None
        self._stream = picture_stream(self._container)
        self._stream.thread_type = "AUTO"
        self._frames: Any = None  # the decoding generator; None until the first read or after a seek
        self._current: tuple[float, Any] | None = None  # the latest frame at or before the last instant asked
        self._upcoming: tuple[float, Any] | None = None  # the frame after it
        self._shown: tuple[Any, np.ndarray] | None = None  # (the frame, its picture) last returned

    def at(self, seconds: float, within: float = 0.0) -> np.ndarray:
        """The picture of the last frame that begins by `seconds + within` (seconds from the clip's
        start), upright, RGB, at this reader's size; before the first frame: the first.

        `within=0`: what a player shows at that instant. A film frame lasting `d` seconds asks with
        `within=d/2`: each source frame then lands on the film frame nearest its own timestamp (at
        most half a film frame early or late), whatever the two frame rates."""
        import av

        wanted = self.info.start + seconds + within
        try:
            self._advance_to(wanted - TIE if within else wanted + TIE)  # a film frame's half is half-open
        except (av.FFmpegError, ValueError) as error:
            raise MediaError(f"{self.path.name}: a frame cannot be decoded ({error})") from None
        latest = self._current or self._upcoming
        if latest is None:
            raise MediaError(f"{self.path.name}: no frame could be decoded")
        frame = latest[1]
        if self._shown is None or self._shown[0] is not frame:
            self._shown = (frame, self._picture(frame))
        return self._shown[1]

    def close(self) -> None:
        self._frames = None
        self._current = self._upcoming = self._shown = None
        self._container.close()

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _advance_to(self, wanted: float) -> None:
        known = self._current or self._upcoming
        if known is None or wanted < known[0] - TIE or wanted > known[0] + SEEK_MARGIN * 2:
            self._seek(wanted)
        while self._upcoming is not None and self._upcoming[0] <= wanted:
            self._current, self._upcoming = self._upcoming, self._next()

    def _seek(self, wanted: float) -> None:
        """Decode from the keyframe before `wanted`; from the start where that cannot be done."""
        target = wanted - SEEK_MARGIN
        if target <= self.info.picture.start or not self._seek_before(target, wanted):
            self._rewind()

    def _seek_before(self, target: float, wanted: float) -> bool:
        """False if the container cannot seek, or landed past `wanted` (no keyframe index)."""
        import av

        try:
            self._container.seek(int(target / self._stream.time_base), stream=self._stream, backward=True)
        except av.FFmpegError:
            return False
        self._frames = self._container.decode(self._stream)
        self._current, self._upcoming = None, self._next()
        return self._upcoming is not None and self._upcoming[0] <= wanted

    def _rewind(self) -> None:
        """Decode from the first frame: a fresh reading, as not every container can seek back."""
        import av

        self._container.close()
        self._container = av.open(str(self.path))
        self._stream = picture_stream(self._container)
        self._stream.thread_type = "AUTO"
        self._frames = self._container.decode(self._stream)
        self._current, self._upcoming = None, self._next()

    def _next(self) -> tuple[float, Any] | None:
        previous = self._upcoming or self._current
        for frame in self._frames:
            if frame.time is not None:
                return float(frame.time), frame
            if previous is not None:  # no timestamp: one nominal frame after the last
                return previous[0] + 1 / self.info.picture.fps, frame
            return self.info.picture.start, frame
        return None

    def _picture(self, frame: Any) -> np.ndarray:
        import numpy as np

        width, height = self._decoded_size
        pixels = frame.to_ndarray(format="rgb24", width=width, height=height)
        return np.ascontiguousarray(np.rot90(pixels, self._turns)) if self._turns else pixels
