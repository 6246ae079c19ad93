"""How long validating an N-shot storyboard takes, and what the command imports to do it.

    python benchmarks/validate.py [--shots 1000] [--runs 5]

Writes an N-shot storyboard into a temporary folder (a cast of four, a style snippet; most
prompts use `{{ look }}`-style variables and `{{ cast.x }}` mentions, some are plain text,
some share the same template text, a few include the snippet), then measures in one run:

- `storyboard.load()` in this process: CPU (time.process_time) and wall, median of --runs,
  after one warm-up load (imports and the first compile of Jinja's own code not counted);
- the same load "naive", every prompt compiled from scratch as before distinct texts were
  compiled once and plain text skipped Jinja (`templating._Templates.render` monkeypatched
  here, no flag in the package); the expanded prompts are checked to be identical; both
  also give the CPU of the template expansion step alone;
- `storyboard validate FILE` as a command (process start and imports included), and the
  same naive: wall and the child's CPU (getrusage), median of --runs;
- `python -c 'import storyboard.cli'`: wall, median of --runs; and which heavy modules are
  in sys.modules after `storyboard validate` ran in one process on a 1-shot file.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import storyboard
from storyboard.loading import templating
from storyboard.model import Storyboard

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
HEAVY = ("moviepy", "numpy", "httpx", "boto3", "rich", "av", "PIL")
SHARED = [  # template texts used by many shots: compiled once each with the cache
    "{{ cast.fairy }} waves at {{ cast.raccoon }} in shot {{ shot.id }}. {{ look }}",
    "Wide shot of the valley, {{ weather }}, {{ look }}",
    "{{ cast.raccoon.label }} sniffs the air. {{ look | upper }}",
    "Close-up: {{ cast.bird }} on a branch, {{ shot.duration }} s. {{ grade }}",
]


def board_text(shots: int) -> str:
    lines = [
        "storyboard: 1",
        "title: Validation benchmark",
        "vars: {look: '35mm film, golden hour, shallow depth of field', grade: teal and orange, weather: light rain}",
        "defaults: {resolution: 720p, aspect_ratio: '16:9', duration: 5, enhance_prompt: false}",
        "cast:",
        "  raccoon: {video: assets/raccoon.mp4, description: a grey raccoon with a ringed tail}",
        "  fairy: {image: assets/fairy.png, description: a tiny fairy in an emerald butterfly cloak}",
        "  bottle: {image: assets/fairy.png, description: 'a red bottle, {{ grade }} label'}",
        "  bird: {description: a small blue bird}",
        "shots:",
    ]
    for i in range(shots):
        kind = i % 20
        if kind < 11:  # unique text with variables and mentions
            prompt = f"{{{{ cast.raccoon }}}} pads past sequoia number {i}, {{{{ weather }}}}. {{{{ look }}}}"
        elif kind < 14:  # unique text, two mentions, a filter, a block
            prompt = (f"{{{{ cast.fairy }}}} lands on {{{{ cast.bottle }}}} at beat {i}"
                      "{% if shot.duration > 4 %}, slowly{% endif %}. {{ grade | title }}")
        elif kind < 18:  # plain text, no template syntax
            prompt = f"An empty meadow at dawn, frame {i}, mist over the grass"
        else:  # the same text in many shots
            prompt = SHARED[(i // 20 + kind) % len(SHARED)]
        if i % 50 == 7:
            prompt = f"Sauce pours onto tacos, take {i}. {{% include 'snippets/style.txt' %}}"
        lines.append(f"  - id: s{i:04d}\n    prompt: {quoted(prompt)}\n    seed: {i}")
    return "\n".join(lines) + "\n"


def quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def project(root: Path, shots: int, name: str) -> Path:
    (root / "assets").mkdir(exist_ok=True)
    (root / "snippets").mkdir(exist_ok=True)
    shutil.copy(EXAMPLES / "raccoon-and-fairy" / "assets" / "fairy.png", root / "assets" / "fairy.png")
    shutil.copy(EXAMPLES / "raccoon-and-fairy" / "assets" / "raccoon.mp4", root / "assets" / "raccoon.mp4")
    (root / "snippets" / "style.txt").write_text("Vertical framing, high contrast, {{ grade }}.\n")
    board_file = root / name
    board_file.write_text(board_text(shots), encoding="utf-8")
    return board_file


def timed_loads(board_file: Path, runs: int) -> tuple[float, float, float, list[str]]:
    """(median CPU s, median wall s, median CPU s of template expansion, expanded prompts) of `storyboard.load()`."""
    prompts = [shot.prompt for shot in storyboard.load(board_file).shots]  # warm-up
    expand = templating.expand
    expanding: list[float] = []

    def timed_expand(board: Storyboard, any_cast: bool = False) -> templating.Expansion:
        started = time.process_time()
        try:
            return expand(board, any_cast)
        finally:
            expanding.append(time.process_time() - started)

    cpu, wall = [], []
    templating.expand = timed_expand  # type: ignore[assignment]
    try:
        for _ in range(runs):
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            storyboard.load(board_file)
            cpu.append(time.process_time() - cpu_start)
            wall.append(time.perf_counter() - wall_start)
    finally:
        templating.expand = expand
    return statistics.median(cpu), statistics.median(wall), statistics.median(expanding), prompts


def naive_render(self: templating._Templates, source: str, context: dict[str, Any]) -> str:
    """Before: every prompt (and every description with a brace) compiled from scratch."""
    return self.env.from_string(source).render(context).strip()


NAIVE_COMMAND = (  # `storyboard validate` with naive_render
    "import sys\nfrom storyboard.loading import templating\n"
    "templating._Templates.render = lambda self, source, context: self.env.from_string(source).render(context).strip()\n"
    "from storyboard.cli import main\nsys.exit(main(sys.argv[1:]))\n"
)


def timed_commands(
    command: list[str], runs: int, check: Callable[[subprocess.CompletedProcess[str]], bool]
) -> tuple[float, float]:
    """(median wall s, median child CPU s) of a command."""
    wall, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        wall.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        assert done.returncode == 0 and check(done), done.stdout + done.stderr
    return statistics.median(wall), statistics.median(cpu)


def cli_command() -> list[str]:
    script = Path(sys.executable).parent / "storyboard"
    return [str(script)] if script.exists() else [sys.executable, "-m", "storyboard"]


def heavy_after_validate(board_file: Path) -> list[str]:
    code = (
        "import sys\nfrom storyboard.cli import main\n"
        f"code = main(['validate', {str(board_file)!r}])\n"
        f"print(code, *[name for name in {HEAVY!r} if name in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    words = done.stdout.splitlines()[-1].split() if done.stdout.strip() else []
    assert words and words[0] == "0", done.stdout + done.stderr
    return words[1:]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shots", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        board_file = project(root, args.shots, "board.yaml")
        one_shot = project(root, 1, "one.yaml")
        sources = {line for line in board_file.read_text().splitlines() if line.startswith("    prompt:")}
        plain = sum("{" not in line for line in sources)

        cached = timed_loads(board_file, args.runs)
        original = templating._Templates.render
        templating._Templates.render = naive_render  # type: ignore[method-assign]
        try:
            naive = timed_loads(board_file, args.runs)
        finally:
            templating._Templates.render = original  # type: ignore[method-assign]
        assert cached[3] == naive[3], "cached and naive expansion differ"

        expected = f"ok ({args.shots} shot{'' if args.shots == 1 else 's'})"
        validate = ["validate", str(board_file)]
        command = timed_commands([*cli_command(), *validate], args.runs, lambda done: expected in done.stdout)
        naive_validate = [sys.executable, "-c", NAIVE_COMMAND, *validate]
        naive_command = timed_commands(naive_validate, args.runs, lambda done: expected in done.stdout)
        importing = timed_commands([sys.executable, "-c", "import storyboard.cli"], args.runs, lambda done: True)
        heavy = heavy_after_validate(one_shot)

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.python_implementation()} {platform.python_version()}")
    print(f"{args.shots} shots: {len(sources)} distinct prompt texts, {plain} of them plain text "
          f"({len(sources) - plain} to compile); median of {args.runs} runs\n")
    rows = [
        ("`storyboard.load()` in-process", f"**{cached[0]:.3f} s**", f"{cached[1]:.3f} s", f"{cached[2]:.3f} s"),
        ("`storyboard.load()` in-process, naive: every prompt compiled", *(f"{value:.3f} s" for value in naive[:3])),
        ("`storyboard validate FILE` (a new process: start, imports)", f"**{command[1]:.2f} s**", f"{command[0]:.2f} s", ""),
        ("the same command, naive", f"{naive_command[1]:.2f} s", f"{naive_command[0]:.2f} s", ""),
        ("`python -c 'import storyboard.cli'`", f"{importing[1]:.2f} s", f"{importing[0]:.2f} s", ""),
    ]
    print(f"| validate {args.shots} shots | CPU | wall | of which template expansion, CPU |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\nheavy modules loaded by `storyboard validate` on a 1-shot file: {', '.join(heavy) or 'none'} "
          f"(of {', '.join(HEAVY)})")


if __name__ == "__main__":
    main()
