"""`storyboard render --watch`: a render after every change of a file the storyboard reads, only of what
changed; an invalid save shown and waited out; a paid backend only with a budget; Ctrl-C stops it."""
from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from storyboard.cli.watch import Budget, inputs, watch
from storyboard.loading import load

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 180  # seconds for one render to show up: generous, the machine is small and busy

BOARD = """\
storyboard: 1
defaults: {duration: 2, resolution: 720p}
cast:
  fox: {image: assets/red.png, description: a red fox}
shots:
  - id: a
    prompt: "{{ cast.fox }} in the snow"
    seed: 1
  - id: b
    prompt: An empty road at dusk
    seed: 2
"""


class Watching:
    """`storyboard render board.yaml --watch` in a subprocess, its output read line by line."""

    def __init__(self, root: Path):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "storyboard", "render", "board.yaml", "--watch"], cwd=root, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8",
            # A test run in the background may inherit an ignored SIGINT; the user's terminal never does.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def until(self, pattern: str) -> list[str]:
        """The lines up to the first that matches `pattern`, that one included."""
        got: list[str] = []
        while True:
            try:
                line = self.lines.get(timeout=TIMEOUT)
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} in {TIMEOUT} s; output:\n" + "\n".join(self.seen)) \
                    from None
            if line is None:
                raise AssertionError(f"exited ({self.process.wait()}) before {pattern!r}; output:\n" + "\n".join(self.seen))
            got.append(line)
            self.seen.append(line)
            if re.search(pattern, line):
                return got

    def render(self) -> list[str]:
        """The lines of one render, up to the `watching …` line that follows it."""
        lines = self.until(r"^\d+ generated, \d+ reused")
        return lines + self.until(r"^watching \d+ files… \(Ctrl-C to stop\)$")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def test_watch_renders_what_changed_waits_out_an_invalid_save_and_stops_on_ctrl_c(project):
    board = project.root / "board.yaml"
    board.write_text(BOARD)
    watching = Watching(project.root)
    try:
        first = watching.render()
        assert first[0] == "rendering board.yaml"
        assert "2 generated, 0 reused; film: renders/board.mp4" in first
        assert first[-1] == "watching 3 files… (Ctrl-C to stop)"  # the storyboard, the fox, the profile in models/

        board.write_text(BOARD.replace("An empty road at dusk", "An empty road at night"))
        edited = watching.render()
        assert edited[0] == "board.yaml changed"
        assert "1 generated, 1 reused; film: renders/board.mp4" in edited
        assert "b: done" in " ".join(edited) and "a: reused cached clip" in edited

        board.write_text(BOARD.replace("seed: 2", "seed: -4"))
        invalid = watching.until(r"^watching ")
        assert invalid == ["board.yaml changed", "board.yaml:11:11: shot 'b': seed must be at least 0, not -4",
                           "watching 3 files… (Ctrl-C to stop)"]
        assert watching.process.poll() is None  # still watching

        board.write_text(BOARD.replace("seed: 2", "seed: 3"))
        fixed = watching.render()
        assert fixed[0] == "board.yaml changed" and "1 generated, 1 reused; film: renders/board.mp4" in fixed

        Image.new("RGB", (64, 48), (230, 120, 20)).save(project.root / "assets" / "red.png")  # the fox, repainted
        repainted = watching.render()
        assert repainted[0] == "assets/red.png changed"
        assert "1 generated, 1 reused; film: renders/board.mp4" in repainted
        assert "a: reused cached clip" not in repainted and "b: reused cached clip" in repainted

        watching.process.send_signal(signal.SIGINT)
        assert watching.process.wait(timeout=60) == 130  # the CLI's code for an interrupted command
        assert watching.until("interrupted")
    finally:
        watching.stop()


def test_watch_on_the_paid_service_needs_a_budget(project, run_cli):
    project.write(BOARD)
    code, out, err = run_cli("render", "board.yaml", "--watch", "--backend", "aimlapi")
    assert code == 2 and out == ""
    assert "--watch with --backend aimlapi" in err and "add --max-cost USD" in err
    assert not (project.root / ".storyboard").exists()  # nothing was done


def test_the_watched_files_are_every_local_file_the_storyboard_reads(project):
    (project.root / "snippets").mkdir()
    (project.root / "snippets" / "look.txt").write_text("golden hour")
    project.write("""
        storyboard: 1
        defaults: {duration: 2}
        cast:
          fox: {image: assets/red.png, description: a fox}
          owl: {image: https://example.com/owl.png, description: an owl}
        shots:
          - id: a
            prompt: "{{ cast.fox }}, {% include 'snippets/look.txt' %}"
            first_frame_image: assets/blue.png
          - id: b
            clip: assets/walk.mp4
    """)
    names = [path.relative_to(project.root).as_posix() for path in inputs(load("board.yaml"))]
    assert names == ["board.yaml", "assets/red.png", "assets/blue.png", "assets/walk.mp4", "snippets/look.txt",
                     "models/short-clips.yaml"]


def _script(steps: list[Callable[[], object]]) -> tuple[list[str], Callable[[str], None], Callable[[], bool]]:
    """What the loop says, a `say` that takes the next step each time the loop starts watching, and a
    `stop` true once the steps are done (or, should the loop miss a change, after TIMEOUT)."""
    said: list[str] = []
    done = threading.Event()
    deadline = time.monotonic() + TIMEOUT

    def say(text: str) -> None:
        said.append(text)
        if text.startswith("watching"):
            if steps:
                steps.pop(0)()
            else:
                done.set()

    return said, say, lambda: done.is_set() or time.monotonic() > deadline


