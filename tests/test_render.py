"""End to end, offline: storyboard file in, film out, checked by decoding the film."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from avprobe import audio_samples, beep_times, decode_errors, flash_times, frame_brightness, probe

import storyboard
from storyboard import Event
from storyboard.backends import Job, Submission
from storyboard.backends.animatic import marker_times
from storyboard.errors import RenderError
from storyboard.files import atomic_write_bytes

BOARD = """
storyboard: 1
title: Test film
defaults: {resolution: 720p, duration: 2, aspect_ratio: "16:9"}
cast:
  hero: {image: assets/red.png, description: a red square}
shots:
  - id: one
    prompt: "{{ cast.hero }} rolls left"
    seed: 1
  - id: two
    prompt: it stops
    first_frame: {shot: one, at: end}
    seed: 2
  - id: three
    prompt: credits
    duration: 3
    seed: 3
output: {path: out/film.mp4}
"""
FPS = 24


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Offline renders shared by the tests that only look at their results: first with sync
    markers (its film moved to synced.mp4), then with the default preview (out/film.mp4)."""
    from conftest import Project

    root = tmp_path_factory.mktemp("film")
    project = Project(root)
    project.write(BOARD)
    synced = storyboard.render(root / "board.yaml", backend="preview-sync")
    (root / "out" / "film.mp4").rename(root / "synced.mp4")
    result = storyboard.render(root / "board.yaml")
    return project, result, synced


def test_film_has_expected_streams_and_length(rendered):
    project, result, _ = rendered
    film = project.root / "out" / "film.mp4"
    assert result.film == film
    assert sorted(result.generated) == ["one", "three", "two"]
    info = probe(film)
    assert abs(info.duration - 7.0) <= 1 / FPS + 0.03
    assert info.video and "h264" in info.video and "1280x720" in info.video and "24 fps" in info.video
    assert info.audio and "aac" in info.audio and "48000 Hz" in info.audio and "stereo" in info.audio
    assert decode_errors(film) == ""


def test_the_default_preview_neither_flashes_nor_beeps(rendered):
    project, _, _ = rendered
    film = project.root / "out" / "film.mp4"
    brightness = frame_brightness(film)
    assert brightness.max() < 120 and flash_times(film, FPS) == []  # a dark card: no white frame
    assert np.abs(np.diff(brightness)).max() < 20  # nothing strobes: a cut between two cards, not a flash's 200
    assert beep_times(film) == [] and np.abs(audio_samples(film)).max() < 0.001  # silent (below -60 dBFS)


def test_audio_stays_in_sync_with_picture_across_cuts(rendered):
    project, _, _ = rendered
    film = project.root / "synced.mp4"  # rendered with --backend preview-sync
    expected, offset = [], 0.0
    for length in (2, 2, 3):
        expected += [offset + t for t in marker_times(length, FPS)]
        offset += length
    flashes = flash_times(film, FPS)
    beeps = beep_times(film)
    assert len(flashes) == len(expected) == len(beeps)
    assert np.allclose(flashes, expected, atol=1 / FPS / 2)
    assert max(abs(b - f) for b, f in zip(beeps, flashes, strict=True)) <= 1 / FPS


def test_the_two_previews_keep_their_own_clips(rendered):
    project, result, synced = rendered
    assert sorted(synced.generated) == sorted(result.generated) == ["one", "three", "two"]  # neither reused the other's
    clips = project.root / ".storyboard" / "clips"
    for item in result.plan.shots:
        quiet, marked = clips / "preview" / f"{item.hash}.mp4", clips / "preview-sync" / f"{item.hash}.mp4"
        assert flash_times(quiet, FPS) == [] and len(flash_times(marked, FPS)) == len(marker_times(item.duration, FPS))


def test_first_frame_continues_from_the_other_shot(rendered):
    project, result, _ = rendered
    store = project.root / ".storyboard" / "clips" / "preview"
    one = store / f"{result.plan.shot('one').hash}.mp4"
    two = store / f"{result.plan.shot('two').hash}.mp4"
    last_of_one = frame_brightness(one)[-1]
    first_of_two = frame_brightness(two)[0]
    assert abs(last_of_one - first_of_two) < 3
    assert (project.root / ".storyboard" / ".gitignore").read_text().strip().endswith("*")


def test_unchanged_rerender_reuses_everything_and_keeps_the_film(rendered):
    project, _, _ = rendered
    film = project.root / "out" / "film.mp4"
    before = film.stat().st_mtime_ns
    events: list[Event] = []
    again = storyboard.render(project.root / "board.yaml", on_event=events.append)
    assert again.generated == [] and sorted(again.reused) == ["one", "three", "two"]
    assert film.stat().st_mtime_ns == before
    assert any(event.state == "current" for event in events)


