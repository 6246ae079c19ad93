"""Animatics: a shot drawn as a moving card that stands in for the clip the service will make.

The card is a dark plate on a background tinted by the seed: the shot's id, its number in the
storyboard, the seed ("random" when the request sets none), the prompt, reference thumbnails
named as the prompt names them and by whose they are ("Image 1 · tan": a cast member's; else the
file's name), a clock (the film's timecode when known, and the time into the
shot) and a progress bar. The plate fills the lower part of the frame in the first half of the
shot and the upper part in the second, so when two shots crossfade, the text of the one ending
and of the one beginning lie in different places and each stays readable through the other.
The sound track is silent: a soundtrack plays over preview shots as it would over silent clips.

With `markers`, a one-frame white flash and a loud 1 kHz beep mark the same instants (0.5 s and
every second after) over a steady hum, so audio/video sync can be measured on any film made
from them.

Drawn by the preview backends and by the service emulator; deterministic for a given spec.
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

from ..errors import MediaError
from ..media import extract_frame

FPS = 24
SAMPLE_RATE = 48_000
# RGB into BT.709 limited-range YUV, tagged so (ffmpeg's scaler would make untagged BT.601 of it)
BT709_FRAMES = ("scale=out_color_matrix=bt709:out_range=tv,"
                "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv")
FIRST_FRAME_HOLD = 0.5  # seconds over which a given first frame dissolves into the card
PLATE_SHARE = 0.44  # of the frame's height: the lower and the upper place of the plate never overlap
SLIDE = 0.6  # seconds the plate takes, mid-shot, to move from the lower place to the upper one
# Sync markers (`Animatic.markers`) only:
BEEP_HZ = 1000.0
BEEP_LEVEL = 0.5  # peak, -6 dBFS: far above the hum, so a beep's onset is found to the sample
HUM_LEVEL = 0.04  # peak: steady clip sound between the beeps (it also makes a ducked soundtrack duck)
FIRST_MARKER = 0.5  # seconds
MARKER_EVERY = 1.0

PLATE = (10, 10, 14)
WHITE = (255, 255, 255)
GREY = (190, 190, 198)


def marker_times(duration: float, fps: int = FPS) -> list[float]:
    """Instants (exact frame times) at which a clip with sync markers flashes and beeps."""
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
    seed: int | None  # as requested; None: the service picks one, and the card says "seed: random"
    shot_id: str
    prompt: str
    references: list[tuple[str, Path | None, str]] = field(default_factory=list)  # (caption, file, source): `Image 1 · tan`
    first_frame: Path | None = None
    fps: int = FPS
    tint: int = 0  # picks the colours (and the markers' hum) when there is no seed; fixed per request
    place: tuple[int, int] | None = None  # (n, m): shot n of the storyboard's m
    film_start: float | None = None  # film time of the clip's first frame, when known
    markers: bool = False  # flash + beep at `marker_times`, over a hum


def heading(spec: Animatic) -> str:
    """The line under the shot id."""
    parts = [f"shot {spec.place[0]} of {spec.place[1]}"] if spec.place else []
    parts.append("seed: random" if spec.seed is None else f"seed: {spec.seed}")
    parts.append(f"{spec.duration:g} s")
    return "  ·  ".join(parts)


def clock(spec: Animatic, t: float) -> list[str]:
    """What the clock shows at clip time `t`: the film's timecode when known, then the time into the shot."""
    into_shot = f"shot {t:05.2f} / {spec.duration:g} s"
    if spec.film_start is None:
        return [into_shot]
    film = max(0.0, spec.film_start + t)
    hours, rest = divmod(film, 3600)
    minutes, seconds = divmod(rest, 60)
    return [f"film {int(hours):02d}:{int(minutes):02d}:{seconds:05.2f}", into_shot]


def plate_rows(spec: Animatic, t: float) -> tuple[int, int]:
    """The rows (top, bottom) the plate covers at clip time `t`: the lower place, then, eased mid-shot, the upper one."""
    margin, height = _margin(spec), int(spec.height * PLATE_SHARE)
    lower = spec.height - margin - height
    slide = min(SLIDE, spec.duration / 4)
    share = min(1.0, max(0.0, (t - (spec.duration - slide) / 2) / slide)) if slide > 0 else 1.0
    top = round(lower + (margin - lower) * share * share * (3 - 2 * share))
    return top, top + height


