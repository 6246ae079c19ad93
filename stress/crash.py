"""Crash torture: `storyboard render` killed (kill -9) or interrupted (SIGINT) at random instants
spread over its phases, then resumed, and checked after every run.

    python stress/crash.py [--runs 100] [--seed 1] [--shots 4] [--create-kills] [--log-lag 10]

`--create-kills` makes every run a kill -9 inside a create's round trip (from its claim to its
answer): the resume must find the lost create in the service's usage log by its client request
id and follow it, paying nothing twice and asking no consent while the log answers.

An emulator runs in this process (latency 0.5 s; a quarter of the creates, polls and downloads
answered 1 s late, half the clips sent a byte at a time, which widens the create,
download and store-write windows). Each render is watched while it runs, from its `--json`
events and the emulator's answers in flight, which tell which phases are under way:

- create: from the claim (the `generating` event) to the create's answer;
- poll: from the answer (or a resume) until the clip is being sent;
- download: the emulator sending the clip;
- store write: from the clip's arrival to `done` (checked with ffmpeg, fsynced, renamed, hashed,
  recorded), and taking the first frame of the last shot from the first one's clip;
- assembly: from `assembling` to `film`.

A few uninterrupted calibration renders measure how long each phase is under way. Each run
then takes a fresh project (`--shots` 2 s 720p shots, the last starting on the last frame of
the first), a target phase in turn (shuffled), a threshold drawn uniformly between 0 and 90 %
of the least time a calibration render spent in that phase, and a way to stop: kill -9 of the
process (and its helpers), SIGINT to its process group (Ctrl-C on a terminal) or to the process
alone. The signal is sent once the target phase has been under way for the threshold, so its
instants are spread uniformly over the time each phase takes. Then `render` again until it
exits 0, with `--resubmit SHOT` only for the shots the previous render said need it (counted).

After every run: a SIGINT run exited 130 and left no create with an unknown outcome (creates
on the wire are allowed to answer); one create per request plus consented ones; no corrupt
clip in `.storyboard/clips` (each decodes, `stored` rows match its SHA-256), right after the
signal and at the end; the film at the output path is absent or complete and decodable after
the signal, and complete at the end; no `.*.partial.*` file, `.storyboard/tmp` empty and
nothing named `storyboard-*` in the render's TMPDIR after the resume; no process of the
render's group left running; no traceback; the API key (any letter case) in no file of the
project or TMPDIR and in no output.
"""
from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common
from common import KEY, Ledger, Run, log

PHASES = ("create", "poll", "download", "store write", "assembly")
SHOT_SECONDS = 2.0
# Half the runs kill -9; the others interrupt: Ctrl-C (SIGINT to the group, as a terminal sends it), SIGINT to the
# process alone, or `kill` (SIGTERM), which the README treats as Ctrl-C.
HOWS = ("SIGKILL", "SIGKILL", "SIGKILL", "SIGINT (group)", "SIGINT (process)", "SIGTERM")
INTERRUPTS = ("SIGINT (group)", "SIGINT (process)", "SIGTERM")
# Labels of the moment a signal landed, from the rarest to the most common: the first that holds names it.
PRIORITY = ("assembly", "store write", "download", "create", "poll", "startup")
# Seconds a render waits for a lost create's row in the usage log (STORYBOARD_LOG_LAG): the emulator's log has no
# lag, so the bound only matters for a create killed before it left, whose row never comes.
LOG_LAG = 10.0
TRACED = ("found in the service's usage log", "usage log names its generation", "usage log names generation")


@dataclass
class Outcome:
    run: int
    target: str
    how: str
    threshold: float  # seconds the target phase had been under way when the signal was sent
    at: float | None = None  # seconds after the start
    landed: str = ""
    landed_all: list[str] = field(default_factory=list)
    exit_after_signal: int | None = None
    signalled: bool = False
    resumes: int = 0
    consents: int = 0
    asked: list[str] = field(default_factory=list)
    traced: int = 0  # lost creates the resumes found in the service's usage log and followed
    figures: dict[str, int] = field(default_factory=dict)
    rows_after_kill: dict[str, int] = field(default_factory=dict)
    left_by_signal: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    wall: float = 0.0


