"""Everything storyboard reads from media files, in one place.

- `sniff`: what a file is, from its first bytes (no decoding);
- `probe`: streams, sizes, rates, frame timestamps, rotation, parameter sets (PyAV, in-process);
- `extract_frame`: one frame as an upright image; `frame_size`: the frame a resolution and aspect ratio make;
- `ffmpeg_exe` / `run_ffmpeg`: the ffmpeg binary of the imageio-ffmpeg wheel, for encoding.

Heavy libraries (PyAV, Pillow) are imported only when a function needs them, so validating a
storyboard without media stays fast.
"""
from __future__ import annotations

from .ffmpeg import check_tools, ffmpeg_exe, run_ffmpeg
from .frames import extract_frame, frame_size
from .probe import AudioStream, MediaInfo, VideoStream, check_video, probe
from .sniff import image_is_readable, sniff

__all__ = [
    "AudioStream",
    "MediaInfo",
    "VideoStream",
    "check_tools",
    "check_video",
    "extract_frame",
    "ffmpeg_exe",
    "frame_size",
    "image_is_readable",
    "probe",
    "run_ffmpeg",
    "sniff",
]
