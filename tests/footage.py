"""Hostile footage for tests and benchmarks, and an analyser that measures a rendered film.

Every clip is 2–3 s of a dark moving test pattern with a red orientation square in the top-left corner of the
upright picture, white full-frame flashes of 0.1 s and 1 kHz beeps of 0.1 s that start at the same instants in
presentation time. `make_case(name, folder)` builds one clip (cached); `analyse(film)` finds the flashes and
beeps of a film, so a test can check that an assembly kept picture and sound together and the picture upright.

Run `python tests/footage.py FOLDER` to build every case there and print what each file really holds.
"""
from __future__ import annotations

import itertools
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import imageio_ffmpeg
import numpy as np

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()

RATE = 48_000  # audio sample rate of every case
BEEP_HZ = 1000
BEEP_LEVEL = 0.5  # peak amplitude of the beeps (-6 dBFS); silence elsewhere
LENGTH = 0.1  # seconds a flash and a beep last
MARKER = 0.2  # side of the red square, as a fraction of the picture's short side
TARGETS = (0.5, 1.2, 1.9)  # wanted event instants; each case snaps them to frames it really has
BRIGHT = 128.0  # luma (0-255) above which a frame counts as a flash

_MP4 = ("-f", "mp4")
_H264 = ("-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", "-profile:v", "high", "-g", "48")
_AAC = ("-c:a", "aac", "-b:a", "128k", "-ar", str(RATE), "-ac", "2")


@dataclass(frozen=True)
class Case:
    name: str
    path: Path  # the clip made
    events: tuple[float, ...]  # flash/beep instants, seconds from the clip's start (the earliest stream's first timestamp)
    duration: float  # the clip's intended length in seconds (what a correct assembly should give it)
    upright: tuple[int, int]  # (width, height) of the picture as it should be displayed
    note: str  # one line: what is hostile about it


@dataclass(frozen=True)
class _Recipe:
    """How to make one case: the picture's frame rate and size, the encoders and muxer, and any twist."""

    suffix: str
    note: str
    fps: Fraction = Fraction(24)
    upright: tuple[int, int] = (640, 360)
    video: tuple[str, ...] = _H264
    audio: tuple[str, ...] = _AAC
    muxer: tuple[str, ...] = _MP4
    video_delay: float = 0.0  # seconds the video starts after the audio
    rotate: int = 0  # display-matrix rotation (ffmpeg's sign: counter-clockwise degrees)
    vfr: bool = False
    keep: float = 1.0  # fraction of the file's bytes kept (the rest is cut off)


# Phone-style variable frame rate: made at 60 fps, every other frame dropped in the 30 fps stretches (seconds).
_VFR_RATE = 60
_VFR_STRETCHES_AT_30 = ((0.0, 0.6), (1.3, 2.0))
_SECONDS = 2.5  # length of every case's picture

