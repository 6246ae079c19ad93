"""What a media file holds, read in-process with PyAV: streams, sizes, rates, timestamps, and
whether the streams reach the length the file declares.

PyAV (`av`) links FFmpeg's own libraries, so every fact comes from the demuxer as a typed
value (no text output to scrape), and measuring a clip means reading its packets, never
decoding the picture.

Times are presentation times in seconds as the file stores them. A clip starts at its earliest
stream's first timestamp (`MediaInfo.start`: camera files and segments start at +10 s or more,
and a sound track may start before the picture) and lasts until its picture ends.
"""
from __future__ import annotations

import contextlib
import functools
import itertools
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..errors import MediaError
from ..messages import os_reason
from .colour import Colour, colour_of, fields_of, sample_aspect_of
from .one_at_a_time import one_at_a_time
from .sniff import sniff
from .streams import picture_stream

RATE_TOLERANCE = 0.01  # a frame interval this close (relative) to 1/fps counts as constant-rate
SHORTFALL_TOLERANCE = 0.1  # seconds (plus a frame) a stream may fall short of its declared length


@dataclass(frozen=True)
class VideoStream:
    codec: str  # e.g. "h264"
    width: int  # as stored, before any rotation
    height: int
    pix_fmt: str  # e.g. "yuv420p"
    fps: float  # average frame rate
    time_base: Fraction
    frames: int  # counted, not estimated from a duration
    start: float  # seconds: presentation time of the first frame
    end: float  # seconds: presentation time where the last frame stops showing
    frame_times: tuple[float, ...]  # presentation time of every frame, in display order
    rotation: int  # degrees the picture is turned for display (the display matrix, counter-clockwise); 0 mostly
    extradata: bytes  # codec parameter sets (for H.264: the avcC record with SPS and PPS)
    constant_rate: bool  # every frame lasts 1/fps (to the timestamps' precision): frames can be counted instead of timed
    colour: Colour = field(default_factory=Colour)  # primaries, transfer, matrix, range, as tagged
    fields: str = "progressive"  # or the field shown first of interlaced footage: "tff" | "bff"
    sample_aspect: Fraction = Fraction(1)  # a pixel's width over its height as displayed (anamorphic: not 1)
    keyframes: tuple[float, ...] = ()  # presentation times of the frames a decoder can start from

    @property
    def size(self) -> tuple[int, int]:
        """As stored."""
        return self.width, self.height

    @property
    def upright_size(self) -> tuple[int, int]:
        """As displayed: a phone's portrait clip is often stored landscape and turned by 90 degrees."""
        return (self.height, self.width) if self.rotation % 180 == 90 else (self.width, self.height)

    @property
    def display_size(self) -> tuple[int, int]:
        """Upright, with square pixels: an anamorphic 720x576 at 64:45 shows 1024x576."""
        width = max(1, round(self.width * self.sample_aspect))
        return (self.height, width) if self.rotation % 180 == 90 else (width, self.height)

    @property
    def duration(self) -> float:
        """Seconds of picture, by presentation time (a variable frame rate is no frame count at a nominal rate)."""
        return self.end - self.start


@dataclass(frozen=True)
class AudioStream:
    codec: str
    sample_rate: int
    channels: int
    layout: str  # e.g. "stereo", "mono", "5.1"
    start: float  # seconds: presentation time of the first sample played (after an encoder's priming)
    end: float  # seconds: where the last packet's sound ends


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    container: str  # the demuxer's name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    duration: float | None  # seconds, as the container states it (covers every stream)
    video: VideoStream | None
    audio: AudioStream | None
    damage: str | None = None  # why the streams do not reach the length the file declares; None: they do

    @property
    def has_audio(self) -> bool:
        return self.audio is not None

    @property
    def picture(self) -> VideoStream:
        """The video stream, for files that must have one."""
        if self.video is None:
            raise MediaError(f"{self.path.name} has no video stream")
        return self.video

    @property
    def start(self) -> float:
        """Where the clip begins: its earliest stream's first timestamp."""
        starts = [stream.start for stream in (self.video, self.audio) if stream is not None]
        return min(starts) if starts else 0.0


