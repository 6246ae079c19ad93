"""`storyboard init`: a project a newcomer renders at once, offline; never a file overwritten."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from avprobe import probe
from PIL import Image

from storyboard.loading.schema import schema_text

WRITTEN = ["storyboard.yaml", "assets/hero.png", "schemas/storyboard.schema.json", ".gitignore", "README.md"]


@pytest.fixture
def empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_init_makes_a_project_that_validates_and_renders_offline(empty, run_cli):
    code, out, err = run_cli("init", "my-film")
    assert (code, err) == (0, "")
    assert out.splitlines() == [*(f"wrote my-film/{name}" for name in WRITTEN),
                                "next: cd my-film && storyboard render storyboard.yaml"]
    root = empty / "my-film"
    assert 'title: "My film"' in (root / "storyboard.yaml").read_text()  # from the folder's name

    code, out, err = run_cli("validate", "my-film/storyboard.yaml")
    assert (code, out, err) == (0, "my-film/storyboard.yaml: ok (2 shots)\n", "")  # no warning either

    code, out, err = run_cli("render", "my-film/storyboard.yaml")
    assert code == 0, err
    assert out.splitlines()[-1] == "2 generated, 0 reused; film: my-film/renders/film.mp4"
    film = probe(root / "renders" / "film.mp4")
    assert film.duration == pytest.approx(2 * 5.0, abs=0.1)  # two shots of 5 s, joined by a cut
    assert "1280x720" in (film.video or "")


def test_the_scaffold_shows_the_format_with_its_schema_and_a_small_reference(empty, run_cli):
    assert run_cli("init")[0] == 0  # the current folder by default
    board = (empty / "storyboard.yaml").read_text()
    modeline = board.splitlines()[0]
    assert modeline == "# yaml-language-server: $schema=schemas/storyboard.schema.json"
    assert json.loads((empty / "schemas" / "storyboard.schema.json").read_text()) == json.loads(schema_text())
    assert "first_frame: {shot: arrival, at: end}" in board and "# takes: 2" in board
    hero = empty / "assets" / "hero.png"
    assert hero.stat().st_size < 8_000
    with Image.open(hero) as image:
        assert (image.format, image.size) == ("PNG", (256, 256))
    ignored = (empty / ".gitignore").read_text().splitlines()
    assert ".storyboard/" in ignored and "renders/" in ignored
    readme = (empty / "README.md").read_text()
    assert "storyboard render storyboard.yaml" in readme and "--backend aimlapi" in readme
    assert "storyboard review storyboard.yaml" in readme


def test_init_in_the_current_folder_says_the_next_command_without_cd(empty, run_cli):
    code, out, _ = run_cli("init", ".")
    assert code == 0 and out.splitlines()[-1] == "next: storyboard render storyboard.yaml"


def test_init_overwrites_nothing_and_writes_nothing_when_any_file_exists(empty, run_cli):
    (empty / "film").mkdir()
    (empty / "film" / "README.md").write_text("my own notes\n")
    code, out, err = run_cli("init", "film")
    assert code == 2 and out == ""
    assert err == ("error: README.md already exists in film; nothing was written. "
                   "storyboard init never overwrites a file: give it a new folder\n")
    assert sorted(path.name for path in (empty / "film").iterdir()) == ["README.md"]
    assert (empty / "film" / "README.md").read_text() == "my own notes\n"

    (empty / "storyboard.yaml").write_text("storyboard: 1\n")
    (empty / "assets").mkdir()
    (empty / "assets" / "hero.png").write_bytes(b"mine")
    code, _, err = run_cli("init")
    assert code == 2
    assert err.startswith("error: storyboard.yaml and assets/hero.png already exist in the current folder; ")
    assert err.endswith("(storyboard init my-film)\n")
    assert sorted(path.name for path in empty.iterdir()) == ["assets", "film", "storyboard.yaml"]


def test_init_refuses_a_file_for_a_folder(empty, run_cli):
    (empty / "notes.txt").write_text("x")
    code, _, err = run_cli("init", "notes.txt")
    assert code == 2 and "notes.txt is a file, not a folder" in err