def test_changing_one_shot_regenerates_only_it_and_its_dependants(project):
    project.write(BOARD)
    storyboard.render("board.yaml")
    project.write(BOARD.replace("rolls left", "rolls right"))
    result = storyboard.render("board.yaml")
    assert sorted(result.generated) == ["one", "two"]
    project.write(BOARD.replace("rolls left", "rolls right").replace("credits", "the end"))
    assert storyboard.render("board.yaml").generated == ["three"]


def test_cli_render_only_a_subset_then_the_rest(project, run_cli):
    project.write(BOARD)
    code, out, err = run_cli("render", "board.yaml", "--only", "two")
    assert code == 0, err
    assert "one: generating" in out and "two: generating" in out and "three" not in out
    assert "film not assembled: no clip yet for three" in err
    assert not (project.root / "out" / "film.mp4").exists()
    code, out, err = run_cli("render", "board.yaml", "--jobs", "1")
    assert code == 0, err
    assert "1 generated, 2 reused; film: out/film.mp4" in out
    assert probe(project.root / "out" / "film.mp4").duration == pytest.approx(7.0, abs=0.1)


def test_cli_rejects_unknown_shot_and_backend(project, run_cli):
    project.write(BOARD)
    assert run_cli("render", "board.yaml", "--only", "nope")[0] == 2
    code, _, err = run_cli("render", "board.yaml", "--backend", "nope")
    assert code == 2 and "nope" in err


class _FailingBackend:
    """Fails the shot whose prompt contains 'credits'; delegates nothing (no clip is written)."""

    name = "failing"
    paid = False
    where = "a test double"
    default_jobs = 4

    @classmethod
    def check(cls, items, storyboard):
        return []

    @classmethod
    def for_storyboard(cls, storyboard):  # pragma: no cover - the tests give render the backend itself
        return cls()

    async def prepare(self, job: Job) -> Job:
        return job

    async def close(self) -> None:
        pass

    async def submit(self, job: Job) -> Submission:
        if "credits" in job.shot.body["prompt"]:
            raise RuntimeError("the service said: content policy")
        return Submission("x")

    async def wait(self, job: Job, submission: Submission) -> str:
        raise RuntimeError("generation failed: out of capacity")

    async def fetch(self, location: str, destination: Path, report: object = None) -> None:  # pragma: no cover - never reached
        raise AssertionError


def test_failed_shots_are_named_and_nothing_is_left_half_written(project):
    project.write(BOARD)
    with pytest.raises(RenderError) as caught:
        storyboard.render("board.yaml", backend=_FailingBackend(), keep_going=True)
    message = str(caught.value)
    assert "shot 'three' failed: the service said: content policy" in message
    assert "shot 'one' failed: generation failed: out of capacity" in message
    assert "shot 'two' was not rendered: its first frame comes from shot 'one', which failed" in message
    assert not (project.root / "out").exists()
    assert list((project.root / ".storyboard").rglob("*.mp4")) == []


def test_after_a_failure_nothing_new_is_submitted_unless_keep_going(project):
    project.write(BOARD)
    with pytest.raises(RenderError) as caught:
        storyboard.render("board.yaml", backend=_FailingBackend(), jobs=1)
    message = str(caught.value)
    assert "shot 'one' failed: generation failed: out of capacity" in message
    assert "shot 'three' was not rendered: not submitted: 'one' failed first (`keep_going` renders the rest)" in message
    assert "shot 'two' was not rendered: its first frame comes from shot 'one', which failed" in message


def test_atomic_write_leaves_the_previous_file_on_failure(tmp_path):
    film = tmp_path / "film.mp4"
    film.write_bytes(b"old film")
    with pytest.raises(OSError):
        from storyboard.files import atomic_path

        with atomic_path(film) as temporary:
            temporary.write_bytes(b"half a fil")
            raise OSError("disk full")
    assert film.read_bytes() == b"old film"
    assert [path.name for path in tmp_path.iterdir()] == ["film.mp4"]
    atomic_write_bytes(film, b"new film")
    assert film.read_bytes() == b"new film"


def test_preview_is_deterministic_per_request(project):
    project.write(BOARD)
    first = storyboard.render("board.yaml", only=["three"])
    clip = project.root / ".storyboard" / "clips" / "preview" / f"{first.plan.shot('three').hash}.mp4"
    content = clip.read_bytes()
    clip.unlink()
    storyboard.render("board.yaml", only=["three"])
    assert clip.read_bytes() == content


def test_vertical_shots_render_at_their_own_size(project):
    project.write(BOARD.replace('aspect_ratio: "16:9"', 'aspect_ratio: "9:16"'))
    result = storyboard.render("board.yaml", only=["one"])
    clip = project.root / ".storyboard" / "clips" / "preview" / f"{result.plan.shot('one').hash}.mp4"
    assert "720x1280" in (probe(clip).video or "")