def probe(path: Path) -> MediaInfo:
    """Read the first video and audio stream of `path` to their ends. Raises MediaError for files
    that are not media, or whose video has no frames; a file whose streams stop short of what it
    declares is returned with `damage` saying so (see `check_intact`). A file probed before and
    unchanged since (same size and modification time) is not read again, nor read twice at once: threads
    asking for the same file (films assembled side by side that share a clip) wait for the one reading it."""
    try:
        facts = os.stat(path)
    except OSError as error:
        raise MediaError(f"{Path(path).name} cannot be read as media ({_reason(error)})") from None
    with one_at_a_time(("probe", Path(path), facts.st_size, facts.st_mtime_ns)):
        return _probe(Path(path), facts.st_size, facts.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _probe(path: Path, size: int, modified: int) -> MediaInfo:
    import av

    try:
        with av.open(str(path)) as container:
            video_stream = picture_stream(container)
            audio_stream = container.streams.audio[0] if container.streams.audio else None
            packets = _Packets(container, [stream for stream in (video_stream, audio_stream) if stream is not None])
            video = _video(container, video_stream, packets, path) if video_stream is not None else None
            audio = _audio(container, audio_stream, packets, path) if audio_stream is not None else None
            info = MediaInfo(
                path=path,
                container=container.format.name,
                duration=container.duration / av.time_base if container.duration else None,
                video=video,
                audio=audio,
                damage=packets.error or _shortfall(video_stream, video, audio_stream, audio),
            )
    except (av.FFmpegError, OSError, ValueError) as error:
        raise MediaError(f"{path.name} cannot be read as media ({_reason(error)})") from None
    return info


def check_intact(info: MediaInfo) -> None:
    """Raise MediaError if the file's streams stop short of the length it declares (a download
    or a copy cut short: the picture would stop while the sound runs on)."""
    if info.damage:
        raise MediaError(f"{info.path.name} is damaged or cut short: {info.damage}")


def check_video(path: Path) -> MediaInfo:
    """A real, whole, decodable video (not an error page, not cut short)."""
    kind, description = sniff(path)
    if kind != "video":
        raise MediaError(f"the file is {description}, not a video")
    import av

    try:
        info = probe(path)
        if info.video is None:
            raise MediaError("the file has no video stream")
        with av.open(str(path)) as container:
            next(container.decode(picture_stream(container)))
    except StopIteration:
        raise MediaError("the video is damaged or truncated (no frame could be decoded)") from None
    except MediaError as error:
        raise MediaError(f"the video is damaged or truncated ({error})") from None
    except (av.FFmpegError, OSError, ValueError) as error:
        raise MediaError(f"the video is damaged or truncated ({_reason(error)})") from None
    if info.damage:
        raise MediaError(f"the video is damaged or cut short: {info.damage}")
    return info


class _Packets:
    """Every packet's (time, duration) per stream, read in one pass; a read error is kept, not raised.
    The first frame of each stream is decoded on the way (`first`), so the file is opened once."""

    def __init__(self, container: Any, streams: list[Any]):
        import av

        self.times: dict[int, list[tuple[float, float]]] = {stream.index: [] for stream in streams}
        self.untimed: dict[int, int] = {stream.index: 0 for stream in streams}  # packets with no timestamp at all
        self.keyframes: dict[int, list[float]] = {stream.index: [] for stream in streams}
        self.first: dict[int, Any] = {}  # stream index -> its first decoded frame (None: none could be decoded)
        self.error: str | None = None
        for stream in streams:
            with contextlib.suppress(AttributeError, ValueError, av.FFmpegError):
                stream.codec_context.thread_count = 1  # one frame is wanted: no frame threads holding it back
        try:
            for packet in container.demux(streams):
                self._decode_first(packet)
                if not packet.size:
                    continue
                if packet.pts is None:
                    self.untimed[packet.stream.index] += 1
                    continue
                base = packet.time_base or streams[0].time_base
                self.times[packet.stream.index].append((float(packet.pts * base), float((packet.duration or 0) * base)))
                if packet.is_keyframe:
                    self.keyframes[packet.stream.index].append(float(packet.pts * base))
        except av.FFmpegError as error:
            self.error = f"reading stops with an error ({_reason(error)})"
        for stream in streams:  # the decoder may hold frames back until it is flushed
            if stream.index not in self.first:
                self.first[stream.index] = self._flushed(stream)

    def _decode_first(self, packet: Any) -> None:
        import av

        index = packet.stream.index
        if index in self.first:
            return
        try:
            frames = packet.decode()
        except (av.FFmpegError, ValueError):
            self.first[index] = None
            return
        if frames:
            self.first[index] = frames[0]

    @staticmethod
    def _flushed(stream: Any) -> Any:
        import av

        try:
            frames = stream.codec_context.decode(None)
        except (av.FFmpegError, ValueError):
            return None
        return frames[0] if frames else None


def _video(container: Any, stream: Any, packets: _Packets, path: Path) -> VideoStream:
    time_base = Fraction(stream.time_base) if stream.time_base else Fraction(1, 90_000)
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    timed = sorted(packets.times[stream.index])
    if not timed and packets.untimed[stream.index] and rate:  # a bare elementary stream: frames at its nominal rate
        timed = [(index / float(rate), 1 / float(rate)) for index in range(packets.untimed[stream.index])]
    if not timed:
        raise MediaError(f"{Path(container.name).name} has no video frames")
    times = [time for time, _ in timed]
    fps = float(rate) if rate else (len(times) / (times[-1] - times[0]) if times[-1] > times[0] else 24.0)
    intervals = [later - earlier for earlier, later in itertools.pairwise(times)]
    slack = max(RATE_TOLERANCE / fps, float(time_base))  # Matroska's millisecond timestamps: 41, 42, 42 ms at 24 fps
    constant = all(abs(interval - 1 / fps) <= slack for interval in intervals)
    last = 1 / fps if constant else timed[-1][1] or (sorted(intervals)[len(intervals) // 2] if intervals else 1 / fps)
    context = stream.codec_context
    first = packets.first.get(stream.index)
    rotation = round(getattr(first, "rotation", 0) or 0) % 360 if first is not None else 0
    return VideoStream(
        codec=context.name,
        width=context.width,
        height=context.height,
        pix_fmt=context.pix_fmt or "?",
        fps=fps,
        time_base=time_base,
        frames=len(times),
        start=times[0],
        end=times[-1] + last,
        frame_times=tuple(times),
        rotation=rotation,
        extradata=bytes(context.extradata or b""),
        constant_rate=constant,
        colour=colour_of(context, context.pix_fmt or ""),
        fields=fields_of(context, first),
        sample_aspect=sample_aspect_of(stream),
        keyframes=tuple(sorted(packets.keyframes[stream.index])),
    )


def _audio(container: Any, stream: Any, packets: _Packets, path: Path) -> AudioStream:
    context = stream.codec_context
    timed = packets.times[stream.index]
    start = timed[0][0] if timed else 0.0
    end = max((time + length for time, length in timed), default=start)
    first = packets.first.get(stream.index)  # the decoder drops an encoder's priming samples: the first sound played
    if first is not None and first.time is not None:  # starts later than the first packet
        start = max(start, float(first.time))
    return AudioStream(
        codec=context.name,
        sample_rate=context.sample_rate,
        channels=context.channels,
        layout=context.layout.name,
        start=start,
        end=end,
    )


def _shortfall(video_stream: Any, video: VideoStream | None, audio_stream: Any, audio: AudioStream | None) -> str | None:
    """Where a stream stops before the length its file declares, in words; None if none does."""
    if video is not None:
        declared_frames = video_stream.frames or 0
        declared = _declared_end(video_stream)
        short = declared is not None and video.end < declared - SHORTFALL_TOLERANCE - 1 / video.fps
        if declared_frames > video.frames or short:
            said = f"{declared - video.start:.2f} s" if declared is not None else f"{declared_frames} frames"
            return f"its picture stops at {video.duration:.2f} s ({video.frames} frames) of the {said} it declares"
    if audio is not None:
        declared = _declared_end(audio_stream)
        if declared is not None and audio.end < declared - SHORTFALL_TOLERANCE:
            return f"its sound stops at {audio.end - audio.start:.2f} s of the {declared - audio.start:.2f} s it declares"
    return None


def _declared_end(stream: Any) -> float | None:
    if not stream.duration or not stream.time_base:
        return None
    return float(((stream.start_time or 0) + stream.duration) * stream.time_base)


def _reason(error: BaseException) -> str:
    text = os_reason(error)
    return str(text).strip().splitlines()[-1]
