"""Single frames out of videos, decoded in-process with PyAV; frame geometry."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import MediaError

if TYPE_CHECKING:
    from PIL import Image


def frame_size(resolution: str, aspect_ratio: str) -> tuple[int, int]:
    """(width, height) for a resolution naming the short side and a 'W:H' aspect ratio."""
    short = int(str(resolution).rstrip("pP"))
    across, down = (int(part) for part in str(aspect_ratio).split(":"))
    if across >= down:
        return _even(short * across / down), _even(short)
    return _even(short), _even(short * down / across)


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def frame_at(path: Path, at: str | float) -> Image.Image:
    """The picture shown at `at` ("start", "end" or seconds from the first frame; past the end:
    the last frame), as an RGB image."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(f"{path.name} has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            chosen = None
            first_time: float | None = None
            for frame in container.decode(stream):
                when = float(frame.time or 0.0)
                if first_time is None:
                    first_time = when
                if chosen is not None and at != "end" and (at == "start" or when - first_time > float(at) + 1e-6):
                    break
                chosen = frame
            if chosen is None:
                raise MediaError(f"{path.name}: no frame could be decoded")
            return chosen.to_image()
    except (av.FFmpegError, OSError, ValueError) as error:
        raise MediaError(f"{path.name}: cannot read a frame ({error})") from None
