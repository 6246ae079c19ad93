from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from storyboard.cli import main
from storyboard.emulator import Emulator

KEY = "sk-live-e2e-5f2c9a7d1b3e"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


# The service makes 5, 10 or 15 s clips; tests render 2 s ones, as an account that accepts more would
# (the README's way: a project profile overriding one field of the built-in one).
SHORT_CLIPS = """\
model: alibaba/wan-2-7-r2v
fields:
  duration: {type: integer, minimum: 2, maximum: 15, default: 10}
"""


class Project:
    """A throwaway project folder with a storyboard file and small real assets."""

    def __init__(self, root: Path):
        self.root = root
        (root / "assets").mkdir()
        Image.new("RGB", (64, 48), (200, 40, 40)).save(root / "assets" / "red.png")
        Image.new("RGB", (64, 48), (40, 40, 200)).save(root / "assets" / "blue.png")
        shutil.copy(EXAMPLES / "raccoon-and-fairy" / "assets" / "raccoon.mp4", root / "assets" / "walk.mp4")
        (root / "models").mkdir()
        (root / "models" / "short-clips.yaml").write_text(SHORT_CLIPS)

    def write(self, text: str, name: str = "board.yaml") -> Path:
        (self.root / name).write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return Path(name)  # as a user would type it, from the project folder


def rendered_once(factory: pytest.TempPathFactory, name: str, board: str,
                  prepare: Callable[[Path], object] | None = None) -> Path:
    """A project rendered once on the preview backend (for a module's tests to copy, see `copy_of`)."""
    import storyboard

    root = factory.mktemp(name) / "project"
    root.mkdir()
    Project(root).write(board)
    if prepare is not None:
        prepare(root)
    assert storyboard.render(root / "board.yaml").film is not None
    return root


def copy_of(made: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of a rendered project (clips keep their times, so they still count as rendered), as the current folder."""
    root = tmp_path / "project"
    shutil.copytree(made, root)
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.chdir(tmp_path)
    return Project(tmp_path)


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]):
    """Run the CLI in-process; return (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch):
    """Start an emulator of the service and point the aimlapi backend at it (AIMLAPI_KEY, AIMLAPI_BASE_URL)."""
    running: list[Emulator] = []

    def start(**options) -> Emulator:
        emulator = Emulator(api_key=KEY, latency=options.pop("latency", 0.5), profiles_from=Path.cwd(), **options).start()
        running.append(emulator)
        monkeypatch.setenv("AIMLAPI_KEY", KEY)
        monkeypatch.setenv("AIMLAPI_BASE_URL", emulator.url)
        monkeypatch.setenv("STORYBOARD_LOG_LAG", "1")  # a lost create's row is not waited for minutes
        return emulator

    yield start
    for emulator in running:
        emulator.stop()


def plan_table(out: str) -> dict[str, tuple[str, str]]:
    """The rows of `storyboard plan`'s table: take key -> (status, notes)."""
    lines = out.splitlines()
    top = next(index for index, line in enumerate(lines) if line.startswith("#  shot"))
    header = lines[top]
    rows: dict[str, tuple[str, str]] = {}
    for line in lines[top + 1:]:
        if not line.strip():
            break
        key = line[header.index("shot"):header.index("status")].strip()
        status = line[header.index("status"):header.index("length")].strip()
        rows[key] = (status, line[header.index("notes"):].strip() if len(line) > header.index("notes") else "")
    return rows


def said(text: str) -> str:
    """What a command said, its wrapped lines joined."""
    return " ".join(text.split())