_RECIPES: dict[str, _Recipe] = {
    "plain": _Recipe(".mp4", "nothing: H.264/AAC MP4, 24 fps CFR, 640x360, can be stream-copied into a 640x360 24 fps film"),
    "truncated": _Recipe(".mp4", "moov at the front, file cut to 60 % of its bytes: streams stop short of their declared length",
                         muxer=(*_MP4, "-movflags", "+faststart"), keep=0.6),
    "vfr": _Recipe(".mp4", "phone-style VFR: 30 fps and 60 fps stretches (timescale 600), two events off the 1/24 s grid",
                   fps=Fraction(_VFR_RATE), muxer=(*_MP4, "-video_track_timescale", "600"), vfr=True),
    "rotated": _Recipe(".mp4", "portrait shot stored as 640x360 landscape with a display matrix (rotation -90), codec as plain",
                       upright=(360, 640), rotate=-90),
    "late_video": _Recipe(".mp4", "video starts 0.5 s after the audio (an empty edit in the MP4)", video_delay=0.5),
    "offset_start": _Recipe(
        ".mp4", "streams start at +10 s (video at 10.0, AAC at 9.9787: its 1024 priming samples are not edited out)",
        muxer=(*_MP4, "-output_ts_offset", "10"),
    ),
    "ntsc_23976": _Recipe(".mp4", "24000/1001 fps: drifts against 24 fps, events off the 1/24 s grid",
                          fps=Fraction(24000, 1001)),
    "ntsc_2997": _Recipe(".mp4", "30000/1001 fps: frame-rate conversion needed, events off the 1/24 s grid",
                         fps=Fraction(30000, 1001)),
    "mpegts": _Recipe(".ts", "MPEG-TS: timestamps start near 1.4 s, AAC (ADTS) starts 1024 priming samples before the video",
                      muxer=("-f", "mpegts")),
    "m2ts": _Recipe(".m2ts", "Blu-ray style M2TS (192-byte packets), AAC priming as in mpegts",
                    muxer=("-f", "mpegts", "-mpegts_m2ts_mode", "1")),
    "mkv": _Recipe(".mkv", "H.264/AAC in Matroska (1 ms timestamps)", muxer=("-f", "matroska")),
    "mov": _Recipe(".mov", "H.264/AAC in QuickTime", muxer=("-f", "mov")),
    "webm": _Recipe(".webm", "VP9/Opus WebM (Opus codec delay, 1 ms timestamps)",
                    video=("-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "0", "-crf", "35",
                           "-pix_fmt", "yuv420p", "-g", "48"),
                    audio=("-c:a", "libopus", "-b:a", "96k", "-ar", str(RATE), "-ac", "2"), muxer=("-f", "webm")),
    "avi": _Recipe(".avi", "MPEG-4 part 2 and PCM in AVI",
                   video=("-c:v", "mpeg4", "-q:v", "3", "-pix_fmt", "yuv420p", "-g", "48"),
                   audio=("-c:a", "pcm_s16le", "-ar", str(RATE), "-ac", "2"), muxer=("-f", "avi")),
    "mxf": _Recipe(".mxf", "MPEG-2 and PCM in MXF (OP1a)",
                   video=("-c:v", "mpeg2video", "-b:v", "6M", "-pix_fmt", "yuv420p", "-g", "12"),
                   audio=("-c:a", "pcm_s16le", "-ar", str(RATE), "-ac", "2"), muxer=("-f", "mxf")),
}

CASES: tuple[str, ...] = tuple(_RECIPES)


def _ffmpeg(*arguments: str) -> None:
    result = subprocess.run([FFMPEG, "-hide_banner", "-v", "error", "-y", *arguments], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg {' '.join(arguments)} failed: {result.stderr.strip()}")


def _frames(recipe: _Recipe) -> int:
    """Frames of the picture at the recipe's (source) frame rate."""
    return math.floor(_SECONDS * recipe.fps + Fraction(1, 2))


def _length(recipe: _Recipe) -> Fraction:
    """Seconds the picture lasts: a whole number of frames."""
    return _frames(recipe) / recipe.fps


def _event_frames(recipe: _Recipe) -> list[int]:
    """Indices (at the source rate) of the first frame of each flash: the target instants snapped to real frames."""
    indices = []
    for target in TARGETS:
        index = math.floor(target * recipe.fps + Fraction(1, 2))
        if recipe.vfr and _at_30(Fraction(index, _VFR_RATE)) and index % 2:
            index += 1  # that frame is dropped: take the next one that stays
        indices.append(index)
    return indices


def _at_30(at: Fraction) -> bool:
    return any(start <= at < end for start, end in _VFR_STRETCHES_AT_30)


def _picture_filter(recipe: _Recipe) -> str:
    width, height = recipe.upright
    per_flash = math.ceil(LENGTH * recipe.fps - Fraction(1, 1000))  # frames whose time lies in [event, event + 0.1)
    flashes = "+".join(f"between(n,{first},{first + per_flash - 1})" for first in _event_frames(recipe))
    side = round(MARKER * min(width, height) / 2) * 2
    chain = [
        f"testsrc2=s={width}x{height}:r={recipe.fps}",
        f"trim=end_frame={_frames(recipe)}",
        "lutyuv=y=val*0.3:u=128+(val-128)*0.3:v=128+(val-128)*0.3",  # dark and greyish, nothing red
        f"drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='{flashes}'",
        f"drawbox=x=0:y=0:w={side}:h={side}:color=red:t=fill",  # on top of the flashes too
    ]
    if recipe.rotate == -90:
        chain.append("transpose=cclock")  # stored turned a quarter to the left; the matrix turns it back (like a phone)
    if recipe.vfr:
        frames_at_30 = "+".join(
            f"between(n,{round(start * _VFR_RATE)},{round(end * _VFR_RATE) - 1})*mod(n,2)" for start, end in _VFR_STRETCHES_AT_30
        )
        chain.append(f"select='eq({frames_at_30},0)'")
    chain.append("format=yuv420p,setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv")
    return ",".join(chain)


def _sound_filter(recipe: _Recipe) -> str:
    starts = [float(Fraction(index) / recipe.fps) + recipe.video_delay for index in _event_frames(recipe)]
    beeps = "+".join(f"gte(t,{at - 1e-7!r})*lt(t,{at + LENGTH - 1e-7!r})*sin(2*PI*{BEEP_HZ}*(t-{at!r}))" for at in starts)
    samples = round((recipe.video_delay + _length(recipe)) * RATE)
    return f"aevalsrc=exprs='{BEEP_LEVEL}*({beeps})':s={RATE}:c=stereo,atrim=end_sample={samples}"


def _build(recipe: _Recipe, out: Path) -> None:
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.stem}-") as scratch:
        made = Path(scratch) / f"made{recipe.suffix}"
        delay = ("-itsoffset", str(recipe.video_delay)) if recipe.video_delay else ()
        timing = ("-fps_mode", "passthrough") if recipe.vfr else ()
        _ffmpeg(
            *delay, "-f", "lavfi", "-i", _picture_filter(recipe), "-f", "lavfi", "-i", _sound_filter(recipe),
            "-map", "0:v", "-map", "1:a", *timing, *recipe.video, *recipe.audio, *recipe.muxer, str(made),
        )
        if recipe.rotate:
            turned = Path(scratch) / f"turned{recipe.suffix}"
            _ffmpeg("-display_rotation", str(recipe.rotate), "-i", str(made), "-map", "0", "-c", "copy", *recipe.muxer,
                    str(turned))
            made = turned
        if recipe.keep < 1:
            data = made.read_bytes()
            made.write_bytes(data[: int(len(data) * recipe.keep)])
        os.replace(made, out)


