"""Animatics: a shot drawn as a moving card (id, prompt, reference thumbnails named as the
prompt names them, a playhead) with a soundtrack whose beeps line up with one-frame white
flashes, so audio/video sync can be measured on any film made from them.

Drawn by the preview backend and by the service emulator; deterministic for a given spec.
"""
from __future__ import annotations

import colorsys
import hashlib
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from .errors import MediaError
from .media import extract_frame

FPS = 24
SAMPLE_RATE = 48_000
BEEP_HZ = 1000.0
FIRST_MARKER = 0.5  # seconds
MARKER_EVERY = 1.0
FIRST_FRAME_HOLD = 0.5  # seconds over which a given first frame dissolves into the card


def marker_times(duration: float, fps: int = FPS) -> list[float]:
    """Instants (exact frame times) at which a clip of this length flashes and beeps."""
    times = []
    t = FIRST_MARKER
    while t <= duration - 0.25:
        times.append(round(t * fps) / fps)
        t += MARKER_EVERY
    return times


@dataclass(frozen=True)
class Animatic:
    width: int
    height: int
    duration: float
    seed: int
    shot_id: str
    prompt: str
    references: list[tuple[str, Path | None, str]] = field(default_factory=list)  # (label, file, source)
    first_frame: Path | None = None
    fps: int = FPS


