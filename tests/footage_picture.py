"""Tone- and motion-coded footage for the film's picture: colour encodings (BT.709, BT.601 tagged or
not, full range, HDR10 PQ and HLG in 10 bits), anamorphic PAL, 576i, and plain fields of one level
for timing ramps; and measurements of a film: patch colours, a square's aspect, combing, opacity.

Every patch clip shows PATCHES as vertical bars, encoded as its recipe says; a correct film shows
each bar at its RGB value (read as BT.709 limited range, what the film's tags must say).
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import av
import imageio_ffmpeg
import numpy as np

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
GREYS = [(value, value, value) for value in (16, 64, 128, 192, 235)]
PATCHES = [*GREYS, (180, 40, 40), (40, 160, 40), (40, 40, 180)]  # RGB, 0-255 as displayed
MID_GREY = 2  # index of 128 in PATCHES

_BT709 = ["-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709"]
_UNTAGGED = "setparams=color_primaries=unknown:color_trc=unknown:colorspace=unknown:range=unknown"
_TAGGED_709 = "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709"
_TO_LINEAR = "format=gbrp,zscale=tin=709:pin=709:min=gbr:rin=full:t=linear:p=709:m=gbr:r=full,format=gbrpf32le"
ENCODINGS: dict[str, tuple[str, list[str]]] = {  # name -> (filter from RGB, encoder options)
    "bt709": (f"scale=out_color_matrix=bt709:out_range=tv,format=yuv420p,{_TAGGED_709}:range=tv",
              [*_BT709, "-color_range", "tv"]),
    "bt709_matrix_only": ("scale=out_color_matrix=bt709:out_range=tv,format=yuv420p", ["-colorspace", "bt709"]),
    "bt601": ("scale=out_color_matrix=bt601:out_range=tv,format=yuv420p,"
              "setparams=color_primaries=smpte170m:color_trc=smpte170m:colorspace=smpte170m:range=tv",
              ["-color_primaries", "smpte170m", "-color_trc", "smpte170m", "-colorspace", "smpte170m", "-color_range", "tv"]),
    "bt601_untagged": (f"scale=out_color_matrix=bt601:out_range=tv,format=yuv420p,{_UNTAGGED}", []),
    "full_range": (f"scale=out_color_matrix=bt709:out_range=pc,format=yuvj420p,{_TAGGED_709}:range=pc",
                   [*_BT709, "-color_range", "pc"]),
    "pq": (f"{_TO_LINEAR},zscale=p=2020:t=smpte2084:m=2020_ncl:r=limited,format=yuv420p10le",
           ["-color_primaries", "bt2020", "-color_trc", "smpte2084", "-colorspace", "bt2020nc", "-color_range", "tv"]),
    "hlg": (f"{_TO_LINEAR},zscale=p=2020:t=arib-std-b67:m=2020_ncl:r=limited,format=yuv420p10le",
            ["-color_primaries", "bt2020", "-color_trc", "arib-std-b67", "-colorspace", "bt2020nc", "-color_range", "tv"]),
}


TONE_HZ, TONE_LEVEL = 1000, 0.5


def _encode(frames: np.ndarray, fps: int, out: Path, picture_filter: str, options: list[str], tone: bool = False) -> Path:
    """RGB frames (n, height, width, 3) into an H.264 MP4 through `picture_filter`; with a steady tone if `tone`."""
    count, height, width, _ = frames.shape
    tone_input = ["-f", "lavfi", "-i", f"sine=f={TONE_HZ}:r=48000:d={count / fps},volume={TONE_LEVEL * 8}"] if tone else []
    tone_output = ["-c:a", "aac", "-b:a", "192k"] if tone else []  # `sine` is at 1/8
    subprocess.run([FFMPEG, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
                    "-r", str(fps), "-i", "-", *tone_input, "-vf", picture_filter, "-c:v", "libx264", "-preset", "ultrafast",
                    "-crf", "12", *options, *tone_output, str(out)], input=frames.tobytes(), check=True)
    return out


def patch_frame(width: int, height: int) -> np.ndarray:
    frame = np.zeros((height, width, 3), np.uint8)
    bar = width // len(PATCHES)
    for index, colour in enumerate(PATCHES):
        frame[:, index * bar:(index + 1) * bar] = colour
    return frame


def patch_clip(encoding: str, out: Path, size: tuple[int, int] = (320, 180), seconds: float = 0.4, fps: int = 25) -> Path:
    picture_filter, options = ENCODINGS[encoding]
    frames = np.repeat(patch_frame(*size)[None], round(seconds * fps), axis=0)
    return _encode(frames, fps, out, picture_filter, options)


def level_clip(level: int, out: Path, seconds: float, fps: int = 25, size: tuple[int, int] = (64, 36),
               tone: bool = False) -> Path:
    """Every frame one grey level (RGB), BT.709: opacity reads straight off a film's frames. `tone`: with a
    steady 1 kHz tone at TONE_LEVEL (else silent): the sound's gain reads straight off the film too."""
    frames = np.full((round(seconds * fps), size[1], size[0], 3), level, np.uint8)
    return _encode(frames, fps, out, ENCODINGS["bt709"][0], ENCODINGS["bt709"][1], tone=tone)