def make_case(name: str, directory: Path) -> Case:
    """Build the case `name` in `directory` (kept and reused when the file is already there) and describe it."""
    recipe = _RECIPES[name]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}{recipe.suffix}"
    if not path.exists():
        _build(recipe, path)
    # The clip starts at its earliest stream's first timestamp; the picture's content starts with its first frame.
    # They differ by the designed video delay, and by whatever the container does with the audio's priming.
    video_start, audio_start = _first_times(path)
    assert video_start is not None, f"{path}: no video decodes"
    lead = video_start - min(video_start, audio_start if audio_start is not None else video_start)
    events = tuple(round(lead + float(Fraction(index) / recipe.fps), 6) for index in _event_frames(recipe))
    return Case(name, path, events, round(lead + float(_length(recipe)), 6), recipe.upright, recipe.note)


# --- analysis ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Analysis:
    video_duration: float  # last frame pts + frame duration - first pts
    audio_duration: float  # decoded samples / rate
    flashes: tuple[float, ...]  # film times (s) where a flash begins (first bright frame of each run), by frame pts
    beeps: tuple[float, ...]  # film times (s) where a beep begins, sample-precise
    rotation: int  # display-matrix rotation of the film's video stream (0 if none), ffmpeg's sign
    size: tuple[int, int]  # stored size of the film's frames
    marker: str  # quadrant of the red marker in the stored frame (display matrix not applied), or 'none'

    def worst_offset(self) -> float:
        """Largest distance from a flash to the nearest beep, in seconds (0 when there are none)."""
        assert len(self.flashes) == len(self.beeps), (
            f"{len(self.flashes)} flashes at {_times(self.flashes)} but {len(self.beeps)} beeps at {_times(self.beeps)}"
        )
        return max((min(abs(flash - beep) for beep in self.beeps) for flash in self.flashes), default=0.0)


def _times(values: Sequence[float]) -> str:
    return "[" + ", ".join(f"{value:.4f}" for value in values) + "]"


def _decoded(container: av.container.InputContainer, *streams: av.stream.Stream) -> Iterator[av.VideoFrame | av.AudioFrame]:
    """Every frame of these streams in decoding order, stopping quietly where a damaged file stops making sense."""
    try:
        for packet in container.demux(*streams):
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                continue
            yield from (frame for frame in frames if isinstance(frame, (av.VideoFrame, av.AudioFrame)))
    except (av.error.EOFError, av.error.InvalidDataError):
        return


