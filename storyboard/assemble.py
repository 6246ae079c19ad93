"""Stage 6: the film. Clips in order, fitted to one frame size, joined by cuts, crossfades or
fades through black, their sound kept in sync and the soundtrack mixed under it.

One timeline (`Timeline`) says where every piece sits in the film; two ways write the picture:
- the general path: moviepy asks for each output frame, which is taken from the clip (or the
  two clips, in a crossfade) on screen at that instant, decoded as a stream, never whole;
- the fast path, when every clip already has the film's codec, size, frame rate and pixel
  format and every join is a cut: ffmpeg copies the video streams as they are.
The sound is the same in both: `Mixer` renders the mix chunk by chunk, sample-exact, into a
WAV that ffmpeg encodes once (AAC) and muxes with the picture. Each clip's sound starts at
the sample where its picture starts; edges get 4 ms ramps so cuts do not click; clips
without sound, or with sound shorter than their picture, get silence.
"""
from __future__ import annotations

import contextlib
import re
import subprocess
import tempfile
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .files import atomic_path

SAMPLE_RATE = 48_000
CHANNELS = 2
EDGE_RAMP = 0.004  # seconds: a fade this short is inaudible but removes the click of a hard cut
CHUNK = SAMPLE_RATE // 2  # samples mixed at a time
DUCK_THRESHOLD = 0.01  # clip sound louder than this (RMS, about -40 dBFS) ducks the music
DUCK_BLOCK = SAMPLE_RATE // 50  # 20 ms blocks for the ducking envelope
DUCK_SMOOTHING = 0.15  # per block: how fast the ducking gain follows (about 130 ms)


class AssemblyError(RuntimeError):
    pass


@dataclass(frozen=True)
class Piece:
    """One shot's footage in the film."""

    path: Path
    trim_start: float = 0.0
    trim_end: float | None = None  # time in the clip where the piece ends; None: the clip's end
    transition: str = "cut"  # how this piece begins after the previous one: cut | crossfade | fade
    transition_duration: float = 0.0
    fit: str = "contain"  # contain: letterbox; cover: fill and crop


@dataclass(frozen=True)
class Soundtrack:
    path: Path
    volume: float = 1.0
    fade_in: float = 0.0
    fade_out: float = 0.0
    loop: bool = True  # repeat when shorter than the film (else silence after its end)
    duck: float | None = None  # gain for the music while the clips have sound, e.g. 0.3


@dataclass(frozen=True)
class FilmSettings:
    size: tuple[int, int]
    fps: float
    crf: int = 20
    preset: str = "veryfast"
    music: Soundtrack | None = None
    normalize: bool = False  # EBU R128 loudness normalisation of the final mix (-16 LUFS)
    fast_path: bool = True  # allow copying video streams when the clips allow it


@dataclass(frozen=True)
class Source:
    """What ffmpeg says about a clip."""

    path: Path
    size: tuple[int, int]
    fps: float
    frames: int
    codec: str
    pix_fmt: str
    has_audio: bool
    time_base: str = "?"

    @property
    def duration(self) -> float:
        return self.frames / self.fps

    @classmethod
    def probe(cls, path: Path) -> Source:
        from moviepy.video.io.ffmpeg_reader import ffmpeg_parse_infos

        try:
            infos = ffmpeg_parse_infos(str(path))
        except (OSError, KeyError, ValueError, IndexError) as error:
            reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
            raise AssemblyError(f"{path.name} cannot be read as a video ({reason})") from None
        if not infos.get("video_found"):
            raise AssemblyError(f"{path.name} has no video stream")
        # Count the picture's own frames: the container's duration is rounded and covers a longer sound track too.
        text = subprocess.run([_ffmpeg(), "-hide_banner", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "null", "-"],
                              capture_output=True, text=True).stderr
        video = re.search(r"Stream #\S+.*Video: (\w+)[^,]*, (\w+)", text)
        counted = re.findall(r"frame=\s*(\d+)", text)
        time_base = re.search(r"(\d+(?:\.\d+)?k?) tbn", text)
        fps = float(infos["video_fps"])
        frames = int(counted[-1]) if counted else int(infos.get("video_n_frames") or 0)
        if frames <= 0:
            raise AssemblyError(f"{path.name} has no video frames")
        return cls(path, tuple(infos["video_size"]), fps, frames, video.group(1) if video else "?",
                   video.group(2) if video else "?", bool(infos.get("audio_found")),
                   time_base.group(1) if time_base else "?")


