"""Stage 6: the clips, in order, into one film with their audio, written atomically."""
from __future__ import annotations

import tempfile
from pathlib import Path

from .files import atomic_path


def assemble(clips: list[Path], destination: Path, *, fps: float, size: tuple[int, int]) -> None:
    """Concatenate `clips` (cuts) into `destination`, each fitted inside `size` without stretching.

    Clips are decoded frame by frame as the film is encoded; none is loaded whole. The film
    appears at `destination` only once complete; on failure the previous film is untouched.
    """
    from moviepy import ColorClip, CompositeVideoClip, VideoFileClip, concatenate_videoclips

    sources = [VideoFileClip(str(path)) for path in clips]
    try:
        fitted = []
        for clip in sources:
            if tuple(clip.size) == tuple(size):
                fitted.append(clip)
                continue
            scale = min(size[0] / clip.w, size[1] / clip.h)
            resized = clip.resized(scale).with_position("center")
            background = ColorClip(size, color=(0, 0, 0), duration=clip.duration)
            fitted.append(CompositeVideoClip([background, resized], size=size).with_audio(clip.audio))
        film = concatenate_videoclips(fitted, method="chain")
        with atomic_path(destination) as temporary, tempfile.TemporaryDirectory(prefix="storyboard-") as scratch:
            film.write_videofile(
                str(temporary),
                fps=fps,
                codec="libx264",
                audio_codec="aac",
                audio_fps=48_000,
                audio_bitrate="192k",
                preset="veryfast",
                ffmpeg_params=["-pix_fmt", "yuv420p", "-movflags", "+faststart"],
                temp_audiofile_path=scratch,
                logger=None,
            )
    finally:
        for clip in sources:
            clip.close()
