"""Segments encoded by ffmpeg alone (decode, fit, fade, crossfade, encode: no frame passes through
Python), all with the same encoder settings so that their H.264 streams join by a stream copy,
and kept in a folder by their keys.

Several segments are encoded at once, one ffmpeg per core with one thread each: x264 and the
decoders then use the cores without waiting on one another, and each process stays small.
A segment file is only ever moved into place complete (`files.atomic_path`).

Films assembled at once (the variants of a file) share the cores and the segments: at most one
ffmpeg per core runs in the whole process (`_SLOTS`), a segment two films need is encoded by one
while the other waits for it (`media.one_at_a_time`), and no film prunes a segment another is still using.
"""
from __future__ import annotations

import bisect
import contextlib
import json
import math
import os
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

from ..errors import MediaError
from ..files import FileFacts, atomic_path, atomic_write_bytes
from ..media import check_intact, ffmpeg_exe, probe, run_ffmpeg
from ..media.one_at_a_time import one_at_a_time
from .captions import Caption, write_overlay
from .conversion import FILM_COLOUR, FILM_FRAMES, deinterlacing, fitting
from .picture import fitted_size
from .ramps import crossfade, fades
from .segments import Layer, Segment, describe, segment_key, segments_of
from .timeline import FilmSettings, Timeline

# Seconds before the first frame a segment shows to seek to (ffmpeg then decodes from the keyframe before): more
# than the gap between a file's start as ffmpeg counts it (its first packet) and as storyboard does (its first sound).
SEEK_MARGIN = 0.05
Overlay = tuple[Path, int, int]  # a subtitle's image, and where it goes on the frame: left, top
_SLOTS = threading.BoundedSemaphore(os.cpu_count() or 1)  # ffmpeg encoders running in this process
_IN_USE: Counter[Path] = Counter()  # segments a film being assembled uses
_GUARD = threading.Lock()  # for the one above
BUDGET = 3  # the folder keeps up to this many times the current film's segments, the least recently used going first


@dataclass(frozen=True)
class Progress:
    """One segment found or encoded, and the counts so far."""

    segment: str  # what it shows, e.g. "shot 'b'"
    reused: bool
    done: int
    total: int
    reused_count: int


class SegmentStore:
    """Segments by key, each with a record of its content (`{key}.json`: sha256, size, mtime, inode) written when
    it is encoded. A segment is reused only while it is that file: checked by its size, mtime and inode, and
    hashed when they differ (a file swapped, replaced or rewritten); one that fails is encoded again."""

    def __init__(self, folder: Path):
        self.folder = folder

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.mp4"

    def record_path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def get(self, key: str) -> Path | None:
        path = self.path(key)
        if not path.is_file() or path.stat().st_size == 0:
            return None
        if not self._intact(key):
            self.discard(key)
            return None
        with contextlib.suppress(OSError):
            os.utime(self.record_path(key))  # recently used: pruned last (the segment's own mtime is part of its record)
        return path

    def remember(self, key: str) -> None:
        """Record the content of the segment just encoded under `key` (its inode too: a swap keeps sizes and mtimes)."""
        facts = FileFacts.of(self.path(key), inode=True)
        atomic_write_bytes(self.record_path(key), json.dumps(asdict(facts)).encode())

    def _intact(self, key: str, *, thorough: bool = False) -> bool:
        """True if the segment is the file its record describes; `thorough`: hash it whatever its facts say."""
        try:
            return FileFacts(**json.loads(self.record_path(key).read_text())).describe(self.path(key), thorough=thorough)
        except (OSError, ValueError, TypeError):
            return False  # no record (or none that can be read): nothing vouches for the file

    def discard(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)
        self.record_path(key).unlink(missing_ok=True)

    def discard_damaged(self, files: list[tuple[Path, int]]) -> bool:
        """Remove the segments that are no longer whole (a disk error, a file cut short or changed by hand):
        each must be the file its record describes (hashed again) and hold its frames. True if any was removed,
        so that encoding again can mend the film."""
        damaged = [path for path, frames in files
                   if not self._intact(path.stem, thorough=True) or not _whole(path, frames)]
        for path in damaged:
            self.discard(path.stem)
        return bool(damaged)

    def prune(self, used: set[Path]) -> None:
        """Drop the least recently used segments once the folder outgrows BUDGET times those in use."""
        files = [path for path in self.folder.glob("*.mp4") if not path.name.startswith(".")]
        sizes = {path: _size(path) for path in files}
        budget = BUDGET * sum(sizes[path] for path in files if path in used)
        total = sum(sizes.values())
        for path in sorted(files, key=lambda path: max(_mtime(path), _mtime(path.with_suffix(".json")))):
            if total <= budget:
                break
            if path not in used:
                with contextlib.suppress(OSError):
                    self.discard(path.stem)
                total -= sizes[path]