@dataclass
class Timeline:
    """Where each piece sits in the film, in seconds and in output samples."""

    pieces: list[Piece]
    sources: list[Source]
    fps: float
    starts: list[float] = field(default_factory=list)
    lengths: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        at = 0.0
        for index, (piece, source) in enumerate(zip(self.pieces, self.sources)):
            end = source.duration if piece.trim_end is None else min(piece.trim_end, source.duration)
            length = end - piece.trim_start
            if length <= 0:
                raise AssemblyError(f"{source.path.name}: trim leaves nothing ({piece.trim_start:g} s to {end:g} s)")
            if index and piece.transition == "crossfade":
                overlap = piece.transition_duration
                if overlap > min(length, self.lengths[-1]) + 1e-9:
                    raise AssemblyError(f"a {overlap:g} s crossfade is longer than the shots it joins")
                at -= overlap
            self.starts.append(at)
            self.lengths.append(length)
            at += length

    @property
    def duration(self) -> float:
        """Exact to the frame: the sum of the pieces minus the crossfade overlaps, on the frame grid."""
        return self.frames / self.fps

    @property
    def frames(self) -> int:
        return round((self.starts[-1] + self.lengths[-1]) * self.fps)

    def on_screen(self, t: float) -> list[tuple[int, float]]:
        """(piece index, opacity) of what shows at film time t."""
        shown = []
        for index, (start, length) in enumerate(zip(self.starts, self.lengths)):
            if not start <= t < start + length:
                continue
            shown.append((index, self._opacity(index, t - start)))
        return shown

    def _opacity(self, index: int, into: float) -> float:
        """Fades of the picture: through black at `fade` joins; a crossfade's incoming piece over its overlap."""
        opacity = 1.0
        piece = self.pieces[index]
        if index and piece.transition in ("crossfade", "fade") and piece.transition_duration > 0:
            ramp = piece.transition_duration if piece.transition == "crossfade" else piece.transition_duration / 2
            opacity = min(opacity, into / ramp)
        following = self.pieces[index + 1] if index + 1 < len(self.pieces) else None
        if following is not None and following.transition == "fade" and following.transition_duration > 0:
            opacity = min(opacity, (self.lengths[index] - into) / (following.transition_duration / 2))
        return max(0.0, min(1.0, opacity))


def assemble(pieces: list[Piece], destination: Path, settings: FilmSettings) -> str:
    """Write the film to `destination` (atomically); return which path wrote the picture: 'copy' or 'moviepy'."""
    if not pieces:
        raise AssemblyError("nothing to assemble")
    sources = [Source.probe(piece.path) for piece in pieces]
    timeline = Timeline(pieces, sources, settings.fps)
    with tempfile.TemporaryDirectory(prefix="storyboard-film-") as scratch_dir:
        scratch = Path(scratch_dir)
        mix = scratch / "mix.wav"
        Mixer(timeline, settings.music).write_wav(mix)
        picture = scratch / "picture.mp4"
        way = "copy" if settings.fast_path and _can_copy(timeline, settings) else "moviepy"
        if way == "copy":
            _copy_picture(timeline, picture, scratch)
        else:
            _draw_picture(timeline, settings, picture)
        with atomic_path(destination) as temporary:
            _mux(picture, mix, timeline.duration, settings, temporary)
    return way


# -- picture ---------------------------------------------------------------------------------


def _can_copy(timeline: Timeline, settings: FilmSettings) -> bool:
    return (
        _uniform_streams(timeline, settings)
        and len({source.time_base for source in timeline.sources}) == 1  # concat keeps each file's timestamps as they are
        and len({_parameter_sets(source.path) for source in timeline.sources}) == 1
    )


def _uniform_streams(timeline: Timeline, settings: FilmSettings) -> bool:
    return all(
        piece.transition == "cut" or piece is timeline.pieces[0]
        for piece in timeline.pieces
    ) and all(
        piece.trim_start == 0 and (piece.trim_end is None or piece.trim_end >= source.duration)
        and source.codec == "h264" and source.pix_fmt == "yuv420p"
        and source.size == tuple(settings.size) and abs(source.fps - settings.fps) < 1e-3
        for piece, source in zip(timeline.pieces, timeline.sources)
    )


def _parameter_sets(path: Path) -> bytes:
    """The H.264 SPS and PPS of a clip: copied streams can only be joined if these are identical."""
    annex_b = _run_ffmpeg(["-i", str(path), "-map", "0:v:0", "-c:v", "copy", "-bsf:v", "h264_mp4toannexb",
                           "-frames:v", "1", "-f", "h264", "-"], capture=True)
    units = re.split(rb"\x00\x00\x01", annex_b)
    return b"".join(unit.rstrip(b"\x00") for unit in units if unit and unit[0] & 0x1F in (7, 8))


