"""The film's picture as a stream copy: of the clips themselves (the fast path, when every clip
already has the film's codec, size, constant frame rate, pixel format, timescale and parameter
sets, is upright as stored and starts with its picture, is BT.709 limited range, progressive, in
square pixels, has a keyframe as often as the film must, and every join is a cut), or of the
film's segments (`encode.py`). And the size a clip is fitted to."""
from __future__ import annotations

import itertools
import math
from pathlib import Path

from ..media import VideoStream
from .conversion import is_film_ready
from .timeline import FilmSettings, Timeline

START_TOLERANCE = 0.001  # seconds between a clip's start and its first picture that a stream copy may ignore


def can_copy(timeline: Timeline, settings: FilmSettings) -> bool:
    """True if the clips' video streams can be joined as they are (the fast path)."""
    videos = [source.video for source in timeline.sources]
    return (
        _only_cuts_of_whole_clips(timeline)
        and all(
            video.codec == "h264" and video.pix_fmt == "yuv420p" and video.rotation == 0
            and video.size == tuple(settings.size) and abs(video.fps - settings.fps) < 1e-3 and video.constant_rate
            and is_film_ready(video) and _keyed_every(video, settings.keyframe_interval)
            for video in videos
        )
        and all(abs(source.video.start - source.start) < START_TOLERANCE for source in timeline.sources)
        and len({video.time_base for video in videos}) == 1  # concat keeps each file's timestamps as they are
        and len({video.extradata for video in videos}) == 1 and videos[0].extradata != b""  # H.264 SPS and PPS, known and shared
    )


def _keyed_every(video: VideoStream, interval: float) -> bool:
    """True if the clip opens on a keyframe and has one at least every `interval` seconds to its end."""
    times = [*video.keyframes, video.end]
    return bool(video.keyframes) and abs(video.keyframes[0] - video.start) < START_TOLERANCE and all(
        later - earlier <= interval + 0.5 / video.fps for earlier, later in itertools.pairwise(times))


def _only_cuts_of_whole_clips(timeline: Timeline) -> bool:
    return all(
        (piece.transition == "cut" or index == 0)
        and piece.trim_start == 0 and (piece.trim_end is None or piece.trim_end >= source.duration)
        for index, (piece, source) in enumerate(zip(timeline.pieces, timeline.sources, strict=True))
    )


def copy_input(timeline: Timeline, scratch: Path) -> list[str]:
    """ffmpeg input options and input reading the clips one after the other (concat demuxer), for a stream copy."""
    # in point: the file's time counts from its picture (else from the sound's priming, 21 ms earlier, and the
    # picture would start that late in the film); duration: the picture's length, not a longer sound track's
    return concat_input([(source.path, source.video.start, source.duration) for source in timeline.sources], scratch)


def concat_input(files: list[tuple[Path, float, float]], scratch: Path) -> list[str]:
    """ffmpeg input options and input reading (file, in point, duration) one after the other, for a stream copy."""
    listing = scratch / "pictures.txt"
    lines = ["ffconcat version 1.0"]
    for path, start, duration in files:
        quoted = str(path.resolve()).replace("'", "'\\''")
        # the in point rounded down: ffmpeg seeks there, and a keyframe after it would fail the seek
        inpoint = math.floor(start * 1e6) / 1e6
        lines += [f"file '{quoted}'", f"inpoint {inpoint:.6f}", f"duration {duration:.6f}"]
    listing.write_text("\n".join(lines) + "\n")
    # -copyts: the picture keeps the times the listing gives it (from 0); else ffmpeg would shift it by the
    # concatenation's start, which a clip's sound priming can make 21 ms early, and the picture would start late
    return ["-copyts", "-f", "concat", "-safe", "0", "-i", str(listing)]


def fitted_size(upright: tuple[int, int], size: tuple[int, int], how: str) -> tuple[int, int]:
    """The size a picture is scaled to, never stretched: inside the frame (contain) or covering it (cover)."""
    width, height = upright
    target_w, target_h = size
    scale = (min if how == "contain" else max)(target_w / width, target_h / height)
    return max(1, round(width * scale)), max(1, round(height * scale))
