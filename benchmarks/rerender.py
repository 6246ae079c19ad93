"""How long an unchanged N-shot storyboard takes to re-render (nothing to generate).

    python benchmarks/rerender.py [--shots 100]

Builds an N-shot storyboard in a temporary folder, renders it once with the preview backend
(one real clip, copied to every shot's store entry to save time, since a re-render never
opens the clips), assembles the film once, then times `storyboard render` again: once as a
command (process start and imports included) and once through the Python API.
"""
from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import storyboard
from storyboard.project.store import ClipStore


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shots", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        lines = ["storyboard: 1", "defaults: {resolution: 720p, duration: 2}", "shots:"]
        lines += [f"  - id: s{i:03d}\n    prompt: shot number {i}\n    seed: {i}" for i in range(args.shots)]
        board_file = root / "board.yaml"
        board_file.write_text("\n".join(lines) + "\n")
        (root / "models").mkdir()  # 2 s shots, as an account whose model accepts them (the service's are 5, 10, 15 s)
        (root / "models" / "short-clips.yaml").write_text(
            "model: alibaba/wan-2-7-r2v\nfields:\n  duration: {type: integer, minimum: 2, maximum: 15, default: 10}\n")

        the_plan = storyboard.plan(storyboard.load(board_file))
        storyboard.render(board_file, only=[the_plan.shots[0].id])
        store = ClipStore(root)
        first = store.clip_path("preview", the_plan.shots[0].hash)
        for item in the_plan.shots[1:]:
            shutil.copy(first, store.clip_path("preview", item.hash))
        storyboard.render(board_file)  # assembles the film once

        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "storyboard", "render", str(board_file)], capture_output=True, text=True)
        command_seconds = time.perf_counter() - started
        assert done.returncode == 0 and f"0 generated, {args.shots} reused" in done.stdout, done.stdout + done.stderr

        started = time.perf_counter()
        result = storyboard.render(board_file)
        api_seconds = time.perf_counter() - started
        assert not result.generated

    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}")
    print(f"unchanged re-render of {args.shots} shots: command {command_seconds:.2f} s, API {api_seconds:.3f} s, "
          "0 clips generated, film not rewritten")


if __name__ == "__main__":
    main()
