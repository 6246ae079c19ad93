"""Which of a container's streams is the picture."""
from __future__ import annotations

from typing import Any


def picture_stream(container: Any) -> Any:
    """The first video stream that is moving picture: a music file's cover art is a video stream
    too (one still image, flagged as an attached picture), and is not footage."""
    import av

    moving = [stream for stream in container.streams.video
              if not stream.disposition & av.stream.Disposition.attached_pic]
    return moving[0] if moving else None
