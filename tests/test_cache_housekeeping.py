"""`storyboard cache status` and `storyboard cache gc` on the local store: what nothing references goes,
oldest first; what the storyboards need, and paid clips nothing else holds, stay."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import copy_of, rendered_once

BOARD = """
storyboard: 1
defaults: {resolution: 720p, duration: 2}
shots:
  - {id: one, prompt: a lighthouse at dusk, seed: 1}
  - {id: two, prompt: waves on rocks, seed: 2}
output: {path: out/film.mp4}
"""


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return rendered_once(tmp_path_factory, "housekeeping", BOARD)


@pytest.fixture
def edited(made: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli) -> Path:
    """The project after an edit of shot `two` and a render: the old clip of `two` is referenced by nothing."""
    root = copy_of(made, tmp_path, monkeypatch)
    (root / "board.yaml").write_text(BOARD.replace("waves on rocks", "waves on black rocks"))
    assert run_cli("render", "board.yaml")[0] == 0
    return root


def clips(root: Path) -> set[str]:
    return {path.name for path in (root / ".storyboard" / "clips").rglob("*.mp4")}


def test_status_counts_what_the_storyboards_no_longer_reference(edited, run_cli):
    code, out, _ = run_cli("cache", "status", "--json")

    assert code == 0
    report = json.loads(out)
    assert report["storyboards"] == ["board.yaml"]
    assert (report["local"]["clips"]["files"], report["local"]["clips"]["unreferenced_files"]) == (3, 1)
    assert report["shared"] == []


def test_gc_dry_run_removes_nothing_and_gc_removes_only_the_unreferenced_clip(edited, run_cli):
    before = clips(edited)

    code, out, _ = run_cli("cache", "gc", "--dry-run")

    assert code == 0 and "would remove 1 file" in out
    assert clips(edited) == before

    code, out, _ = run_cli("cache", "gc")

    assert code == 0 and "removed 1 file" in out
    assert len(clips(edited)) == 2
    code, out, err = run_cli("render", "board.yaml")
    assert code == 0, out + err
    assert "0 generated, 2 reused" in out  # everything the film needs stayed


def test_derived_files_beyond_the_size_kept_go_oldest_first(edited, run_cli):
    segments = edited / ".storyboard" / "segments"
    segments.mkdir()
    for age in range(5):  # segment-0 is the newest
        path = segments / f"segment-{age}.mp4"
        path.write_bytes(bytes(1000))
        os.utime(path, (1_700_000_000 - age * 3600, 1_700_000_000 - age * 3600))

    code, out, _ = run_cli("cache", "gc", "--keep-derived", "2KB", "-v")

    assert code == 0
    assert sorted(path.name for path in segments.iterdir()) == ["segment-0.mp4", "segment-1.mp4"]
    listed = [line.split("/")[-1].split()[0] for line in out.splitlines() if "segments/" in line]
    assert listed == ["segment-4.mp4", "segment-3.mp4", "segment-2.mp4"]  # oldest first


def test_a_paid_clip_no_shared_cache_holds_is_kept_unless_asked(edited, run_cli):
    paid = edited / ".storyboard" / "clips" / "aimlapi" / f"{'ab' * 32}.mp4"
    paid.parent.mkdir(parents=True)
    paid.write_bytes(bytes(5000))

    code, out, _ = run_cli("cache", "gc")

    assert code == 0 and paid.exists()
    assert "kept 1 unreferenced paid clip" in out and "--unshared" in out

    code, out, _ = run_cli("cache", "gc", "--unshared")

    assert code == 0 and not paid.exists()


def test_gc_refuses_when_a_storyboard_of_the_folder_cannot_be_read(edited, run_cli):
    (edited / "other.yaml").write_text("storyboard: 1\nshots: [{id: a, prompt: '{{ oops'}]\n")
    before = clips(edited)

    code, _, err = run_cli("cache", "gc")

    assert code == 2 and "other.yaml" in err and "fix it first" in err
    assert clips(edited) == before


def test_a_bad_size_is_a_usage_error(edited, run_cli):
    code, _, err = run_cli("cache", "gc", "--keep-derived", "lots")
    assert code == 2 and "is not a size" in err


@pytest.mark.parametrize("name, text", [
    ("Old.YAML", BOARD),
    ("bom.yaml", "\ufeff" + BOARD.lstrip()),
    ("old.json", json.dumps({"storyboard": 1, "defaults": {"resolution": "720p", "duration": 2},
                             "shots": [{"id": "one", "prompt": "a lighthouse at dusk", "seed": 1},
                                       {"id": "two", "prompt": "waves on rocks", "seed": 2}],
                             "output": {"path": "out/old.mp4"}}, indent=2)),
    ("flat.json", json.dumps({"output": {"path": "out/old.mp4"}, "storyboard": 1,
                              "defaults": {"resolution": "720p", "duration": 2},
                              "shots": [{"id": "two", "prompt": "waves on rocks", "seed": 2}]})),
], ids=["upper-case-suffix", "byte-order-mark", "json", "json-one-line"])
def test_gc_finds_every_storyboard_the_loader_reads(edited, run_cli, name, text):
    """A storyboard gc does not see would have its clips deleted: it is found however it is saved."""
    (edited / name).write_text(text, encoding="utf-8")
    assert run_cli("validate", name)[0] == 0
    before = clips(edited)

    code, out, _ = run_cli("cache", "gc", "--unshared")

    assert code == 0 and "removed 0 files" in out
    assert clips(edited) == before


def test_gc_lists_the_paid_clips_it_removes_before_removing_them(edited, run_cli):
    paid = edited / ".storyboard" / "clips" / "aimlapi" / f"{'cd' * 32}.mp4"
    paid.parent.mkdir(parents=True)
    paid.write_bytes(bytes(5000))

    code, out, _ = run_cli("cache", "gc", "--unshared", "--dry-run")
    assert code == 0 and paid.exists()
    lines = out.splitlines()
    assert lines[0] == "would remove 1 paid clip(s) no shared cache holds (getting them again would be paid):"
    assert lines[1].split() == [f".storyboard/clips/aimlapi/{'cd' * 32}.mp4", "4.9", "KB"] or paid.name in lines[1]

    code, out, _ = run_cli("cache", "gc", "--unshared")
    assert code == 0 and not paid.exists()
    assert out.index(paid.name) < out.index("local store")
