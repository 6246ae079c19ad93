"""The final file: the picture as it is (stream-copied), the mix encoded once (AAC) as it is
rendered, cut to the film's length. The mix goes to ffmpeg through a pipe, so mixing (Python)
and encoding the sound (ffmpeg) run at the same time and no WAV is written."""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from ..errors import MediaError
from ..media import start_ffmpeg
from .conversion import FILM_COLOUR_BSF
from .sound import PCM_FORMAT, SAMPLE_RATE, Mixer
from .timeline import FilmSettings

LOUDNESS = "loudnorm=I=-16:TP=-1.5:LRA=11"  # EBU R128, -16 LUFS


def mux(picture: list[str], mixer: Mixer, duration: float, settings: FilmSettings, destination: Path) -> None:
    """`picture`: ffmpeg input options and input whose first video stream is the film's picture."""
    loudness = ["-af", LOUDNESS, "-ar", str(SAMPLE_RATE)] if settings.normalize else []
    command = ["-y", *picture, *PCM_FORMAT, "-i", "pipe:0",
               "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-bsf:v", FILM_COLOUR_BSF,
               "-c:a", "aac", "-b:a", "192k", *loudness,
               "-t", f"{duration:.6f}", "-movflags", "+faststart", "-f", "mp4", str(destination)]
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: ffmpeg can never block on what it reports
        process = start_ffmpeg(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors)
        assert process.stdin is not None
        chunks = mixer.pcm()
        try:
            for chunk in chunks:
                process.stdin.write(chunk)
            process.stdin.close()
        except BrokenPipeError:
            pass  # ffmpeg stopped (or has all it needs): its exit status says which
        except BaseException:
            process.kill()
            process.wait()
            raise
        finally:
            chunks.close()
        returncode = process.wait()
        if returncode != 0:
            errors.seek(0)
            lines = errors.read().decode("utf-8", "replace").strip().splitlines()
            raise MediaError(f"ffmpeg failed: {lines[-1] if lines else f'exit {returncode}'}")
