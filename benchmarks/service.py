"""The aimlapi backend against the local emulator: concurrency, polling, re-render, kill -9.

    python benchmarks/service.py [--shots 8] [--latency 10] [--kill-runs 20]

Starts the project's emulator (`storyboard.emulator.Emulator`) on 127.0.0.1 with a fixed
latency and no faults, and measures in one run:

1. **Makespan** of N independent 2 s 720p shots rendered with `storyboard.render(...,
   backend="aimlapi", jobs=N)`, from the first submit to the last clip stored, against the
   ideal (one generation time = the emulator latency) and against the provider's sample
   client flow (`sample_client.py`: create, poll every 15 s, download; shot after shot).
   Film assembly is timed separately.
2. **Requests per generation** (creates, polls, downloads, from the emulator's counters)
   and the **completion detection delay**: the moment the emulator first answered a poll
   with `completed`, minus the moment that generation became complete (its create time
   plus the latency, or later if the emulator's own clip rendering ran late). Measured on
   the server for both clients, so both are timed the same way.
3. **Unchanged re-render** of M shots: M shots rendered once against the emulator with a
   short latency and jobs=M, then rendered again unchanged (through the Python API, then
   as a command): wall time and the service requests the second render made. These shots
   are 1:1 (720 × 720), the smallest 720p frame, because the first render must also
   assemble the M-shot film before a re-render can be "unchanged".
4. **kill -9 resilience**: R times, a fresh project of a few shots; `python -m storyboard
   render board.yaml --backend aimlapi` (plus `--yes` if the command offers it) is
   SIGKILLed at a random moment (seeded, uniform over the time an uninterrupted render
   takes), then run again (plus `--resubmit` only if the command offers it and the previous
   run's output asked for it) until it exits 0. Per run: creates per request, and whether
   any clip under `.storyboard/clips` or the film is undecodable (ffmpeg decodes it to
   null), both right after the kill and at the end.

Order: 1 (our backend), 3, then 4 with the sample flow of 1 running beside it, against its
own emulator: the sample spends nearly all its time in 15 s sleeps and scenario 4 reports
counts, not times, so this saves N × 15 s of wall time (`--serial` runs the sample alone).
Every scenario gets its own emulator and fresh temporary project folders. The emulator's
listen backlog is raised from socketserver's 5 (see MeasuredEmulator). Progress goes to
stderr, the Markdown tables to stdout at the end (`--json FILE` also saves the raw figures).
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import imageio_ffmpeg

import storyboard
from storyboard.emulator import Emulator

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sample_client

KEY = "bench-key-0123456789"
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class MeasuredEmulator(Emulator):
    """The emulator, plus two timestamps per generation (same clock as time.monotonic()).

    `finished_at`: its worker has written the clip; `noticed_at`: the first time a lookup
    (a poll; a download only ever follows a poll that said `completed`) found it completed.
    """

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.finished_at: dict[str, float] = {}
        self.noticed_at: dict[str, float] = {}

    def _finish(self, generation: Any, failure: str | None = None, at_once: bool = False) -> None:
        super()._finish(generation, failure, at_once)
        self.finished_at.setdefault(generation.id, time.monotonic())

    def _lookup(self, generation_id: str) -> tuple[Any, str | None]:
        generation, status = super()._lookup(generation_id)
        if status == "completed":
            self.noticed_at.setdefault(generation_id, time.monotonic())
        return generation, status

    def timeline(self) -> list[dict[str, Any]]:
        """Per generation: created, became complete, first noticed complete."""
        rows = []
        for generation in list(self._generations.values()):
            finished = self.finished_at.get(generation.id)
            complete = None if finished is None else max(generation.created + self.latency, finished)
            number = re.search(r"shot number (\d+)", str(generation.body.get("prompt", "")))
            rows.append({"id": generation.id, "shot": f"s{int(number.group(1)):03d}" if number else None,
                         "created": generation.created, "complete": complete,
                         "noticed": self.noticed_at.get(generation.id),
                         "render_late": None if finished is None else max(0.0, finished - generation.created - self.latency)})
        return sorted(rows, key=lambda row: row["created"])


@contextlib.contextmanager
def emulator(latency: float, export: bool = True) -> Iterator[MeasuredEmulator]:
    """A fresh emulator; with `export`, AIMLAPI_KEY and AIMLAPI_BASE_URL point at it meanwhile."""
    server = MeasuredEmulator(host="127.0.0.1", port=0, api_key=KEY, latency=latency, faults="", profiles_from=ACCOUNT)
    server.start()
    saved = {name: os.environ.get(name) for name in ("AIMLAPI_KEY", "AIMLAPI_BASE_URL")} if export else {}
    if export:
        os.environ["AIMLAPI_KEY"] = KEY
        os.environ["AIMLAPI_BASE_URL"] = server.url
    try:
        yield server
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.stop()


# The service makes 5, 10 or 15 s clips; these figures are for 2 s ones, as an account whose model accepts
# them would make (a project profile overriding `duration`, which the emulator is given too).
SHORT_CLIPS = "model: alibaba/wan-2-7-r2v\nfields:\n  duration: {type: integer, minimum: 2, maximum: 15, default: 10}\n"
ACCOUNT = Path(tempfile.mkdtemp(prefix="storyboard-bench-account-"))
(ACCOUNT / "models").mkdir()
(ACCOUNT / "models" / "short-clips.yaml").write_text(SHORT_CLIPS)


def write_board(folder: Path, shots: int, theme: str, aspect_ratio: str = "16:9") -> Path:
    """N independent 2 s 720p shots, distinct prompts and seeds, no local references (2 s allowed by a
    `models/` override)."""
    lines = ["storyboard: 1", f"title: {theme} benchmark",
             f'defaults: {{resolution: 720p, duration: 2, aspect_ratio: "{aspect_ratio}"}}', "shots:"]
    for index in range(shots):
        lines += [f"  - id: s{index:03d}", f"    prompt: {theme} shot number {index}, a lighthouse at dusk",
                  f"    seed: {1000 + index}"]
    board = folder / "board.yaml"
    board.write_text("\n".join(lines) + "\n")
    (folder / "models").mkdir(exist_ok=True)
    (folder / "models" / "short-clips.yaml").write_text(SHORT_CLIPS)
    return board


def delta(after: dict[str, Any], before: dict[str, Any]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in ("requests", "creates", "polls", "downloads", "rejected")}


def seconds(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f} s"


# -- 1 and 2: N shots with our backend, then with the provider's sample flow --------------------------------


def api_render(board: Path, jobs: int) -> dict[str, Any]:
    events: list[tuple[float, storyboard.Event]] = []
    started = time.monotonic()
    result = storyboard.render(board, backend="aimlapi", jobs=jobs,
                               on_event=lambda event: events.append((time.monotonic(), event)))
    ended = time.monotonic()

    def moments(state: str) -> list[float]:
        return [moment for moment, event in events if event.state == state]

    generating, done = moments("generating"), moments("done")
    assembling, film = moments("assembling"), moments("film")
    return {
        "submit_at": {event.shot: moment for moment, event in events if event.state == "generating"},
        "done_at": {event.shot: moment for moment, event in events if event.state == "done"},
        "started": started,
        "wall": ended - started,
        "first_submit": min(generating) if generating else None,
        "last_done": max(done) if done else None,
        "makespan": (max(done) - min(generating)) if generating and done else None,
        "assembly": (film[-1] - assembling[-1]) if assembling and film else None,
        "generated": len(result.generated),
        "reused": len(result.reused),
        "film": str(result.film) if result.film else None,
        "states": sorted({event.state for _, event in events}),
    }


def spread(values: list[float]) -> dict[str, float | None]:
    return {"mean": statistics.mean(values) if values else None, "max": max(values) if values else None}


def detection(timeline: list[dict[str, Any]]) -> dict[str, Any]:
    delays = [row["noticed"] - row["complete"] for row in timeline if row["noticed"] is not None and row["complete"] is not None]
    late = [row["render_late"] for row in timeline if row["render_late"] is not None]
    return {
        "mean": statistics.mean(delays) if delays else None,
        "max": max(delays) if delays else None,
        "noticed": len(delays),
        "emulator_render_late_max": max(late) if late else None,
    }


def scenario_service(shots: int, latency: float) -> dict[str, Any]:
    log(f"1/2 aimlapi backend: {shots} shots, jobs={shots}, emulator latency {latency:g} s")
    with tempfile.TemporaryDirectory(prefix="bench-service-") as folder, emulator(latency) as server:
        board = write_board(Path(folder), shots, "concurrency")
        run = api_render(board, jobs=shots)
        stats = server.stats()
        run["requests"] = delta(stats, {name: 0 for name in stats})
        timeline = server.timeline()
        run["detection"] = detection(timeline)
    assert run["generated"] == shots, run
    # Where the makespan goes, per shot: submit → accepted by the service, and noticed → clip stored.
    run["create_rtt"] = spread([row["created"] - run["submit_at"][row["shot"]] for row in timeline
                                if row["shot"] in run["submit_at"]])
    run["after_notice"] = spread([run["done_at"][row["shot"]] - row["noticed"] for row in timeline
                                  if row["shot"] in run["done_at"] and row["noticed"] is not None])
    del run["submit_at"], run["done_at"]
    log(f"    makespan {run['makespan']:.2f} s, assembly {run['assembly']:.2f} s, requests {run['requests']}")
    return run


def scenario_sample(shots: int, latency: float) -> dict[str, Any]:
    log(f"1/2 provider sample flow: {shots} shots one after another, 15 s polls (about {shots * 15} s)")
    with tempfile.TemporaryDirectory(prefix="bench-sample-") as folder, emulator(latency, export=False) as server:
        board = write_board(Path(folder), shots, "concurrency")
        bodies = [item.body for item in storyboard.plan(storyboard.load(board), "aimlapi").shots]
        results = sample_client.run_sequentially(server.url, KEY, bodies, Path(folder) / "downloads")
        stats = server.stats()
        timeline = server.timeline()
    failures = [shot.error for shot in results if shot.error]
    assert not failures, failures
    noticed = {row["id"]: row["noticed"] for row in timeline}
    run = {
        "makespan": results[-1].downloaded - results[0].create_started,
        "after_notice": spread([shot.downloaded - noticed[shot.generation_id] for shot in results]),
        "per_shot": statistics.mean(shot.downloaded - shot.create_started for shot in results),
        "requests": delta(stats, {name: 0 for name in stats}),
        "detection": detection(timeline),
    }
    log(f"    makespan {run['makespan']:.1f} s, requests {run['requests']}")
    return run


# -- 3: unchanged re-render ------------------------------------------------------------------------------


def scenario_rerender(shots: int, latency: float, jobs: int, aspect_ratio: str) -> dict[str, Any]:
    log(f"3 unchanged re-render: first render of {shots} shots ({aspect_ratio}), jobs={jobs}, emulator latency {latency:g} s")
    with tempfile.TemporaryDirectory(prefix="bench-rerender-") as folder, emulator(latency) as server:
        board = write_board(Path(folder), shots, "rerender", aspect_ratio)
        first = api_render(board, jobs=jobs)
        assert first["generated"] == shots and first["film"], first
        first["requests"] = delta(server.stats(), {name: 0 for name in server.stats()})
        log(f"    first render {first['wall']:.1f} s (generation {first['makespan']:.1f} s, assembly {first['assembly']:.1f} s)")

        before = server.stats()
        second = api_render(board, jobs=jobs)
        second["requests"] = delta(server.stats(), before)
        assert second["generated"] == 0, second

        before = server.stats()
        env = {**os.environ, "AIMLAPI_KEY": KEY, "AIMLAPI_BASE_URL": server.url}
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "storyboard", "render", str(board), "--backend", "aimlapi",
                               *consent_flags()],
                              capture_output=True, text=True, env=env, cwd=folder)
        command = {"wall": time.monotonic() - started, "exit": done.returncode,
                   "last_line": (done.stdout.strip().splitlines() or [""])[-1],
                   "requests": delta(server.stats(), before)}
        assert done.returncode == 0, done.stdout + done.stderr
    log(f"    second render: API {second['wall']:.3f} s, {second['requests']['requests']} requests; "
        f"command {command['wall']:.2f} s, {command['requests']['requests']} requests")
    return {"first": first, "api": second, "command": command}


# -- 4: kill -9 ------------------------------------------------------------------------------------------


_HELP: str | None = None


def render_help() -> str:
    global _HELP
    if _HELP is None:
        # From a neutral folder, as the renders run: `python -m` puts the current folder first on sys.path.
        _HELP = subprocess.run([sys.executable, "-m", "storyboard", "render", "--help"], capture_output=True, text=True,
                               cwd=tempfile.gettempdir()).stdout
    return _HELP


def offers(flag: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", render_help()) is not None


def consent_flags() -> list[str]:
    return ["--yes"] if offers("--yes") else []


_DECODES: dict[tuple[str, int, int], bool] = {}


def decodes(path: Path) -> bool:
    """ffmpeg reads every frame and sample without an error (cached by path, size and mtime)."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _DECODES:
        probe = subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True, text=True)
        _DECODES[key] = probe.returncode == 0 and not probe.stderr.strip()
    return _DECODES[key]


