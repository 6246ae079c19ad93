"""Hostile footage: does the film play right, whatever the clips are? storyboard against plain
moviepy and a plain ffmpeg stream-copy concat, on the cases of `tests/footage.py`.

    python benchmarks/footage.py [--work DIR] [--ways storyboard,moviepy,...] [CASE ...]

Each case is a 2.5 s 360p clip (variable frame rate, a phone's 90-degree display matrix, video
starting 0.5 s after the sound, streams starting at +10 s, 23.976 and 29.97 fps, TS, M2TS,
MKV, MOV, WebM, AVI, MXF) with white flashes and 1 kHz beeps at the same instants. Every way
joins `plain, case, plain` (a 640x360 24 fps H.264/AAC clip on each side) with cuts into a
640x360 24 fps film, which is decoded and measured:

- sync: the largest |flash - beep| in the film (9 of each expected);
- picture: the largest |flash - where the clip's own timestamps put it|; sound: the same for beeps;
- length: the film's picture length minus the sum of the clips' (on the 24 fps grid);
- upright: the film has no rotation flag and the orientation square is top-left;
- path: storyboard's stream-copy fast path or its segment path (ffmpeg, cached segments).

The `truncated` case (an MP4 cut to 60 % of its bytes, index at the front) is measured
against the intact clip's events: a way that makes a film of it shows what was lost.

The ways: storyboard `assemble()` (fast path allowed); storyboard with `fast_path=False`;
moviepy 2 `concatenate_videoclips([VideoFileClip(p) ...], method="compose")` +
`write_videofile` (libx264, AAC); ffmpeg's concat demuxer with `-c copy`. A way that fails,
or whose film lacks flashes or beeps, says so in its cell.
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from footage import CASES, FFMPEG, Case, analyse, make_case

FPS = 24.0
WAYS = ("storyboard", "storyboard drawn", "moviepy", "ffmpeg -c copy")


def plain_moviepy(clips: list[Case], film: Path) -> None:
    from moviepy import VideoFileClip, concatenate_videoclips

    opened = [VideoFileClip(str(clip.path)) for clip in clips]
    try:
        joined = concatenate_videoclips(opened, method="compose")
        joined.write_videofile(str(film), fps=FPS, codec="libx264", audio_codec="aac", preset="veryfast", logger=None)
    finally:
        for clip in opened:
            clip.close()


def ffmpeg_copy(clips: list[Case], film: Path) -> None:
    listing = film.with_suffix(".txt")
    listing.write_text("".join(f"file '{clip.path}'\n" for clip in clips))
    subprocess.run([FFMPEG, "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy",
                    "-f", "mp4", str(film)], check=True, capture_output=True)


def measure(film: Path, clips: list[Case]) -> dict[str, str]:
    """The cells of one way's row, tolerant of films that lost flashes or beeps."""
    starts = [0.0, clips[0].duration, clips[0].duration + clips[1].duration]
    expected = [start + event for start, clip in zip(starts, clips, strict=True) for event in clip.events]
    found = analyse(film)
    missing = []
    if len(found.flashes) != len(expected):
        missing.append(f"{len(found.flashes)}/{len(expected)} flashes")
    if len(found.beeps) != len(expected):
        missing.append(f"{len(found.beeps)}/{len(expected)} beeps")
    sync = max((min(abs(flash - beep) for beep in found.beeps) for flash in found.flashes), default=float("nan"))
    picture = max((min(abs(flash - at) for at in expected) for flash in found.flashes), default=float("nan"))
    sound = max((min(abs(beep - at) for at in expected) for beep in found.beeps), default=float("nan"))
    length = found.video_duration - round(sum(clip.duration for clip in clips) * FPS) / FPS
    upright = found.rotation == 0 and analyse(film, (starts[1], starts[2])).marker == "top-left"
    return {
        "sync": f"{sync * 1000:.1f} ms" + (f" ({', '.join(missing)})" if missing else ""),
        "picture": f"{picture * 1000:.1f} ms",
        "sound": f"{sound * 1000:.2f} ms",
        "length": f"{length * 1000:+.1f} ms",
        "upright": "yes" if upright else f"**no** (rotation flag {found.rotation})" if found.rotation else "**no**",
    }


def run_way(way: str, case: Case, plain: Case, folder: Path) -> dict[str, str]:
    clips = [plain, case, plain]
    began = time.perf_counter()
    try:
        if way.startswith("storyboard"):
            from storyboard.assembling import FilmSettings, Piece, assemble

            film = folder / f"{case.name}-{'fast' if way == 'storyboard' else 'drawn'}.mp4"
            settings = FilmSettings(size=(640, 360), fps=FPS, fast_path=way == "storyboard")
            made = assemble([Piece(clip.path) for clip in clips], film, settings, scratch=folder)
            path = "fast (copy)" if made == "copy" else "segments"
        else:
            film = folder / f"{case.name}-{way.split()[0]}.mp4"
            (plain_moviepy if way == "moviepy" else ffmpeg_copy)(clips, film)
            path = "—"
        took = time.perf_counter() - began
        return {**measure(film, clips), "path": path, "wall": f"{took:.1f} s"}
    except Exception as error:  # noqa: BLE001 - a way that fails is a result
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        verdict = "refused" if way.startswith("storyboard") else "fails"
        return {"sync": f"{verdict}: {reason[:100]}", "picture": "", "sound": "", "length": "", "upright": "", "path": "",
                "wall": ""}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="*", help="cases to run (default: all but `plain` and `truncated`)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "storyboard-bench-footage")
    parser.add_argument("--ways", default=",".join(WAYS), help="comma-separated subset of: " + ", ".join(WAYS))
    args = parser.parse_args()
    ways = [way.strip() for way in args.ways.split(",")]
    names = args.cases or [name for name in CASES if name != "plain"]
    clips, films = args.work / "clips", args.work / "films"
    films.mkdir(parents=True, exist_ok=True)
    plain = make_case("plain", clips)
    began = time.perf_counter()
    rows = []
    for name in names:
        case = make_case(name, clips)
        for way in ways:
            print(f"{name}: {way}", file=sys.stderr, flush=True)
            rows.append({"case": name, "note": case.note, "way": way, **run_way(way, case, plain, films)})
    print(f"`python benchmarks/footage.py` — {date.today()}, {platform.machine()}, {os.cpu_count()} CPUs, "
          f"CPython {platform.python_version()}; whole run {(time.perf_counter() - began) / 60:.1f} min\n")
    print("| case | way | path | flash − beep, worst | flash vs its timestamp, worst | beep vs its timestamp, worst "
          "| length error | upright | wall |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['case']} | {row['way']} | {row['path']} | {row['sync']} | {row['picture']} | {row['sound']} "
              f"| {row['length']} | {row['upright']} | {row['wall']} |")


if __name__ == "__main__":
    main()
