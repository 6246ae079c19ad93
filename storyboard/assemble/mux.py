"""The final file: the picture as it is, the mix encoded once (AAC), cut to the film's length."""
from __future__ import annotations

from pathlib import Path

from ..media import run_ffmpeg
from .sound import SAMPLE_RATE
from .timeline import FilmSettings

LOUDNESS = "loudnorm=I=-16:TP=-1.5:LRA=11"  # EBU R128, -16 LUFS


def mux(picture: Path, mix: Path, duration: float, settings: FilmSettings, destination: Path) -> None:
    loudness = ["-af", LOUDNESS, "-ar", str(SAMPLE_RATE)] if settings.normalize else []
    run_ffmpeg(["-i", str(picture), "-i", str(mix), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy",
                "-c:a", "aac", "-b:a", "192k", *loudness, "-t", f"{duration:.6f}", "-movflags", "+faststart",
                "-f", "mp4", str(destination)])
