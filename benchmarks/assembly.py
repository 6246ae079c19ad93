"""Film assembly: storyboard against plain moviepy and plain ffmpeg, time, memory and timing.

    python benchmarks/assembly.py [--clips 12] [--seconds 5] [--sizes 720p,1080p]
                                  [--crossfade 0.5] [--quick] [--long] [--work DIR] [--json FILE]
                                  [--ways sb,...] [--joins cuts,crossfades] [--before SRC]

Makes N test clips of S seconds per size once (cached under `--work`, by default a folder in
the system temporary directory): H.264 yuv420p 24 fps, keyframe at the start, AAC 48 kHz
stereo, from ffmpeg's `testsrc2` (hue turned per clip, light temporal noise so the encoder
has real work) with a one-frame white flash and a 1/24 s 1 kHz beep at 1, 2, 3, ... s into
each clip (markers kept out of the crossfade regions), over a quiet per-clip hum.

Then, for each size, joins them with cuts only, and with crossfades of `--crossfade` seconds
between all clips, each way in its own process:

- storyboard `assemble()` (cuts: as it chooses, i.e. the stream-copy fast path, and again
  with `fast_path=False` to show its segment path; crossfades: its segment path, starting with
  no segment kept); then, on the crossfade film, again after one shot's clip changed (the
  middle clip replaced by a recoloured copy of the same length: `sb-edit`) and after a change
  only to the music (`sb-music`), each keeping the segments of the runs before;
- plain moviepy 2: `concatenate_videoclips([VideoFileClip(p) ...]).write_videofile(out)`
  with the defaults (only `logger=None`; the defaults are libx264 preset medium / crf 23,
  MP3 audio at 44.1 kHz); crossfades the usual moviepy 2 way: every clip but the first with
  `vfx.CrossFadeIn(d)`, `concatenate_videoclips(..., padding=-d, method="compose")`;
- ffmpeg: concat demuxer with `-c copy` (cuts; crossfades have no stream-copy equivalent),
  concat demuxer with a full re-encode (cuts), and an `xfade`/`acrossfade` filter graph
  (crossfades); re-encodes with storyboard's default settings (libx264 veryfast crf 20,
  AAC 192k).

Measured per way: wall time of the process (start and imports included; for the Python ways
also the time inside the call) and its CPU time (user + system of the whole process tree,
from `os.wait4`); the peak RSS of the largest single process of the tree (`ru_maxrss` from
`os.wait4`: the worker and the ffmpeg processes it waited for, each counted on its own) and
the peak memory of the whole tree: the PSS of every process below the worker, summed, from
/proc sampled every 0.05 s (PSS, because RSS would count the 170 MB static ffmpeg binary's
shared pages once per ffmpeg process; the RSS sum is kept in `--json`). ffmpeg ways run
ffmpeg directly, without a Python process around it.

Checked per output, by decoding it: video length (frames / fps) against the expected
length (the sum of the clips minus the overlaps), audio length (decoded samples, after edit
lists) minus video length, and the markers: where the flashes land against where they
should, and how far each beep is from its flash (audio/video sync along the film).

Progress goes to stderr, the Markdown table to stdout at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import wave
from dataclasses import replace
from datetime import date
from inspect import signature
from pathlib import Path

import imageio_ffmpeg
import numpy as np

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
SIZES = {"480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080)}
FPS = 24
RATE = 48_000
CLIP_VERSION = 1  # bump when the test clips change
BEEP_HZ = 1000.0
BEEP_LEVEL = 0.5
HUM_LEVEL = 0.05
ANALYSIS_SIZE = (32, 18)  # frames are decoded this small to find the flashes

# way id -> (label, joins it applies to)
WAYS = {
    "sb": ("storyboard `assemble()`", ("cuts", "crossfades")),
    "sb-moviepy": ("storyboard `assemble(fast_path=False)`", ("cuts",)),
    "sb-edit": ("storyboard again after one shot's clip changed (segments kept from the `sb` run)", ("crossfades",)),
    "sb-music": ("storyboard again after a change only to the music (segments kept from the `sb` run)", ("crossfades",)),
    "mp": ("moviepy `concatenate_videoclips` + `write_videofile`", ("cuts", "crossfades")),
    "sb-before": ("storyboard `assemble()` at `--before` (a source tree)", ("cuts", "crossfades")),
    "ff-copy": ("ffmpeg concat demuxer, `-c copy`", ("cuts", "crossfades")),
    "ff-copy-aac": ("ffmpeg concat demuxer, video `-c copy`, audio re-encoded", ("cuts",)),
    "ff-encode": ("ffmpeg concat demuxer, re-encode", ("cuts",)),
    "ff-xfade": ("ffmpeg `xfade` + `acrossfade` graph", ("crossfades",)),
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- test clips ------------------------------------------------------------------------------


def marker_offsets(seconds: float, overlap: float) -> list[int]:
    """Whole seconds into a clip that carry a marker, clear of a crossfade at either end."""
    return [m for m in range(1, int(seconds) + 1) if overlap + 0.25 <= m <= seconds - overlap - 0.25]


def make_clips(folder: Path, size: tuple[int, int], count: int, seconds: float, overlap: float,
               gop: str = "2s") -> list[Path]:
    """`gop`: the clips' keyframes, every 2 s ("2s") or where x264 puts them by default ("default": 250 frames)."""
    width, height = size
    key = f"v{CLIP_VERSION}-{width}x{height}-{seconds:g}s-o{overlap:g}" + ("" if gop == "2s" else f"-g{gop}")
    folder = folder / key
    folder.mkdir(parents=True, exist_ok=True)
    flashes = [round(m * FPS) for m in marker_offsets(seconds, overlap)]
    clips = []
    for index in range(count):
        clip = folder / f"clip{index:02d}.mp4"
        clips.append(clip)
        if clip.exists():
            continue
        started = time.perf_counter()
        sound = folder / f"clip{index:02d}.wav"
        t = np.arange(round(seconds * RATE)) / RATE
        samples = HUM_LEVEL * np.sin(2 * np.pi * (180 + 20 * index) * t)
        for frame in flashes:
            start, end = frame * RATE // FPS, (frame + 1) * RATE // FPS
            samples[start:end] += BEEP_LEVEL * np.sin(2 * np.pi * BEEP_HZ * t[start:end])
        with wave.open(str(sound), "wb") as out:
            out.setnchannels(2)
            out.setsampwidth(2)
            out.setframerate(RATE)
            pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
            out.writeframes(np.repeat(pcm, 2).tobytes())
        flash = "+".join(f"eq(n\\,{frame})" for frame in flashes) or "0"
        video = (f"testsrc2=size={width}x{height}:rate={FPS}:duration={seconds:g},hue=h={index * 30},"
                 f"noise=alls=6:allf=t,drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='{flash}',"
                 "format=yuv420p")
        partial = clip.with_suffix(".part.mp4")
        run([FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", video, "-i", str(sound),
             "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
             *(["-g", str(2 * FPS)] if gop == "2s" else []), "-pix_fmt", "yuv420p",
             "-c:a", "aac", "-b:a", "128k", "-ar", str(RATE),
             "-ac", "2", "-movflags", "+faststart", str(partial)])
        partial.rename(clip)
        sound.unlink()
        log(f"  made {clip.name} ({width}x{height}) in {time.perf_counter() - started:.1f} s")
    return clips


