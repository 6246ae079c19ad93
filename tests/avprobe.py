"""Look inside rendered films with the ffmpeg binary that imageio-ffmpeg ships (no ffprobe)."""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import numpy as np

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


@dataclass
class Probe:
    duration: float
    video: str | None  # e.g. "h264 ... 1280x720 ... 24 fps"
    audio: str | None  # e.g. "aac ... 48000 Hz, stereo"


def probe(path: Path) -> Probe:
    text = subprocess.run([FFMPEG, "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    match = re.search(r"Duration: (\d+):(\d+):([\d.]+)", text)
    assert match, text
    hours, minutes, seconds = match.groups()
    video = re.search(r"Stream #\S+.*Video: (.*)", text)
    audio = re.search(r"Stream #\S+.*Audio: (.*)", text)
    return Probe(
        int(hours) * 3600 + int(minutes) * 60 + float(seconds),
        video.group(1) if video else None,
        audio.group(1) if audio else None,
    )


def decode_errors(path: Path) -> str:
    """Everything ffmpeg complains about while decoding the whole file ('' when clean)."""
    result = subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True, text=True)
    return result.stderr.strip() + ("" if result.returncode == 0 else f" (exit {result.returncode})")


def frame_brightness(path: Path) -> np.ndarray:
    """Mean brightness (0-255) of every decoded video frame."""
    raw = subprocess.run(
        [FFMPEG, "-v", "error", "-i", str(path), "-vf", "scale=32:18", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        capture_output=True, check=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, 32 * 18).mean(axis=1)


def audio_samples(path: Path, rate: int = 48_000) -> np.ndarray:
    raw = subprocess.run(
        [FFMPEG, "-v", "error", "-i", str(path), "-vn", "-ac", "1", "-ar", str(rate), "-f", "s16le", "-"],
        capture_output=True, check=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.int16).astype(np.float32) / 32768


def flash_times(path: Path, fps: float) -> list[float]:
    """Instants of the white one-frame flashes of preview clips."""
    bright = frame_brightness(path)
    return [index / fps for index in np.flatnonzero(bright > 240)]


def beep_times(path: Path, rate: int = 48_000) -> list[float]:
    """Onsets of the loud beeps of preview clips (the hum under them is far quieter)."""
    samples = np.abs(audio_samples(path, rate))
    window = rate // 1000  # 1 ms envelope
    envelope = np.convolve(samples, np.ones(window) / window, mode="same")
    loud = envelope > 0.12
    onsets = np.flatnonzero(loud[1:] & ~loud[:-1]) + 1
    merged: list[int] = []
    for onset in onsets:
        if not merged or onset - merged[-1] > rate // 10:
            merged.append(int(onset))
    return [onset / rate for onset in merged]