def test_identical_requests_are_generated_once(project):
    project.write(BOARD.replace("credits", '"{{ cast.hero }} rolls left"').replace("seed: 3", "seed: 1")
                  .replace("    duration: 3\n", ""))
    events: list[Event] = []
    result = storyboard.render("board.yaml", on_event=events.append)
    assert sorted(result.generated) == ["one", "two"] and result.reused == ["three"]
    assert Event(shot="three", state="cached", message="same request as shot 'one'") in events
    assert probe(project.root / "out" / "film.mp4").duration == pytest.approx(6.0, abs=0.1)


def test_leftovers_of_a_killed_render_are_cleaned_up_by_the_next(project):
    project.write(BOARD)
    storyboard.render("board.yaml", only=["three"])
    clips = project.root / ".storyboard" / "clips" / "preview"
    (project.root / "out").mkdir()
    leftovers = [clips / ".abc.x1y2.partial.mp4", project.root / "out" / ".film.q9w8.partial.mp4"]
    for path in leftovers:
        path.write_bytes(b"half a clip")
    keep = project.root / "out" / ".other.q9w8.partial.mp4"
    keep.write_bytes(b"not ours")
    storyboard.render("board.yaml", only=["three"])
    assert not any(path.exists() for path in leftovers) and keep.exists()


def test_working_files_stay_in_the_project_and_what_a_killed_render_left_is_removed(project, monkeypatch, tmp_path):
    system_temp = tmp_path / "system-temp"
    system_temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(system_temp))
    monkeypatch.setattr("tempfile.tempdir", None)  # read TMPDIR again
    # What a render killed during assembly leaves: its working folder with the mix half written.
    leftover = project.root / ".storyboard" / "tmp" / "storyboard-film-abc123"
    leftover.mkdir(parents=True)
    (leftover / "mix.wav").write_bytes(b"RIFF" + b"\0" * 1000)
    project.write(BOARD.replace("duration: 3", "duration: 2"))
    result = storyboard.render("board.yaml")
    assert result.film is not None and result.film.is_file()
    assert not leftover.exists()
    assert list(system_temp.iterdir()) == []
    scratch = project.root / ".storyboard" / "tmp"
    assert not scratch.exists() or list(scratch.rglob("*")) == []


class _LyingBackend(_FailingBackend):
    """A paid service that reports a negative cost for every create, then fails the generation."""

    name = "lying"
    paid = True

    async def submit(self, job: Job) -> Submission:
        return Submission(f"gen-{job.shot.id}", usd_spent=-50.0)


def test_a_negative_cost_from_the_service_never_lowers_the_spend_the_budget_checks(project):
    project.write(BOARD.replace("duration: 3", "duration: 2"))
    events: list[Event] = []
    with pytest.raises(RenderError):
        storyboard.render("board.yaml", backend=_LyingBackend(), jobs=1, keep_going=True, max_cost=1.0,
                          on_event=events.append)
    totals = [event.total_usd for event in events if event.state == "submitted"]
    assert totals == pytest.approx([0.26, 0.52])  # the estimates count where the figure is absurd; two waits for one
    assert all(event.usd is None for event in events if event.state == "submitted")


def test_the_lock_file_never_receives_a_url_that_carries_the_key(tmp_path, monkeypatch):
    from storyboard.project.lockfile import Entry, LockFile

    monkeypatch.setenv("AIMLAPI_KEY", "sk-Secret-Key-1234")
    lock = LockFile(tmp_path, "board.yaml")
    lock.write({"one": [Entry(request="abc", backend="aimlapi", generation="gen-1",
                              video_url="https://cdn.example/v.mp4?token=sk-secret-key-1234")]})
    text = (tmp_path / "storyboard.lock").read_text()
    assert "secret-key" not in text.lower() and "gen-1" in text


@pytest.mark.parametrize("written", [".inf", "-.inf", ".nan", "-1", "1e400"])
def test_an_amount_in_the_lock_file_that_is_no_amount_is_unknown(tmp_path, written):
    from storyboard.project.lockfile import LockFile

    (tmp_path / "storyboard.lock").write_text(f"board.yaml:\n  shots:\n    one:\n    - backend: aimlapi\n"
                                              f"      request: abc\n      usd: {written}\n"
                                              "    - {backend: aimlapi, request: def, usd: 0.26}\n")
    entries = LockFile(tmp_path, "board.yaml").entries()["one"]
    assert [entry.usd for entry in entries] == [None, 0.26]


@pytest.mark.parametrize("amount", [math.inf, -math.inf, math.nan, -2.5])
def test_an_amount_in_the_render_state_that_is_no_amount_counts_as_nothing_spent(tmp_path, amount):
    from storyboard.project.state import State

    state = State(tmp_path / "state.sqlite")
    state.adopt("aimlapi", "abc", "one", generation_id="g-1", usd_spent=amount)
    state.adopt("aimlapi", "def", "two", generation_id="g-2", usd_spent=0.26)
    record = state.get("aimlapi", "abc")
    assert record is not None and record.usd_spent == 0.0
    assert sum(record.usd_spent for record in state.all("aimlapi")) == 0.26
    state.close()