def render_animatic(spec: Animatic, destination: Path, scratch: Path | None = None) -> None:
    """Write the animatic clip (H.264 + AAC, 48 kHz stereo) to `destination`; working files go
    to a folder made inside `scratch` (default: the system's temporary folder) and removed."""
    from moviepy import VideoClip
    from moviepy.audio.AudioClip import AudioArrayClip

    background = _background(spec)
    plate, clock_box = _plate(spec)
    first = _fit_cover(spec.first_frame, spec.width, spec.height) if spec.first_frame else None
    flashes = {round(t * spec.fps) for t in marker_times(spec.duration, spec.fps)} if spec.markers else set()
    accent = np.array(_accent(spec), dtype=np.uint8)
    white = np.full((spec.height, spec.width, 3), 255, dtype=np.uint8)
    margin, bar = _margin(spec), _bar(spec)
    font = _font(_sizes(spec)["body"])
    clock_x, clock_y, clock_width, clock_height = clock_box

    def frame(t: float) -> np.ndarray:
        index = round(t * spec.fps)  # moviepy passes NumPy floats; round() of one is an int too (NumPy >= 1.19)
        if index in flashes:
            return white
        pixels = background.copy()
        top, bottom = plate_rows(spec, t)
        region = pixels[top:bottom, margin : margin + plate.shape[1]]
        region[:] = plate
        progress = min(1.0, t / spec.duration) if spec.duration else 1.0
        region[-bar:, : int(plate.shape[1] * progress)] = accent
        stamp = Image.new("RGB", (clock_width, clock_height), PLATE)
        for row, text in enumerate(clock(spec, t)):
            ImageDraw.Draw(stamp).text((0, int(row * font.size * 1.3)), text, font=font, fill=WHITE if row == 0 else GREY)
        region[clock_y : clock_y + clock_height, clock_x : clock_x + clock_width] = np.asarray(stamp)
        if first is not None and t < FIRST_FRAME_HOLD:
            mix = t / FIRST_FRAME_HOLD
            pixels = (first * (1 - mix) + pixels * mix).astype(np.uint8)
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
            # BT.709 limited range, tagged, a keyframe every 2 s: what a film is, so a film of these clips copies them
            ffmpeg_params=["-pix_fmt", "yuv420p", "-crf", "30", "-g", str(2 * spec.fps), "-vf", BT709_FRAMES],
            temp_audiofile_path=working,
            logger=None,
        )
    clip.close()


def _soundtrack(spec: Animatic) -> np.ndarray:
    """Silence; with markers, the hum and the beeps."""
    samples = round(spec.duration * SAMPLE_RATE)
    if not spec.markers:
        return np.zeros((samples, 2), dtype=np.float32)
    t = np.arange(samples) / SAMPLE_RATE
    hum = HUM_LEVEL * np.sin(2 * np.pi * (110 + _key(spec) % 110) * t)
    beep_length = round(SAMPLE_RATE / spec.fps)
    ramp = np.minimum(1.0, np.minimum(np.arange(beep_length), np.arange(beep_length)[::-1]) / 48)
    for when in marker_times(spec.duration, spec.fps):
        start = round(when * SAMPLE_RATE)
        end = min(samples, start + beep_length)
        hum[start:end] += BEEP_LEVEL * ramp[: end - start] * np.sin(2 * np.pi * BEEP_HZ * t[start:end])
    return np.stack([hum, hum], axis=1).astype(np.float32)


def _font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's own scalable font (no system fonts needed)."""
    font = ImageFont.load_default(size=size)
    if not isinstance(font, ImageFont.FreeTypeFont):
        raise MediaError("Pillow was built without FreeType, which the preview's text needs")
    return font


def _key(spec: Animatic) -> int:
    return spec.seed if spec.seed is not None else spec.tint


def _accent(spec: Animatic) -> tuple[int, int, int]:
    hue = (hashlib.sha256(str(_key(spec)).encode()).digest()[0]) / 255
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.65, 0.95)
    return int(red * 255), int(green * 255), int(blue * 255)


def _margin(spec: Animatic) -> int:
    return min(spec.width, spec.height) // 24