class Live:
    """What a running render is doing now, from its `--json` events so far and the emulator's
    answers in flight: the set of phases under way (several shots run at once)."""

    def __init__(self, emulator: common.CountingEmulator, shots: int):
        self.emulator = emulator
        self.shots = [f"s{index:03d}" for index in range(shots)]
        self.partial = ""
        self.creating: set[str] = set()
        self.following: dict[str, str] = {}  # shot -> generation id being followed (submitted or resumed)
        self.done: set[str] = set()
        self.generating: set[str] = set()  # shots whose create was sent at least once
        self.assembling = self.film = False
        self.seen_event = False

    def feed(self, text: str) -> None:
        lines = (self.partial + text).split("\n")
        self.partial = lines.pop()
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                self._event(event)

    def _event(self, event: dict[str, Any]) -> None:
        self.seen_event = True
        shot, state = event.get("shot"), event.get("state")
        if state == "generating":
            self.creating.add(str(shot))
            self.generating.add(str(shot))
        elif state in ("submitted", "failed", "skipped"):
            self.creating.discard(str(shot))
        if state in ("submitted", "resuming", "downloading") and event.get("generation"):
            self.following[str(shot)] = str(event["generation"])
        if state in ("done", "cached", "failed", "skipped"):
            self.done.add(str(shot))
            self.following.pop(str(shot), None)
        if state == "assembling":
            self.assembling = True
        if state in ("film", "current"):
            self.film = True

    def phases(self) -> set[str]:
        now: set[str] = set()
        if self.creating:
            now.add("create")
        if self.assembling and not self.film:
            now.add("assembly")
        answering = self.emulator.now_answering()
        downloading = {subject.removesuffix(".mp4") for kind, subject in answering if kind == "download"}
        ours = set(self.following.values())
        if downloading & ours:
            now.add("download")
        fetched = {subject.removesuffix(".mp4") for kind, _, _, subject in self.emulator.answered() if kind == "download"}
        for generation in ours - downloading:
            now.add("store write" if generation in fetched else "poll")
        if len(self.shots) > 1 and self.shots[0] in self.done and self.shots[-1] not in self.generating \
                and self.shots[-1] not in self.done:
            now.add("store write")  # the first frame of the last shot, taken from the first one's clip
        if not self.seen_event:
            now.add("startup")
        return now


class Meter:
    """A render's trigger: measures how long each phase was under way, and fires (once) when the
    target phase has been under way for `threshold` seconds in all."""

    def __init__(self, live: Live, target: str | None = None, threshold: float = 0.0):
        self.live = live
        self.target = target
        self.threshold = threshold
        self.spent: dict[str, float] = {}
        self.last: float | None = None
        self.fired_in: set[str] = set()

    def __call__(self, elapsed: float, text: str) -> bool:
        self.live.feed(text)
        now = self.live.phases()
        step = 0.0 if self.last is None else elapsed - self.last
        self.last = elapsed
        for phase in now:
            self.spent[phase] = self.spent.get(phase, 0.0) + step
        if self.target is not None and self.target in now and self.spent.get(self.target, 0.0) >= self.threshold:
            self.fired_in = now
            return True
        return False


