"""Variants: a 6-shot ad in 3 products × 2 languages where 2 shots do not depend on the variant,
against the naive way (each variant rendered alone, as its own project: nothing shared).

    python benchmarks/variants.py [--latency 1] [--parts creates,shards,assembly,validate]

1. creates on the service (the emulator, aimlapi backend): `storyboard render ad.yaml` against
   six renders of one variant each, in six project folders;
2. the same split over 3 clones, `--shard 1/3`, `2/3`, `3/3` started at once, sharing moto's S3
   (`moto_server`, the `emulator` extra): creates in total, and every film made once;
3. assembling the 6 films (720p, 2 s shots, clips all in the store): all at once as `render`
   does it (films side by side, one segment cache) against the sum of assembling each alone
   (each with an empty segment cache); with cuts (the clips' picture stream-copied: no segment
   is encoded), with 0.5 s crossfades at every join (the picture encoded by segments), and with
   cuts and `normalize: true` (each shot's loudness measured); and the ffmpeg processes of each
   way by what they do, with their CPU time;
4. `storyboard validate` of a 100-variant file (10 × 10 matrix of the same ad), a new process,
   and `load_variants` in-process.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from child_processes import Ended, measured
from shared_cache import CREDENTIALS, PROFILE, S3Server, make_bucket

import storyboard
from storyboard.emulator import Emulator

KEY = "sk-benchmark-variants"
AD = """storyboard: 1
{cache}variants:
  product: [{products}]
  lang: [{langs}]
defaults: {{resolution: 720p, duration: 2}}
shots:
  - {{id: opening, prompt: Morning fog over a mountain lake, seed: 1}}
  - {{id: reveal, prompt: "the {{{{ variant.product }}}} on a mossy rock, a caption in {{{{ variant.lang }}}}", seed: 2}}
  - {{id: detail, prompt: "close-up of the {{{{ variant.product }}}}, a caption in {{{{ variant.lang }}}}", seed: 3}}
  - {{id: in-use, prompt: "a hiker with the {{{{ variant.product }}}}, a caption in {{{{ variant.lang }}}}", seed: 4}}
  - {{id: brand, prompt: The logo drawn in chalk on slate, seed: 5}}
  - {{id: endcard, prompt: "the {{{{ variant.product }}}} on white, the tagline in {{{{ variant.lang }}}}", seed: 6}}
