"""The ffmpeg binary that the `imageio-ffmpeg` wheel ships (no system ffmpeg is needed)."""
from __future__ import annotations

import functools
import subprocess

from ..errors import MediaError


@functools.cache
def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def run_ffmpeg(arguments: list[str], capture: bool = False) -> bytes:
    """Run ffmpeg quietly (overwriting outputs); its last error line becomes a MediaError."""
    done = subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *arguments], capture_output=True, check=False)
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise MediaError(f"ffmpeg failed: {message[-1] if message else f'exit {done.returncode}'}")
    return done.stdout if capture else b""
