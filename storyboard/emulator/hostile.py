"""The knobs of the emulator's hostile answers (see `faults`): module values that tests may
change while an emulator runs, read at each answer, like `faults.SLOW_SECONDS`."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

ODD_STATUS = "in_queue"  # `odd_status`: a status the published contract does not list
TRICKLE_SECONDS = 1.0  # `trickle`: the pause after each byte of a body
GIANT_BYTES = 16 * 1024 * 1024  # `giant`: the size of the JSON body of a poll answer
ODD_URL = "file://{path}"  # `odd_scheme`: the video URL; {path} is the clip's file, {origin} the emulator's
REDIRECT_STATUS = 302
DAMAGED_SHARE = 0.6  # `damaged`: the share of the clip's bytes kept (its index first, so it opens)


def odd_url(clip: Path, origin: str) -> str:
    return ODD_URL.format(path=clip.resolve().as_posix(), origin=origin)


def giant_json(size: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """A valid JSON object of exactly `size` bytes (at least 64), in chunks."""
    head, tail = b'{"status": "generating", "padding": "', b'"}'
    yield head
    left = max(0, size - len(head) - len(tail))
    while left:
        step = min(chunk, left)
        yield b"x" * step
        left -= step
    yield tail


def damaged_clip(clip: Path) -> bytes:
    """The clip remuxed with its index at the front, then cut short: a file that opens, declares its
    full length and whose streams stop early, sent whole (its Content-Length matches)."""
    import tempfile

    from ..media import run_ffmpeg

    with tempfile.TemporaryDirectory(prefix="storyboard-damaged-") as scratch:
        front = Path(scratch) / "front.mp4"
        run_ffmpeg(["-i", str(clip), "-map", "0", "-c", "copy", "-movflags", "+faststart", str(front)])
        data = front.read_bytes()
    return data[: int(len(data) * DAMAGED_SHARE)]
