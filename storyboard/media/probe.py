"""What a media file holds, read in-process with PyAV: streams, sizes, rates, timestamps.

PyAV (`av`) links FFmpeg's own libraries, so every fact comes from the demuxer as a typed
value (no text output to scrape), and counting a clip's frames means reading its packets,
never decoding the picture.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..errors import MediaError
from .sniff import sniff


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
    frame_times: tuple[float, ...]  # presentation time of every frame, in display order
    rotation: int  # degrees the picture is turned for display (the display matrix); 0 mostly
    extradata: bytes  # codec parameter sets (for H.264: the avcC record with SPS and PPS)

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    @property
    def duration(self) -> float:
        """Seconds of picture: its frame count at its frame rate."""
        return self.frames / self.fps


@dataclass(frozen=True)
class AudioStream:
    codec: str
    sample_rate: int
    channels: int
    layout: str  # e.g. "stereo", "mono", "5.1"
    start: float  # seconds
    duration: float | None  # seconds, when the container says


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    container: str  # the demuxer's name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    duration: float | None  # seconds, as the container states it (covers every stream)
    video: VideoStream | None
    audio: AudioStream | None

    @property
    def has_audio(self) -> bool:
        return self.audio is not None

    @property
    def picture(self) -> VideoStream:
        """The video stream, for files that must have one."""
        if self.video is None:
            raise MediaError(f"{self.path.name} has no video stream")
        return self.video


def probe(path: Path) -> MediaInfo:
    """Read the first video and audio stream of `path`. Raises MediaError for files that are
    not media, or whose video has no frames."""
    import av

    try:
        with av.open(str(path)) as container:
            video = picture_stream(container)
            audio = container.streams.audio[0] if container.streams.audio else None
            info = MediaInfo(
                path=path,
                container=container.format.name,
                duration=container.duration / av.time_base if container.duration else None,
                video=_video(container, video) if video is not None else None,
                audio=_audio(audio) if audio is not None else None,
            )
    except (av.FFmpegError, OSError, ValueError) as error:
        raise MediaError(f"{path.name} cannot be read as media ({_reason(error)})") from None
    return info


def check_video(path: Path) -> None:
    """A real, decodable video (not an error page, not cut short before its first frame)."""
    kind, description = sniff(path)
    if kind != "video":
        raise MediaError(f"the file is {description}, not a video")
    import av

    try:
        with av.open(str(path)) as container:
            stream = picture_stream(container)
            if stream is None:
                raise MediaError("the file has no video stream")
            next(container.decode(stream))
    except StopIteration:
        raise MediaError("the video is damaged or truncated (no frame could be decoded)") from None
    except (av.FFmpegError, OSError, ValueError) as error:
        raise MediaError(f"the video is damaged or truncated ({_reason(error)})") from None


def picture_stream(container: Any) -> Any:
    """The first video stream that is moving picture: a music file's cover art is a video stream
    too (one still image, flagged as an attached picture), and is not footage."""
    import av

    moving = [stream for stream in container.streams.video
              if not stream.disposition & av.stream.Disposition.attached_pic]
    return moving[0] if moving else None


def _video(container: Any, stream: Any) -> VideoStream:
    time_base = Fraction(stream.time_base) if stream.time_base else Fraction(1, 90_000)
    times = sorted(
        float(packet.pts * time_base)
        for packet in container.demux(stream)
        if packet.pts is not None and packet.size
    )
    if not times:
        raise MediaError(f"{Path(container.name).name} has no video frames")
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else (len(times) / (times[-1] - times[0]) if times[-1] > times[0] else 24.0)
    context = stream.codec_context
    container.seek(0)
    rotation = 0
    try:
        first = next(container.decode(stream))
        rotation = round(getattr(first, "rotation", 0) or 0) % 360
    except (StopIteration, ValueError):
        pass
    return VideoStream(
        codec=context.name,
        width=context.width,
        height=context.height,
        pix_fmt=context.pix_fmt or "?",
        fps=fps,
        time_base=time_base,
        frames=len(times),
        start=times[0],
        frame_times=tuple(times),
        rotation=rotation,
        extradata=bytes(context.extradata or b""),
    )


def _audio(stream: Any) -> AudioStream:
    context = stream.codec_context
    time_base = Fraction(stream.time_base) if stream.time_base else None
    start = float(stream.start_time * time_base) if stream.start_time is not None and time_base else 0.0
    duration = float(stream.duration * time_base) if stream.duration and time_base else None
    return AudioStream(
        codec=context.name,
        sample_rate=context.sample_rate,
        channels=context.channels,
        layout=context.layout.name,
        start=start,
        duration=duration,
    )


def _reason(error: BaseException) -> str:
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return str(text).strip().splitlines()[-1]