def edited_clip(clip: Path) -> Path:
    """The clip with its colours turned: another clip of the same length, markers and sound (a shot regenerated)."""
    edited = clip.with_name(f"{clip.stem}-edited.mp4")
    if not edited.exists():
        partial = edited.with_suffix(".part.mp4")
        run([FFMPEG, "-v", "error", "-y", "-i", str(clip), "-vf", "hue=h=180", "-c:v", "libx264", "-preset", "veryfast",
             "-crf", "23", "-g", str(2 * FPS), "-pix_fmt", "yuv420p", "-c:a", "copy", "-movflags", "+faststart", str(partial)])
        partial.rename(edited)
    return edited


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, **kwargs)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stderr[-2000:]!r}")
    return done


# -- the ways --------------------------------------------------------------------------------


def music_file(work: Path) -> Path:
    """A quiet 220 Hz tone, 7 s (looped under the film): the soundtrack that the `sb-music` way adds."""
    path = work / "music.wav"
    if not path.exists():
        t = np.arange(7 * RATE) / RATE
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(RATE)
            out.writeframes((0.5 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2").tobytes())
    return path


def concat_list(clips: list[Path], folder: Path) -> Path:
    listing = folder / "concat.txt"
    listing.write_text("".join(f"file '{clip.resolve()}'\n" for clip in clips))
    return listing


def clip_seconds(clip: Path) -> float:
    text = subprocess.run([FFMPEG, "-hide_banner", "-i", str(clip)], capture_output=True, text=True).stderr
    h, m, s = re.search(r"Duration: (\d+):(\d+):([\d.]+)", text).groups()
    return int(h) * 3600 + int(m) * 60 + float(s)


def ffmpeg_command(way: str, clips: list[Path], out: Path, overlap: float, folder: Path) -> list[str]:
    encode = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
              "-c:a", "aac", "-b:a", "192k", "-ar", str(RATE)]
    if way == "ff-copy":
        return [FFMPEG, "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(concat_list(clips, folder)),
                "-c", "copy", "-movflags", "+faststart", str(out)]
    if way == "ff-copy-aac":
        return [FFMPEG, "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(concat_list(clips, folder)),
                "-c:v", "copy", "-c:a", "aac", "-b:a", "192k", "-ar", str(RATE), "-movflags", "+faststart", str(out)]
    if way == "ff-encode":
        return [FFMPEG, "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(concat_list(clips, folder)),
                *encode, "-movflags", "+faststart", str(out)]
    assert way == "ff-xfade"
    inputs = [argument for clip in clips for argument in ("-i", str(clip))]
    graph, video, audio, length = [], "[0:v]", "[0:a]", clip_seconds(clips[0])
    for index, clip in enumerate(clips[1:], start=1):
        offset = length - overlap
        graph.append(f"{video}[{index}:v]xfade=transition=fade:duration={overlap:g}:offset={offset:.6f}[v{index}]")
        graph.append(f"{audio}[{index}:a]acrossfade=d={overlap:g}[a{index}]")
        video, audio = f"[v{index}]", f"[a{index}]"
        length = offset + clip_seconds(clip)
    return [FFMPEG, "-v", "error", "-y", *inputs, "-filter_complex", ";".join(graph) or "[0:v]null[v0];[0:a]anull[a0]",
            "-map", video, "-map", audio, *encode, "-movflags", "+faststart", str(out)]


def worker(spec: dict) -> None:
    """One Python way, in its own process; writes what it measured inside to spec['report']."""
    clips, out, overlap = [Path(p) for p in spec["clips"]], Path(spec["out"]), spec["overlap"]
    crossfades = spec["joins"] == "crossfades"
    started = time.perf_counter()
    path = None
    if spec.get("before"):
        sys.path.insert(0, spec["before"])  # that tree's storyboard, not the installed one
    if spec["way"] in ("sb", "sb-moviepy", "sb-before", "sb-edit", "sb-music"):
        from storyboard.assembling import FilmSettings, Piece, Soundtrack, assemble

        pieces = [Piece(clip, transition="crossfade" if crossfades and i else "cut",
                        transition_duration=overlap if crossfades and i else 0.0) for i, clip in enumerate(clips)]
        music = Soundtrack(Path(spec["music"]), volume=0.1) if spec.get("music") else None
        settings = FilmSettings(size=tuple(spec["size"]), fps=FPS, fast_path=spec["way"] != "sb-moviepy", music=music)
        if spec.get("edit") is not None:  # one shot's clip replaced by another of the same length
            pieces[spec["edit"]] = replace(pieces[spec["edit"]], path=Path(spec["edited"]))
        kept = {"kept": Path(spec["kept"])} if spec.get("kept") and "kept" in signature(assemble).parameters else {}
        path = assemble(pieces, out, settings, **kept)
    elif spec["way"] == "mp":
        from moviepy import VideoFileClip, concatenate_videoclips, vfx

        sources = [VideoFileClip(str(clip)) for clip in clips]
        if crossfades:
            faded = [sources[0]] + [clip.with_effects([vfx.CrossFadeIn(overlap)]) for clip in sources[1:]]
            film = concatenate_videoclips(faded, padding=-overlap, method="compose")
        else:
            film = concatenate_videoclips(sources)
        film.write_videofile(str(out), logger=None)
        path = "moviepy"
        film.close()
        for clip in sources:
            clip.close()
    seconds = time.perf_counter() - started
    Path(spec["report"]).write_text(json.dumps({"inner": seconds, "path": path}))


class TreeSampler(threading.Thread):
    """Peaks of the summed memory of a process and all its descendants, sampled from /proc.

    Two sums: RSS (shared pages counted once per process: the 170 MB static ffmpeg binary's
    text is counted again for every ffmpeg process) and PSS (shared pages divided among the
    processes sharing them, so the sum is what the tree really holds)."""

    def __init__(self, root: int, interval: float = 0.05):
        super().__init__(daemon=True)
        self.root, self.interval, self.rss, self.pss, self.processes = root, interval, 0, 0, 0
        self.done = threading.Event()
        self.page = os.sysconf("SC_PAGE_SIZE")

    def run(self) -> None:
        while not self.done.is_set():
            self.sample()
            self.done.wait(self.interval)

    def sample(self) -> None:
        parents: dict[int, list[int]] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            parents.setdefault(ppid, []).append(int(entry.name))
        rss = pss = count = 0
        todo = [self.root]
        while todo:
            pid = todo.pop()
            todo += parents.get(pid, [])
            try:
                with open(f"/proc/{pid}/statm") as f:
                    rss += int(f.read().split()[1]) * self.page
                with open(f"/proc/{pid}/smaps_rollup") as f:
                    pss += next(int(line.split()[1]) * 1024 for line in f if line.startswith("Pss:"))
                count += 1
            except (OSError, IndexError, ValueError, StopIteration):
                pass
        self.rss, self.pss, self.processes = max(self.rss, rss), max(self.pss, pss), max(self.processes, count)


def measure(command: list[str], cwd: Path) -> dict:
    """Run `command`, return wall time, CPU time and peak memory of its process tree."""
    with open(cwd / "stderr.txt", "wb") as errors:
        load = os.getloadavg()[0]
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=errors)
        sampler = TreeSampler(process.pid)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        sampler.done.set()
        sampler.join()
    if process.returncode != 0:
        tail = (cwd / "stderr.txt").read_text(errors="replace").strip().splitlines()[-12:]
        return {"error": f"exit {process.returncode}: " + " | ".join(tail), "wall": wall}
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "maxrss": usage.ru_maxrss * 1024,
            "tree_rss": sampler.rss, "tree_pss": sampler.pss, "processes": sampler.processes,
            "load_before": load, "load_after": os.getloadavg()[0]}


