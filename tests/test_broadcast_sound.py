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


def test_ducking_holds_through_pauses_in_speech_and_returns_after_a_second(footage, tmp_path):
    # 1 s quiet, then "speech" (0.7 s of sound, 0.3 s pause) four times, then 2 s quiet
    speech = tone_clip(footage, "speech", 7.0, 1000, 0.3,
                       sound="|".join(["0.3*sin(2*PI*1000*t)*between(t,1,4.7)*lt(mod(t-1,1),0.7)"] * 2))
    volume, duck = 0.5, 0.3
    music = Soundtrack(write_music(tmp_path / "music.wav", level=0.5), volume=volume, duck=duck)
    film = tmp_path / "film.mp4"
    assemble([Piece(speech)], film, FilmSettings(size=SIZE, fps=FPS, music=music))
    sound = samples(film)
    full = level(sound, 3000, 0.4, 0.4) / volume  # the music's amplitude at gain 1
    gains = {round(at, 2): level(sound, 3000, at, 0.02) / full for at in np.arange(0.0, 7.0, 0.02)}
    ducked = volume * duck
    under_speech = [gain for at, gain in gains.items() if 1.0 <= at <= 4.68]
    swing = f"music swings {min(under_speech):.2f}–{max(under_speech):.2f}"
    assert max(abs(gain - ducked) for gain in under_speech) <= 0.05, swing
    assert all(abs(gains[at] - volume) <= 0.05 for at in (0.2, 0.5)) and gains[0.96] < volume - 0.1  # going down as speech begins
    assert abs(gains[5.0] - ducked) <= 0.05  # a pause of 0.3 s is not the end of the speech
    assert all(abs(gains[round(at, 2)] - volume) <= 0.05 for at in np.arange(5.76, 6.9, 0.1))  # back about 1 s after it


def test_a_5_1_clip_is_folded_to_stereo_with_its_lfe_and_never_clips(footage, tmp_path):
    # every channel at full scale, each with a tone of its own: FL FR FC LFE BL BR
    tones = {"FL": 500, "FR": 700, "FC": 900, "LFE": 60, "BL": 1100, "BR": 1300}
    surround = tone_clip(footage, "surround", 2.0, 0, 0, layout="5.1",
                         sound="|".join(f"0.99*sin(2*PI*{hz}*t)" for hz in tones.values()))
    film = tmp_path / "film.mp4"
    assemble([Piece(surround)], film, FilmSettings(size=SIZE, fps=FPS))
    sound = samples(film)
    assert float(np.mean(np.abs(sound) >= 0.999)) == 0.0 and true_peak(film) <= -1.0

    def heard(hz: float, channel: int) -> float:
        return level(sound[:, [channel, channel]], hz, 0.5, 1.0)

    front = heard(tones["FL"], 0)
    assert front > 0.2 and heard(tones["FL"], 1) < 0.01 * front  # left stays left, loud enough to hear
    assert abs(heard(tones["FR"], 1) / front - 1) < 0.05
    for name in ("FC", "LFE"):  # to both sides at -3 dB
        for channel in (0, 1):
            assert abs(heard(tones[name], channel) / front - 0.5 ** 0.5) < 0.05, name
    assert abs(heard(tones["BL"], 0) / front - 0.5 ** 0.5) < 0.05 and heard(tones["BL"], 1) < 0.01 * front
