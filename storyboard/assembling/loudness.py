"""A shot's loudness: EBU R128 integrated, over the part of its clip the film shows, measured by one ffmpeg
pass and kept by what determines it (the clip's file: path, size, modification time; the part's start and
length), as the film's segments are. A shot that several films show (the variants of a file), or that an
edit elsewhere in the film leaves as it was, is measured once; films assembled at the same time wait for the
one measuring it rather than measuring it too."""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import subprocess
from pathlib import Path

from ..files import atomic_write_bytes
from ..media import start_ffmpeg
from ..media.one_at_a_time import one_at_a_time

VERSION = 1  # bump when the way a shot is measured changes
SILENT = -60.0  # LUFS: a shot quieter than this has no loudness to match (ambience, silence)
_INTEGRATED = re.compile(r"I:\s+(-?[\d.]+|-inf) LUFS")


def loudness(clip: Path, start: float, length: float, kept: Path | None = None) -> float | None:
    """The integrated loudness in LUFS of `length` seconds of `clip`'s sound from `start` (seconds from the
    clip's start); None when there is no sound above `SILENT`. `kept`: a folder where each measurement is
    kept (`loudness-{key}.json`) and found again; None: measured every time."""
    if kept is None:
        return _measured(clip, start, length)[0]
    key = _key(clip, start, length)
    with one_at_a_time(("loudness", key)):
        return _kept_or_measured(clip, start, length, kept / f"loudness-{key}.json")


def _kept_or_measured(clip: Path, start: float, length: float, record: Path) -> float | None:
    try:
        value = json.loads(record.read_text())["lufs"]
        if value is None or isinstance(value, float):
            return value
    except (OSError, ValueError, TypeError, KeyError):
        pass  # not measured yet, or a record that cannot be read: measured again
    value, measured = _measured(clip, start, length)
    if measured:  # an ffmpeg that failed is asked again next time
        with contextlib.suppress(OSError):  # a record that cannot be written (a full disk) only costs a measurement
            record.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(record, json.dumps({"lufs": value}).encode())
    return value


def _key(clip: Path, start: float, length: float) -> str:
    facts = os.stat(clip)
    what = {"version": VERSION, "clip": [str(clip.resolve()), facts.st_size, facts.st_mtime_ns],
            "start": round(start, 6), "length": round(length, 6)}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:32]


def _measured(clip: Path, start: float, length: float) -> tuple[float | None, bool]:
    """The loudness, and whether ffmpeg measured it (False: it failed, and the loudness is taken as unknown)."""
    # -ss before -i counts from the clip's start, as trims do; the meter reports at the info level
    process = start_ffmpeg(["-hide_banner", "-nostats", "-v", "info", "-ss", f"{start:.6f}", "-t", f"{length:.6f}",
                            "-i", str(clip), "-vn", "-af", "ebur128=framelog=quiet", "-f", "null", "-"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, report = process.communicate()
    found = _INTEGRATED.findall(report.decode("utf-8", "replace"))
    if process.returncode != 0:
        return None, False
    if not found or found[-1] == "-inf":
        return None, True
    value = float(found[-1])
    return (value if math.isfinite(value) and value > SILENT else None), True