def encode_segments(timeline: Timeline, settings: FilmSettings, store: SegmentStore, scratch: Path,
                    captions: Sequence[Caption] = (),
                    progress: Callable[[Progress], None] | None = None) -> tuple[list[tuple[Path, int]], int]:
    """Each segment's file and frame count, in the film's order, found in the store or encoded into it;
    and how many were encoded. `captions`: subtitles to burn in; `scratch`: a folder for their images."""
    segments = segments_of(timeline, captions)
    encoder = _encoder()
    keys = [segment_key(segment, timeline, settings, encoder) for segment in segments]
    found = {key: store.get(key) for key in set(keys)}
    missing = {key: segment for key, segment in reversed(list(zip(keys, segments, strict=True))) if found[key] is None}
    in_order = [(key, segment) for key, segment in zip(keys, segments, strict=True) if missing.get(key) is segment]
    jobs = sorted(_jobs(in_order, timeline),  # each missing segment once, where the film first shows it
                  key=lambda job: -sum(segment.frames for _, segment in job))  # longest first: the last to end is short
    reused = [segment for key, segment in zip(keys, segments, strict=True) if found[key] is not None]
    done = 0
    for segment in reused:
        done += 1
        if progress:
            progress(Progress(describe(segment, timeline), True, done, len(segments), len(reused)))
    if missing:
        store.folder.mkdir(parents=True, exist_ok=True)
        overlays = _overlays({caption.text for job in jobs for _, segment in job for caption in segment.captions}, settings,
                             scratch)
        workers = max(1, min(len(jobs), os.cpu_count() or 1))
        threads = max(1, (os.cpu_count() or 1) // workers)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(_encode_once, store, job, timeline, settings, overlays, threads): job for job in jobs}
            for future in as_completed(futures):
                future.result()
                for _, segment in futures[future]:
                    done += 1
                    if progress:
                        progress(Progress(describe(segment, timeline), False, done, len(segments), len(reused)))
    with _GUARD:
        _IN_USE.update(store.path(key) for key in keys)
        in_use = set(_IN_USE)
    store.prune(in_use)
    return [(store.path(key), segment.frames) for key, segment in zip(keys, segments, strict=True)], len(missing)


def release(files: Sequence[tuple[Path, int]]) -> None:
    """The film made of these segments is written: another film's pruning may drop them again."""
    with _GUARD:
        _IN_USE.subtract(path for path, _ in files)
        for path in [path for path, count in _IN_USE.items() if count <= 0]:
            del _IN_USE[path]


Job = list[tuple[str, Segment]]  # segments encoded by one ffmpeg: (key, segment)


def _jobs(missing: list[tuple[str, Segment]], timeline: Timeline) -> list[Job]:
    """The missing segments (in the film's order), each alone, but a clip's body with the crossfade out of it that
    follows: the crossfade needs the clip's last frames, which a decoder reaches only from its keyframe before (for
    most generated clips, the clip's first frame), so one ffmpeg decodes the clip once for both. Interlaced clips
    are left apart: their deinterlacer looks at the frames before, which the body's earlier start would add."""
    jobs: list[Job] = []
    for key, segment in missing:
        if jobs and len(jobs[-1]) == 1 and _continues(jobs[-1][0][1], segment, timeline):
            jobs[-1].append((key, segment))
        else:
            jobs.append([(key, segment)])
    return jobs


def _continues(body: Segment, following: Segment, timeline: Timeline) -> bool:
    piece = body.layers[0].piece
    return (len(body.layers) == 1 and len(following.layers) == 2 and following.layers[0].piece == piece
            and following.first == body.end and timeline.sources[piece].video.fields == "progressive")


def _encode_once(store: SegmentStore, job: Job, timeline: Timeline, settings: FilmSettings,
                 overlays: dict[str, Overlay], threads: int) -> None:
    """Encode the job's segments into the store, but those another film assembling at the same time just did."""
    with contextlib.ExitStack() as held:
        for key in sorted(key for key, _ in job):  # in one order: two films' jobs sharing a segment never deadlock
            held.enter_context(one_at_a_time(("segment", store.path(key))))
        wanted = [(key, segment) for key, segment in job if store.get(key) is None]
        if wanted:
            with _SLOTS:
                _encode([segment for _, segment in wanted], timeline, settings, overlays,
                        [store.path(key) for key, _ in wanted], threads)
            for key, _ in wanted:
                store.remember(key)


def _overlays(texts: set[str], settings: FilmSettings, scratch: Path) -> dict[str, Overlay]:
    """Each subtitle drawn once, as an image to lay over the frames: text -> (image, left, top)."""
    overlays = {}
    for number, text in enumerate(sorted(texts)):
        image = scratch / f"caption-{number}.png"
        left, top = write_overlay(text, settings.size, image)
        overlays[text] = (image, left, top)
    return overlays


def _encode(segments: list[Segment], timeline: Timeline, settings: FilmSettings, overlays: dict[str, Overlay],
            destinations: list[Path], threads: int) -> None:
    with contextlib.ExitStack() as files:
        temporaries = [str(files.enter_context(atomic_path(destination))) for destination in destinations]
        try:
            run_ffmpeg(_arguments(segments, timeline, settings, overlays, threads, temporaries))
        except MediaError as error:
            said = " and ".join(describe(segment, timeline) for segment in segments)
            raise MediaError(f"encoding the film's {said} failed: {error}") from None


def encode_arguments(segment: Segment, timeline: Timeline, settings: FilmSettings, overlays: dict[str, Overlay],
                     threads: int = 1) -> list[str]:
    """ffmpeg's inputs, filter graph and encoder settings for one segment (the output file follows)."""
    return _arguments([segment], timeline, settings, overlays, threads, [])


def _arguments(segments: list[Segment], timeline: Timeline, settings: FilmSettings, overlays: dict[str, Overlay],
               threads: int, destinations: list[str]) -> list[str]:
    """ffmpeg's inputs, filter graph and outputs for segments encoded by one ffmpeg, each to its destination
    (none given: the last output's file is left to follow). A clip two of them show is read once, from the
    earlier seek: the frames before a segment's first are dropped by its own `fps`, as a later seek would."""
    pieces = list(dict.fromkeys(layer.piece for segment in segments for layer in segment.layers))
    inputs: list[str] = []
    graph: list[str] = []
    decoded: dict[int, list[str]] = {}  # piece -> the labels of its frames, one for each layer showing it
    for number, piece in enumerate(pieces):
        source = timeline.sources[piece]
        layers = [layer for segment in segments for layer in segment.layers if layer.piece == piece]
        seek = max(0.0, min(_first_shown(source.video.frame_times, source.start + layer.origin, settings.fps)
                            for layer in layers) - source.start - SEEK_MARGIN)
        inputs += ["-threads", str(threads), "-ss", f"{seek:.6f}", "-noaccurate_seek", "-i", str(source.path)]
        if len(layers) == 1:
            decoded.setdefault(piece, []).append(f"{number}:v:0")
        else:
            labels = [f"read{number}_{copy}" for copy in range(len(layers))]
            graph.append(f"[{number}:v:0]split={len(labels)}{''.join(f'[{label}]' for label in labels)}")
            decoded.setdefault(piece, []).extend(labels)
    outputs: list[str] = []
    for index, segment in enumerate(segments):
        prefix = f"s{index}_" if len(segments) > 1 else ""
        lines, film = _segment_graph(segment, timeline, settings, overlays, decoded, prefix, inputs)
        graph += lines
        outputs += ["-map", f"[{film}]", "-frames:v", str(segment.frames), "-an", "-sn", "-dn", "-map_metadata", "-1",
                    *film_encoder(settings), "-threads", str(threads), "-f", "mp4"]
        if index < len(destinations):
            outputs.append(destinations[index])
    return ["-copyts", *inputs, "-filter_threads", str(threads), "-filter_complex", ";".join(graph), *outputs]


def _segment_graph(segment: Segment, timeline: Timeline, settings: FilmSettings, overlays: dict[str, Overlay],
                   decoded: dict[int, list[str]], prefix: str, inputs: list[str]) -> tuple[list[str], str]:
    """One segment's filter graph from its clips' decoded frames (taken from `decoded`); a burned subtitle's image
    is added to `inputs`. Its labels start with `prefix`; returns the lines and the label of its film frames."""
    graph = []
    for number, layer in enumerate(segment.layers):
        frames = decoded[layer.piece].pop(0)
        graph.append(f"[{frames}]{_layer_filter(layer, timeline, settings, segment.frames)}[{prefix}layer{number}]")
        faded, label = fades(f"{prefix}layer{number}", layer, settings.size, settings.fps, segment.frames,
                             f"{prefix}fade{number}")
        graph += [*faded, f"[{label}]null[{prefix}v{number}]"]
    if len(segment.layers) == 2:
        graph += crossfade(f"{prefix}v0", f"{prefix}v1", segment.crossfade_at, segment.crossfade, settings.fps,
                           f"{prefix}shown0")
    else:
        graph.append(f"[{prefix}v0]null[{prefix}shown0]")
    for number, caption in enumerate(segment.captions):  # n: the frame's number in the segment
        image, left, top = overlays[caption.text]
        image_input = sum(1 for option in inputs if option == "-i")
        inputs += ["-i", str(image)]
        graph.append(f"[{prefix}shown{number}][{image_input}:v]overlay=x={left}:y={top}:eof_action=repeat:"
                     f"enable='between(n,{caption.first},{caption.end - 1})'[{prefix}shown{number + 1}]")
    graph.append(f"[{prefix}shown{len(segment.captions)}]{FILM_FRAMES}[{prefix}film]")
    return graph, f"{prefix}film"


def film_encoder(settings: FilmSettings) -> list[str]:
    """The encoder settings of every segment of every film alike (one set of H.264 parameter sets): x264 at the
    film's quality, a closed GOP with a keyframe at least every `keyframe_interval`, tagged BT.709 limited range."""
    keyint = max(1, math.floor(settings.keyframe_interval * settings.fps + 1e-6))
    return ["-c:v", "libx264", "-preset", settings.preset, "-crf", str(settings.crf), "-pix_fmt", "yuv420p",
            "-g", str(keyint), "-flags", "+cgop", *FILM_COLOUR]



def _first_shown(frame_times: Sequence[float], at: float, fps: float) -> float:
    """The timestamp of the source frame the film frame at `at` shows (as `fps` below picks it)."""
    index = bisect.bisect_left(frame_times, at + 0.5 / fps - 1e-6) - 1
    return frame_times[max(0, index)]


def _layer_filter(layer: Layer, timeline: Timeline, settings: FilmSettings, frames: int) -> str:
    """A clip's frames on the film's frame grid from the segment's first frame, fitted (`ramps` fades them).

    Film frame j shows the last source frame that begins before j + 1/2 film frames (what `fps`
    does with its default rounding), as the drawn path (`FrameReader.at`) picks it."""
    source, piece = timeline.sources[layer.piece], timeline.pieces[layer.piece]
    width, height = settings.size
    fitted_w, fitted_h = fitted_size(source.size, settings.size, piece.fit)
    crop_w, crop_h = min(fitted_w, width), min(fitted_h, height)
    steps = [
        *deinterlacing(source.video),
        f"setpts=PTS-{source.start + layer.origin:.6f}/TB",
        f"fps={_rate(settings.fps)}:start_time=0",
        f"tpad=stop_mode=clone:stop={frames}",  # a clip ending a little early holds its last frame, as the drawn path does
        *fitting(source.video, fitted_w, fitted_h),
        f"crop={crop_w}:{crop_h}:{(fitted_w - crop_w) // 2}:{(fitted_h - crop_h) // 2}",
        f"pad={width}:{height}:{(width - crop_w) // 2}:{(height - crop_h) // 2}:black",
        "setsar=1", "format=yuv420p",
    ]
    return ",".join(steps)



def _encoder() -> str:
    """The ffmpeg build: its file (the imageio-ffmpeg wheel names its version in it) and size."""
    exe = ffmpeg_exe()
    return f"{exe}:{_size(Path(exe))}"


def _rate(fps: float) -> str:
    rate = Fraction(fps).limit_denominator(1001)
    return str(rate.numerator) if rate.denominator == 1 else f"{rate.numerator}/{rate.denominator}"


def _whole(path: Path, frames: int) -> bool:
    try:
        info = probe(path)
        check_intact(info)
        return info.picture.frames == frames
    except MediaError:
        return False


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0