def _copy_picture(timeline: Timeline, picture: Path, scratch: Path) -> None:
    listing = scratch / "clips.txt"
    lines = ["ffconcat version 1.0"]
    for source in timeline.sources:
        quoted = str(source.path.resolve()).replace("'", "'\\''")
        lines += [f"file '{quoted}'", f"duration {source.duration:.6f}"]  # video length, not a longer audio track's
    listing.write_text("\n".join(lines) + "\n")
    _run_ffmpeg(["-f", "concat", "-safe", "0", "-i", str(listing), "-map", "0:v:0", "-c:v", "copy",
                 "-an", str(picture)])


def _draw_picture(timeline: Timeline, settings: FilmSettings, picture: Path) -> None:
    from moviepy import VideoClip

    frames = FrameSource(timeline, settings.size)
    try:
        clip = VideoClip(frames.frame_at, duration=(timeline.frames + 0.5) / settings.fps)
        clip.write_videofile(
            str(picture), fps=settings.fps, codec="libx264", audio=False, preset=settings.preset,
            ffmpeg_params=["-crf", str(settings.crf), "-pix_fmt", "yuv420p"], logger=None,
        )
    finally:
        frames.close()


class FrameSource:
    """Output frames on demand, decoding each clip as a stream while it is on screen."""

    def __init__(self, timeline: Timeline, size: tuple[int, int]):
        self.timeline = timeline
        self.size = size
        self._readers: dict[int, object] = {}
        self._black = np.zeros((size[1], size[0], 3), dtype=np.uint8)

    def frame_at(self, t: float) -> np.ndarray:
        shown = self.timeline.on_screen(t)
        for index in [index for index in self._readers if index not in dict(shown)]:
            if self.timeline.starts[index] + self.timeline.lengths[index] <= t:
                self._close(index)  # passed: frames are asked for in order
        if not shown:
            return self._black
        (first, opacity), *incoming = shown
        frame = self._fitted(first, t)
        if opacity < 1.0:
            frame = (frame.astype(np.float32) * opacity).astype(np.uint8)
        for index, opacity in incoming:  # a crossfade: the next piece over the one leaving
            over = self._fitted(index, t).astype(np.float32)
            frame = (frame.astype(np.float32) * (1 - opacity) + over * opacity).astype(np.uint8)
        return frame

    def _fitted(self, index: int, t: float) -> np.ndarray:
        piece, source = self.timeline.pieces[index], self.timeline.sources[index]
        reader = self._reader(index)
        into = piece.trim_start + (t - self.timeline.starts[index])
        last = source.duration - 0.5 / source.fps
        frame = reader.get_frame(min(max(0.0, into), last))  # type: ignore[attr-defined]
        return fit(frame, self.size, piece.fit)

    def _reader(self, index: int) -> object:
        if index not in self._readers:
            from moviepy import VideoFileClip

            self._readers[index] = VideoFileClip(str(self.timeline.sources[index].path), audio=False)
        return self._readers[index]

    def _close(self, index: int) -> None:
        self._readers.pop(index).close()  # type: ignore[attr-defined]

    def close(self) -> None:
        for index in list(self._readers):
            self._close(index)