def _seconds(frame: av.VideoFrame | av.AudioFrame) -> float:
    assert frame.pts is not None and frame.time_base is not None, "a decoded frame without a timestamp"
    return float(frame.pts * frame.time_base)


def _first_times(path: Path) -> tuple[float | None, float | None]:
    """Times of the first decoded video frame and the first decoded audio frame (None when a stream is missing)."""
    with av.open(str(path)) as container:
        streams = [*container.streams.video[:1], *container.streams.audio[:1]]
        first: dict[str, float] = {}
        for frame in _decoded(container, *streams):
            kind = "video" if isinstance(frame, av.VideoFrame) else "audio"
            if kind not in first and frame.pts is not None:
                first[kind] = _seconds(frame)  # decoders give frames in presentation order, the earliest first
            if len(first) == len(streams):
                break
    return first.get("video"), first.get("audio")


def _samples(frame: av.AudioFrame) -> np.ndarray:
    """The frame's samples as float32, shape (channels, samples)."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if not frame.format.is_planar:
        data = data.reshape(-1, channels).T
    if data.dtype.kind == "i":
        return data.astype(np.float32) / float(2 ** (8 * data.dtype.itemsize - 1))
    if data.dtype.kind == "u":
        return (data.astype(np.float32) - 128) / 128
    return data.astype(np.float32)


def _red(rgb: np.ndarray) -> np.ndarray:
    """Where the picture is the marker's red (a greyish dark background and white flashes are not)."""
    pixels = rgb.astype(np.int16)
    return (pixels[..., 0] - np.maximum(pixels[..., 1], pixels[..., 2])) > 110


def _quadrant(rgb: np.ndarray) -> str:
    ys, xs = np.nonzero(_red(rgb))
    if len(xs) < 4:
        return "none"
    height, width = rgb.shape[:2]
    vertical = "top" if ys.mean() < height / 2 else "bottom"
    return f"{vertical}-{'left' if xs.mean() < width / 2 else 'right'}"


def _luma(rgb: np.ndarray) -> float:
    """Brightness of the picture's brighter quarter: a flash counts even when the picture is letter- or pillarboxed."""
    luma = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return float(np.percentile(luma, 75))


