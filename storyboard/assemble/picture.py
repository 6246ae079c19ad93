"""The film's picture, written one of two ways:
- the fast path, when every clip already has the film's codec, size, constant frame rate, pixel
  format, timescale and parameter sets, is upright as stored and starts with its picture, and
  every join is a cut: ffmpeg copies the video streams as they are;
- the general path: moviepy asks for each output frame; each clip on screen (two, in a
  crossfade) gives the source frame whose timestamp is nearest that film frame, turned upright
  and fitted, decoded as a stream, never whole; burned subtitles (`captions.py`) are drawn over it.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..media import FrameReader
from .captions import Captions
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
            for video in videos
        )
        and all(abs(source.video.start - source.start) < START_TOLERANCE for source in timeline.sources)
        and len({video.time_base for video in videos}) == 1  # concat keeps each file's timestamps as they are
        and len({video.extradata for video in videos}) == 1 and videos[0].extradata != b""  # H.264 SPS and PPS, known and shared
    )


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


def draw_picture(timeline: Timeline, settings: FilmSettings, picture: Path, captions: Captions | None = None) -> None:
    from moviepy import VideoClip

    frames = FrameSource(timeline, settings.size, captions)
    try:
        clip = VideoClip(frames.frame_at, duration=(timeline.frames + 0.5) / settings.fps)
        clip.write_videofile(
            str(picture), fps=settings.fps, codec="libx264", audio=False, preset=settings.preset,
            ffmpeg_params=["-crf", str(settings.crf), "-pix_fmt", "yuv420p"], logger=None,
        )
    finally:
        frames.close()


class FrameSource:
    """Output frames on demand, decoding each clip as a stream while it is on screen."""

    def __init__(self, timeline: Timeline, size: tuple[int, int], captions: Captions | None = None):
        self.timeline = timeline
        self.size = size
        self.captions = captions
        self._readers: dict[int, FrameReader] = {}  # piece index -> its clip's frames
        self._black = np.zeros((size[1], size[0], 3), dtype=np.uint8)

    def frame_at(self, t: float) -> np.ndarray:
        frame = self._composed(t)
        return frame if self.captions is None else self.captions.draw(frame, t)

    def _composed(self, t: float) -> np.ndarray:
        shown = self.timeline.on_screen(t)
        for index in [index for index in self._readers if index not in dict(shown)]:
            if self.timeline.starts[index] + self.timeline.lengths[index] <= t:
                self._close(index)  # passed: frames are asked for in order
        if not shown:
            return self._black
        (first, opacity), *incoming = shown
        frame = self._fitted(first, t)
        if opacity < 1.0:
            frame = (frame.astype(np.float32) * opacity).astype(np.uint8)
        for index, opacity in incoming:  # a crossfade: the next piece over the one leaving
            over = self._fitted(index, t).astype(np.float32)
            frame = (frame.astype(np.float32) * (1 - opacity) + over * opacity).astype(np.uint8)
        return frame

    def _fitted(self, index: int, t: float) -> np.ndarray:
        piece = self.timeline.pieces[index]
        picture = self._reader(index).at(piece.trim_start + (t - self.timeline.starts[index]), within=0.5 / self.timeline.fps)
        return place(picture, self.size)

    def _reader(self, index: int) -> FrameReader:
        if index not in self._readers:
            source, piece = self.timeline.sources[index], self.timeline.pieces[index]
            self._readers[index] = FrameReader(source.path, source.info, fitted_size(source.size, self.size, piece.fit))
        return self._readers[index]

    def _close(self, index: int) -> None:
        self._readers.pop(index).close()

    def close(self) -> None:
        for index in list(self._readers):
            self._close(index)


def fitted_size(upright: tuple[int, int], size: tuple[int, int], how: str) -> tuple[int, int]:
    """The size a picture is scaled to, never stretched: inside the frame (contain) or covering it (cover)."""
    width, height = upright
    target_w, target_h = size
    scale = (min if how == "contain" else max)(target_w / width, target_h / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def place(picture: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A scaled picture in the frame: centred on black (letterboxed), or its middle (cropped)."""
    height, width = picture.shape[:2]
    target_w, target_h = size
    if (width, height) == (target_w, target_h):
        return picture
    left, top = (width - target_w) // 2, (height - target_h) // 2
    cropped = picture[max(0, top):max(0, top) + target_h, max(0, left):max(0, left) + target_w]
    frame = np.zeros((target_h, target_w, 3), dtype=np.uint8)
    down, across = max(0, -top), max(0, -left)
    frame[down:down + cropped.shape[0], across:across + cropped.shape[1]] = cropped
    return frame