output: {{path: "out/ad-{{{{ variant.name }}}}.mp4"}}
"""
PRODUCTS, LANGS = ["shoes", "bag", "hat"], ["en", "de"]


def project(folder: Path, products: list[str] = PRODUCTS, langs: list[str] = LANGS, cache: str = "") -> Path:
    (folder / "models").mkdir(parents=True, exist_ok=True)
    (folder / "models" / "short-clips.yaml").write_text(PROFILE)
    (folder / "ad.yaml").write_text(AD.format(cache=cache, products=", ".join(products), langs=", ".join(langs)))
    return folder


def run(folder: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "storyboard", *args], cwd=folder, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def creates(root: Path, emulator: Emulator, env: dict[str, str]) -> list[str]:
    rows = []
    before = emulator.stats()["creates"]
    started = time.perf_counter()
    code = run(project(root / "together"), env, "render", "ad.yaml", "--backend", "aimlapi", "--yes").wait()
    wall = time.perf_counter() - started
    together = emulator.stats()["creates"] - before
    rows.append(f"| `storyboard render ad.yaml` (6 variants) | {together} | {wall:.1f} s | {code} |")
    before = emulator.stats()["creates"]
    started = time.perf_counter()
    codes = []
    for product in PRODUCTS:
        for lang in LANGS:  # naive: each variant alone, a project of its own
            folder = project(root / f"alone-{product}-{lang}", [product], [lang])
            codes.append(run(folder, env, "render", "ad.yaml", "--backend", "aimlapi", "--yes").wait())
    wall = time.perf_counter() - started
    alone = emulator.stats()["creates"] - before
    rows.append(f"| naive: each variant rendered alone (6 renders) | {alone} | {wall:.1f} s | {' '.join(map(str, codes))} |")
    return rows


def shards(root: Path, emulator: Emulator, env: dict[str, str]) -> list[str]:
    rows = []
    with S3Server() as endpoint:
        for way in ("shards", "naive"):
            cache = ""
            if way == "shards":
                cache = f'cache: {{s3: {{bucket: {make_bucket(endpoint)}, endpoint: "{endpoint}"}}}}\n'
            clones = [project(root / f"{way}-{number}", cache=cache) for number in (1, 2, 3)]
            before = emulator.stats()["creates"]
            started = time.perf_counter()
            processes = [run(clone, {**env, **CREDENTIALS}, "render", "ad.yaml", "--backend", "aimlapi", "--yes",
                             "--shard", f"{number}/3") for number, clone in enumerate(clones, start=1)]
            codes = [process.wait() for process in processes]
            wall = time.perf_counter() - started
            made = emulator.stats()["creates"] - before
            films = sorted(path.name for clone in clones for path in (clone / "out").glob("*.mp4"))
            label = "3 clones, `--shard 1/3` … `3/3` at once, one bucket" if way == "shards" \
                else "naive: the same 3 shards at once, no shared cache"
            rows.append(f"| {label} | {made} | {len(films)} ({len(set(films))} distinct) | {wall:.1f} s | "
                        f"{' '.join(map(str, codes))} |")
    return rows


def assembly(root: Path, joins: str) -> tuple[list[str], list[str]]:
    """`joins`: cuts, crossfades, or cuts with `normalize: true`. The comparison's rows, and the ffmpeg
    processes of each way by kind (count and CPU)."""
    from storyboard.assembling.film import assemble_film
    from storyboard.planning.inventory import stock
    from storyboard.project.store import ClipStore

    folder = project(root / "assembly")
    if joins == "crossfades":  # every join a crossfade: the picture is encoded by segments, some common to several films
        crossfade = "duration: 2, transition: {type: crossfade, duration: 0.5}}"
        (folder / "ad.yaml").write_text((folder / "ad.yaml").read_text().replace("duration: 2}", crossfade))
    if joins == "cuts, normalize":  # each shot's loudness measured to match the others'
        (folder / "ad.yaml").write_text((folder / "ad.yaml").read_text().replace(".mp4\"}", '.mp4", audio: {normalize: true}}'))
    boards = storyboard.load_variants(folder / "ad.yaml")
    storyboard.render_variants(boards, backend="preview")  # every clip in the store

    def fresh() -> None:  # nothing kept from an assembly before: no segment, no shot's loudness
        shutil.rmtree(folder / ".storyboard" / "segments", ignore_errors=True)
        for film in (folder / "out").glob("*"):
            film.unlink()

    alone = alone_cpu = 0.0
    with measured() as alone_ended:
        for board in boards:
            fresh()
            cpu, started = _cpu(), time.perf_counter()
            assert assemble_film(stock(board, "preview", paid=False), ClipStore(folder), "preview", lambda event: None)
            alone += time.perf_counter() - started
            alone_cpu += _cpu() - cpu
    fresh()
    with measured() as together_ended:
        cpu, started = _cpu(), time.perf_counter()
        result = storyboard.render_variants(boards, backend="preview")
        together = time.perf_counter() - started
        together_cpu = _cpu() - cpu
    assert len(result.films) == 6 and not result.generated
    rows = [f"| {joins} | naive: each of the 6 films assembled alone, one after another (sum) | {alone:.2f} s | 1.00 | "
            f"{alone_cpu:.2f} s |",
            f"| {joins} | `render` of the 6 variants, clips all there: films side by side, one segment cache | "
            f"{together:.2f} s | {together / alone:.2f} | {together_cpu:.2f} s |"]
    alone_processes, together_processes = _by_kind(alone_ended), _by_kind(together_ended)
    processes = []
    for kind in sorted(set(alone_processes) | set(together_processes), key=lambda kind: -alone_processes.get(kind, (0, 0))[1]):
        (alone_count, alone_time), (together_count, together_time) = (ways.get(kind, (0, 0.0))
                                                                      for ways in (alone_processes, together_processes))
        processes.append(f"| {joins} | {kind} | {alone_count} | {alone_time:.2f} s | {together_count} | {together_time:.2f} s |")
    return rows, processes


def _by_kind(ended: list[Ended]) -> dict[str, tuple[int, float]]:
    """The ffmpeg processes by what they do: (count, CPU seconds)."""
    found: dict[str, tuple[int, float]] = {}
    for process in ended:
        kind = _kind(process.command)
        count, cpu = found.get(kind, (0, 0.0))
        found[kind] = (count + 1, cpu + process.cpu)
        if kind == "a segment encoded":  # one ffmpeg may write two (a clip's body, the crossfade out of it)
            count, _ = found.get("segments written by those", (0, 0.0))
            found["segments written by those"] = (count + process.command.count(" -f mp4 "), 0.0)
    return found


def _kind(command: str) -> str:
    if "ebur128=peak=true" in command:
        return "the film's true peak, measured"
    if "ebur128" in command:
        return "a shot's loudness, measured"
    if "pipe:0" in command:
        return "mux: the mix encoded (limiter, AAC), the picture copied"
    if "-filter_complex" in command:
        return "a segment encoded"
    return "other (`ffmpeg -version`)" if "-version" in command else "other"


def _cpu() -> float:
    """CPU seconds of this process and of the ffmpeg processes it has waited for."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def validate(root: Path) -> list[str]:
    letters = [f"p{number}" for number in range(10)]
    folder = project(root / "validate", letters, [f"l{number}" for number in range(10)])
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    process = (float("inf"), float("inf"))
    load = (float("inf"), float("inf"))
    for _ in range(5):
        before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "storyboard", "validate", "ad.yaml"], cwd=folder, env=env,
                              capture_output=True, text=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        process = min(process, (cpu, time.perf_counter() - started))
        assert done.returncode == 0 and "100 variants" in done.stdout, done.stderr
        cpu_started, started = time.process_time(), time.perf_counter()
        assert len(storyboard.load_variants(folder / "ad.yaml")) == 100
        load = min(load, (time.process_time() - cpu_started, time.perf_counter() - started))
    return [f"| `storyboard validate ad.yaml`, 100 variants × 6 shots (a new process, best of 5) | {process[0]:.2f} s | "
            f"{process[1]:.2f} s |",
            f"| `storyboard.load_variants()` in-process (best of 5) | {load[0]:.2f} s | {load[1]:.2f} s |"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=1.0, help="seconds the emulator takes per generation")
    parser.add_argument("--parts", default="creates,shards,assembly,validate")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        (root / "models").mkdir()
        (root / "models" / "short-clips.yaml").write_text(PROFILE)
        emulator = Emulator(api_key=KEY, latency=args.latency, profiles_from=root).start()
        env = {**os.environ, "AIMLAPI_KEY": KEY, "AIMLAPI_BASE_URL": emulator.url,
               "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        try:
            one_machine = creates(root, emulator, env) if "creates" in parts else []
            three = shards(root, emulator, env) if "shards" in parts else []
        finally:
            emulator.stop()
        measured = [assembly(root / joins.replace(", ", "-"), joins) for joins in ("cuts", "crossfades", "cuts, normalize")] \
            if "assembly" in parts else []
        assembled = [row for rows, _ in measured for row in rows]
        processes = [row for _, rows in measured for row in rows]
        validated = validate(root) if "validate" in parts else []
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
          f"{platform.python_version()}; emulator latency {args.latency:g} s\n")
    if one_machine:
        print("| 3 × 2 variants of a 6-shot ad, 2 shots shared | creates | wall | exit codes |\n|---|---|---|---|")
        print("\n".join(one_machine))
    if three:
        print("\n| across machines | creates in total | films | wall (all done) | exit codes |\n|---|---|---|---|---|")
        print("\n".join(three))
    if assembled:
        print("\n| joins | assembling the 6 films (720p) | wall | against the sum | CPU |\n|---|---|---|---|---|")
        print("\n".join(assembled))
        print("\n| joins | ffmpeg processes | alone: count | CPU | side by side: count | CPU |\n|---|---|---|---|---|---|")
        print("\n".join(processes))
    if validated:
        print("\n| validate | CPU | wall |\n|---|---|---|")
        print("\n".join(validated))


if __name__ == "__main__":
    main()
