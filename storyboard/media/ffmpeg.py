"""The ffmpeg binary that the `imageio-ffmpeg` wheel ships (no system ffmpeg is needed)."""
from __future__ import annotations

import functools
import subprocess

from ..errors import MediaError
from ..messages import os_reason


@functools.cache
def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def check_tools() -> None:
    """Fail before anything is paid if the tools a render needs do not work here: the ffmpeg
    binary (clips, the film) and PyAV (probing, frames)."""
    exe = ffmpeg_exe()
    try:
        done = subprocess.run([exe, "-hide_banner", "-version"], capture_output=True, timeout=30, check=False)
        problem = None if done.returncode == 0 else f"it exited with {done.returncode}"
    except (OSError, subprocess.TimeoutExpired) as error:
        problem = os_reason(error)
    if problem:
        raise MediaError(f"ffmpeg ({exe}) cannot be run: {problem}. storyboard needs it to make clips and the film; "
                         "reinstall it with `pip install --force-reinstall imageio-ffmpeg` (or unset IMAGEIO_FFMPEG_EXE). "
                         "Nothing was submitted.")
    try:
        import av  # noqa: F401 - only whether it loads
    except ImportError as error:
        raise MediaError(f"PyAV cannot be loaded ({error}); reinstall it with `pip install --force-reinstall av`. "
                         "Nothing was submitted.") from None


def run_ffmpeg(arguments: list[str], capture: bool = False) -> bytes:
    """Run ffmpeg quietly (overwriting outputs); its last error line becomes a MediaError."""
    done = subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *arguments], capture_output=True, check=False)
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise MediaError(f"ffmpeg failed: {message[-1] if message else f'exit {done.returncode}'}")
    return done.stdout if capture else b""