def inspect(project: Path) -> dict[str, Any]:
    """Clips at their final names and the film must decode; temporary leftovers are only counted."""
    clips_dir = project / ".storyboard" / "clips"
    finals = [path for path in clips_dir.rglob("*.mp4") if not path.name.startswith(".")] if clips_dir.exists() else []
    leftovers = [path for path in project.rglob("*") if path.is_file() and ".partial" in path.name]
    film = project / "renders" / "board.mp4"
    bad = [str(path.relative_to(project)) for path in finals if not decodes(path)]
    if film.exists() and not decodes(film):
        bad.append(str(film.relative_to(project)))
    return {"clips": len(finals), "film": film.exists(), "undecodable": bad, "leftovers": len(leftovers),
            "leftover_files": sorted(str(path.relative_to(project)) for path in leftovers)}


def command_run(project: Path, env: dict[str, str], extra: list[str], kill_after: float | None) -> dict[str, Any]:
    """One `storyboard render` process; SIGKILLed after `kill_after` seconds if still running."""
    argv = [sys.executable, "-m", "storyboard", "render", "board.yaml", "--backend", "aimlapi", *consent_flags(), *extra]
    with tempfile.TemporaryFile("w+") as out:
        started = time.monotonic()
        process = subprocess.Popen(argv, cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        killed = False
        try:
            process.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)  # kill -9 of the render process itself
            killed = True
            # Then the helpers it may have left (ffmpeg), in the session it leads: until wait() reaps it,
            # the dead leader's id cannot be reused, so this group is still the one started here.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        wall = time.monotonic() - started
        out.seek(0)
        output = out.read()
    return {"exit": process.returncode, "killed": killed, "wall": wall, "output": output}


