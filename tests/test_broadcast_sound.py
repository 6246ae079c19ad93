"""The film's sound to broadcast standard, measured on tone-coded footage: each clip carries one sine of
its own frequency, so where a shot's sound starts and stops in the mix, and how loud it is, can be read
off the film. Peaks (a true-peak limiter), ducking that holds through pauses, 5.1 downmixes, and the
editor's controls of a shot's sound (`sound:` lead and tail, volume, mute, loudness matched across cuts)."""
from __future__ import annotations

import re
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
from avprobe import FFMPEG

from storyboard.assembling import FilmSettings, Piece, Soundtrack, assemble

RATE = 48_000
FPS = 24
SIZE = (64, 36)


def tone_clip(folder: Path, name: str, seconds: float, hz: float, level: float, *, layout: str = "stereo",
              sound: str | None = None) -> Path:
    """A tiny clip of `seconds` whose sound is a sine of `hz` at peak `level` on every channel of `layout`
    (or the lavfi expression `sound`, one per channel separated by '|')."""
    path = folder / f"{name}.mp4"
    if path.exists():
        return path
    channels = {"stereo": 2, "5.1": 6}[layout]
    expression = sound or "|".join([f"{level}*sin(2*PI*{hz}*t)"] * channels)
    subprocess.run([FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", f"color=c=gray:s={SIZE[0]}x{SIZE[1]}:r={FPS}:d={seconds}",
                    "-f", "lavfi", "-i", f"aevalsrc=exprs='{expression}':s={RATE}:c={layout}:d={seconds}",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "pcm_s16le" if layout == "5.1"
                    else "aac", "-b:a", "256k", "-t", str(seconds), str(path.with_suffix(".mov" if layout == "5.1" else ".mp4"))],
                   check=True)
    return path.with_suffix(".mov") if layout == "5.1" else path


def write_music(path: Path, hz: float = 3000, level: float = 0.9, seconds: float = 2.0) -> Path:
    t = np.arange(int(RATE * seconds)) / RATE
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((level * np.sin(2 * np.pi * hz * t) * 32767).astype("<i2").tobytes())
    return path


def samples(film: Path) -> np.ndarray:
    """The film's sound, decoded, as float (samples, 2)."""
    raw = subprocess.run([FFMPEG, "-v", "error", "-i", str(film), "-vn", "-ac", "2", "-ar", str(RATE), "-f", "f32le", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype="<f4").reshape(-1, 2)


def true_peak(film: Path) -> float:
    """dBTP of the film's sound by ffmpeg's EBU R128 meter."""
    report = subprocess.run([FFMPEG, "-hide_banner", "-i", str(film), "-vn", "-af", "ebur128=peak=true:framelog=quiet",
                             "-f", "null", "-"], capture_output=True, text=True).stderr
    return float(re.findall(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS", report)[-1])


def loudness(film: Path, start: float, end: float) -> float:
    """Integrated loudness (LUFS) of the film's sound between two times."""
    report = subprocess.run([FFMPEG, "-hide_banner", "-ss", str(start), "-t", str(end - start), "-i", str(film), "-vn",
                             "-af", "ebur128=framelog=quiet", "-f", "null", "-"], capture_output=True, text=True).stderr
    return float(re.findall(r"I:\s+(-?[\d.]+) LUFS", report)[-1])


def level(sound: np.ndarray, hz: float, start: float, seconds: float = 0.1) -> float:
    """Amplitude of the sine of `hz` in the left channel over `seconds` from `start`."""
    window = sound[round(start * RATE):round((start + seconds) * RATE), 0].astype(np.float64)
    t = np.arange(len(window)) / RATE
    return float(2 * abs(np.mean(window * np.exp(-2j * np.pi * hz * t))))


@pytest.fixture(scope="module")
def footage(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tones")


def test_no_film_clips_whatever_the_volumes(footage, tmp_path):
    loud = tone_clip(footage, "loud", 2.0, 1000, 0.9)
    music = Soundtrack(write_music(tmp_path / "music.wav", level=0.9))  # at its default volume, normalize off
    film = tmp_path / "film.mp4"
    assemble([Piece(loud), Piece(loud)], film, FilmSettings(size=SIZE, fps=FPS, music=music))
    sound = samples(film)
    clipped = float(np.mean(np.abs(sound) >= 0.999))
    assert clipped == 0.0, f"{clipped:.1%} of samples clipped"
    assert true_peak(film) <= -1.0
    assert level(sound, 1000, 1.0) > 0.3 and level(sound, 3000, 1.0) > 0.3  # both still there, as they were mixed