class Torture:
    def __init__(self, workdir: Path, shots: int, seed: int, max_resumes: int, timeout: float, reach: float = 0.9,
                 log_lag: float = LOG_LAG):
        self.reach = reach
        self.log_lag = log_lag
        self.workdir = workdir
        self.shots = shots
        self.seed = seed
        self.max_resumes = max_resumes
        self.timeout = timeout
        self.rng = random.Random(seed)
        self.calibration: list[dict[str, float]] = []

    def calibrate(self, emulator: common.CountingEmulator, renders: int) -> None:
        """Uninterrupted renders, measuring how long each phase is under way in each."""
        for number in range(renders):
            name = f"calibration{number}"
            board = common.write_board(self.workdir / name, self.shots, f"crash calibration {number:03d} seed {self.seed}",
                                       continuity=True)
            common.allow_short_clips(board, emulator)
            meter = Meter(Live(emulator, self.shots))
            run = common.render(board.parent, common.render_env(emulator.url, self.workdir / f"{name}-tmp"), [],
                                self.workdir / f"{name}-logs", timeout=self.timeout, trigger=meter)
            if run.exit != 0:
                raise SystemExit(f"calibration render failed (exit {run.exit}): {run.stderr[-2000:]}")
            self.calibration.append(dict(meter.spent))
            log("  calibration: " + ", ".join(f"{name} {meter.spent.get(name, 0.0):.2f} s" for name in PHASES)
                + f" under way; the render took {run.wall:.1f} s")

    def one(self, emulator: common.CountingEmulator, number: int, target: str, how: str, draw: float) -> Outcome:
        """Run `number`: signal `how` once `target` has been under way for `draw` (0..1) of its reach."""
        started = time.monotonic()
        tag = f"crash run {number:04d} seed {self.seed}"
        project, tmpdir = self.workdir / f"run{number:04d}", self.workdir / f"run{number:04d}-tmp"
        logs = self.workdir / f"run{number:04d}-logs"
        board = common.write_board(project, self.shots, tag, continuity=True)
        common.allow_short_clips(board, emulator)
        env = common.render_env(emulator.url, tmpdir) | {"STORYBOARD_LOG_LAG": f"{self.log_lag:g}"}
        # Uniform over the time the phase is under way, up to `reach` of the least a calibration render spent in it.
        shortest = min((spent.get(target, 0.0) for spent in self.calibration), default=0.0)
        threshold = draw * self.reach * shortest
        meter = Meter(Live(emulator, self.shots), target, threshold)
        outcome = Outcome(number, target, how, threshold)
        outputs: dict[str, str] = {}
        film = project / "renders" / "board.mp4"

        victim = common.render(project, env, [], logs, trigger=meter, how=how, timeout=60.0)
        outputs["victim stdout"], outputs["victim stderr"] = victim.stdout, victim.stderr
        outcome.signalled = victim.signal is not None and victim.signal != "timeout"
        outcome.exit_after_signal = victim.exit
        outcome.at = victim.signalled_at
        if outcome.signalled:
            outcome.landed_all = [name for name in PRIORITY if name in meter.fired_in]
            outcome.landed = target
        else:
            outcome.landed = "finished before the signal"
        if victim.exit is None:
            outcome.violations.append("the render did not end within 60 s of the signal")
        if victim.signal in INTERRUPTS:  # README: exit 130, unfinished files removed; creates on the wire answer
            if victim.exit != 130:
                outcome.violations.append(f"{victim.signal}: exit {victim.exit}, not 130; stderr: {victim.stderr.strip()[-300:]}")
            outcome.left_by_signal = common.leftovers(project, tmpdir)
            if outcome.left_by_signal:
                outcome.violations.append(f"{victim.signal}: unfinished files left: {', '.join(outcome.left_by_signal)}")
            unknown = sorted(row["shot_id"] for row in common.state_rows(project) if row["status"] in ("claimed", "unknown"))
            if unknown:
                outcome.violations.append(f"{victim.signal} left the outcome of the create of {', '.join(unknown)} unknown "
                                          "(a create on the wire was not allowed to answer)")
        if victim.stragglers:
            outcome.violations.append("processes of the render's group were still running 0.5 s after it exited: "
                                      + "; ".join(victim.stragglers))
        if "Traceback" in victim.stderr:
            outcome.violations.append(f"the interrupted render printed a traceback: {victim.stderr.strip()[-600:]}")
        rows = common.state_rows(project)
        outcome.rows_after_kill = dict(Counter(row["status"] for row in rows))
        outcome.violations += [f"after the signal: {problem}" for problem in common.check_store(project)]
        outcome.violations += [f"after the signal: {problem}"
                               for problem in common.check_film(film, self.shots * SHOT_SECONDS, must_exist=False)]

        previous: Run = victim
        consents: dict[str, int] = {}
        while not (previous.exit == 0 and previous.signal is None):
            if outcome.resumes >= self.max_resumes:
                outcome.violations.append(f"not complete after {self.max_resumes} resumes; last exit {previous.exit}: "
                                          f"{previous.stderr.strip()[-400:]}")
                break
            asked = previous.asked_consent() if previous.signal is None else set()
            for shot in asked:
                consents[shot] = consents.get(shot, 0) + 1
            outcome.asked += sorted(asked)
            previous = common.render(project, env, common.resubmit_flags(asked), logs, timeout=self.timeout)
            outcome.resumes += 1
            outputs[f"resume {outcome.resumes} stdout"] = previous.stdout
            outputs[f"resume {outcome.resumes} stderr"] = previous.stderr
            outcome.traced += sum(previous.output.count(words) for words in TRACED)
            if previous.exit is None:
                outcome.violations.append(f"resume {outcome.resumes} did not end within {self.timeout:g} s")
                break
            if previous.exit not in (0, 1):
                outcome.violations.append(f"resume {outcome.resumes} exited {previous.exit}: {previous.stderr.strip()[-400:]}")
                break
            if previous.stragglers:
                outcome.violations.append(f"resume {outcome.resumes} left processes of its group running: "
                                          + "; ".join(previous.stragglers))
            if "Traceback" in previous.stderr:
                outcome.violations.append(f"resume {outcome.resumes} printed a traceback: {previous.stderr.strip()[-600:]}")
        outcome.consents = sum(consents.values())
        time.sleep(0.05)
        ledger = Ledger([f"s{index:03d}" for index in range(self.shots)], emulator.made_for(tag), consents)
        outcome.figures = ledger.figures()
        outcome.violations += ledger.problems()
        outcome.violations += common.check_store(project)
        outcome.violations += common.check_film(film, self.shots * SHOT_SECONDS, must_exist=True)
        outcome.violations += [f"left behind after the resume: {path}" for path in common.leftovers(project, tmpdir)]
        outcome.violations += [f"the API key is in {place}"
                               for place in common.secret_places(KEY, [project, tmpdir], outputs)]
        outcome.wall = time.monotonic() - started
        return outcome


