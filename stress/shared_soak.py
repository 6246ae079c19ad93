"""Shared-cache soak: clones of one project render the same storyboard at once, their shared cache
behind a misbehaving S3 proxy, and are killed at random, round after round; nothing may be paid twice.

    python stress/shared_soak.py [--minutes 5] [--clones 3] [--shots 3] [--seed 1] [--kill-odds 0.4]
                                 [--json FILE]

A round is a fresh bucket (moto's S3 server, started here on 127.0.0.1), a fresh storyboard, the
emulator (in this process) and a proxy (tests/s3proxy.py) with the round's misbehaviour, in turn:
none, lost answers, denied reads, trickling bodies, stalls, all of them at once. Each clone, a
project folder of its own, renders (`storyboard render board.yaml --backend aimlapi --yes --json
--keep-going`) until it exits 0 or has rendered `--renders` times; each render is killed (SIGKILL)
with the odds `--kill-odds` at a random moment of its first 8 s. No consent (`--resubmit`) is ever
given; claims left by killed clones are taken over after `takeover_after` (60 s, times
STORYBOARD_RETRY_SCALE=0.25 here: 15 s).

Checked per round, from the emulator's record of every create: each request paid for once
(`paid twice` counts new generations of a request whose earlier generation had not failed; a
create answered by an idempotent replay is counted apart: a service that ignores
`Idempotency-Key` would have billed it), and every clone that exited 0 has a whole film. A clone
that ends without a film is counted (`unfinished`): it is said, not a money fault. The figures
go to stdout as a table (`--json FILE` keeps them); exit 1 when anything was paid twice.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import common
from common import Ledger, log
from s3proxy import MotoDidNotStart, S3Proxy, start_moto

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "shared-soak", "AWS_SECRET_ACCESS_KEY": "shared-soak-secret",
               "AWS_DEFAULT_REGION": "us-east-1"}
MISBEHAVIOURS: list[tuple[str, dict[str, float]]] = [
    ("none", {}), ("lost answers", {"lose": 0.15}), ("denied reads", {"deny": 0.1}),
    ("trickling bodies", {"trickle": 0.3}), ("stalls", {"stall": 0.03}),
    ("all at once", {"lose": 0.05, "deny": 0.03, "trickle": 0.1, "stall": 0.01}),
]
SHOT_SECONDS = 2.0


@dataclass
class Round:
    name: str
    odds: dict[str, float]
    seed: int
    shots: int
    clones: int
    renders: int = 0
    killed: int = 0
    films: int = 0
    unfinished: int = 0
    misbehaved: dict[str, int] = field(default_factory=dict)
    figures: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    wall: float = 0.0


def moto_server() -> tuple[subprocess.Popen[bytes], str]:
    try:
        return start_moto()
    except MotoDidNotStart as error:
        raise SystemExit(str(error)) from None


def clone_of(folder: Path, shots: int, tag: str, bucket: str, endpoint: str) -> Path:
    board = common.write_board(folder, shots, tag)
    lines = board.read_text().splitlines()
    at = lines.index("shots:")
    lines[at:at] = ["cache:", f'  s3: {{bucket: {bucket}, prefix: soak/, endpoint: "{endpoint}"}}', "  takeover_after: 60"]
    board.write_text("\n".join(lines) + "\n")
    common.allow_short_clips(board)
    return board


def run_clone(project: Path, env: dict[str, str], logs: Path, chance: random.Random, *, kill_odds: float,
              renders: int, result: Round) -> None:
    for number in range(renders):
        kill_at = chance.uniform(0.3, 8.0) if chance.random() < kill_odds else None
        trigger = (lambda elapsed, _text, at=kill_at: elapsed >= at) if kill_at is not None else None
        run = common.render(project, env, ["--keep-going"], logs / f"render{number}", timeout=600, trigger=trigger)
        result.renders += 1
        if run.signal:
            result.killed += 1
            continue
        if "Traceback" in run.output:
            result.violations.append(f"{project.name}: a traceback: {run.stderr.strip()[-600:]}")
        if run.exit == 0:
            problems = common.check_film(project / "renders" / "board.mp4", result.shots * SHOT_SECONDS, must_exist=True)
            result.violations += [f"{project.name}: {problem}" for problem in problems]
            result.films += 1
            return
        if run.exit not in (1, None):
            result.violations.append(f"{project.name}: exit {run.exit}: {run.stderr.strip()[-400:]}")
    result.unfinished += 1


def soak_round(name: str, odds: dict[str, float], seed: int, *, shots: int, clones: int, endpoint: str,
               workdir: Path, kill_odds: float, renders: int) -> Round:
    import boto3

    result = Round(name, odds, seed, shots, clones)
    started = time.monotonic()
    bucket = f"soak-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                 aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"]).create_bucket(Bucket=bucket)
    tag = f"shared soak {seed} {uuid.uuid4().hex[:6]}"
    with common.stress_emulator("", seed, 1.5) as emulator, S3Proxy(endpoint, seed=seed, **odds) as proxy:
        folders = [workdir / f"round{seed}" / f"clone{index}" for index in range(clones)]
        boards = [clone_of(folder, shots, tag, bucket, proxy.url) for folder in folders]
        common.teach_profiles(emulator, boards[0].parent)
        env = common.render_env(emulator.url, workdir / f"round{seed}" / "tmp") | CREDENTIALS | {
            "STORYBOARD_RETRY_SCALE": "0.25"}
        with ThreadPoolExecutor(max_workers=clones) as pool:
            for index, folder in enumerate(folders):
                pool.submit(run_clone, folder, env, workdir / f"round{seed}" / f"logs{index}",
                            random.Random(f"{seed}:{index}"), kill_odds=kill_odds, renders=renders, result=result)
        time.sleep(0.2)
        result.misbehaved = {kind: count for kind, count in proxy.counts.items() if count}
        ledger = Ledger([f"s{index:03d}" for index in range(shots)], emulator.made_for(tag), {})
        result.figures = ledger.figures()
        result.violations += [problem for problem in ledger.problems() if "never created" not in problem or result.films]
    result.wall = time.monotonic() - started
    return result


def table(results: list[Round]) -> str:
    rows = [["round (bucket misbehaviour)", "requests", "creates", "creates per request", "paid twice",
             "idempotent replays", "renders (killed)", "clones with a film / unfinished", "proxy misbehaved", "wall"]]
    for result in results:
        figures = result.figures
        rows.append([f"{result.name} (seed {result.seed})", str(result.shots), str(figures.get("creates", "?")),
                     f"{figures['creates'] / result.shots:.2f}" if figures else "?", str(figures.get("paid_again", "?")),
                     str(figures.get("replays", "?")), f"{result.renders} ({result.killed})",
                     f"{result.films} / {result.unfinished}",
                     ", ".join(f"{kind} {count}" for kind, count in result.misbehaved.items()) or "-",
                     f"{result.wall:.0f} s"])
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = ["| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="start no new round after this long")
    parser.add_argument("--clones", type=int, default=3)
    parser.add_argument("--shots", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kill-odds", type=float, default=0.4)
    parser.add_argument("--renders", type=int, default=6, help="renders per clone at most, per round")
    parser.add_argument("--json", type=Path, help="save the figures here")
    options = parser.parse_args()
    os.environ.pop("STORYBOARD_CACHE", None)
    server, endpoint = moto_server()
    results: list[Round] = []
    deadline = time.monotonic() + options.minutes * 60
    try:
        with tempfile.TemporaryDirectory(prefix="shared-soak-") as temporary:
            index = 0
            while time.monotonic() < deadline or index < len(MISBEHAVIOURS):
                name, odds = MISBEHAVIOURS[index % len(MISBEHAVIOURS)]
                seed = options.seed + index
                log(f"round {index + 1}: {name}, {options.clones} clones, {options.shots} shots, seed {seed}")
                results.append(soak_round(name, odds, seed, shots=options.shots, clones=options.clones, endpoint=endpoint,
                                          workdir=Path(temporary), kill_odds=options.kill_odds, renders=options.renders))
                log(f"  {results[-1].figures}; films {results[-1].films}, unfinished {results[-1].unfinished}")
                index += 1
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"machine: {common.machine()}")
    print(table(results))
    violations = [f"{result.name} (seed {result.seed}): {problem}" for result in results for problem in result.violations]
    for problem in violations:
        print(f"VIOLATION {problem}")
    if options.json:
        options.json.write_text(json.dumps({"machine": common.machine(), "rounds": [asdict(item) for item in results]},
                                           indent=1))
    paid_twice = sum(result.figures.get("paid_again", 0) for result in results)
    print(f"paid twice: {paid_twice} in {sum(result.shots for result in results)} requests; "
          f"{len(violations)} violation(s)")
    return 1 if paid_twice or violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
