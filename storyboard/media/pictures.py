"""A clip's pictures, decoded in-process with PyAV and picked by presentation time.

Asked for an instant, `FrameReader` gives the source frame nearest to it (at most half a frame
away, whatever the frame rates; a variable frame rate is read by its timestamps, not by a frame
count at a nominal rate), turned upright as the display matrix says, at the size asked for.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import MediaError
from .probe import MediaInfo, picture_stream, probe

if TYPE_CHECKING:
    import numpy as np

SEEK_MARGIN = 1.0  # seconds before a far instant to seek to; decoding goes on from the keyframe there
TIE = 1e-6  # seconds: an instant this close to halfway between two frames takes the earlier one


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
        self._shown: tuple[int, np.ndarray] | None = None  # (id of the frame, its picture) last returned

    def at(self, seconds: float) -> np.ndarray:
        """The picture nearest `seconds` from the clip's start (before the first frame: the first;
        after the last: the last), upright, RGB, at this reader's size: what a film at another
        frame rate shows at that instant."""
        return self._read(seconds, nearest=True)

    def shown_at(self, seconds: float) -> np.ndarray:
        """The picture a player shows at `seconds` from the clip's start: the last frame that began by then."""
        return self._read(seconds, nearest=False)

    def _read(self, seconds: float, nearest: bool) -> np.ndarray:
        import av

        wanted = self.info.start + seconds
        try:
            self._advance_to(wanted)
        except (av.FFmpegError, ValueError) as error:
            raise MediaError(f"{self.path.name}: a frame cannot be decoded ({error})") from None
        chosen = self._nearest(wanted) if nearest else self._latest()
        if chosen is None:
            raise MediaError(f"{self.path.name}: no frame could be decoded")
        if self._shown is None or self._shown[0] != id(chosen):
            self._shown = (id(chosen), self._picture(chosen))
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
        while self._upcoming is not None and self._upcoming[0] <= wanted + TIE:
            self._current, self._upcoming = self._upcoming, self._next()

    def _seek(self, wanted: float) -> None:
        target = wanted - SEEK_MARGIN
        if target > self.info.picture.start:
            self._container.seek(int(target / self._stream.time_base), stream=self._stream, backward=True)
        else:
            self._container.seek(0)
        self._frames = self._container.decode(self._stream)
        self._current, self._upcoming = None, self._next()
        if self._upcoming is not None and self._upcoming[0] > wanted + TIE and target > self.info.picture.start:
            self._container.seek(0)  # the seek overshot (no keyframe index): read from the start
            self._frames = self._container.decode(self._stream)
            self._upcoming = self._next()

    def _next(self) -> tuple[float, Any] | None:
        previous = self._upcoming or self._current
        for frame in self._frames:
            if frame.time is not None:
                return float(frame.time), frame
            if previous is not None:  # no timestamp: one nominal frame after the last
                return previous[0] + 1 / self.info.picture.fps, frame
            return self.info.picture.start, frame
        return None

    def _nearest(self, wanted: float) -> Any:
        before, after = self._current, self._upcoming
        if before is None or after is None:
            chosen = before or after
            return chosen[1] if chosen else None
        return after[1] if after[0] - wanted < wanted - before[0] - TIE else before[1]

    def _latest(self) -> Any:
        chosen = self._current or self._upcoming
        return chosen[1] if chosen else None

    def _picture(self, frame: Any) -> np.ndarray:
        import numpy as np

        width, height = self._decoded_size
        pixels = frame.to_ndarray(format="rgb24", width=width, height=height)
        return np.ascontiguousarray(np.rot90(pixels, self._turns)) if self._turns else pixels
