"""The final file: the picture as it is (stream-copied), the mix encoded once (AAC) as it is
rendered, cut to the film's length. The mix goes to ffmpeg through a pipe, so mixing (Python)
and encoding the sound (ffmpeg) run at the same time and no WAV is written."""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from ..errors import MediaError
from ..media import start_ffmpeg
from .sound import PCM_FORMAT, SAMPLE_RATE, Mixer
from .timeline import FilmSettings

LOUDNESS = "loudnorm=I=-16:TP=-1.5:LRA=11"  # EBU R128, -16 LUFS
# Every film's peaks: a look-ahead limiter on the sound oversampled four times, so that the peaks between samples
# (true peaks) are held too, with its delay compensated (the sound stays on its sample). Its ceiling, -2 dBTP, leaves
# the AAC encoder 1 dB for the overshoot its coding adds: the film stays at or below -1 dBTP.
CEILING = 10 ** (-2 / 20)
TRUE_PEAK_LIMITER = (f"aresample={4 * SAMPLE_RATE},alimiter=limit={CEILING:.4f}:level=false:latency=true:attack=1:release=50,"
                     f"aresample={SAMPLE_RATE}")


def mux(picture: list[str], mixer: Mixer, duration: float, settings: FilmSettings, destination: Path) -> None:
    """`picture`: ffmpeg input options and input whose first video stream is the film's picture."""
    sound = f"{LOUDNESS},{TRUE_PEAK_LIMITER}" if settings.normalize else TRUE_PEAK_LIMITER
    command = ["-y", *picture, *PCM_FORMAT, "-i", "pipe:0",
               "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-b:a", "192k", "-af", sound,
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
