"""Fault soak: a storyboard of many short shots rendered on the aimlapi backend against the
emulator with every fault kind injected, re-rendered until it completes.

    python stress/soak.py [--shots 50] [--seed 1] [--rounds realistic,hostile] [--max-renders 30]

Each round is a fresh project and a fresh emulator (in this process, on 127.0.0.1) with one
fault level: a preset (`realistic`, `hostile`, `none`; see common.py) or a spec as
`storyboard emulator --faults` takes; the round's seed is `--seed` plus its index. The
render (`python -m storyboard render board.yaml --backend aimlapi --yes --json --keep-going`,
with AIMLAPI_KEY set to a distinctive key and TMPDIR pointing at a fresh folder) is run
again until it exits 0, passing `--resubmit SHOT` only for the shots the previous render said
need that consent. Then:

- creates: every request was created once, and again only after the service failed its
  generation or after a consent; with the emulator honouring `Idempotency-Key`, a consented
  resubmission of a create whose answer was lost is answered with the generation already
  made (counted as a replay, not a create);
- the film decodes cleanly and lasts shots × 2 s; every stored clip decodes and matches the
  SHA-256 its render-state row records; no temporary file is left;
- the key (in any letter case) is in no file of the project or of TMPDIR, and in no output;
- the emulator never saw the key on a download.

A summary table goes to stdout (`--json FILE` also saves the figures); the exit status is 1
if any invariant failed, with each failure listed.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common
from common import KEY, Ledger, log

from storyboard.emulator import FAULTS

SHOT_SECONDS = 2.0


@dataclass
class Round:
    name: str
    spec: str
    seed: int
    shots: int
    renders: int = 0
    exits: list[int | None] = field(default_factory=list)
    consents: dict[str, int] = field(default_factory=dict)
    figures: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    film_ok: bool = False
    wall: float = 0.0
    violations: list[str] = field(default_factory=list)
    short_override: bool = False


def soak_round(name: str, spec: str, seed: int, shots: int, workdir: Path, *, latency: float = 0.5,
               max_renders: int = 30, keep_going: bool = True, jobs: int | None = None,
               render_timeout: float = 900.0) -> Round:
    """One fault level on a fresh project and emulator, rendered until complete; then every check."""
    result = Round(name, spec, seed, shots)
    tag = f"soak {name} seed {seed}"
    project, tmpdir, logs = workdir / f"{name}-{seed}", workdir / f"{name}-{seed}-tmp", workdir / f"{name}-{seed}-logs"
    started = time.monotonic()
    with common.stress_emulator(spec, seed, latency) as emulator:
        board = common.write_board(project, shots, tag)
        result.short_override = common.allow_short_clips(board, emulator)
        env = common.render_env(emulator.url, tmpdir)
        asked: set[str] = set()
        outputs: dict[str, str] = {}
        base = ["--keep-going"] if keep_going else []
        base += ["--jobs", str(jobs)] if jobs else []
        while result.renders < max_renders:
            for shot in asked:
                result.consents[shot] = result.consents.get(shot, 0) + 1
            run = common.render(project, env, base + common.resubmit_flags(asked), logs, timeout=render_timeout)
            result.renders += 1
            result.exits.append(run.exit)
            outputs[f"render {result.renders} stdout"] = run.stdout
            outputs[f"render {result.renders} stderr"] = run.stderr
            done = sum(event.get("state") == "done" for event in run.events)
            failed = sum(event.get("state") == "failed" for event in run.events)
            asked = run.asked_consent()
            log(f"  {name}: render {result.renders} exit {run.exit} in {run.wall:.1f} s: {done} done, {failed} failed"
                f"{', consent asked for ' + ' '.join(sorted(asked)) if asked else ''}")
            if run.exit is None:
                result.violations.append(f"render {result.renders} did not end within {render_timeout:g} s")
                break
            if run.exit == 0:
                break
            if run.exit != 1:
                result.violations.append(f"render {result.renders} exited {run.exit}: {run.stderr.strip()[-500:]}")
                break
            if "Traceback" in run.stderr:
                result.violations.append(f"render {result.renders} printed a traceback: {run.stderr.strip()[-800:]}")
        else:
            result.violations.append(f"not complete after {max_renders} renders; last: {run.stderr.strip()[-500:]}")
        time.sleep(0.2)  # the emulator's last answers settle in its counters
        result.stats = emulator.stats()
        result.faults = dict(result.stats.get("faults", {}))
        ledger = Ledger([f"s{index:03d}" for index in range(shots)], emulator.made_for(tag), result.consents)
        result.figures = ledger.figures()
        result.violations += ledger.problems()
    film = project / "renders" / "board.mp4"
    film_problems = common.check_film(film, shots * SHOT_SECONDS, must_exist=True)
    result.film_ok = not film_problems
    result.violations += film_problems
    result.violations += common.check_store(project)
    result.violations += [f"left behind: {path}" for path in common.leftovers(project, tmpdir)]
    result.violations += [f"the API key is in {place}" for place in common.secret_places(KEY, [project, tmpdir], outputs)]
    if result.stats.get("downloads_with_authorization"):
        result.violations.append(f"{result.stats['downloads_with_authorization']} download(s) carried an Authorization header")
    result.wall = time.monotonic() - started
    return result


def soak(shots: int, rounds: list[str], seed: int, workdir: Path, *, parallel: bool = False,
         slow_seconds: float | None = None, trickle_seconds: float | None = None, giant_bytes: int | None = None,
         **options: Any) -> list[Round]:
    """Every round (in turn, or at once with `parallel`: each has its own emulator and project)."""
    plans = [(name if name in common.PRESETS else f"custom{index}", common.resolve_faults(name), seed + index)
             for index, name in enumerate(rounds)]
    with common.knobs(slow_seconds=slow_seconds, trickle_seconds=trickle_seconds, giant_bytes=giant_bytes):
        if not parallel:
            results = []
            for index, (name, spec, round_seed) in enumerate(plans):
                log(f"round {index + 1}/{len(plans)}: {name}, {shots} shots, seed {round_seed}")
                results.append(soak_round(name, spec, round_seed, shots, workdir, **options))
            return results
        log(f"{len(plans)} rounds at once: {', '.join(name for name, _, _ in plans)}; {shots} shots each")
        with ThreadPoolExecutor(max_workers=len(plans)) as pool:
            futures = [pool.submit(soak_round, name, spec, round_seed, shots, workdir, **options)
                       for name, spec, round_seed in plans]
            return [future.result() for future in futures]


def table(results: list[Round]) -> str:
    kinds = sorted({kind for result in results for kind in result.faults},
                   key=lambda kind: FAULTS.index(kind) if kind in FAULTS else len(FAULTS))
    head = ["", *[f"{result.name} (seed {result.seed})" for result in results]]
    rows: list[list[str]] = [
        ["shots (distinct requests)", *[str(result.shots) for result in results]],
        *[[f"fault `{kind}` injected", *[str(result.faults.get(kind, 0)) for result in results]] for kind in kinds],
        ["faults injected, all kinds", *[str(sum(result.faults.values())) for result in results]],
        ["renders needed (exit codes)", *[f"{result.renders} ({' '.join(str(code) for code in result.exits)})"
                                          for result in results]],
        ["service requests", *[str(result.stats.get("requests", "?")) for result in results]],
        ["creates (generations made and billed)", *[str(result.figures.get("creates", "?")) for result in results]],
        ["creates per request", *[f"{result.figures['creates'] / result.shots:.2f}" if result.figures else "?"
                                  for result in results]],
        ["… of which re-creates after the service failed the generation",
         *[str(result.figures.get("after_failure", "?")) for result in results]],
        ["… of which second generations while the first had not failed (need consent)",
         *[str(result.figures.get("paid_again", "?")) for result in results]],
        ["consents given (`--resubmit SHOT`)", *[str(sum(result.consents.values())) for result in results]],
        ["resubmissions answered by Idempotency-Key (no new bill)", *[str(result.figures.get("replays", "?"))
                                                                     for result in results]],
        ["film complete and decodes", *["yes" if result.film_ok else "NO" for result in results]],
        ["invariant violations", *[str(len(result.violations)) for result in results]],
        ["wall time", *[f"{result.wall:.0f} s" for result in results]],
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--shots", type=int, default=50, help="shots of the storyboard (default 50)")
    parser.add_argument("--seed", type=int, default=1, help="fault seed of the first round; each next round adds 1")
    parser.add_argument("--rounds", default="realistic,hostile",
                        help="fault levels, one round each: presets separated by commas (realistic, hostile, none), "
                             "or fault specs as `storyboard emulator --faults` takes, separated by ';' "
                             "(default realistic,hostile)")
    parser.add_argument("--max-renders", type=int, default=30, help="renders allowed per round before giving up")
    parser.add_argument("--latency", type=float, default=0.5, help="emulator generation time, s (default 0.5)")
    parser.add_argument("--jobs", type=int, default=None, help="render --jobs (default: the tool's, 8)")
    parser.add_argument("--parallel", action="store_true", help="run the rounds at the same time")
    parser.add_argument("--no-keep-going", action="store_true", help="render without --keep-going")
    parser.add_argument("--slow-seconds", type=float, default=2.0, help="delay of the `slow` fault (default 2)")
    parser.add_argument("--trickle-seconds", type=float, default=0.01,
                        help="pause after each byte of a `trickle` answer (default 0.01: a poll answer drips in ~2 s, "
                             "a 100 KB clip trips the tool's 30 s progress deadline)")
    parser.add_argument("--giant-bytes", type=int, default=None, help="size of a `giant` poll answer (default: the emulator's)")
    parser.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it (default: a temporary one)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    names = [item.strip() for item in args.rounds.split(",") if item.strip()]
    rounds = names if all(name in common.PRESETS for name in names) else [
        item.strip() for item in args.rounds.split(";") if item.strip()]

    started = time.monotonic()
    measured = common.machine()
    options = {"latency": args.latency, "max_renders": args.max_renders, "keep_going": not args.no_keep_going,
               "jobs": args.jobs, "slow_seconds": args.slow_seconds, "trickle_seconds": args.trickle_seconds,
               "giant_bytes": args.giant_bytes, "parallel": args.parallel}
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        results = soak(args.shots, rounds, args.seed, args.keep, **options)
    else:
        with tempfile.TemporaryDirectory(prefix="stress-soak-") as folder:
            results = soak(args.shots, rounds, args.seed, Path(folder), **options)
    total = time.monotonic() - started

    print(f"`python stress/soak.py {' '.join(argv if argv is not None else sys.argv[1:])}`".replace(" `", "`"))
    print(f"{measured}; wall time {total / 60:.1f} min")
    print()
    print(table(results))
    for result in results:
        print()
        print(f"- {result.name}: faults `{result.spec}`")
        if result.short_override:
            print(f"- {result.name}: the built-in profile refused 2 s shots; a models/short.yaml override allowed them")
        for violation in result.violations:
            print(f"- {result.name}: INVARIANT FAILED: {violation}")
    if args.json:
        args.json.write_text(json.dumps([asdict(result) for result in results], indent=1, default=str))
    return 1 if any(result.violations for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
