"""The durable side of rendering, against the emulator over real HTTP: crash-safe resume,
the lock file, consent before paying twice, budgets, several renders at once."""
from __future__ import annotations

import errno
import json
import os
import shutil
import signal
from pathlib import Path

import pytest
import yaml
from avprobe import decode_errors
from conftest import KEY, plan_table, said
from processes import Render, killed_inside_the_create

from storyboard.backends.addresses import service_name
from storyboard.backends.aimlapi import SCALE_VARIABLE

FOUR_SHOTS = """
storyboard: 1
defaults: {resolution: 720p, duration: 2}
shots:
  - {id: one, prompt: a lighthouse at dusk, seed: 1}
  - {id: two, prompt: waves on rocks, seed: 2}
  - {id: three, prompt: a gull takes off, seed: 3}
  - {id: four, prompt: the lamp turns on, seed: 4}
output: {path: out/film.mp4}
"""
PAID = ("render", "board.yaml", "--backend", "aimlapi", "--yes")


def test_a_render_killed_mid_generation_resumes_by_polling_not_paying(project, run_cli, service):
    emulator = service(latency=4)
    project.write(FOUR_SHOTS)
    render = Render(project.root, *PAID)
    render.wait_for(": submitted: generation", count=4)
    render.process.kill()
    render.finish()
    assert emulator.stats()["creates"] == 4

    code, out, _ = run_cli("plan", "board.yaml", "--backend", "aimlapi")
    assert [status for status, _ in plan_table(out).values()] == ["resume"] * 4
    assert "0 of 4 generated shots to make with the aimlapi backend" in out

    code, out, err = run_cli(*PAID)
    assert code == 0, out + err
    assert out.count("resuming generation") == 4
    assert emulator.stats()["creates"] == 4
    assert decode_errors(project.root / "out" / "film.mp4") == ""


def test_a_create_whose_answer_never_came_needs_consent_to_be_sent_again(project, run_cli, service):
    emulator = service(latency=1, faults="slow=1")  # every answer is late: the kill lands while the create is on the wire
    emulator.usage.outage = 403  # the service's usage log cannot tell what became of it
    project.write("storyboard: 1\nshots: [{id: solo, prompt: a lighthouse, resolution: 720p, duration: 2}]\n")
    killed_inside_the_create(project.root, emulator, *PAID)
    assert emulator.stats()["creates"] == 1

    code, out, _ = run_cli("plan", "board.yaml", "--backend", "aimlapi")
    assert plan_table(out)["solo"][0] == "unknown"
    code, out, err = run_cli(*PAID)
    assert code == 1
    assert "solo: FAILED: an earlier create may have reached the service" in err and "--resubmit" in err
    assert emulator.stats()["creates"] == 1  # nothing sent without consent

    code, out, err = run_cli(*PAID, "--resubmit")
    assert code == 0, out + err
    # The resubmission carries the key the lost create was sent with: a service that honours it
    # (the emulator does) answers with the generation already made, and bills nothing more.
    assert emulator.stats()["creates"] == 1 and emulator.stats()["idempotent_replays"] == 1


def test_ctrl_c_stops_submitting_and_the_next_render_resumes(project, run_cli, service):
    emulator = service(latency=5)
    project.write(FOUR_SHOTS)
    render = Render(project.root, *PAID)
    render.wait_for(": submitted: generation", count=4)
    render.process.send_signal(signal.SIGINT)
    code, output = render.finish()
    assert code == 130, output
    assert "interrupted" in output and "Traceback" not in output
    assert not (project.root / "out").exists()

    code, out, err = run_cli(*PAID)
    assert code == 0, out + err
    assert out.count("resuming generation") == 4
    assert emulator.stats()["creates"] == 4