def torture(runs: int, seed: int, workdir: Path, *, shots: int = 4, latency: float = 0.5,
            faults_spec: str = "slow=0.25,trickle=0.5", slow_seconds: float | None = 1.0,
            trickle_seconds: float | None = 0.0, calibration_renders: int = 3, max_resumes: int = 4,
            timeout: float = 300.0, plan: list[tuple[str, str]] | None = None, reach: float = 0.9,
            workers: int = 1, log_lag: float = LOG_LAG) -> list[Outcome]:
    """`runs` killed-and-resumed renders (seeded); the outcome of each, violations listed. `plan`
    fixes each run's (target phase, way to stop) instead of drawing them. Knobs left None are not set.
    `workers` runs that many at once (each its own project; the emulator is shared)."""
    harness = Torture(workdir, shots, seed, max_resumes, timeout, reach, log_lag)
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN and threading.current_thread() is threading.main_thread():
        # Started in the background by a shell without job control: the renders would inherit an ignored SIGINT
        # (ignored signals stay ignored across exec), and Ctrl-C could not reach them.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    with common.knobs(slow_seconds=slow_seconds, trickle_seconds=trickle_seconds), \
            common.stress_emulator(faults_spec, seed, latency) as emulator:
        log(f"calibration: {calibration_renders} uninterrupted renders of {shots} shots (faults {faults_spec})")
        harness.calibrate(emulator, calibration_renders)
        draws: list[tuple[int, str, str, float]] = []  # drawn up front: the same runs whatever the workers
        targets: list[str] = []
        for number in range(1, runs + 1):
            if not targets:
                targets = list(PHASES)
                harness.rng.shuffle(targets)
            target, how, draw = targets.pop(), harness.rng.choice(HOWS), harness.rng.random()
            if plan:
                target, how = plan[(number - 1) % len(plan)]
            draws.append((number, target, how, draw))

        def one(number: int, target: str, how: str, draw: float) -> Outcome:
            outcome = harness.one(emulator, number, target, how, draw)
            at = f"{outcome.at:.2f} s" if outcome.at is not None else "—"
            log(f"  run {number}: {how} at {at}, {outcome.threshold:.3f} s into {target}: {outcome.landed}"
                f"{' (under way: ' + ', '.join(outcome.landed_all) + ')' if len(outcome.landed_all) > 1 else ''}; "
                f"exit {outcome.exit_after_signal}; {outcome.resumes} resume(s)"
                f"{', consent for ' + ' '.join(outcome.asked) if outcome.asked else ''}; "
                f"{outcome.figures.get('creates')} creates for {shots} requests"
                f"{', ' + str(outcome.figures.get('replays')) + ' replayed' if outcome.figures.get('replays') else ''}"
                f"{'; VIOLATIONS: ' + ' | '.join(outcome.violations) if outcome.violations else ''}")
            return outcome

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            outcomes = list(pool.map(lambda drawn: one(*drawn), draws))
    return outcomes


