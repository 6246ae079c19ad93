"""Everything storyboard reads from media files, in one place.

- `sniff`: what a file is, from its first bytes (no decoding);
- `probe`: streams, sizes, rates, timestamps, rotation, parameter sets, and whether the streams
  reach their declared length (PyAV, in-process);
- `FrameReader`: a clip's pictures by presentation time, upright, at a size; `extract_frame`: one
  of them as an image; `frame_size`: the frame a resolution and aspect ratio make;
- `SoundReader`: a clip's sound placed by its timestamps, at one rate;
- `ffmpeg_exe` / `run_ffmpeg` / `start_ffmpeg`: the ffmpeg binary of the imageio-ffmpeg wheel, for encoding,
  never reading the terminal.

Heavy libraries (PyAV, Pillow, numpy) are imported only when a function needs them, so
validating a storyboard without media stays fast.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports
from .ffmpeg import check_tools, ffmpeg_exe, run_ffmpeg, start_ffmpeg
from .frames import extract_frame, frame_size
from .pictures import FrameReader
from .probe import AudioStream, MediaInfo, VideoStream, check_intact, check_video, probe
from .sniff import image_is_readable, sniff

if TYPE_CHECKING:
    from .sound import SoundReader

__getattr__ = lazy_exports(__name__, {"SoundReader": "sound"})

__all__ = [
    "AudioStream",
    "FrameReader",
    "MediaInfo",
    "SoundReader",
    "VideoStream",
    "check_intact",
    "check_tools",
    "check_video",
    "extract_frame",
    "ffmpeg_exe",
    "frame_size",
    "image_is_readable",
    "probe",
    "run_ffmpeg",
    "sniff",
    "start_ffmpeg",
]