def test_the_lock_file_lets_a_fresh_clone_download_instead_of_paying(project, run_cli, service, monkeypatch):
    monkeypatch.setenv(SCALE_VARIABLE, "0.05")  # expired URLs are retried, then asked for again: not in real seconds
    emulator = service()
    project.write(FOUR_SHOTS)
    assert run_cli(*PAID)[0] == 0
    lock_text = (project.root / "storyboard.lock").read_text()
    assert KEY not in lock_text
    entries = yaml.safe_load(lock_text)["board.yaml"]["shots"]
    assert list(entries) == ["four", "one", "three", "two"]
    plan = json.loads(run_cli("plan", "board.yaml", "--json", "--backend", "aimlapi")[1])
    [one] = entries["one"]
    assert one["request"] == plan["shots"][0]["hash"] and one["film"] is True
    name = service_name(emulator.url)  # the emulator's clips are kept apart from the real service's
    assert name.startswith("aimlapi@127.0.0.1-") and plan["backend"] == name
    assert (one["backend"], one["model"], one["seed"], one["usd"]) == (name, "alibaba/wan-2-7-r2v", 1, 0.26)
    assert one["video_url"].startswith(emulator.origin) and one["generation"]

    # A teammate clones the project: the lock file, no clip store, no film.
    shutil.rmtree(project.root / ".storyboard")
    shutil.rmtree(project.root / "out")
    before = emulator.stats()
    code, out, err = run_cli(*PAID)
    assert code == 0, out + err
    after = emulator.stats()
    assert after["creates"] == before["creates"] and after["downloads"] == before["downloads"] + 4
    assert out.count("done (generation") == 4 and "0 generated, 4 reused" in out
    clip = project.root / ".storyboard" / "clips" / name / f"{one['request']}.mp4"
    from storyboard.files import file_sha256

    assert file_sha256(clip) == one["clip_sha256"]
    assert (project.root / "storyboard.lock").read_text() == lock_text

    # When the recorded clips can no longer be fetched, paying again needs consent.
    shutil.rmtree(project.root / ".storyboard")
    emulator.set_faults("expired=1")
    code, out, err = run_cli(*PAID, "--keep-going")
    assert code == 1
    assert err.count("FAILED: its clip was paid for but cannot be fetched again") == 4 and "--resubmit one" in err
    assert emulator.stats()["creates"] == before["creates"]

    # Consent to pay again for a paid clip is given shot by shot: the bare flag is not enough.
    code, out, err = run_cli(*PAID, "--keep-going", "--resubmit")
    assert code == 1 and err.count("FAILED: its clip was paid for") == 4
    assert emulator.stats()["creates"] == before["creates"]
    code, out, err = run_cli(*PAID, "--keep-going", "--resubmit", "one")
    assert code == 1 and err.count("FAILED: its clip was paid for") == 3 and "one: FAILED: its clip" not in err
    assert emulator.stats()["creates"] == before["creates"] + 1  # only the shot named (its new clip expires too)
    assert run_cli(*PAID, "--resubmit", "nine")[0] == 2