def render_animatic(spec: Animatic, destination: Path, scratch: Path | None = None) -> None:
    """Write the animatic clip (H.264 + AAC, 48 kHz stereo) to `destination`; working files go
    to a folder made inside `scratch` (default: the system's temporary folder) and removed."""
    from moviepy import VideoClip
    from moviepy.audio.AudioClip import AudioArrayClip

    card = _card(spec)
    first = _fit_cover(spec.first_frame, spec.width, spec.height) if spec.first_frame else None
    flashes = {round(t * spec.fps) for t in marker_times(spec.duration, spec.fps)}
    accent = np.array(_accent(spec.seed), dtype=np.uint8)
    font = _font(max(12, min(spec.width, spec.height) // 24))
    white = np.full((spec.height, spec.width, 3), 255, dtype=np.uint8)
    bar = max(4, spec.height // 90)

    def frame(t: float) -> np.ndarray:
        index = round(t * spec.fps)  # moviepy passes NumPy floats; round() of one is an int too (NumPy >= 1.19)
        if index in flashes:
            return white
        pixels = card.copy()
        progress = min(1.0, t / spec.duration) if spec.duration else 1.0
        pixels[-bar:, : int(spec.width * progress)] = accent
        x = int((spec.width - 4 * bar) * progress)
        pixels[-6 * bar : -2 * bar, x : x + 4 * bar] = accent
        if first is not None and t < FIRST_FRAME_HOLD:
            mix = t / FIRST_FRAME_HOLD
            pixels = (first * (1 - mix) + pixels * mix).astype(np.uint8)
        stamp = Image.fromarray(pixels[: 3 * font.size, -9 * font.size :])
        ImageDraw.Draw(stamp).text((font.size // 2, font.size // 2), f"{t:5.2f} s", font=font, fill=(255, 255, 255))
        pixels[: 3 * font.size, -9 * font.size :] = np.asarray(stamp)
        return pixels

    audio = _soundtrack(spec)
    clip = VideoClip(frame, duration=spec.duration).with_audio(AudioArrayClip(audio, fps=SAMPLE_RATE))
    if scratch is not None:
        scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="storyboard-preview-", dir=scratch) as working:
        clip.write_videofile(
            str(destination),
            fps=spec.fps,
            codec="libx264",
            audio_codec="aac",
            audio_fps=SAMPLE_RATE,
            audio_bitrate="128k",
            preset="ultrafast",
            threads=1,
            ffmpeg_params=["-pix_fmt", "yuv420p", "-crf", "30"],
            temp_audiofile_path=working,
            logger=None,
        )
    clip.close()


def _soundtrack(spec: Animatic) -> np.ndarray:
    samples = round(spec.duration * SAMPLE_RATE)
    t = np.arange(samples) / SAMPLE_RATE
    hum = 0.04 * np.sin(2 * np.pi * (110 + spec.seed % 110) * t)
    beep_length = round(SAMPLE_RATE / spec.fps)
    ramp = np.minimum(1.0, np.minimum(np.arange(beep_length), np.arange(beep_length)[::-1]) / 48)
    for when in marker_times(spec.duration, spec.fps):
        start = round(when * SAMPLE_RATE)
        end = min(samples, start + beep_length)
        hum[start:end] += 0.5 * ramp[: end - start] * np.sin(2 * np.pi * BEEP_HZ * t[start:end])
    return np.stack([hum, hum], axis=1).astype(np.float32)


def _font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's own scalable font (no system fonts needed)."""
    font = ImageFont.load_default(size=size)
    if not isinstance(font, ImageFont.FreeTypeFont):
        raise MediaError("Pillow was built without FreeType, which the preview's text needs")
    return font


def _accent(seed: int) -> tuple[int, int, int]:
    hue = (hashlib.sha256(str(seed).encode()).digest()[0]) / 255
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.65, 0.95)
    return int(red * 255), int(green * 255), int(blue * 255)


def _card(spec: Animatic) -> np.ndarray:
    """The still part of every frame: background, title, shot id, prompt, reference thumbnails."""
    width, height = spec.width, spec.height
    short = min(width, height)
    red, green, blue = _accent(spec.seed)
    top = np.array([red * 0.35, green * 0.35, blue * 0.35])
    bottom = np.array([12.0, 12.0, 18.0])
    ramp = np.linspace(0, 1, height)[:, None, None]
    background = (top * (1 - ramp) + bottom * ramp).repeat(width, axis=1).astype(np.uint8)
    image = Image.fromarray(background)
    draw = ImageDraw.Draw(image)
    margin = short // 20
    small = _font(max(10, short // 30))
    big = _font(max(16, short // 9))
    body = _font(max(10, short // 26))
    y = margin
    draw.text((margin, y), spec.shot_id, font=big, fill=(255, 255, 255))
    y += int(big.size * 1.3)
    draw.text((margin, y), f"seed {spec.seed}  ·  {spec.duration:g} s", font=small, fill=(200, 200, 200))
    y += int(small.size * 2)
    columns = max(16, int((width - 2 * margin) / (body.size * 0.55)))
    thumb_height = height // 4 if spec.references else 0
    bottom_limit = height - margin - thumb_height - (2 * small.size if spec.references else 0)
    for line in textwrap.wrap(spec.prompt, columns):
        if y + body.size > bottom_limit:
            draw.text((margin, y), "…", font=body, fill=(255, 255, 255))
            break
        draw.text((margin, y), line, font=body, fill=(255, 255, 255))
        y += int(body.size * 1.35)
    x = margin
    for label, path, source in spec.references:
        thumb = _thumbnail(path, source, thumb_height, small)
        if x + thumb.width > width - margin:
            break
        top_y = height - margin - thumb_height - int(small.size * 1.5)
        image.paste(thumb, (x, top_y + int(small.size * 1.5)))
        draw.text((x, top_y), label, font=small, fill=(255, 255, 255))
        x += thumb.width + margin // 2
    return np.asarray(image).copy()


def _thumbnail(path: Path | None, source: str, height: int, font: ImageFont.FreeTypeFont) -> Image.Image:
    picture = _still(path) if path is not None else None
    if picture is None:  # a URL (not fetched offline) or an unreadable file: a labelled placeholder
        picture = Image.new("RGB", (height * 16 // 9, height), (60, 60, 70))
        text = textwrap.shorten(source, width=max(8, picture.width // max(1, int(font.size) // 2)), placeholder="…")
        ImageDraw.Draw(picture).text((6, height // 2 - font.size // 2), text, font=font, fill=(230, 230, 230))
        return picture
    return ImageOps.contain(picture, (height * 2, height))


def _still(path: Path) -> Image.Image | None:
    try:
        with Image.open(path) as picture:
            return picture.convert("RGB")
    except (OSError, ValueError):
        pass
    try:
        return extract_frame(path, "start")
    except MediaError:
        return None


def _fit_cover(path: Path, width: int, height: int) -> np.ndarray:
    with Image.open(path) as picture:
        return np.asarray(ImageOps.fit(picture.convert("RGB"), (width, height))).astype(np.float32)
