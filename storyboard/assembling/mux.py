"""The final file: the picture as it is (stream-copied), the mix encoded once (AAC) as it is
rendered, cut to the film's length. The mix goes to ffmpeg through a pipe, so mixing (Python)
and encoding the sound (ffmpeg) run at the same time and no WAV is written."""
from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

from ..errors import MediaError
from ..media import ffmpeg_exe, start_ffmpeg
from .conversion import FILM_COLOUR_BSF
from .sound import PCM_FORMAT, SAMPLE_RATE, Mixer
from .timeline import FilmSettings

LOUDNESS = "loudnorm=I=-16:TP=-1.5:LRA=11"  # EBU R128, -16 LUFS
# Every film's peaks: a look-ahead limiter on the sound oversampled four times, so that the peaks between samples
# (true peaks) are held too, with its delay compensated (the sound stays on its sample). Its ceiling, -2 dBTP, leaves
# the AAC encoder 1 dB for the overshoot its coding adds. Coding very dense, loud sound (noise at full scale) can
# overshoot by more: a film whose mix came near full scale is measured, and its sound made again under a lower ceiling
# if it is above -1 dBTP.
MAX_TRUE_PEAK = -1.0  # dBTP, as EBU R128 meters read it
CEILING = -2.0  # dBTP: the limiter's, at first
QUIET_MIX = 10 ** (-8 / 20)  # a mix whose samples never exceed this (-8 dBFS) is not measured after encoding
TRIES = 3
_TRUE_PEAK = re.compile(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS")


def limiter(ceiling: float) -> str:
    """The true-peak limiter's filters at `ceiling` dBTP."""
    return (f"aresample={4 * SAMPLE_RATE},alimiter=limit={max(0.0625, 10 ** (ceiling / 20)):.4f}:level=false:latency=true:"
            f"attack=1:release=50,aresample={SAMPLE_RATE}")


def mux(picture: list[str], mixer: Mixer, duration: float, settings: FilmSettings, destination: Path) -> None:
    """`picture`: ffmpeg input options and input whose first video stream is the film's picture."""
    ceiling = CEILING
    for _ in range(TRIES):
        _write(picture, mixer, duration, settings, destination, ceiling)
        if mixer.peak <= QUIET_MIX and not settings.normalize:  # normalising may raise a quiet mix anywhere
            return
        peak = true_peak(destination)
        if peak <= MAX_TRUE_PEAK:
            return
        ceiling -= peak - MAX_TRUE_PEAK + 0.5


def true_peak(film: Path) -> float:
    """The true peak (dBTP) of the film's sound, by ffmpeg's EBU R128 meter."""
    done = subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-nostats", "-i", str(film), "-map", "0:a:0",
                           "-af", "ebur128=peak=true:framelog=quiet", "-f", "null", "-"],
                          stdin=subprocess.DEVNULL, capture_output=True, check=False)
    found = _TRUE_PEAK.findall(done.stderr.decode("utf-8", "replace"))
    if done.returncode != 0 or not found:
        raise MediaError(f"the film's sound cannot be measured (ffmpeg exit {done.returncode})")
    return float(found[-1])


def _write(picture: list[str], mixer: Mixer, duration: float, settings: FilmSettings, destination: Path,
           ceiling: float) -> None:
    sound = f"{LOUDNESS},{limiter(ceiling)}" if settings.normalize else limiter(ceiling)
    command = ["-y", *picture, *PCM_FORMAT, "-i", "pipe:0",
               "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-bsf:v", FILM_COLOUR_BSF,
               "-c:a", "aac", "-b:a", "192k", "-af", sound,
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