def phase_of(output: str, shots: int) -> str:
    if "assembling" in output:
        return "assembling"
    submitted = output.count(": submitted:")
    done = len(re.findall(r": done in ", output))
    if not submitted and not done and ": generating" not in output:
        return "starting"
    return f"{submitted}/{shots} submitted, {done}/{shots} done"


def scenario_kill(runs: int, shots: int, latency: float, seed: int, max_attempts: int) -> dict[str, Any]:
    log(f"4 kill -9: {runs} runs of {shots} shots, emulator latency {latency:g} s "
        f"(render --help offers --yes: {offers('--yes')}, --resubmit: {offers('--resubmit')})")
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-kill-") as folder, emulator(latency) as server:
        env = {**os.environ, "AIMLAPI_KEY": KEY, "AIMLAPI_BASE_URL": server.url, "PYTHONUNBUFFERED": "1"}

        calibration = Path(folder) / "calibration"
        calibration.mkdir()
        write_board(calibration, shots, "kill")
        before = server.stats()
        full = command_run(calibration, env, [], None)
        assert full["exit"] == 0, full["output"]
        full_creates = delta(server.stats(), before)["creates"]
        log(f"    an uninterrupted render takes {full['wall']:.2f} s ({full_creates} creates)")

        for number in range(1, runs + 1):
            project = Path(folder) / f"run{number:02d}"
            project.mkdir()
            write_board(project, shots, "kill")
            kill_after = rng.uniform(0.0, full["wall"])
            before = server.stats()
            victim = command_run(project, env, [], kill_after)
            time.sleep(0.2)  # a create sent just before the kill reaches the emulator's counters
            at_kill = delta(server.stats(), before)["creates"]
            after_kill = inspect(project)
            previous, attempts, consent, final, asked = victim, 0, 0, None, []
            while attempts < max_attempts and not (previous["exit"] == 0 and not previous["killed"]):
                extra = []
                if offers("--resubmit") and "--resubmit" in previous["output"]:
                    extra = ["--resubmit"]
                    consent += 1
                    asked += [line.strip() for line in previous["output"].splitlines() if "--resubmit" in line][:3]
                previous = final = command_run(project, env, extra, None)
                attempts += 1
            end = inspect(project)
            creates = delta(server.stats(), before)["creates"]
            row = {
                "run": number, "kill_after": kill_after, "killed": victim["killed"],
                "phase": phase_of(victim["output"], shots) if victim["killed"] else "finished before the kill",
                "creates_at_kill": at_kill, "creates": creates, "per_request": creates / shots,
                "reruns": attempts, "consent": consent, "asked": asked,
                "succeeded": previous["exit"] == 0 and not previous["killed"],
                "final_exit": previous["exit"],
                "after_kill": after_kill, "end": end,
                "undecodable": sorted(set(after_kill["undecodable"]) | set(end["undecodable"])),
                "last_output": (final or victim)["output"].strip().splitlines()[-3:],
            }
            rows.append(row)
            log(f"    run {number:2d}: killed at {kill_after:5.2f} s ({row['phase']}), {creates} creates for {shots} requests, "
                f"{attempts} rerun(s){', consent asked' if consent else ''}"
                f"{', UNDECODABLE ' + str(row['undecodable']) if row['undecodable'] else ''}"
                f"{'' if row['succeeded'] else ', DID NOT SUCCEED: ' + ' | '.join(row['last_output'])}")
    return {"full_render": full["wall"], "full_creates": full_creates, "shots": shots, "runs": rows}


