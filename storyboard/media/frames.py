"""Single frames out of videos, decoded in-process with PyAV; frame geometry."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import MediaError
from .probe import picture_stream

if TYPE_CHECKING:
    from PIL import Image

SEEK_MARGIN = 1.0  # seconds before the wanted frame to seek to; decoding goes on from the keyframe there


def frame_size(resolution: str, aspect_ratio: str) -> tuple[int, int]:
    """(width, height) for a resolution naming the short side and a 'W:H' aspect ratio."""
    short = int(str(resolution).rstrip("pP"))
    across, down = (int(part) for part in str(aspect_ratio).split(":"))
    if across >= down:
        return _even(short * across / down), _even(short)
    return _even(short), _even(short * down / across)


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def extract_frame(path: Path, at: str | float) -> Image.Image:
    """The picture shown at `at` ("start", "end" or seconds from the first frame; past the end:
    the last frame), upright (as the display matrix turns it), as an RGB image."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = picture_stream(container)
            if stream is None:
                raise MediaError(f"{path.name} has no video stream")
            frame = _frame_at(container, stream, at)
            image = frame.to_image()
            rotation = round(getattr(frame, "rotation", 0) or 0) % 360
            return image.rotate(rotation, expand=True) if rotation else image
    except (av.FFmpegError, OSError, ValueError) as error:
        raise MediaError(f"{path.name}: cannot read a frame ({error})") from None


def _frame_at(container: Any, stream: Any, at: str | float) -> Any:
    """Seek near the wanted instant (to the keyframe before it) and decode on from there: the time
    taken does not grow with the clip's length."""
    first = _first_frame(container, stream)
    if at == "start":
        return first
    origin = float(first.time or 0.0)
    wanted = None if at == "end" else origin + float(at)
    end = _end_time(container, stream)
    target = end if wanted is None else min(wanted, end) if end is not None else wanted
    if target is not None and target - SEEK_MARGIN > origin:
        container.seek(int((target - SEEK_MARGIN) / stream.time_base), stream=stream, backward=True)
    else:
        container.seek(0)
    chosen = None
    for frame in container.decode(stream):
        if chosen is not None and wanted is not None and float(frame.time or 0.0) > wanted + 1e-6:
            break
        chosen = frame
    return chosen if chosen is not None else first


def _first_frame(container: Any, stream: Any) -> Any:
    for frame in container.decode(stream):
        return frame
    raise MediaError(f"{Path(container.name).name}: no frame could be decoded")


def _end_time(container: Any, stream: Any) -> float | None:
    if stream.duration is not None and stream.time_base:
        start = stream.start_time or 0
        return float((start + stream.duration) * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000
    return None