def test_a_damaged_clip_is_detected_and_downloaded_again(project, run_cli, service):
    emulator = service()
    project.write(FOUR_SHOTS)
    assert run_cli(*PAID)[0] == 0
    plan = json.loads(run_cli("plan", "board.yaml", "--json", "--backend", "aimlapi")[1])
    clip = project.root / ".storyboard" / "clips" / service_name(emulator.url) / f"{plan['shots'][1]['hash']}.mp4"
    data = clip.read_bytes()
    clip.write_bytes(data[: len(data) // 2])
    before = emulator.stats()
    code, out, err = run_cli(*PAID)
    assert code == 0, out + err
    assert "two: note: the stored clip is damaged" in err
    assert emulator.stats()["creates"] == before["creates"]
    assert emulator.stats()["downloads"] == before["downloads"] + 1
    assert clip.read_bytes() == data


def test_two_renders_of_one_project_at_once_generate_each_request_once(project, service):
    emulator = service(latency=2)
    project.write(FOUR_SHOTS)
    first = Render(project.root, *PAID)
    second = Render(project.root, *PAID)
    (code_a, out_a), (code_b, out_b) = first.finish(), second.finish()
    assert (code_a, code_b) == (0, 0), out_a + out_b
    assert emulator.stats()["creates"] == 4
    assert "waiting for another render of this project" in out_a + out_b
    assert "0 generated, 4 reused" in out_a + out_b


def test_budget_refuses_to_start_above_max_cost_before_any_request(project, run_cli, service):
    emulator = service()
    project.write(FOUR_SHOTS)
    code, _, err = run_cli("render", "board.yaml", "--backend", "aimlapi", "--max-cost", "0.5")
    assert code == 2
    assert "estimated at 1.04 USD for 4 new generations, over the budget of 0.50 USD" in err
    project.write(FOUR_SHOTS + "render: {max_cost: 0.5}\n")
    code, _, err = run_cli(*PAID)
    assert code == 2 and "over the budget of 0.50 USD" in err
    project.write(FOUR_SHOTS)
    code, _, err = run_cli("render", "board.yaml", "--backend", "aimlapi")  # no terminal, no --yes
    assert code == 2 and "add --yes to confirm" in err
    assert emulator.stats()["requests"] == 0


def test_a_small_render_needs_no_confirmation(project, run_cli, service):
    service()
    project.write("storyboard: 1\nshots: [{id: solo, prompt: a lighthouse, resolution: 720p, duration: 2}]\n")
    code, out, err = run_cli("render", "board.yaml", "--backend", "aimlapi")
    assert code == 0, out + err
    assert "0.26 USD spent" in out


def test_submitting_stops_when_the_actual_spend_reaches_the_budget(project, run_cli, service):
    emulator = service()
    # Local prices lower than what the service charges (0.13 USD/s at 720p): the estimate passes, the spend does not.
    (project.root / "models").mkdir(exist_ok=True)
    (project.root / "models" / "cheap.yaml").write_text(
        "model: alibaba/wan-2-7-r2v\npricing:\n  usd_per_second: {720p: 0.05, 1080p: 0.1}\n")
    project.write(FOUR_SHOTS)
    code, _out, err = run_cli("render", "board.yaml", "--backend", "aimlapi", "--max-cost", "0.6", "--jobs", "1")
    assert code == 1
    assert emulator.stats()["creates"] == 2
    assert "three: not rendered: not submitted: about 0.10 USD more would pass the budget of 0.60 USD (0.52 USD spent)" in err


def test_a_create_whose_answer_was_lost_counts_against_the_budget_at_its_estimate(project, service):
    from storyboard import render
    from storyboard.errors import RenderError
    from storyboard.events import Event

    emulator = service(latency=0.2)
    emulator.usage.outage = 403  # the usage log cannot say what the lost creates made: they stay unknown
    # Local prices lower than what the service charges (0.13 USD/s at 720p): the estimate passes the budget.
    (project.root / "models").mkdir(exist_ok=True)
    (project.root / "models" / "cheap.yaml").write_text(
        "model: alibaba/wan-2-7-r2v\npricing:\n  usd_per_second: {720p: 0.05, 1080p: 0.1}\n")
    board = project.write(FOUR_SHOTS)

    def lose_the_answers_after_the_first(event: Event) -> None:
        if event.state == "submitted":
            emulator.set_faults("lost=1")  # from now on every create is billed, its answer lost

    with pytest.raises(RenderError) as raised:
        render(board, backend="aimlapi", max_cost=0.5, jobs=1, keep_going=True, on_event=lose_the_answers_after_the_first)
    # 0.26 USD charged, then two lost creates at 0.10 USD each: a fourth would pass 0.50 USD.
    assert emulator.stats()["creates"] == 3
    assert ("shot 'four' was not rendered: not submitted: about 0.10 USD more would pass the budget of 0.50 USD "
            "(0.46 USD spent, of which 0.20 USD by creates of unknown outcome)") in str(raised.value)


def test_assembly_only_edits_regenerate_nothing(project, run_cli):
    project.write(FOUR_SHOTS)
    assert run_cli("render", "board.yaml")[0] == 0
    edited = FOUR_SHOTS.replace("seed: 2}", "seed: 2, transition: {type: crossfade, duration: 0.5}}")
    project.write(edited.replace("output: {path: out/film.mp4}", "output: {path: out/film.mp4, fps: 30}"))
    code, out, _ = run_cli("render", "board.yaml")
    assert code == 0 and "0 generated, 4 reused" in out
    project.write(edited.replace("seed: 3", "seed: 33"))
    code, out, _ = run_cli("render", "board.yaml")
    assert code == 0 and "1 generated, 3 reused" in out


def test_json_progress_is_one_event_per_line(project, run_cli, monkeypatch):
    project.write("storyboard: 1\nshots: [{id: solo, prompt: a lighthouse, resolution: 720p, duration: 2}]\n")
    code, out, _ = run_cli("render", "board.yaml", "--json")
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    assert [event["state"] for event in events] == ["queued", "generating", "submitted", "done", "assembling", "film", "summary"]
    assert events[0]["shot"] == "solo" and isinstance(events[0]["time"], float)
    assert events[-1]["generated"] == ["solo"] and events[-1]["film"].endswith("board.mp4")

    def disk_full(self):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "mix")

    monkeypatch.setattr("storyboard.assembling.sound.Mixer.pcm", disk_full)
    project.write("storyboard: 1\nshots: [{id: solo, prompt: a lighthouse, resolution: 720p, duration: 2},"
                  " {id: logo, clip: assets/walk.mp4}]\n")
    code, out, _ = run_cli("render", "board.yaml", "--json")
    assert code == 1
    last = json.loads(out.splitlines()[-1])
    assert last["state"] == "summary" and last["error"].startswith("assembling the film failed: No space left on device: ")


def test_live_table_shows_each_shot_with_state_time_attempt_and_cost():
    from io import StringIO

    from rich.console import Console

    from storyboard.cli.progress import LiveTable
    from storyboard.generating import Event

    screen = StringIO()
    table = LiveTable(console=Console(file=screen, force_terminal=True, width=120))
    table(Event("opening", "generating", "aimlapi", attempt=1))
    table(Event("opening", "submitted", "generation g-1", usd=0.65, total_usd=0.65, attempt=1))
    table(Event("finale", "failed", "the service said: content policy"))
    table(Event("opening", "done", "61.0 s", attempt=1))
    table.close()
    last = screen.getvalue().split("shot")[-1]
    assert "opening" in last and "done" in last and "0.65" in last
    assert "finale" in last and "failed" in last and "content policy" in last
    assert "total" in last and "0.65 USD" in last


class _ExpiringService:
    """A paid backend whose recorded URL has expired; polling the generation gives a fresh one."""

    name = "aimlapi"
    paid = True
    where = "a test double"
    default_jobs = 2

    def __init__(self, clip: Path):
        self.clip = clip
        self.calls: list[str] = []

    @classmethod
    def check(cls, items, storyboard):
        return []

    @classmethod
    def for_storyboard(cls, storyboard):  # pragma: no cover - the test gives render the backend itself
        raise AssertionError("not made from a storyboard")

    async def prepare(self, job):
        return job

    async def submit(self, job):  # pragma: no cover - must never be called
        raise AssertionError("paid twice")

    async def wait(self, job, submission):
        self.calls.append(f"wait {submission.generation_id}")
        return "https://cdn.example/fresh.mp4"

    async def fetch(self, location, destination, report=None):
        from storyboard.backends import LinkExpired

        self.calls.append(f"fetch {location}")
        if location.endswith("old.mp4"):
            raise LinkExpired("the video URL answered 403: it has expired")
        shutil.copy(self.clip, destination)

    async def close(self):
        pass


def test_an_expired_url_is_replaced_by_asking_the_service_again(project):
    import storyboard
    from storyboard.project.state import State

    project.write("storyboard: 1\nshots: [{id: solo, prompt: a lighthouse, resolution: 720p, duration: 2}]\n")
    item = storyboard.plan(storyboard.load("board.yaml"), "aimlapi").shots[0]
    state = State(project.root / ".storyboard" / "state.sqlite")
    state.adopt("aimlapi", item.hash, "solo", generation_id="gen-7", video_url="https://cdn.example/old.mp4")
    state.close()
    engine = _ExpiringService(project.root / "assets" / "walk.mp4")
    result = storyboard.render("board.yaml", backend=engine)
    assert engine.calls == ["fetch https://cdn.example/old.mp4", "wait gen-7", "fetch https://cdn.example/fresh.mp4"]
    assert result.reused == ["solo"] and result.film is not None
    assert "https://cdn.example/fresh.mp4" in (project.root / "storyboard.lock").read_text()


def test_a_clip_moved_into_place_just_before_a_crash_keeps_its_paid_record(project, run_cli, service):
    from storyboard.project.state import State

    emulator = service()
    project.write(FOUR_SHOTS)
    assert run_cli(*PAID)[0] == 0
    state_file = project.root / ".storyboard" / "state.sqlite"
    # As if killed between renaming the clip into the store and recording its checksum:
    import sqlite3

    with sqlite3.connect(state_file) as db:
        db.execute("UPDATE generations SET status = 'completed', clip_sha256 = NULL, clip_size = NULL, clip_mtime_ns = NULL")
    code, out, err = run_cli(*PAID)
    assert code == 0 and "0 generated, 4 reused" in out, out + err
    records = State(state_file).all("aimlapi")
    assert all(r.generation_id and r.video_url and r.usd_spent == 0.26 and r.clip_sha256 for r in records)
    assert "generation:" in (project.root / "storyboard.lock").read_text()
    assert emulator.stats()["creates"] == 4


def test_a_create_whose_outcome_is_unknown_is_resent_with_the_same_idempotency_key(tmp_path):
    from storyboard.project.state import State

    state = State(tmp_path / "state.sqlite")
    first = state.claim("aimlapi", "h1", "one", "m", 1)
    state.unknown("aimlapi", "h1", "the connection dropped after sending")
    again = state.claim("aimlapi", "h1", "one", "m", 1)
    assert again.idempotency_key == first.idempotency_key and again.attempt == 2
    state.failed("aimlapi", "h1", "the service said error")
    assert state.claim("aimlapi", "h1", "one", "m", 1).idempotency_key != first.idempotency_key  # a new attempt
    assert state.claim("aimlapi", "h2", "two", "m", 2).idempotency_key not in (first.idempotency_key, None)
    state.close()
    reopened = State(tmp_path / "state.sqlite")  # the key is durable: a crash before the answer keeps it
    record = reopened.get("aimlapi", "h2")
    assert record is not None and record.idempotency_key
    reopened.close()


def test_a_missing_ffmpeg_is_found_before_anything_is_paid(project, run_cli, service, monkeypatch):
    from storyboard.media import ffmpeg_exe

    emulator = service()
    project.write(FOUR_SHOTS)
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(project.root / "no-such-ffmpeg"))
    ffmpeg_exe.cache_clear()
    try:
        code, _out, err = run_cli(*PAID)
    finally:
        monkeypatch.delenv("IMAGEIO_FFMPEG_EXE")
        ffmpeg_exe.cache_clear()
    assert code == 1
    assert "ffmpeg" in err and "cannot be run" in err and "Nothing was submitted" in err and "Traceback" not in err
    assert emulator.stats()["creates"] == 0