def fit(frame: np.ndarray, size: tuple[int, int], how: str) -> np.ndarray:
    """`frame` at `size`, never stretched: letterboxed (contain) or cropped (cover)."""
    height, width = frame.shape[:2]
    target_w, target_h = size
    if (width, height) == (target_w, target_h):
        return frame[:, :, :3]
    from PIL import Image

    scale = (min if how == "contain" else max)(target_w / width, target_h / height)
    scaled_w, scaled_h = max(1, round(width * scale)), max(1, round(height * scale))
    image = Image.fromarray(frame[:, :, :3]).resize((scaled_w, scaled_h), Image.BILINEAR)
    if how == "cover":
        left, top = (scaled_w - target_w) // 2, (scaled_h - target_h) // 2
        return np.asarray(image.crop((left, top, left + target_w, top + target_h)))
    canvas = Image.new("RGB", (target_w, target_h))
    canvas.paste(image, ((target_w - scaled_w) // 2, (target_h - scaled_h) // 2))
    return np.asarray(canvas)


# -- sound -----------------------------------------------------------------------------------


class Mixer:
    """The film's sound, rendered in order, chunk by chunk: clip sound plus the soundtrack."""

    def __init__(self, timeline: Timeline, music: Soundtrack | None):
        self.timeline = timeline
        self.music = music
        self.total = round(timeline.duration * SAMPLE_RATE)
        self._clip_sound: dict[int, _Stream] = {}
        self._duck_gain = 1.0

    def write_wav(self, path: Path) -> None:
        if self.music is not None:
            _check_music(self.music.path)
        try:
            self._write_wav(path)
        finally:
            for stream in self._clip_sound.values():
                stream.close()
            self._clip_sound.clear()

    def _write_wav(self, path: Path) -> None:
        with wave.open(str(path), "wb") as out, self._music_stream() as music:
            out.setnchannels(CHANNELS)
            out.setsampwidth(2)
            out.setframerate(SAMPLE_RATE)
            for first in range(0, self.total, CHUNK):
                count = min(CHUNK, self.total - first)
                mixed = self._clips(first, count)
                if music is not None:
                    mixed += self._soundtrack(music, first, count, mixed)
                out.writeframes((np.clip(mixed, -1.0, 1.0) * 32767).astype("<i2").tobytes())

    def _clips(self, first: int, count: int) -> np.ndarray:
        mixed = np.zeros((count, CHANNELS), dtype=np.float32)
        timeline = self.timeline
        for index, (start, length) in enumerate(zip(timeline.starts, timeline.lengths)):
            begin = round(start * SAMPLE_RATE)
            end = begin + round(length * SAMPLE_RATE)
            if end <= first:
                if index in self._clip_sound:
                    self._clip_sound.pop(index).close()  # passed
                continue
            if begin >= first + count:
                break
            stream = self._sound_of(index)
            lo, hi = max(first, begin), min(first + count, end)
            offsets = np.arange(lo - begin, hi - begin)
            part = stream.read(lo - begin, hi - lo)
            gain = self._gain(index, offsets, end - begin)
            if stream.ended_at is not None:  # the sound is shorter than the picture: fade it out where it stops
                gain *= np.clip((stream.ended_at - offsets) / (EDGE_RAMP * SAMPLE_RATE), 0, 1)
            mixed[lo - first:hi - first] += part * gain[:, None]
        return mixed

    def _gain(self, index: int, offsets: np.ndarray, length: int) -> np.ndarray:
        """Ramps of a piece's sound: crossfades and fades with the picture, tiny ramps at every other edge."""
        pieces = self.timeline.pieces
        piece = pieces[index]
        following = pieces[index + 1] if index + 1 < len(pieces) else None

        def ramp_in(samples: int) -> np.ndarray:
            return np.clip(offsets / max(samples, 1), 0, 1)

        def ramp_out(samples: int) -> np.ndarray:
            return np.clip((length - offsets) / max(samples, 1), 0, 1)

        edge = round(EDGE_RAMP * SAMPLE_RATE)
        gain = np.ones(len(offsets), dtype=np.float32)
        if index and piece.transition == "crossfade":
            gain *= ramp_in(max(edge, round(piece.transition_duration * SAMPLE_RATE)))
        elif index and piece.transition == "fade":
            gain *= ramp_in(max(edge, round(piece.transition_duration / 2 * SAMPLE_RATE)))
        else:
            gain *= ramp_in(edge)
        if following is not None and following.transition == "crossfade":
            gain *= ramp_out(max(edge, round(following.transition_duration * SAMPLE_RATE)))
        elif following is not None and following.transition == "fade":
            gain *= ramp_out(max(edge, round(following.transition_duration / 2 * SAMPLE_RATE)))
        else:
            gain *= ramp_out(edge)
        return gain

    def _sound_of(self, index: int) -> _Stream:
        """The piece's sound from its trim start, at the film's rate, read as it is needed."""
        if index not in self._clip_sound:
            piece, source = self.timeline.pieces[index], self.timeline.sources[index]
            arguments = None
            if source.has_audio:
                # async/first_pts: a sound track that starts late keeps its place (silence before it).
                arguments = ["-ss", f"{piece.trim_start:.6f}", "-i", str(piece.path), "-t", f"{self.timeline.lengths[index]:.6f}",
                             "-vn", "-af", "aresample=async=1:first_pts=0", "-ac", str(CHANNELS), "-ar", str(SAMPLE_RATE),
                             "-f", "f32le", "-"]
            self._clip_sound[index] = _Stream(arguments)
        return self._clip_sound[index]

    @contextlib.contextmanager
    def _music_stream(self) -> Iterator[_Stream | None]:
        if self.music is None:
            yield None
            return
        loop = ["-stream_loop", "-1"] if self.music.loop else []
        stream = _Stream([*loop, "-i", str(self.music.path), "-vn", "-ac", str(CHANNELS), "-ar", str(SAMPLE_RATE),
                          "-f", "f32le", "-"])
        try:
            yield stream
        finally:
            stream.close()

    def _soundtrack(self, music: _Stream, first: int, count: int, clips: np.ndarray) -> np.ndarray:
        assert self.music is not None
        samples = music.read(first, count)
        if music.ended_at is not None:  # music shorter than the film, not looped: no click where it stops
            samples *= np.clip((music.ended_at - np.arange(first, first + count)) / (EDGE_RAMP * SAMPLE_RATE), 0, 1)[:, None]
        positions = (np.arange(first, first + count) / SAMPLE_RATE).astype(np.float32)
        gain = np.full(count, self.music.volume, dtype=np.float32)
        if self.music.fade_in > 0:
            gain *= np.clip(positions / self.music.fade_in, 0, 1)
        if self.music.fade_out > 0:
            gain *= np.clip((self.total / SAMPLE_RATE - positions) / self.music.fade_out, 0, 1)
        if self.music.duck is not None:
            gain *= self._ducking(clips, self.music.duck)
        return samples * gain[:, None]

    def _ducking(self, clips: np.ndarray, duck: float) -> np.ndarray:
        """Per-sample music gain: `duck` where the clips have sound, 1 elsewhere, smoothed."""
        gains = np.empty(len(clips), dtype=np.float32)
        for block in range(0, len(clips), DUCK_BLOCK):
            part = clips[block:block + DUCK_BLOCK]
            loud = float(np.sqrt(np.mean(part**2))) > DUCK_THRESHOLD if len(part) else False
            target = duck if loud else 1.0
            previous = self._duck_gain
            self._duck_gain += (target - self._duck_gain) * DUCK_SMOOTHING
            gains[block:block + DUCK_BLOCK] = np.linspace(previous, self._duck_gain, len(part), dtype=np.float32)
        return gains


class _Stream:
    """Decoded samples from an ffmpeg pipe, read forward in order; silence after the end (or with no arguments)."""

    def __init__(self, arguments: list[str] | None):
        self.position = 0
        self.ended_at: int | None = None if arguments else 0
        self._process = None
        if arguments:
            self._process = subprocess.Popen([_ffmpeg(), "-v", "error", *arguments], stdout=subprocess.PIPE,
                                             stderr=subprocess.DEVNULL)

    def read(self, offset: int, count: int) -> np.ndarray:
        samples = np.zeros((count, CHANNELS), dtype=np.float32)
        if offset > self.position:  # asked further on: skip what lies between
            self.read(self.position, offset - self.position)
        if self._process is None or self._process.stdout is None or self.ended_at is not None:
            self.position = offset + count
            return samples
        wanted = count * CHANNELS * 4
        raw = bytearray()
        while len(raw) < wanted:
            more = self._process.stdout.read(wanted - len(raw))
            if not more:
                self.ended_at = offset + len(raw) // (CHANNELS * 4)
                break
            raw += more
        got = np.frombuffer(bytes(raw[: len(raw) - len(raw) % (CHANNELS * 4)]), dtype="<f4").reshape(-1, CHANNELS)
        samples[: len(got)] = got
        self.position = offset + count
        return samples

    def close(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None


def _check_music(path: Path) -> None:
    from moviepy.video.io.ffmpeg_reader import ffmpeg_parse_infos

    try:
        infos = ffmpeg_parse_infos(str(path))
    except (OSError, KeyError, ValueError, IndexError):
        raise AssemblyError(f"the soundtrack {path.name} cannot be read") from None
    if not infos.get("audio_found"):
        raise AssemblyError(f"the soundtrack {path.name} has no sound")
    if not (infos.get("duration") or 0) > 0:
        raise AssemblyError(f"the soundtrack {path.name} is empty")


# -- ffmpeg ----------------------------------------------------------------------------------


def _mux(picture: Path, mix: Path, duration: float, settings: FilmSettings, destination: Path) -> None:
    loudness = ["-af", "loudnorm=I=-16:TP=-1.5:LRA=11", "-ar", str(SAMPLE_RATE)] if settings.normalize else []
    _run_ffmpeg(["-i", str(picture), "-i", str(mix), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy",
                 "-c:a", "aac", "-b:a", "192k", *loudness, "-t", f"{duration:.6f}", "-movflags", "+faststart",
                 "-f", "mp4", str(destination)])


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _run_ffmpeg(arguments: list[str], capture: bool = False) -> bytes:
    done = subprocess.run([_ffmpeg(), "-v", "error", "-y", *arguments], capture_output=True)
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise AssemblyError(f"ffmpeg failed: {message[-1] if message else f'exit {done.returncode}'}")
    return done.stdout if capture else b""
