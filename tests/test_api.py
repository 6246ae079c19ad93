"""The Python API as a user scripts it: one front door (`storyboard.load/plan/render/review/export`),
each taking a file or a loaded storyboard, whatever was imported before; errors in library words."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

import storyboard

ROOT = Path(__file__).resolve().parent.parent
BOARD = """\
storyboard: 1
title: API
defaults: {duration: 2, resolution: 720p}
shots:
  - {id: one, prompt: 'a red door {{ shot.id }}', seed: 1}
  - {id: two, prompt: 'a blue door', seed: 2, transition: {type: crossfade, duration: 0.5}}
output: {path: out/film.mp4, fps: 12}
"""


def test_every_public_function_works_after_the_command_line_was_imported(tmp_path):
    """The command line imports the stages (reviewing, exporting): the front door's names stay functions."""
    (tmp_path / "board.yaml").write_text(BOARD)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "short-clips.yaml").write_text(
        "model: alibaba/wan-2-7-r2v\nfields:\n  duration: {type: integer, minimum: 2, maximum: 15, default: 10}\n")
    script = """
import storyboard.cli, storyboard.exporting, storyboard.reviewing, storyboard.loading, storyboard.planning
import storyboard
names = ["load", "plan", "render", "render_async", "review", "export"]
print([name for name in names if not callable(getattr(storyboard, name))])
board = storyboard.load("board.yaml")
print(storyboard.plan("board.yaml").shot("two").status, storyboard.plan(board).shot("one").status)
result = storyboard.render("board.yaml")
print(result.film.name, result.generated)
print(storyboard.review(board).name, storyboard.export("board.yaml", "cut.otio").frames)
print(storyboard.plan(board).shot("one").status)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[]", "missing missing", "film.mp4 ['one', 'two']", "review.html 42", "cached"]


def test_every_type_the_api_returns_or_raises_is_exported():
    for name in storyboard.__all__:
        assert getattr(storyboard, name) is not None, name
    assert storyboard.Exported.__name__ == "Exported" and storyboard.ClipsMissing.__name__ == "ClipsMissing"
    assert issubclass(storyboard.ClipsMissing, storyboard.StoryboardError)
    assert {"Storyboard", "Shot", "Plan", "ShotPlan", "Change", "RenderResult", "Event", "Exported"} <= set(storyboard.__all__)
    assert (ROOT / "storyboard" / "py.typed").is_file()


def test_a_plan_asked_for_a_shot_it_does_not_have_names_the_shots_it_has(project):
    project.write(BOARD)
    the_plan = storyboard.plan("board.yaml")
    with pytest.raises(KeyError, match=r"no shot 'nope' in board.yaml \(its shots: one, two\)"):
        the_plan.shot("nope")


def test_render_works_inside_a_running_event_loop_and_as_an_awaitable(project):
    """As in a Jupyter notebook, where a loop is always running."""
    project.write(BOARD)

    async def notebook() -> tuple[storyboard.RenderResult, storyboard.RenderResult]:
        first = storyboard.render("board.yaml")  # the blocking call, from inside the loop
        second = await storyboard.render_async("board.yaml")
        return first, second

    first, second = asyncio.run(notebook())
    assert first.generated == ["one", "two"] and first.film is not None and first.film.is_file()
    assert second.generated == [] and second.reused == ["one", "two"]


def test_library_errors_name_the_argument_and_the_command_line_its_flag(project, run_cli):
    project.write(BOARD)
    with pytest.raises(storyboard.UsageError) as raised:
        storyboard.render("board.yaml", only=["nope"])
    assert str(raised.value) == "`only`: no shot 'nope' in board.yaml" and raised.value.option == "only"
    assert "--" not in str(raised.value)
    with pytest.raises(storyboard.UsageError, match=r"^`output` 'board\.yaml' is the storyboard"):
        storyboard.review("board.yaml", output="board.yaml")
    code, _, err = run_cli("render", "board.yaml", "--only", "nope")
    assert (code, err) == (2, "error: --only: no shot 'nope' in board.yaml\n")
    code, _, err = run_cli("review", "board.yaml", "-o", "board.yaml")
    assert code == 2 and err.startswith("error: -o 'board.yaml' is the storyboard")


def test_a_bug_in_assembly_is_not_disguised_as_a_bad_clip(project, monkeypatch):
    """Only what ffmpeg, PyAV and the file system refuse becomes an AssemblyError; our own bugs stay bugs."""
    project.write(BOARD)
    storyboard.render("board.yaml", only=["one", "two"])

    def bug(*args: object, **kwargs: object) -> None:
        raise KeyError("a bug of ours")

    monkeypatch.setattr("storyboard.assembling.encode_segments", bug)
    (project.root / "out" / "film.mp4").unlink()
    with pytest.raises(KeyError, match="a bug of ours"):
        storyboard.render("board.yaml")