def test_plan_writes_nothing_and_a_full_disk_is_explained(project, run_cli, monkeypatch):
    import errno

    from storyboard.project.store import ClipStore

    project.write(FOUR_SHOTS)
    assert run_cli("render", "board.yaml")[0] == 0
    state_dir = project.root / ".storyboard"

    def contents() -> dict[Path, int]:  # SQLite's shared-memory files for readers aside
        return {path: path.stat().st_mtime_ns for path in state_dir.rglob("*") if not path.name.endswith(("-wal", "-shm"))}

    before = contents()
    code, out, _ = run_cli("plan", "board.yaml")
    assert code == 0 and [status for status, _ in plan_table(out).values()] == ["cached"] * 4
    assert contents() == before

    def full(self: ClipStore) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(state_dir))

    monkeypatch.setattr(ClipStore, "ensure", full)
    code, _, err = run_cli("render", "board.yaml")
    assert code == 1 and "internal error" not in err
    assert err.startswith("error: No space left on device") and "record of generations already paid for are kept" in err
    assert "move it aside" not in err


def test_a_damaged_render_state_is_never_to_be_thrown_away(project, run_cli):
    project.write(FOUR_SHOTS)
    (project.root / ".storyboard").mkdir()
    (project.root / ".storyboard" / "state.sqlite").write_bytes(b"this is not a database" * 100)
    for command in (("plan", "board.yaml", "--backend", "aimlapi"), ("render", "board.yaml")):
        code, _, err = run_cli(*command)
        assert code == 1 and "cannot be used" in err and "keep the file" in err
        assert "move it aside" not in err and "start afresh" not in err