def test_a_snippet_a_new_profile_and_a_newly_referenced_file_are_watched(project):
    root = project.root
    (root / "snippets").mkdir()
    (root / "snippets" / "look.txt").write_text("golden hour")
    board = project.write("""
        storyboard: 1
        defaults: {duration: 2}
        shots:
          - {id: a, prompt: "a fox, {% include 'snippets/look.txt' %}", seed: 1}
    """)
    def notes_and_a_new_image() -> None:
        (root / "notes.txt").write_text("a file the storyboard does not read")
        Image.new("RGB", (32, 32), (90, 0, 0)).save(root / "assets" / "new.png")

    steps: list[Callable[[], object]] = [
        lambda: (root / "snippets" / "look.txt").write_text("blue hour"),
        lambda: (root / "models" / "prices.yaml").write_text(
            "model: alibaba/wan-2-7-r2v\npricing:\n  usd_per_second: {720p: 0.5, 1080p: 0.7}\n"),
        lambda: (root / "board.yaml").write_text((root / "board.yaml").read_text().replace(
            "seed: 1}", "seed: 1, image_urls: [assets/new.png]}")),  # a file that does not exist yet
        lambda: Image.new("RGB", (32, 32), (0, 90, 0)).save(root / "assets" / "new.png"),
        notes_and_a_new_image,
    ]
    said, say, stop = _script(steps)
    prompts: list[str] = []
    problems: list[str] = []
    watch(board, lambda loaded: prompts.append(loaded.shots[0].prompt), say=say, debounce=0.05, stop=stop,
          show_problems=lambda found: problems.extend(map(str, found)))
    assert prompts == ["a fox, golden hour", "a fox, blue hour", "a fox, blue hour", "a fox, blue hour",
                       "a fox, blue hour"]
    assert problems == ["board.yaml:4:87: reference image 'assets/new.png' does not exist"]
    assert [line for line in said if not line.startswith("watching")] == [
        "rendering board.yaml", "snippets/look.txt changed", "models/prices.yaml added",
        "board.yaml changed", "assets/new.png added", "assets/new.png changed"]  # not notes.txt: not read
    assert said[-1] == "watching 5 files… (Ctrl-C to stop)"  # the new image is watched


def test_a_session_budget_counts_what_every_render_spent():
    from storyboard.events import Event

    budget = Budget(2.0)
    seen: list[Event] = []
    first_render = budget.track(seen.append)
    for total in (0.65, 1.30, None):  # what this render has spent so far, as it goes
        first_render(Event("a", "submitted", total_usd=total))
    assert budget.spent == pytest.approx(1.30) and budget.left() == pytest.approx(0.70)
    assert str(budget) == "1.30 of 2.00 USD spent"
    budget.track(seen.append)(Event("b", "submitted", total_usd=0.65))  # the next render counts from zero
    assert budget.left() == pytest.approx(0.05) and len(seen) == 4


LOST = """\
storyboard: 1
defaults: {duration: 2, resolution: 720p}
shots:
  - {id: a, prompt: "a fox, save N", seed: 1}
  - {id: b, prompt: "an empty road, save N", seed: 2}
"""


def test_a_session_budget_counts_creates_whose_answer_was_lost(project, service):
    """As `render --watch --max-cost 1` does, a render per save: every create is billed but its answer is
    lost, so each counts at its estimate, and the session stops creating once that reaches the budget."""
    from storyboard import render
    from storyboard.errors import StoryboardError
    from storyboard.events import Event

    emulator = service(latency=0.2, faults="lost=1")
    emulator.usage.outage = 403  # the usage log cannot tell what became of the lost creates
    budget = Budget(1.0)
    seen: list[Event] = []
    for save in range(4):  # each save changes both shots: new requests to pay for
        board = project.write(LOST.replace("save N", f"save {save}"))
        with pytest.raises(StoryboardError):
            render(board, backend="aimlapi", max_cost=budget.left(), keep_going=True, on_event=budget.track(seen.append))
    assert emulator.stats()["creates"] == 2 and emulator.stats()["usd_spent"] <= budget.limit
    assert budget.spent == pytest.approx(0.52) and budget.unknown == pytest.approx(0.52)
    assert str(budget) == "0.52 of 1.00 USD spent (0.52 USD of it by creates whose answer was lost, at their estimate)"
    assert any(event.state == "note" and "outcome is unknown: about 0.26 USD counted" in event.message for event in seen)


def test_a_failed_render_is_shown_and_watching_goes_on(project):
    from storyboard.errors import RenderError

    board = project.write("storyboard: 1\ndefaults: {duration: 2}\nshots:\n  - {id: a, prompt: a fox, seed: 1}\n")
    said, say, stop = _script([lambda: (project.root / "board.yaml").write_text(
        (project.root / "board.yaml").read_text().replace("a fox", "a wolf"))])
    prompts: list[str] = []

    def render_once(loaded) -> None:
        prompts.append(loaded.shots[0].prompt)
        if len(prompts) == 1:
            raise RenderError("shot 'a' failed: the service said no")

    watch(board, render_once, say=say, show_problems=lambda found: None, debounce=0.05, stop=stop)
    assert prompts == ["a fox", "a wolf"]
    assert said == ["rendering board.yaml", "error: shot 'a' failed: the service said no", "watching 2 files… (Ctrl-C to stop)",
                    "board.yaml changed", "watching 2 files… (Ctrl-C to stop)"]
