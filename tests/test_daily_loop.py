"""A director's day: render on the preview, pay for the real thing, go back to the preview, review,
export. Nothing paid for is lost and nothing needs a flag remembered."""
from __future__ import annotations

import hashlib
from pathlib import Path

import storyboard

BOARD = """\
storyboard: 1
defaults: {duration: 2, resolution: 720p}
shots:
  - {id: one, prompt: a lamp, seed: 1}
  - {id: two, prompt: a door, seed: 2}
output: {path: out/film.mp4, fps: 12}
"""
PAID = ("render", "board.yaml", "--backend", "aimlapi", "--yes")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_preview_render_never_replaces_a_film_of_paid_clips(project, run_cli, service):
    service(latency=0.2)
    project.write(BOARD)
    code, out, err = run_cli(*PAID)
    assert code == 0, err
    paid_film = project.root / "out" / "film.mp4"
    paid_sha = _sha(paid_film)

    code, out, err = run_cli("render", "board.yaml")
    assert code == 0, err
    preview = project.root / "out" / "film.preview.mp4"
    assert _sha(paid_film) == paid_sha  # the paid film is untouched
    assert preview.is_file()
    assert "out/film.mp4 holds clips of the paid service and is kept; this film of preview clips is " \
           "out/film.preview.mp4" in out + err
    assert "film: out/film.preview.mp4" in out

    # Each backend's review shows its own film; the paid render writes over the paid film only.
    assert storyboard.render("board.yaml").film == preview
    page = storyboard.review("board.yaml").read_text()
    assert "film.preview.mp4" in page
    page = storyboard.review("board.yaml", backend="aimlapi", output="paid.html").read_text()
    assert 'film.mp4"' in page and "film.preview.mp4" not in page


def test_without_a_paid_film_the_preview_writes_the_output_path(project):
    project.write(BOARD)
    assert storyboard.render("board.yaml").film == project.root / "out" / "film.mp4"
    assert not (project.root / "out" / "film.preview.mp4").exists()


def test_commands_without_backend_use_the_last_renders_and_say_so_but_never_pay_by_history(project, run_cli, service):
    emulator = service(latency=0.2)
    project.write(BOARD)
    assert run_cli(*PAID)[0] == 0
    creates = emulator.stats()["creates"]

    code, out, err = run_cli("plan", "board.yaml")
    assert code == 0 and "backend: aimlapi (the backend of this project's last render)" in err
    assert "clips from the aimlapi backend" in out
    code, out, err = run_cli("review", "board.yaml")
    assert code == 0 and "backend: aimlapi (the backend of this project's last render)" in err
    assert "Not rendered yet" not in (project.root / "out" / "review.html").read_text()

    code, out, err = run_cli("render", "board.yaml", "--only", "one")  # nothing named: the free preview
    assert code == 0, err
    assert ("backend: preview (the last render used aimlapi; to pay for this one, name that backend "
            "(--backend, STORYBOARD_BACKEND or render.backend))") in err
    assert emulator.stats()["creates"] == creates


def test_the_file_or_the_environment_names_the_backend_for_every_command(project, run_cli, service, monkeypatch):
    emulator = service(latency=0.2)
    project.write(BOARD.replace("output:", "render: {backend: aimlapi, max_cost: 5}\noutput:"))
    code, _, err = run_cli("plan", "board.yaml")
    assert code == 0 and "backend: aimlapi (render.backend in board.yaml)" in err
    code, _, err = run_cli("render", "board.yaml")
    assert code == 0, err
    assert emulator.stats()["creates"] == 2

    monkeypatch.setenv("STORYBOARD_BACKEND", "preview")
    code, _, err = run_cli("render", "board.yaml")
    assert code == 0 and "backend: preview (STORYBOARD_BACKEND=preview)" in err
    assert emulator.stats()["creates"] == 2
    monkeypatch.setenv("STORYBOARD_BACKEND", "paid")
    code, _, err = run_cli("plan", "board.yaml")
    assert code == 2 and "STORYBOARD_BACKEND: unknown backend 'paid' (available: preview, preview-sync, aimlapi)" in err


def test_the_pay_question_says_how_many_generations_which_and_where(project, run_cli, service):
    emulator = service(latency=0.2)
    project.write(BOARD.replace("shots:", "shots:\n  - {id: zero, prompt: a hall, seed: 3, takes: 2}")
                  .replace("{duration: 2, resolution: 720p}", "{duration: 10, resolution: 1080p}"))
    code, _, err = run_cli("render", "board.yaml", "--backend", "aimlapi")  # no terminal: no question, a refusal
    assert code == 2
    assert (f"error: this render makes 4 new generations (zero#1, zero#2, one, two) on a stand-in at {emulator.url} "
            "(AIMLAPI_BASE_URL; not the real service), estimated at ") in err
    assert "add --yes to confirm, or --max-cost USD to cap it" in err
    assert emulator.stats()["requests"] == 0

    from storyboard.backends.addresses import service_where

    assert service_where("https://api.aimlapi.com/v2") == "the real service at https://api.aimlapi.com/v2"


def test_line_progress_says_each_download_retry_as_it_happens(project, run_cli, service, monkeypatch):
    monkeypatch.setenv("STORYBOARD_RETRY_SCALE", "0.02")
    service(faults="html=1")  # every download answers an HTML page
    project.write("storyboard: 1\nshots: [{id: solo, prompt: a lighthouse, resolution: 720p, duration: 2}]\n")
    code, _, err = run_cli("render", "board.yaml", "--backend", "aimlapi", "--yes")
    assert code == 1
    lines = err.splitlines()
    retries = [index for index, line in enumerate(lines)
               if line.startswith("solo: note: download attempt ") and "; trying again in " in line]
    failed = next(index for index, line in enumerate(lines) if line.startswith("solo: FAILED: "))
    assert len(retries) >= 2 and max(retries) < failed
    assert "returned an HTML page, not a video" in lines[retries[0]]


def test_the_live_table_lists_every_take_from_the_start_and_fits_80_columns():
    import io

    from rich.console import Console

    from storyboard.cli.progress import LiveTable
    from storyboard.events import Event

    screen = io.StringIO()
    table = LiveTable(Console(file=screen, width=80, force_terminal=True, color_system=None))
    table(Event("a-shot-with-a-rather-long-identifier", "queued"))
    table(Event("stall", "queued"))
    table(Event("sneak", "queued", "waits for a frame of stall"))
    table(Event("a-shot-with-a-rather-long-identifier", "cached", "in the clip store"))
    table(Event("stall", "generating", "aimlapi", attempt=2))
    table(Event("stall", "submitted", "generation " + "x" * 90, total_usd=0.65))
    film = "renders/a-film-with-a-long-name/for-the-festival/final-cut-2026-12-06.mp4 (subtitles: final.srt, final.vtt)"
    table(Event(None, "film", film))
    table.close()
    shown = screen.getvalue().split("\x1b[2K")[-1]  # the last drawing of the table
    rows = [line.rstrip() for line in shown.splitlines() if line.strip()]
    assert all(len(line) <= 80 for line in rows), rows
    assert rows[0].split()[:4] == ["shot", "state", "time", "cost"]
    names = [row.split()[0] for row in rows[1:4]]
    assert names[1:] == ["stall", "sneak"] and names[0].startswith("a-shot-with")
    assert "queued" in rows[3] and "waits for a frame of stall" in rows[3]
    assert " s " in rows[2] + " "  # the time column kept
    assert film in " ".join(" ".join(rows).split()).replace(" / ", "/")  # the film's line is whole, wrapped not cut