# -- checking an output ----------------------------------------------------------------------


def analyse(film: Path, expected: float, markers: list[float]) -> dict:
    text = subprocess.run([FFMPEG, "-hide_banner", "-i", str(film)], capture_output=True, text=True).stderr
    fps_match = re.search(r"Video:.*?, ([\d.]+) fps", text)
    fps = float(fps_match.group(1)) if fps_match else FPS
    width, height = ANALYSIS_SIZE
    raw = run([FFMPEG, "-v", "error", "-i", str(film), "-map", "0:v:0", "-fps_mode", "passthrough",
               "-vf", f"scale={width}:{height},format=gray", "-f", "rawvideo", "-"]).stdout
    luma = np.frombuffer(raw, dtype=np.uint8).reshape(-1, width * height).mean(axis=1)
    bright = luma > 200
    flashes = [n / fps for n in np.flatnonzero(bright & ~np.r_[False, bright[:-1]])]
    has_audio = "Audio:" in text
    beeps: list[float] = []
    audio_seconds = None
    if has_audio:
        pcm = run([FFMPEG, "-v", "error", "-i", str(film), "-map", "0:a:0", "-ac", "1", "-ar", str(RATE),
                   "-f", "f32le", "-"]).stdout
        sound = np.abs(np.frombuffer(pcm, dtype="<f4"))
        audio_seconds = len(sound) / RATE
        block = RATE // 1000
        envelope = sound[: len(sound) // block * block].reshape(-1, block).max(axis=1)
        loud = envelope > BEEP_LEVEL / 2
        for b in np.flatnonzero(loud & ~np.r_[False, loud[:-1]]):
            start = b * block
            beeps.append((start + int(np.argmax(sound[start:start + block] > BEEP_LEVEL / 2))) / RATE)
    video_seconds = len(luma) / fps

    def nearest(values: list[float], t: float) -> float | None:
        best = min(values, key=lambda v: abs(v - t), default=None)
        return best if best is not None and abs(best - t) < 0.45 else None  # markers are 1 s apart

    placement, sync, found_v, found_a = [], [], 0, 0
    for t in markers:
        v, a = nearest(flashes, t), nearest(beeps, t)
        found_v += v is not None
        found_a += a is not None
        if v is not None:
            placement.append(v - t)
        if v is not None and a is not None:
            sync.append(a - v)
    return {
        "fps": fps, "frames": len(luma), "video": video_seconds, "audio": audio_seconds, "expected": expected,
        "markers": len(markers), "flashes_found": found_v, "beeps_found": found_a,
        "extra_flashes": len(flashes) - found_v, "extra_beeps": len(beeps) - found_a,
        "placement_max": max(placement, key=abs) if placement else None,
        "sync_max": max(sync, key=abs) if sync else None,
        "sync_first": sync[0] if sync else None, "sync_last": sync[-1] if sync else None,
        "bytes": film.stat().st_size, "keyframe_gap": keyframe_gap(film, video_seconds),
    }


def keyframe_gap(film: Path, seconds: float) -> float:
    """The longest stretch of the film's picture between two keyframes (or the last one and the end)."""
    import av

    with av.open(str(film)) as container:
        stream = container.streams.video[0]
        times = sorted(float(packet.pts * stream.time_base) for packet in container.demux(stream)
                       if packet.is_keyframe and packet.pts is not None)
    return max(later - earlier for earlier, later in zip([*times], [*times[1:], seconds], strict=True))


# -- the run ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=None, help="clips per film (12; --quick: 4)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--sizes", default=None, help="comma-separated, of " + ", ".join(SIZES) + " (720p,1080p; --quick: 720p)")
    parser.add_argument("--crossfade", type=float, default=0.5)
    parser.add_argument("--ways", default=None, help="comma-separated subset of " + ", ".join(WAYS)
                        + " (all; --quick: all but mp, plain moviepy, the slowest, to stay under a minute)")
    parser.add_argument("--joins", default="cuts,crossfades")
    parser.add_argument("--gop", choices=["2s", "default"], default="2s",
                        help="the test clips' keyframes: every 2 s, or x264's default (one per 250 frames)")
    parser.add_argument("--quick", action="store_true", help="720p, 4 clips: a fast check")
    parser.add_argument("--long", action="store_true", help="the clips ten times over: a 10-minute film (memory against length)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "storyboard-bench-assembly",
                        help="where clips are cached and films written")
    parser.add_argument("--json", type=Path, help="also save the raw figures here")
    parser.add_argument("--before", type=Path, help="a source tree of storyboard (e.g. `git archive main storyboard | "
                        "tar -x -C DIR`) for the way sb-before: the same film, side by side with an earlier version")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return
    clips_count = args.clips or (4 if args.quick else 12)
    sizes = (args.sizes or ("720p" if args.quick else "720p,1080p")).split(",")
    chosen = args.ways.split(",") if args.ways else [way for way in WAYS if not (args.quick and way == "mp")]
    ways = [way for way in chosen if way != "sb-before" or args.before]
    joins_list = args.joins.split(",")
    overlap = args.crossfade
    args.work.mkdir(parents=True, exist_ok=True)
    import moviepy

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).resolve().parents[1],
                            capture_output=True, text=True).stdout.strip() or "?"
    version = subprocess.run([FFMPEG, "-version"], capture_output=True, text=True).stdout.split("\n")[0]
    machine = (f"{platform.machine()}, {os.cpu_count()} CPUs, CPython {platform.python_version()}, "
               f"moviepy {moviepy.__version__} (as reported), {version.split(' Copyright')[0]}, storyboard {commit}")
    log(f"{machine}; {clips_count} clips x {args.seconds:g} s; sizes {sizes}; work folder {args.work}")

    results = []
    begun = time.perf_counter()
    for size_name in sizes:
        size = SIZES[size_name]
        log(f"{size_name}: test clips")
        clips = make_clips(args.work / "clips", size, clips_count, args.seconds, overlap, args.gop) * (10 if args.long else 1)
        for joins in joins_list:
            step = overlap if joins == "crossfades" else 0.0
            starts = [i * (args.seconds - step) for i in range(len(clips))]
            expected = len(clips) * args.seconds - (len(clips) - 1) * step
            markers = [start + m for start in starts for m in marker_offsets(args.seconds, overlap)]
            for way in ways:
                label, applies = WAYS[way]
                row = {"size": size_name, "joins": joins, "way": way, "label": label, "expected": expected}
                if joins not in applies:
                    continue
                if way == "ff-copy" and joins == "crossfades":
                    row["na"] = "no stream-copy crossfade"
                    results.append(row)
                    continue
                folder = Path(tempfile.mkdtemp(prefix=f"{size_name}-{joins}-{way}-", dir=args.work))
                kept = args.work / "kept" / f"{size_name}-{joins}"  # segments kept by `sb`, for `sb-edit` and `sb-music`
                if way == "sb":
                    shutil.rmtree(kept, ignore_errors=True)
                out = folder / "film.mp4"
                if way.startswith("ff-"):
                    command = ffmpeg_command(way, clips, out, overlap, folder)
                else:
                    spec = {"way": way, "joins": joins, "clips": [str(c) for c in clips], "out": str(out),
                            "overlap": overlap, "size": size, "report": str(folder / "report.json"),
                            "before": str(args.before.resolve()) if way == "sb-before" and args.before else None,
                            "kept": str(kept) if way in ("sb", "sb-edit", "sb-music") else None,
                            "music": str(music_file(args.work)) if way == "sb-music" else None}
                    if way == "sb-edit":
                        spec |= {"edit": len(clips) // 2, "edited": str(edited_clip(clips[len(clips) // 2]))}
                    command = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
                log(f"{size_name} {joins}: {label} ...")
                row.update(measure(command, folder))
                if "error" not in row:
                    if (folder / "report.json").exists():
                        row.update(json.loads((folder / "report.json").read_text()))
                    row.update(analyse(out, expected, markers))
                    log(f"  {row['wall']:.2f} s wall, {row['cpu']:.1f} s CPU, {row['maxrss'] / 2**20:.0f} MB largest "
                        f"process, tree {row['tree_pss'] / 2**20:.0f} MB PSS / {row['tree_rss'] / 2**20:.0f} MB RSS "
                        f"({row['processes']} processes at most); video {row['video']:.3f} s "
                        f"(expected {expected:.3f}), audio {row['audio'] or 0:.3f} s; sync max "
                        f"{(row['sync_max'] or 0) * 1000:+.1f} ms")
                else:
                    log(f"  FAILED: {row['error']}")
                results.append(row)
                shutil.rmtree(folder, ignore_errors=True)
    total = time.perf_counter() - begun

    long = " --long" if args.long else ""
    print(f"\n`python benchmarks/assembly.py{long} --clips {clips_count} --seconds {args.seconds:g} --sizes {','.join(sizes)} "
          f"--crossfade {overlap:g} --gop {args.gop}` — {date.today()}, {machine}; whole run {total / 60:.1f} min\n")
    print(table(results, clips_count * (10 if args.long else 1), args.seconds, overlap))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "results": results}, indent=1))


