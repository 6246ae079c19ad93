"""A clip's body and the crossfade out of it encoded by one ffmpeg (the clip decoded once for both) against each
segment encoded by an ffmpeg of its own (the way before: the crossfade's ffmpeg decodes the clip again from its
keyframe, for a generated clip its first frame, to reach the last half second).

    python benchmarks/segment_pairs.py [--shots 2] [--seconds 5] [--size 1920x1080] [--runs 3]

Clips: `testsrc2` (every frame different), x264 with one keyframe, as generated clips come; joined by 0.5 s
crossfades; each assembly with nothing kept. Reported: the segment encodes' CPU (`os.wait4`), the largest segment
process's peak memory (`ru_maxrss`), the wall time; each the best of `--runs`, the two ways alternating.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from child_processes import measured

from storyboard.assembling import FilmSettings, Piece, assemble, encode
from storyboard.media import ffmpeg_exe


@contextlib.contextmanager
def _apart() -> Iterator[None]:
    """The way before: every segment an ffmpeg of its own."""
    paired = encode._jobs
    encode._jobs = lambda missing, timeline: [[item] for item in missing]  # type: ignore[assignment]
    try:
        yield
    finally:
        encode._jobs = paired  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shots", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    width, height = (int(side) for side in args.size.split("x"))
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        clips = []
        for number in range(args.shots):
            clip = root / f"clip{number}.mp4"
            subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                            f"testsrc2=s={args.size}:r=24:d={args.seconds}", "-vf", f"hue=h={number * 40}",
                            "-c:v", "libx264", "-preset", "veryfast", "-g", "1000", "-pix_fmt", "yuv420p", str(clip)],
                           check=True)
            clips.append(clip)
        pieces = [Piece(clips[0])] + [Piece(clip, transition="crossfade", transition_duration=0.5) for clip in clips[1:]]
        settings = FilmSettings(size=(width, height), fps=24)
        best: dict[str, tuple[float, float, int, int]] = {}
        for run in range(args.runs):
            for way in ("apart", "paired"):
                kept = root / f"kept-{way}-{run}"
                with measured() as ended, _apart() if way == "apart" else contextlib.nullcontext():
                    started = time.perf_counter()
                    assemble(pieces, root / f"{way}.mp4", settings, kept=kept)
                    wall = time.perf_counter() - started
                segments = [process for process in ended if "-filter_complex" in process.command]
                figures = (sum(process.cpu for process in segments), wall, max(process.peak_mb for process in segments),
                           len(segments))
                best[way] = tuple(min(pair) for pair in zip(best.get(way, figures), figures, strict=True))  # type: ignore[assignment]
    print(f"{args.shots} shots of {args.seconds:g} s at {args.size}, 0.5 s crossfades, {os.cpu_count()} cores; "
          f"best of {args.runs}\n")
    print("| way | segment ffmpegs | their CPU | largest one's peak memory | wall |\n|---|---|---|---|---|")
    for way, label in (("apart", "each segment an ffmpeg of its own (before)"),
                       ("paired", "a clip's body and the crossfade out of it, one ffmpeg")):
        cpu, wall, peak, count = best[way]
        print(f"| {label} | {count} | {cpu:.2f} s | {peak} MB | {wall:.2f} s |")


if __name__ == "__main__":
    main()
