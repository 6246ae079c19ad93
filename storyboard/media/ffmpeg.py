"""The ffmpeg binary that the `imageio-ffmpeg` wheel ships (no system ffmpeg is needed), and the
one way storyboard starts it: never with the user's terminal as its standard input. An ffmpeg
that reads the terminal takes keys from it and, when it is killed, leaves it raw (no echo,
Enter ignored at the next prompt)."""
from __future__ import annotations

import functools
import subprocess
from typing import IO

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
        done = subprocess.run([exe, "-nostdin", "-hide_banner", "-version"], stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=30, check=False)
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


def start_ffmpeg(arguments: list[str], *, stdin: int | IO[bytes] = subprocess.DEVNULL, stdout: int | IO[bytes],
                 stderr: int | IO[bytes]) -> subprocess.Popen[bytes]:
    """ffmpeg running quietly in the background; its standard input a pipe of ours, else nothing."""
    quiet = ["-v", "error"] if stdin == subprocess.PIPE else ["-nostdin", "-v", "error"]
    return subprocess.Popen([ffmpeg_exe(), *quiet, *arguments], stdin=stdin, stdout=stdout, stderr=stderr)


def run_ffmpeg(arguments: list[str], capture: bool = False) -> bytes:
    """Run ffmpeg quietly (overwriting outputs); its last error line becomes a MediaError."""
    done = subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", *arguments], stdin=subprocess.DEVNULL,
                          capture_output=True, check=False)
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise MediaError(f"ffmpeg failed: {message[-1] if message else f'exit {done.returncode}'}")
    return done.stdout if capture else b""
