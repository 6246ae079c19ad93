"""The film's picture, written one of two ways:
- the fast path, when every clip already has the film's codec, size, frame rate, pixel format,
  timescale and parameter sets and every join is a cut: ffmpeg copies the video streams as
  they are;
- the general path: moviepy asks for each output frame, which is taken from the clip (or the
  two clips, in a crossfade) on screen at that instant, decoded as a stream, never whole.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..media import run_ffmpeg
from .timeline import FilmSettings, Timeline


def can_copy(timeline: Timeline, settings: FilmSettings) -> bool:
    """True if the clips' video streams can be joined as they are (the fast path)."""
    videos = [source.video for source in timeline.sources]
    return (
        _only_cuts_of_whole_clips(timeline)
        and all(
            video.codec == "h264" and video.pix_fmt == "yuv420p"
            and video.size == tuple(settings.size) and abs(video.fps - settings.fps) < 1e-3
            for video in videos
        )
        and len({video.time_base for video in videos}) == 1  # concat keeps each file's timestamps as they are
        and len({video.extradata for video in videos}) == 1 and videos[0].extradata != b""  # H.264 SPS and PPS, known and shared
    )


def _only_cuts_of_whole_clips(timeline: Timeline) -> bool:
    return all(
        (piece.transition == "cut" or index == 0)
        and piece.trim_start == 0 and (piece.trim_end is None or piece.trim_end >= source.duration)
        for index, (piece, source) in enumerate(zip(timeline.pieces, timeline.sources, strict=True))
    )


def copy_picture(timeline: Timeline, picture: Path, scratch: Path) -> None:
    listing = scratch / "clips.txt"
    lines = ["ffconcat version 1.0"]
    for source in timeline.sources:
        quoted = str(source.path.resolve()).replace("'", "'\\''")
        lines += [f"file '{quoted}'", f"duration {source.duration:.6f}"]  # video length, not a longer audio track's
    listing.write_text("\n".join(lines) + "\n")
    run_ffmpeg(["-f", "concat", "-safe", "0", "-i", str(listing), "-map", "0:v:0", "-c:v", "copy", "-an", str(picture)])


def draw_picture(timeline: Timeline, settings: FilmSettings, picture: Path) -> None:
    from moviepy import VideoClip

    frames = FrameSource(timeline, settings.size)
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

    def __init__(self, timeline: Timeline, size: tuple[int, int]):
        self.timeline = timeline
        self.size = size
        self._readers: dict[int, Any] = {}  # piece index -> moviepy VideoFileClip
        self._black = np.zeros((size[1], size[0], 3), dtype=np.uint8)

    def frame_at(self, t: float) -> np.ndarray:
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
        piece, source = self.timeline.pieces[index], self.timeline.sources[index]
        into = piece.trim_start + (t - self.timeline.starts[index])
        last = source.duration - 0.5 / source.fps
        frame = self._reader(index).get_frame(min(max(0.0, into), last))
        return fit(frame, self.size, piece.fit)

    def _reader(self, index: int) -> Any:
        if index not in self._readers:
            from moviepy import VideoFileClip

            self._readers[index] = VideoFileClip(str(self.timeline.sources[index].path), audio=False)
        return self._readers[index]

    def _close(self, index: int) -> None:
        self._readers.pop(index).close()

    def close(self) -> None:
        for index in list(self._readers):
            self._close(index)


def fit(frame: np.ndarray, size: tuple[int, int], how: str) -> np.ndarray:
    """`frame` at `size`, never stretched: letterboxed (contain) or cropped (cover)."""
    height, width = frame.shape[:2]
    target_w, target_h = size
    if (width, height) == (target_w, target_h):
        return frame[:, :, :3]
    from PIL import Image

    scale = (min if how == "contain" else max)(target_w / width, target_h / height)
    scaled_w, scaled_h = max(1, round(width * scale)), max(1, round(height * scale))
    image = Image.fromarray(frame[:, :, :3]).resize((scaled_w, scaled_h), Image.Resampling.BILINEAR)
    if how == "cover":
        left, top = (scaled_w - target_w) // 2, (scaled_h - target_h) // 2
        return np.asarray(image.crop((left, top, left + target_w, top + target_h)))
    canvas = Image.new("RGB", (target_w, target_h))
    canvas.paste(image, ((target_w - scaled_w) // 2, (target_h - scaled_h) // 2))
    return np.asarray(canvas)