# -- report ----------------------------------------------------------------------------------------------


def per_generation(requests: dict[str, int], shots: int, name: str) -> str:
    return f"{requests[name] / shots:.2f}"


def report(args: argparse.Namespace, figures: dict[str, Any]) -> str:
    lines: list[str] = []
    service, sample = figures.get("service"), figures.get("sample")
    n, latency = args.shots, args.latency
    if service or sample:
        lines += [f"### {n} independent shots (2 s, 720p), emulator latency {latency:g} s, no faults", "",
                  f"| measure | storyboard, aimlapi backend, jobs={n} "
                  "| provider sample flow, sequential, 15 s polls | ideal / bar |",
                  "|---|---|---|---|"]

        def cell(run: dict[str, Any] | None, text: Any) -> str:
            return "not run" if run is None else text(run)

        lines.append("| generation makespan (first submit → last clip stored) | "
                     + cell(service, lambda r: f"{r['makespan']:.1f} s ({r['makespan'] / latency:.2f} × ideal)") + " | "
                     + cell(sample, lambda r: f"{r['makespan']:.1f} s ({r['makespan'] / latency:.2f} × ideal)") + " | "
                     + f"{latency:.1f} s (one generation; bar: within 10 %) |")
        lines.append("| film assembly (not in the makespan) | "
                     + cell(service, lambda r: seconds(r["assembly"])) + " | — (the sample has none) | — |")
        lines.append("| whole render, assembly included | " + cell(service, lambda r: seconds(r["wall"])) + " | — | — |")
        for name in ("creates", "polls", "downloads"):
            lines.append(f"| {name} per generation | "
                         + cell(service, lambda r, name=name: per_generation(r["requests"], n, name)) + " | "
                         + cell(sample, lambda r, name=name: per_generation(r["requests"], n, name)) + " | "
                         + {"creates": "1", "polls": "bounded", "downloads": "1"}[name] + " |")
        lines.append("| all service requests per generation | "
                     + cell(service, lambda r: per_generation(r["requests"], n, "requests")) + " | "
                     + cell(sample, lambda r: per_generation(r["requests"], n, "requests")) + " | — |")

        def noticed(run: dict[str, Any]) -> str:
            found = run["detection"]
            if found["mean"] is None:
                return "—"
            return (f"mean {found['mean']:.2f} s, max {found['max']:.2f} s "
                    f"({100 * found['max'] / latency:.0f} % of the generation time)")

        lines.append("| service accepted the create, after submit (per shot) | "
                     + cell(service, lambda r: f"mean {r['create_rtt']['mean']:.2f} s, max {r['create_rtt']['max']:.2f} s")
                     + " | — | — |")
        lines.append("| clip stored after completion noticed: download, check, store (per shot) | "
                     + cell(service, lambda r: f"mean {r['after_notice']['mean']:.2f} s, max {r['after_notice']['max']:.2f} s")
                     + " | "
                     + cell(sample, lambda r: f"mean {r['after_notice']['mean']:.2f} s, max {r['after_notice']['max']:.2f} s "
                            "(download only)")
                     + " | — |")
        lines.append("| completion noticed after (per shot) | " + cell(service, noticed) + " | " + cell(sample, noticed)
                     + f" | 10 % of the generation time or 2 s, whichever is more: {max(0.1 * latency, 2.0):.1f} s |")
        lines.append("")

    rerender = figures.get("rerender")
    if rerender:
        m = args.rerender_shots
        first = rerender["first"]
        lines += [f"### Unchanged re-render of {m} shots (aimlapi backend, emulator latency {args.rerender_latency:g} s)", "",
                  "| render | wall time | service requests | clips generated |", "|---|---|---|---|",
                  f"| first render, jobs={args.rerender_jobs} "
                  f"(generation {first['makespan']:.1f} s + assembly {first['assembly']:.1f} s) | "
                  f"{first['wall']:.1f} s | {first['requests']['requests']} ({first['requests']['creates']} creates, "
                  f"{first['requests']['polls']} polls, {first['requests']['downloads']} downloads) | {first['generated']} |",
                  f"| unchanged, `storyboard.render()` | {rerender['api']['wall']:.3f} s "
                  f"| {rerender['api']['requests']['requests']} | "
                  f"{rerender['api']['generated']} |",
                  f"| unchanged, `storyboard render` command (process start included) | {rerender['command']['wall']:.2f} s | "
                  f"{rerender['command']['requests']['requests']} | 0 (\"{rerender['command']['last_line']}\") |", ""]

    kill = figures.get("kill")
    if kill:
        rows, shots = kill["runs"], kill["shots"]
        creates = sum(row["creates"] for row in rows)
        requests = shots * len(rows)
        killed = sum(row["killed"] for row in rows)
        duplicated = sum(row["creates"] > shots for row in rows)
        consent = sum(row["consent"] > 0 for row in rows)
        bad = sum(bool(row["undecodable"]) for row in rows)
        failed = sum(not row["succeeded"] for row in rows)
        leftovers = sum(row["end"]["leftovers"] for row in rows)
        with_film = sum(row["succeeded"] and row["end"]["film"] and not row["undecodable"] for row in rows)
        lines += [f"### kill -9 at a random moment, then render again ({len(rows)} runs × {shots} shots, "
                  f"emulator latency {args.kill_latency:g} s, an uninterrupted render takes {kill['full_render']:.1f} s)", "",
                  "| measure | result | bar |", "|---|---|---|",
                  f"| runs killed mid-render | {killed} of {len(rows)} | — |",
                  f"| creates / requests, all runs | {creates} / {requests} "
                  f"({creates / requests:.2f} per request) | 1.00 |",
                  f"| runs with a second paid generation for some request | {duplicated} of {len(rows)} | 0 |",
                  f"| runs that needed `--resubmit` consent | {consent} of {len(rows)} "
                  f"(`--resubmit` offered: {'yes' if offers('--resubmit') else 'no'}) | — |",
                  f"| runs with an undecodable clip or film (after the kill or at the end) | {bad} of {len(rows)} | 0 |",
                  f"| runs that did not end in exit 0 within {args.max_attempts} re-runs | {failed} | 0 |",
                  f"| runs ending with every clip and the film in place and decodable | {with_film} of {len(rows)} | all |",
                  f"| temporary files left behind (not at final paths) | {leftovers} | — |", "",
                  "| run | killed at | phase | creates before the kill | creates in all | per request | re-runs | consent | "
                  "clips + film after the kill | undecodable |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for row in rows:
            after = row["after_kill"]
            lines.append(f"| {row['run']} | {row['kill_after']:.2f} s | {row['phase']} | {row['creates_at_kill']} "
                         f"| {row['creates']} | "
                         f"{row['per_request']:.2f} | {row['reruns']} | {row['consent']} | "
                         f"{after['clips']} + {'film' if after['film'] else 'no film'} "
                         f"| {', '.join(row['undecodable']) or 'none'} |")
        lines.append("")
        for row in rows:
            for line in row["asked"]:
                lines.append(f"- run {row['run']}, the re-run before `--resubmit` said: {line[:400]}")
        if any(row["asked"] for row in rows):
            lines.append("")
    return "\n".join(lines)


def revision() -> str:
    root = Path(storyboard.__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "storyboard"],
                               cwd=root, capture_output=True, text=True).stdout
    except OSError:
        head, dirty = "", ""
    package = root / "storyboard"
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".yaml", ".json"):
            digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    source = f"source sha256 {digest.hexdigest()[:10]}"
    if not head:
        return f"from {root} (not a git checkout), {source}"
    return f"{head}{' + uncommitted changes in storyboard/' if dirty.strip() else ''}, {source}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shots", type=int, default=8, help="independent shots for scenarios 1-2 (default 8)")
    parser.add_argument("--latency", type=float, default=10.0, help="emulator generation time for scenarios 1-2, s (default 10)")
    parser.add_argument("--rerender-shots", type=int, default=100, help="shots of the re-render scenario (default 100)")
    parser.add_argument("--rerender-latency", type=float, default=0.5, help="emulator latency of the re-render scenario, s")
    parser.add_argument("--rerender-jobs", type=int, default=None, help="jobs of the re-render scenario's first render "
                        "(default: as many as shots)")
    parser.add_argument("--rerender-aspect-ratio", default="1:1",
                        help="aspect ratio of the re-render scenario's shots (default 1:1: the smallest 720p frame, "
                             "since the first render must also assemble the 100-shot film)")
    parser.add_argument("--serial", action="store_true",
                        help="run the sample flow on its own instead of beside the kill -9 runs (adds N × 15 s)")
    parser.add_argument("--kill-runs", type=int, default=20, help="kill -9 runs (default 20)")
    parser.add_argument("--kill-shots", type=int, default=4, help="shots per kill -9 run (default 4)")
    parser.add_argument("--kill-latency", type=float, default=2.0, help="emulator latency of the kill -9 runs, s (default 2)")
    parser.add_argument("--max-attempts", type=int, default=4, help="re-runs allowed after each kill (default 4)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill moments (default 1)")
    parser.add_argument("--skip", action="append", default=[], choices=["service", "sample", "rerender", "kill"],
                        help="leave a scenario out (repeatable)")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw figures to this file")
    args = parser.parse_args()

    started = time.monotonic()
    measured = revision()
    figures: dict[str, Any] = {}
    if "service" not in args.skip:
        figures["service"] = scenario_service(args.shots, args.latency)
    if "sample" not in args.skip and args.serial:
        figures["sample"] = scenario_sample(args.shots, args.latency)
    if "rerender" not in args.skip:
        args.rerender_jobs = args.rerender_jobs or args.rerender_shots
        figures["rerender"] = scenario_rerender(args.rerender_shots, args.rerender_latency, args.rerender_jobs,
                                                args.rerender_aspect_ratio)
    sample_thread = None
    if "sample" not in args.skip and not args.serial:
        # The sample flow spends nearly all its time in 15 s sleeps, so it runs beside the kill -9 runs (whose
        # figures are counts, not times) against its own emulator, rather than adding N × 15 s to the wall time.
        def run_sample() -> None:
            figures["sample"] = scenario_sample(args.shots, args.latency)

        sample_thread = threading.Thread(target=run_sample, name="sample-flow")
        sample_thread.start()
    if "kill" not in args.skip:
        figures["kill"] = scenario_kill(args.kill_runs, args.kill_shots, args.kill_latency, args.seed, args.max_attempts)
    if sample_thread is not None:
        sample_thread.join()
        if "sample" not in figures:
            raise SystemExit("the sample flow failed (see above)")
    total = time.monotonic() - started

    print("`" + " ".join(["python benchmarks/service.py", *sys.argv[1:]]) + "`")
    print(f"{date.today().isoformat()}, {os.cpu_count()}-core {platform.machine()}, "
          f"{platform.python_implementation()} {platform.python_version()}, storyboard {measured}"
          f"{'' if revision() == measured else ' at the start, ' + revision() + ' at the end'}, "
          f"benchmark wall time {total / 60:.1f} min")
    print()
    print(report(args, figures))
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, **figures}, indent=1, default=str))


if __name__ == "__main__":
    main()