def table(outcomes: list[Outcome], shots: int) -> str:
    signalled = [outcome for outcome in outcomes if outcome.signalled]
    kills = [outcome for outcome in signalled if outcome.how == "SIGKILL"]
    interrupts = [outcome for outcome in signalled if outcome.how != "SIGKILL"]
    creates = sum(outcome.figures.get("creates", 0) for outcome in outcomes)
    requests = shots * len(outcomes)
    by_phase = Counter(outcome.landed for outcome in signalled)
    lines = ["| measure | result | bar |", "|---|---|---|",
             f"| runs | {len(outcomes)} ({len(kills)} kill -9, "
             f"{sum(outcome.how.startswith('SIGINT') for outcome in interrupts)} SIGINT, "
             f"{sum(outcome.how == 'SIGTERM' for outcome in interrupts)} SIGTERM; "
             f"{len(outcomes) - len(signalled)} finished before the signal) | — |",
             "| signal sent while under way | "
             + ", ".join(f"{name} {by_phase[name]}" for name in PHASES if by_phase[name])
             + " | every phase |",
             f"| interrupted runs (SIGINT, SIGTERM) that exited 130 | "
             f"{sum(outcome.exit_after_signal == 130 for outcome in interrupts)} of {len(interrupts)} | all |",
             f"| creates / requests | {creates} / {requests} ({creates / max(requests, 1):.2f} per request) | 1.00 |",
             f"| runs where the tool asked for `--resubmit SHOT` (consents given) | "
             f"{sum(outcome.consents > 0 for outcome in outcomes)} ({sum(outcome.consents for outcome in outcomes)}) | — |",
             f"| lost creates found in the service's usage log and followed (no consent asked) | "
             f"{sum(outcome.traced for outcome in outcomes)} | — |",
             f"| … consented resubmissions answered by Idempotency-Key (no second generation) | "
             f"{sum(outcome.figures.get('replays', 0) for outcome in outcomes)} | — |",
             f"| second generations of a request (all consented) | "
             f"{sum(outcome.figures.get('paid_again', 0) for outcome in outcomes)} | 0 unconsented |",
             f"| resumes needed, in all | {sum(outcome.resumes for outcome in outcomes)} | — |",
             f"| runs with any invariant violated | {sum(bool(outcome.violations) for outcome in outcomes)} | 0 |"]
    left = [outcome for outcome in interrupts if outcome.left_by_signal]
    lines.append(f"| interrupted runs that left unfinished files | {len(left)} of {len(interrupts)} | 0 |")
    survived = [outcome for outcome in signalled if not outcome.violations]
    lines.append(f"| signals survived: resumed to a complete film, every check passed | {len(survived)} of {len(signalled)} "
                 "| all |")
    lines += ["", "| phase under way at the signal | kill -9 | interrupted | consents asked after a kill -9 "
              "| consents asked after an interrupt | runs with a violation |", "|---|---|---|---|---|---|"]
    for phase in PHASES:
        here = [outcome for outcome in signalled if outcome.landed == phase]
        killed = [outcome for outcome in here if outcome.how == "SIGKILL"]
        stopped = [outcome for outcome in here if outcome.how != "SIGKILL"]
        lines.append(f"| {phase} | {len(killed)} | {len(stopped)} | {sum(outcome.consents for outcome in killed)} "
                     f"| {sum(outcome.consents for outcome in stopped)} | {sum(bool(outcome.violations) for outcome in here)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100, help="killed renders (default 100)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the targets, instants, signals and faults (default 1)")
    parser.add_argument("--shots", type=int, default=4, help="shots per run (default 4)")
    parser.add_argument("--latency", type=float, default=0.5, help="emulator generation time, s (default 0.5)")
    parser.add_argument("--faults", default="slow=0.25,trickle=0.5",
                        help="emulator faults that widen the windows (default slow=0.25,trickle=0.5)")
    parser.add_argument("--slow-seconds", type=float, default=1.0, help="delay of a `slow` answer (default 1)")
    parser.add_argument("--max-resumes", type=int, default=4, help="renders allowed after each signal (default 4)")
    parser.add_argument("--calibration", type=int, default=3, help="uninterrupted calibration renders (default 3)")
    parser.add_argument("--workers", type=int, default=1, help="runs at once (default 1)")
    parser.add_argument("--create-kills", action="store_true",
                        help="every run kill -9s the render inside a create's round trip (from its claim to its answer)")
    parser.add_argument("--log-lag", type=float, default=LOG_LAG,
                        help=f"seconds a render waits for a lost create's row in the usage log (default {LOG_LAG:g})")
    parser.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it")
    parser.add_argument("--json", type=Path, default=None, help="also write every run's outcome to this file")
    args = parser.parse_args(argv)

    started = time.monotonic()
    measured = common.machine()
    options: dict[str, Any] = {"shots": args.shots, "latency": args.latency, "faults_spec": args.faults,
                               "slow_seconds": args.slow_seconds, "max_resumes": args.max_resumes,
                               "calibration_renders": args.calibration, "workers": args.workers,
                               "log_lag": args.log_lag, "plan": [("create", "SIGKILL")] if args.create_kills else None}
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        outcomes = torture(args.runs, args.seed, args.keep, **options)
    else:
        with tempfile.TemporaryDirectory(prefix="stress-crash-") as folder:
            outcomes = torture(args.runs, args.seed, Path(folder), **options)
    total = time.monotonic() - started

    print(f"`python stress/crash.py {' '.join(argv if argv is not None else sys.argv[1:])}`".replace(" `", "`"))
    print(f"{measured}; wall time {total / 60:.1f} min")
    print()
    print(table(outcomes, args.shots))
    for outcome in outcomes:
        for violation in outcome.violations:
            print(f"- run {outcome.run} ({outcome.how} {outcome.threshold:.3f} s into {outcome.landed}): "
                  f"INVARIANT FAILED: {violation}")
    if args.json:
        args.json.write_text(json.dumps([asdict(outcome) for outcome in outcomes], indent=1, default=str))
    return 1 if any(outcome.violations for outcome in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