def _onsets(mono: np.ndarray, rate: int, peak: float) -> list[int]:
    """Sample indices where a beep begins: the first sample above a tenth of the loudest peak after 20 ms of quiet.

    AAC's and Opus's pre-echo before an onset stays near 1 % of the beep, and a beep that starts at phase 0
    crosses a tenth of its amplitude one sample after its start. `peak` is the beeps' level (the loudest sample)."""
    if peak < 0.01:
        return []
    loud = np.flatnonzero(np.abs(mono) > 0.1 * peak)
    breaks = np.flatnonzero(np.diff(loud) > rate // 50) + 1
    groups = np.split(loud, breaks)
    return [int(group[0]) for group in groups if group[-1] - group[0] >= rate // 50]


def analyse(film: Path, span: tuple[float, float] | None = None) -> Analysis:
    """Measure a film; with `span` (film seconds), only flashes, beeps and the marker inside that window count.

    Film time 0 is the earliest stream's first timestamp; times stay film times even with a span.
    """
    with av.open(str(film)) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        streams = [stream for stream in (video, audio) if stream is not None]
        times: list[float] = []
        brightness: list[float] = []
        quadrants: list[str] = []
        durations: list[float] = []
        rotation, size = 0, (0, 0)
        chunks: list[np.ndarray] = []
        audio_start: float | None = None
        rate = 0
        for frame in _decoded(container, *streams):
            if isinstance(frame, av.VideoFrame):
                if not times:
                    rotation, size = int(frame.rotation or 0), (frame.width, frame.height)
                small = frame.reformat(width=128, height=72, format="rgb24").to_ndarray()
                times.append(_seconds(frame))
                brightness.append(_luma(small))
                quadrants.append(_quadrant(small))
                durations.append(float(frame.duration * frame.time_base) if frame.duration and frame.time_base else 0.0)
            elif isinstance(frame, av.AudioFrame):
                if audio_start is None:
                    audio_start, rate = _seconds(frame), frame.sample_rate
                chunks.append(_samples(frame).mean(axis=0))
    mono = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    starts = [start for start in (min(times, default=None), audio_start) if start is not None]
    origin = min(starts, default=0.0)

    order = np.argsort(times)
    times = [times[i] - origin for i in order]
    brightness = [brightness[i] for i in order]
    quadrants = [quadrants[i] for i in order]
    video_duration = 0.0
    if times:
        last = durations[order[-1]] or (float(np.median(np.diff(times))) if len(times) > 1 else 0.0)
        video_duration = times[-1] + last - times[0]
    low, high = span if span is not None else (-math.inf, math.inf)

    begins = [i == 0 or brightness[i - 1] <= BRIGHT for i in range(len(times))]
    flashes = [t for i, t in enumerate(times) if brightness[i] > BRIGHT and begins[i] and low <= t < high]
    beeps: list[float] = []
    if rate:
        assert audio_start is not None
        shift = audio_start - origin  # film time of the first decoded sample
        begin, end = 0, len(mono)
        if span is not None:
            begin, end = max(0, math.floor((low - shift) * rate)), max(0, math.ceil((high - shift) * rate))
        peak = float(np.abs(mono[begin:end]).max(initial=0.0))  # the beeps' level in the span
        beeps = [t for t in (shift + onset / rate for onset in _onsets(mono, rate, peak)) if low <= t < high]

    marker = "none"
    middle = (max(low, times[0]) + min(high, times[0] + video_duration)) / 2 if times else 0.0  # of the span's picture
    calm = [i for i, t in enumerate(times) if brightness[i] <= BRIGHT and (low <= t < high)]
    if calm:
        marker = quadrants[min(calm, key=lambda i: abs(times[i] - middle))]
    return Analysis(
        video_duration=round(video_duration, 6),
        audio_duration=round(len(mono) / rate, 6) if rate else 0.0,
        flashes=tuple(round(t, 6) for t in flashes),
        beeps=tuple(round(t, 6) for t in beeps),
        rotation=rotation,
        size=size,
        marker=marker,
    )


def marker_box(film: Path, at: float) -> tuple[float, float, float, float]:
    """Bounding box (left, top, right, bottom as fractions of the stored frame) of the red marker in the frame
    shown at film time `at` (display matrix not applied). Raises AssertionError when no marker is there."""
    video_start, audio_start = _first_times(film)
    assert video_start is not None, f"{film}: no video"
    target = min(video_start, audio_start if audio_start is not None else video_start) + at
    rgb: np.ndarray | None = None
    with av.open(str(film)) as container:
        shown: av.VideoFrame | None = None
        for frame in _decoded(container, container.streams.video[0]):
            if _seconds(frame) > target + 1e-6:
                break
            if isinstance(frame, av.VideoFrame):
                shown = frame
        if shown is not None:
            rgb = shown.to_ndarray(format="rgb24")
    assert rgb is not None, f"{film}: no frame is shown at {at} s"
    ys, xs = np.nonzero(_red(rgb))
    assert len(xs), f"{film}: no red marker in the frame shown at {at} s"
    height, width = rgb.shape[:2]
    return (float(xs.min()) / width, float(ys.min()) / height, float(xs.max() + 1) / width, float(ys.max() + 1) / height)


# --- what a file really holds ----------------------------------------------------------------------------------------


# --- a film around a case ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Film:
    """What storyboard made of `plain, case, plain` joined by cuts, measured against where everything belongs."""

    case: str
    way: str  # how the picture was written: "copy" (the fast path) or "moviepy" (drawn)
    fps: float
    sync: float  # seconds: the largest |flash - beep| over the film
    sound: float  # seconds: the largest |beep - where the clip's own timestamps put it|
    picture: float  # seconds: the largest |flash - where the clip's own timestamps put it|
    duration_error: float  # seconds: the film's picture length minus the sum of the clips' lengths (on the frame grid)
    audio_minus_video: float  # seconds
    rotation: int  # of the film's video stream
    marker: str  # where the orientation square is in the case's stretch of the film
    analysis: Analysis


def film_around(case: Case, plain: Case, directory: Path, fast_path: bool = True, size: tuple[int, int] = (640, 360),
                fps: float = 24.0, fit: str = "contain") -> Film:
    """Assemble `plain, case, plain` with storyboard into `directory` and measure the film."""
    from storyboard.assembling import FilmSettings, Piece, assemble

    film = directory / f"{case.name}-{'fast' if fast_path else 'drawn'}-{size[0]}x{size[1]}-{fit}.mp4"
    pieces = [Piece(plain.path), Piece(case.path, fit=fit), Piece(plain.path)]
    way = assemble(pieces, film, FilmSettings(size=size, fps=fps, fast_path=fast_path), scratch=directory)
    starts = [0.0, plain.duration, plain.duration + case.duration]
    expected = [start + event for start, clip in zip(starts, (plain, case, plain), strict=True) for event in clip.events]
    found = analyse(film)
    assert len(found.flashes) == len(found.beeps) == len(expected), (
        f"{case.name}: expected {len(expected)} events at {_times(expected)}; "
        f"flashes {_times(found.flashes)}, beeps {_times(found.beeps)}")
    within = analyse(film, (starts[1], starts[2]))
    return Film(
        case=case.name, way=way, fps=fps,
        sync=found.worst_offset(),
        sound=max(abs(beep - at) for beep, at in zip(found.beeps, expected, strict=True)),
        picture=max(abs(flash - at) for flash, at in zip(found.flashes, expected, strict=True)),
        duration_error=found.video_duration - round((2 * plain.duration + case.duration) * fps) / fps,
        audio_minus_video=found.audio_duration - found.video_duration,
        rotation=found.rotation,
        marker=within.marker,
        analysis=found,
    )


def describe(path: Path) -> dict[str, object]:
    """Container, codecs, stored size, rotation, stream start times, frame count and pts deltas of a file."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None

        def start(stream: av.stream.Stream | None) -> float | None:
            if stream is None or stream.start_time is None or stream.time_base is None:
                return None
            return round(float(stream.start_time * stream.time_base), 6)

        packets: list[int] = []
        for packet in container.demux(video):
            if packet.pts is not None:
                packets.append(packet.pts)
        packets.sort()
        deltas = [float((b - a) * video.time_base) for a, b in itertools.pairwise(packets)] if video.time_base else []
        info: dict[str, object] = {
            "container": container.format.name,
            "video": f"{video.codec_context.name} {video.codec_context.pix_fmt} {video.average_rate}",
            "audio": f"{audio.codec_context.name} {audio.codec_context.sample_rate} {audio.layout.name}" if audio else None,
            "start_v": start(video),
            "start_a": start(audio),
            "packets": len(packets),
            "delta_ms": (round(min(deltas) * 1000, 2), round(max(deltas) * 1000, 2)) if deltas else None,
        }
    with av.open(str(path)) as container:
        first = next(_decoded(container, container.streams.video[0]))
        assert isinstance(first, av.VideoFrame)
        info["size"], info["rotation"] = f"{first.width}x{first.height}", first.rotation
    video_start, audio_start = _first_times(path)
    info["first_v"] = None if video_start is None else round(video_start, 6)
    info["first_a"] = None if audio_start is None else round(audio_start, 6)
    return info


def _report(directory: Path, names: Sequence[str]) -> None:
    total = time.perf_counter()
    for name in names:
        began = time.perf_counter()
        case = make_case(name, directory)
        took = time.perf_counter() - began
        info = describe(case.path)
        found = analyse(case.path)
        try:
            worst = f"{found.worst_offset() * 1000:.3f} ms"
        except AssertionError as error:
            worst = f"unmatched: {error}"
        print(f"{name:13} {case.path.stat().st_size:>8} B  made in {took:5.2f} s  — {case.note}")
        print(f"    {info}")
        print(f"    case: events {_times(case.events)} duration {case.duration} upright {case.upright}")
        print(f"    analysis: flashes {_times(found.flashes)} beeps {_times(found.beeps)} worst {worst}")
        print(f"      video {found.video_duration} s audio {found.audio_duration} s size {found.size} "
            f"rotation {found.rotation} marker {found.marker}")
    print(f"all in {time.perf_counter() - total:.2f} s")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python tests/footage.py FOLDER [CASE ...]")
    _report(Path(sys.argv[1]), sys.argv[2:] or CASES)