def table(results: list[dict], count: int, seconds: float, overlap: float) -> str:
    def ms(value: float | None) -> str:
        return "—" if value is None else f"{value * 1000:+.1f} ms"

    lines = [
        "| size | joins | way | path | wall | CPU | peak RSS, largest process | peak memory, whole tree (PSS sum) "
        "| video length (expected) | audio − video length | flash vs expected, worst | beep − flash: first / last / worst "
        "| film size, longest keyframe gap |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results:
        head = f"| {row['size']} | {row['joins']} | {row['label']} "
        if "na" in row:
            lines.append(head + f"| n/a ({row['na']}) |" + " |" * 10)
            continue
        if "error" in row:
            lines.append(head + f"| FAILED after {row['wall']:.1f} s: {row['error'][:300]} |" + " |" * 10)
            continue
        found = ""
        if row["flashes_found"] < row["markers"] or row["beeps_found"] < row["markers"]:
            found = f" (found {row['flashes_found']}/{row['beeps_found']} of {row['markers']})"
        inner = f" ({row['inner']:.2f} s in the call)" if row.get("inner") is not None else ""
        audio = "no audio" if row["audio"] is None else ms(row["audio"] - row["video"])
        off = row["video"] - row["expected"]
        drift = ", " + ms(off) if abs(off) > 1e-6 else ""
        lines.append(
            head + f"| {row.get('path') or 'ffmpeg'} | {row['wall']:.2f} s{inner} | {row['cpu']:.1f} s "
            f"| {row['maxrss'] / 2**20:.0f} MB | {row['tree_pss'] / 2**20:.0f} MB ({row['processes']} proc.) "
            f"| {row['video']:.3f} s ({row['expected']:.3f} s{drift}) "
            f"| {audio} | {ms(row['placement_max'])}{found} "
            f"| {ms(row['sync_first'])} / {ms(row['sync_last'])} / {ms(row['sync_max'])} "
            f"| {row['bytes'] / 1e6:.2f} MB, {row['keyframe_gap']:.2f} s |"
        )
    lines.append(f"\n{count} clips × {seconds:g} s, 24 fps; crossfades {overlap:g} s at each of the {count - 1} joins. "
                 "Wall includes process start and imports for the Python ways; the figure in parentheses is the "
                 "time spent in the assembly call itself. Video length = decoded frames / fps; audio length = "
                 "decoded samples (edit lists applied). One video frame = 42 ms. Largest process: `ru_maxrss` from "
                 "`os.wait4` (the worker and every process it waited for, the largest one). Whole tree: PSS of "
                 "every process under the worker summed, /proc sampled every 0.05 s, with the most processes "
                 "alive at once (a run shorter than a sample can miss its peak; the RSS sums are in --json).")
    loads = [row[key] for row in results for key in ("load_before", "load_after") if key in row]
    if loads:
        lines.append(f"1-minute load average around the runs: {min(loads):.2f} to {max(loads):.2f}.")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
