"""Estimate against charge, and what 10 plans ask of the service's price list.

    python benchmarks/prices.py [--shots 6] [--plans 10]

Starts the emulator with a price list unlike the built-in table (as the service's may be), writes
an N-shot storyboard (720p and 1080p, 2 to 10 s), and measures side by side:

- the estimate from the built-in table (what `plan` said before the live price list: the naive
  way) and from the live price list, against what the emulator charged for rendering it all;
- 10 consecutive `storyboard plan --backend aimlapi` commands: requests to the price list, how
  many were answered in full and how many with 304 Not Modified, and the time per plan; against
  the naive way, the same 10 plans without the kept copy (each reads the whole list again).
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

import storyboard
from storyboard.backends.pricelist import catalogue_url, query_for
from storyboard.emulator import Emulator
from storyboard.loading.prices import BUILT_IN
from storyboard.planning.plans import make_plan

KEY = "sk-benchmark-prices"
LIVE = {"alibaba/wan-2-7-r2v": {"720p": 0.0917, "1080p": 0.2113}}  # unlike the table's 0.13 and 0.195
SHORT_CLIPS = "model: alibaba/wan-2-7-r2v\nfields:\n  duration: {type: integer, minimum: 2, maximum: 15, default: 10}\n"


def write_project(root: Path, shots: int) -> Path:
    lines = ["storyboard: 1", "shots:"]
    for number in range(shots):
        resolution = "1080p" if number % 3 == 2 else "720p"
        duration = (2, 5, 10)[number % 3]
        lines.append(f"  - {{id: s{number:02d}, prompt: shot number {number}, seed: {number}, "
                     f"resolution: {resolution}, duration: {duration}}}")
    (root / "models").mkdir()
    (root / "models" / "short-clips.yaml").write_text(SHORT_CLIPS)
    board = root / "board.yaml"
    board.write_text("\n".join(lines) + "\n")
    return board


def plans(board: Path, count: int, keep_copy: bool) -> float:
    """Run `count` plans as commands; return the mean wall time of one."""
    kept = board.parent / ".storyboard" / "prices.json"
    total = 0.0
    for _ in range(count):
        if not keep_copy:
            kept.unlink(missing_ok=True)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "storyboard", "plan", str(board), "--backend", "aimlapi"],
                              capture_output=True, text=True, cwd=board.parent)
        total += time.perf_counter() - started
        assert done.returncode == 0 and "prices: the service's price list" in done.stdout, done.stdout + done.stderr
    return total / count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shots", type=int, default=6)
    parser.add_argument("--plans", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        board = write_project(root, args.shots)
        measured = measure(root, board, args.plans)
    report(args.shots, args.plans, *measured)


def measure(root: Path, board: Path, count: int) -> tuple[float, float, float, float, dict[str, int], float, int, float]:
    with Emulator(api_key=KEY, latency=0.2, prices=LIVE, profiles_from=root) as emulator:
        os.environ.update({"AIMLAPI_KEY": KEY, "AIMLAPI_BASE_URL": emulator.url})
        loaded = storyboard.load(board)
        table = make_plan(loaded, prices=BUILT_IN).estimated_usd
        live = storyboard.plan(loaded, backend="aimlapi").estimated_usd
        storyboard.render(board, backend="aimlapi")
        charged = emulator.stats()["usd_spent"]
        lock = yaml.safe_load((root / "storyboard.lock").read_text())
        locked = sum(take["usd"] for takes in lock["board.yaml"]["shots"].values() for take in takes)

        (root / ".storyboard" / "prices.json").unlink()
        before = dict(emulator.stats())
        cached_seconds = plans(board, count, keep_copy=True)
        after = emulator.stats()
        asked = {name: after[name] - before[name] for name in
                 ("catalogue_requests", "catalogue_answers", "catalogue_not_modified", "requests")}
        naive_seconds = plans(board, count, keep_copy=False)
        naive_full = emulator.stats()["catalogue_answers"] - after["catalogue_answers"]
        asked["answer_bytes"] = len(httpx.get(catalogue_url(emulator.url), params=query_for(LIVE)).content)
    return table, live, charged, locked, asked, cached_seconds, naive_full, naive_seconds


def report(shots: int, count: int, table: float, live: float, charged: float, locked: float, asked: dict[str, int],
           cached_seconds: float, naive_full: int, naive_seconds: float) -> None:
    print(f"machine: {os.cpu_count()} cores, {platform.machine()}, {platform.python_implementation()} "
          f"{platform.python_version()}")
    print(f"{shots} shots: charged {charged:.4f} USD (storyboard.lock says {locked:.4f})")
    print(f"  estimate from the live price list: {live:.4f} USD, off by {live - charged:+.4f} USD")
    print(f"  estimate from the built-in table (naive): {table:.4f} USD, off by {table - charged:+.4f} USD "
          f"({(table - charged) / charged:+.1%})")
    print(f"{count} plans with the kept copy: {asked['catalogue_requests']} requests to the price list, "
          f"{asked['catalogue_answers']} answered in full, {asked['catalogue_not_modified']} with 304; "
          f"{asked['requests']} other requests; {cached_seconds:.2f} s a plan (a full answer is "
          f"{asked['answer_bytes']} bytes of JSON, a 304 none)")
    print(f"{count} plans without it (naive): {naive_full} answered in full; {naive_seconds:.2f} s a plan")


if __name__ == "__main__":
    main()