SOLO = "storyboard: 1\nshots: [{id: solo, prompt: a lighthouse, resolution: 720p, duration: 2}]\n"


class _Disk:
    """A disk that fills up: the render state's record of a create's answer fails `failures` times, then works."""

    def __init__(self, failures: int):
        self.failures = failures
        self.calls: list[str] = []  # the generation ids it was asked to record


def _disk_full_on_submitted(monkeypatch, failures: int) -> _Disk:
    """The render state's record of a create's answer fails `failures` times (a full disk), then works."""
    import sqlite3

    from storyboard.generating import generator
    from storyboard.project.state import State

    monkeypatch.setattr(generator, "RECORD_RETRIES", (0.0, 0.0, 0.0))
    real = State.submitted
    disk = _Disk(failures)

    def submitted(self: State, backend: str, request_hash: str, generation_id: str, usd: float | None) -> None:
        disk.calls.append(generation_id)
        if len(disk.calls) <= disk.failures:
            raise sqlite3.OperationalError("database or disk is full")
        real(self, backend, request_hash, generation_id, usd)

    monkeypatch.setattr(State, "submitted", submitted)
    return disk


def test_a_full_disk_once_after_a_paid_create_is_retried_and_the_clip_kept(project, run_cli, service, monkeypatch):
    emulator = service(latency=0.2)
    project.write(SOLO)
    disk = _disk_full_on_submitted(monkeypatch, failures=1)
    code, out, err = run_cli(*PAID)
    assert code == 0, out + err
    assert len(disk.calls) == 2 and emulator.stats()["creates"] == 1
    assert "1 generated" in out and "internal error" not in err


