"""A long fuzzing run of the load pipeline (issue #9), with the strategies of
tests/test_load_any_input.py and the real limits (2 s a prompt): every outcome must be a
Storyboard or an InvalidStoryboard whose problems all have a file, a line and a column.

    python stress/fuzz.py --examples 5000 [--seed N] [--kind generated|templates|mutated|all] [--cli]

Prints how many examples ended each way and, for each failure (another exception, a problem
without a position, a MemoryError, a hang), the exception and the input that caused it; exits 1
if there was any. Memory is capped (--memory-mb, default 4096) so a runaway allocation is a
failure here, not a frozen machine.
"""
from __future__ import annotations

import argparse
import collections
import re
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import test_load_any_input as cases  # noqa: E402
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=None, help="repeat a run (default: a new one, printed)")
    parser.add_argument("--kind", choices=["generated", "templates", "mutated", "all"], default="all")
    parser.add_argument("--cli", action="store_true", help="run `storyboard validate` instead of load()")
    parser.add_argument("--memory-mb", type=int, default=4096)
    options = parser.parse_args()
    run_seed = options.seed if options.seed is not None else int(time.time())
    _cap_memory(options.memory_mb)

    strategies = {"generated": cases.generated_storyboards(), "mutated": cases.mutated_storyboards(),
                  "templates": cases.generated_storyboards(wild_templates_only=True)}
    strategy = strategies[options.kind] if options.kind != "all" else st.one_of(*strategies.values())
    folder = cases.make_project(Path(tempfile.mkdtemp(prefix="storyboard-fuzz-")))
    outcomes: collections.Counter[str] = collections.Counter()
    kinds: collections.Counter[str] = collections.Counter()  # what the problems were about
    failures: list[tuple[str, bytes]] = []
    slowest = (0.0, b"")
    started = time.monotonic()

    @seed(run_seed)
    @settings(max_examples=options.examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(raw=strategy)
    def run(raw: bytes) -> None:
        nonlocal slowest
        file = cases.write(folder, raw)
        began = time.monotonic()
        messages: list[str] = []
        try:
            outcome = f"exit {cases.check_validate(file)}" if options.cli else cases.check_load(file, messages)
            kinds.update({_kind(message) for message in messages})
        except BaseException as error:
            if isinstance(error, KeyboardInterrupt):
                raise
            outcome = f"FAILED: {type(error).__name__}"
            failures.append(("".join(traceback.format_exception(error)), raw))
        outcomes[outcome] += 1
        took = time.monotonic() - began
        if took > slowest[0]:
            slowest = (took, raw)

    run()
    print(f"seed {run_seed}: {sum(outcomes.values())} examples in {time.monotonic() - started:.0f} s")
    for outcome, count in sorted(outcomes.items()):
        print(f"  {outcome}: {count}")
    print(f"  slowest: {slowest[0]:.2f} s for {slowest[1][:300]!r}")
    if kinds:
        print("examples with a problem of each kind: " + ", ".join(f"{kind} {count}" for kind, count in kinds.most_common()))
    for number, (trace, raw) in enumerate(failures, 1):
        print(f"\n--- failure {number}: input ({len(raw)} bytes) {raw[:2000]!r}\n{trace}")
    return 1 if failures else 0


KINDS = [("YAML", "invalid YAML"), ("file", "UTF-8"), ("time", "took longer|not expanded"),
         ("limits", "too long|too large|nested more|expands to|alias|more than"),
         ("template", "template|undefined|include|cast member|not allowed"),
         ("schema", "must be|must not be empty|needs a prompt|not valid|unknown field|missing|not one of|should|minimum|"
                    "maximum|format version"),
         ("files", "does not exist|not a file|NUL|cannot be read|is an? |no sound"), ("output", "output.path"),
         ("model", "model|profile|out of range|not offered|takes at most"), ("shots", "first_frame|duplicate|trim|transition")]


def _kind(message: str) -> str:
    return next((name for name, pattern in KINDS if re.search(pattern, message)), "other")


def _cap_memory(megabytes: int) -> None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return
    limit = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


if __name__ == "__main__":
    sys.exit(main())