def sound_gain(film: Path, times: np.ndarray) -> np.ndarray:
    """The tone's gain in the film's sound around each of `times` (its peak over one period, over TONE_LEVEL)."""
    raw = subprocess.run([FFMPEG, "-v", "error", "-i", str(film), "-vn", "-ac", "1", "-ar", "48000", "-f", "f32le", "-"],
                         capture_output=True, check=True).stdout
    samples = np.abs(np.frombuffer(raw, "<f4"))
    period = 48000 // TONE_HZ
    return np.array([samples[max(0, round(t * 48000) - period // 2):round(t * 48000) + period // 2 + 1].max(initial=0)
                     for t in times]) / TONE_LEVEL


def anamorphic_clip(out: Path, side: int = 288) -> Path:
    """PAL 16:9 anamorphic: 720x576 stored, SAR 64:45 (shows 1024x576), on grey a white square `side` px as shown."""
    frame = np.full((576, 720, 3), 100, np.uint8)
    stored_width = round(side * 45 / 64)
    frame[144:144 + side, 360 - stored_width // 2:360 - stored_width // 2 + stored_width] = 255
    frames = np.repeat(frame[None], 10, axis=0)
    return _encode(frames, 25, out, "scale=out_color_matrix=bt601:out_range=tv,format=yuv420p,setsar=64/45",
                   ["-color_primaries", "bt470bg", "-color_trc", "bt709", "-colorspace", "bt470bg"])


def interlaced_clip(out: Path, fields_per_second: int = 50, seconds: float = 0.6, step: int = 15) -> Path:
    """576i top field first: a white edge on black moving `step` px right each field (progressive in each field)."""
    rows, columns = 576, 720
    count = round(seconds * fields_per_second)
    frames = np.zeros((count, rows, columns, 3), np.uint8)
    for index in range(count):
        frames[index, :, :100 + step * index] = 235
    return _encode(frames, fields_per_second, out,
                   "tinterlace=mode=interleave_top,setfield=tff,scale=out_color_matrix=bt601:out_range=tv,format=yuv420p",
                   ["-flags", "+ildct+ilme", "-field_order", "tt", "-colorspace", "bt470bg", "-color_primaries", "bt470bg",
                    "-color_trc", "bt709"])


def progressive_edge_clip(out: Path, fps: int = 25, seconds: float = 0.6, step: int = 30) -> Path:
    count = round(seconds * fps)
    frames = np.zeros((count, 576, 720, 3), np.uint8)
    for index in range(count):
        frames[index, :, :100 + step * index] = 235
    return _encode(frames, fps, out, ENCODINGS["bt601"][0], ENCODINGS["bt601"][1])


def film_rgb(film: Path, at: float | None = None) -> list[np.ndarray]:
    """The film's frames (or the one shown at `at` seconds) as RGB, read as BT.709 limited range."""
    width, height = film_size(film)
    seek, one = (["-ss", f"{at:.4f}"], ["-frames:v", "1"]) if at is not None else ([], [])
    raw = subprocess.run([FFMPEG, "-v", "error", *seek, "-i", str(film), *one, "-vf",
                          "scale=in_color_matrix=bt709:in_range=tv:flags=neighbor,format=rgb24", "-f", "rawvideo", "-"],
                         capture_output=True, check=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)
    return list(frames)


def film_size(film: Path) -> tuple[int, int]:
    with av.open(str(film)) as container:
        context = container.streams.video[0].codec_context
        return context.width, context.height


def patch_errors(frame: np.ndarray) -> list[float]:
    """How far (levels, worst channel) each patch of a film frame is from its colour; the picture may be
    letterboxed or pillarboxed: the patches are found in the area that is not black."""
    lit = np.flatnonzero(frame.max(axis=(0, 2)) > 0)  # no patch is pure black in RGB 0
    left, right = (lit[0], lit[-1] + 1) if len(lit) else (0, frame.shape[1])
    rows = np.flatnonzero(frame.max(axis=(1, 2)) > 0)
    top, bottom = rows[0], rows[-1] + 1
    bar = (right - left) / len(PATCHES)
    errors = []
    for index, colour in enumerate(PATCHES):
        middle = frame[top + (bottom - top) // 3:bottom - (bottom - top) // 3,
                       int(left + bar * (index + 0.3)):int(left + bar * (index + 0.7))]
        errors.append(float(np.abs(middle.reshape(-1, 3).mean(axis=0) - colour).max()))
    return errors


def bright_box(frame: np.ndarray, threshold: int = 200) -> tuple[int, int]:
    """Width and height of the area brighter than `threshold`."""
    bright = frame.mean(axis=2) > threshold
    columns, rows = np.flatnonzero(bright.any(axis=0)), np.flatnonzero(bright.any(axis=1))
    return int(columns[-1] - columns[0] + 1), int(rows[-1] - rows[0] + 1)


def combing(frame: np.ndarray) -> float:
    """Mean distance in px between where the moving edge is on even rows and on odd rows."""
    edges = (frame.mean(axis=2) > 128).sum(axis=1).astype(float)  # the edge's column on each row (white from the left)
    return float(np.abs(edges[0::2][:len(edges) // 2] - edges[1::2][:len(edges) // 2]).mean())


def opacities(film: Path, low: int = 16, high: int = 235) -> np.ndarray:
    """Per frame, where its mean level lies between `low` (0) and `high` (1)."""
    return np.array([(frame.mean() - low) / (high - low) for frame in film_rgb(film)])


def colour_tags(path: Path) -> tuple[str, ...]:
    """(primaries, transfer, matrix, range) as the film's stream states them."""
    with av.open(str(path)) as container:
        context = container.streams.video[0].codec_context
        return tuple(str(value) for value in (context.color_primaries, context.color_trc, context.colorspace,
                                               context.color_range))


def parameter_sets(path: Path) -> bytes:
    with av.open(str(path)) as container:
        return bytes(container.streams.video[0].codec_context.extradata or b"")


def keyframe_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sorted(float(packet.pts * stream.time_base) for packet in container.demux(stream)
                      if packet.is_keyframe and packet.pts is not None)