def _bar(spec: Animatic) -> int:
    return max(3, spec.height // 160)


def _sizes(spec: Animatic) -> dict[str, int]:
    short = min(spec.width, spec.height)
    return {"title": max(16, short // 13), "body": max(10, short // 28), "small": max(9, short // 34)}


def _background(spec: Animatic) -> np.ndarray:
    """Plain and mid-dark, so the dark plate stands out on it and shows through another shot's card."""
    accent = np.array(_accent(spec), dtype=np.float64)
    top, bottom = accent * 0.32 + 16, accent * 0.2 + 14
    ramp = np.linspace(0, 1, spec.height)[:, None, None]
    return (top * (1 - ramp) + bottom * ramp).repeat(spec.width, axis=1).astype(np.uint8)


def _plate(spec: Animatic) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The still part of the plate, and the box (x, y, width, height) in it where the clock goes."""
    width, height = spec.width - 2 * _margin(spec), int(spec.height * PLATE_SHARE)
    sizes = _sizes(spec)
    title, body, small = _font(sizes["title"]), _font(sizes["body"]), _font(sizes["small"])
    pad, bar = max(6, _margin(spec) * 2 // 3), _bar(spec)
    image = Image.new("RGB", (width, height), PLATE)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, bar - 1, height), fill=_accent(spec))
    clock_width = int(max(body.getlength(text) for text in clock(spec, spec.duration)) * 1.05) + pad
    clock_height = int(body.size * 1.3 * (1 if spec.film_start is None else 2))
    clock_x = width - pad - clock_width
    left = pad + bar
    draw.text((left, pad), _shorten(spec.shot_id, title, clock_x - left - pad), font=title, fill=WHITE)
    y = pad + int(title.size * 1.25)
    draw.text((left, y), _shorten(heading(spec), small, clock_x - left - pad), font=small, fill=GREY)
    y += int(small.size * 1.9)
    bottom = height - pad - bar
    text_right = width - pad
    if spec.references:
        gap = pad
        if spec.width >= spec.height:  # thumbnails in a column on the right, under the clock
            text_right = int(width * 0.64)
            area = (text_right + gap, pad + clock_height + gap, width - pad, bottom)
        else:  # a row along the bottom
            strip = height // 4
            area = (left, bottom - strip, width - pad, bottom)
            bottom -= strip + gap
        _thumbnails(image, spec.references, area, small)
    line_height = int(body.size * 1.35)
    lines = _wrap(spec.prompt, body, text_right - left)
    fits = max(0, (bottom - y) // line_height)
    if len(lines) > fits and fits:
        lines = [*lines[: fits - 1], _ending(lines[fits - 1], body, text_right - left)]
    for line in lines[:fits]:
        draw.text((left, y), line, font=body, fill=WHITE)
        y += line_height
    return np.asarray(image).copy(), (clock_x, pad, clock_width, clock_height)


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Lines no wider than `width` (measured), breaking between words; the prompt's own line breaks kept."""
    lines: list[str] = []
    for paragraph in text.splitlines():
        line = ""
        for word in paragraph.split():
            while font.getlength(word) > width and len(word) > 1:  # a word wider than the line: cut it
                cut = max(1, int(len(word) * width / font.getlength(word)) - 1)
                if line:
                    lines.append(line)
                    line = ""
                lines.append(word[:cut])
                word = word[cut:]
            candidate = f"{line} {word}" if line else word
            if font.getlength(candidate) <= width:
                line = candidate
            else:
                lines.append(line)
                line = word
        if line:
            lines.append(line)
    return lines


def _shorten(text: str, font: ImageFont.FreeTypeFont, width: int) -> str:
    """`text`, cut short with an ellipsis if it is wider than `width`."""
    return text if font.getlength(text) <= width else _ending(text, font, width)


def _ending(text: str, font: ImageFont.FreeTypeFont, width: int) -> str:
    """`text`, cut short enough to end in an ellipsis within `width`."""
    while text and font.getlength(text.rstrip() + " …") > width:
        text = text[:-1]
    return text.rstrip() + " …"


def _thumbnails(image: Image.Image, references: list[tuple[str, Path | None, str]], area: tuple[int, int, int, int],
                font: ImageFont.FreeTypeFont) -> None:
    """Side by side in `area` (left, top, right, bottom), each under its label; those that do not fit are left out."""
    left, top, right, bottom = area
    size = int(font.size)
    gap = max(4, size // 2)
    label_height = int(size * 1.4)
    cell_height = bottom - top - label_height
    fits = max(1, (right - left + gap) // (size * 5 + gap))
    shown = references[:fits]
    cell_width = (right - left - gap * (len(shown) - 1)) // len(shown)
    if cell_height < size or cell_width < size:
        return
    draw = ImageDraw.Draw(image)
    for number, (label, path, source) in enumerate(shown):
        x = left + number * (cell_width + gap)
        draw.text((x, top), _shorten(label, font, cell_width), font=font, fill=WHITE)
        image.paste(_thumbnail(path, source, (cell_width, cell_height), font), (x, top + label_height))


def _thumbnail(path: Path | None, source: str, box: tuple[int, int], font: ImageFont.FreeTypeFont) -> Image.Image:
    picture = _still(path) if path is not None else None
    if picture is None:  # a URL (not fetched offline) or an unreadable file: a labelled placeholder
        width, height = box[0], min(box[1], box[0] * 9 // 16)
        picture = Image.new("RGB", (width, height), (60, 60, 70))
        text = textwrap.shorten(source, width=max(8, width // max(1, int(font.size) // 2)), placeholder="…")
        ImageDraw.Draw(picture).text((6, height // 2 - font.size // 2), text, font=font, fill=(230, 230, 230))
        return picture
    return ImageOps.contain(picture, box)


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