def test_a_disk_that_frees_while_the_generation_runs_keeps_its_clip(project, run_cli, service, monkeypatch):
    emulator = service(latency=0.5)
    project.write(SOLO)
    disk = _disk_full_on_submitted(monkeypatch, failures=4)  # every try after the create; the one after the poll works
    code, out, err = run_cli(*PAID)
    assert code == 0, out + err
    assert len(disk.calls) == 5 and emulator.stats()["creates"] == 1
    assert f"generation {disk.calls[0]} is paid for but the render state cannot record it" in out + err
    code, out, _ = run_cli("plan", "board.yaml", "--backend", "aimlapi")
    assert plan_table(out)["solo"][0] == "cached"


def test_a_full_disk_after_a_paid_create_says_the_generation_id_and_how_to_recover(project, run_cli, service,
                                                                                   monkeypatch):
    emulator = service(latency=0.2)
    project.write(SOLO)
    disk = _disk_full_on_submitted(monkeypatch, failures=1000)
    code, out, err = run_cli(*PAID)
    assert code == 1, out + err
    assert "internal error" not in err and "OperationalError" not in err and KEY not in out + err
    generation = disk.calls[0]
    assert f"generation {generation} was created and is billed, but the render state could not record it " \
           "(database or disk is full)" in said(err), err
    assert "--resubmit solo" in err and emulator.stats()["creates"] == 1
    # The disk freed: the next render finds the generation in the service's usage log by the create's
    # client request id, and follows it without asking or paying again.
    disk.failures = 0
    code, out, err = run_cli(*PAID)
    assert code == 0, out + err
    assert f"resuming generation {generation} (found in the service's usage log" in out
    assert emulator.stats()["creates"] == 1 and emulator.stats()["idempotent_replays"] == 0


def test_a_render_state_that_cannot_be_written_raises_state_error(tmp_path):
    import sqlite3

    import pytest

    from storyboard.errors import StateError
    from storyboard.project.state import State

    state = State(tmp_path / "state.sqlite")
    state.claim("aimlapi", "abc", "solo", "m", 1)

    class Full:  # reads work, writes find the disk full
        def __init__(self, db: sqlite3.Connection):
            self.db = db

        def execute(self, sql: str, parameters: tuple[object, ...] = ()) -> object:
            if sql.lstrip().startswith("SELECT"):
                return self.db.execute(sql, parameters)
            raise sqlite3.OperationalError("database or disk is full")

    real = state._db
    state._db = Full(real)  # type: ignore[assignment]
    try:
        with pytest.raises(StateError, match=r"could not be written \(database or disk is full\); free some disk space"):
            state.submitted("aimlapi", "abc", "gen-1", 0.26)
        with pytest.raises(StateError):
            state.claim("aimlapi", "def", "solo", "m", 1)
    finally:
        state._db = real
        state.close()
