"""Subtitles: the dialogue as .srt/.vtt next to the film, or burned in, timed to the final cut."""
from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pysubs2
import pytest

import storyboard
from storyboard.assembling.subtitles import Cue, cues_of, sidecar_text
from storyboard.backends.preview import places_in_film
from storyboard.media import extract_frame, probe
from storyboard.model import Line

FPS = 24
FRAME = 1 / FPS

# A trimmed shot that crossfades in, then a fade: the film time of every line is not trivial.
BOARD = """
storyboard: 1
defaults: {duration: 2, resolution: 720p}
cast:
  fairy: {image: assets/red.png, description: a tiny fairy}
  raccoon: {video: assets/walk.mp4, description: a grey raccoon}
shots:
  - id: meadow
    prompt: A meadow at dawn
    dialogue:
      - {who: fairy, say: "Hold on tight!"}
      - {who: raccoon, say: "Where to?", at: 1.25}
  - id: run
    prompt: "{{ cast.raccoon }} runs"
    duration: 3
    trim: {start: 0.75}
    transition: {type: crossfade, duration: 0.5}
    dialogue:
      - {who: fairy, say: "Faster!", at: 1.5}
      - {who: raccoon, say: "I am going as fast as I can."}
  - id: home
    prompt: The sun sets over the forest
    transition: {type: fade, duration: 0.5}
    dialogue:
      - {who: fairy, say: "Home at last."}
output:
  path: renders/film.mp4
  subtitles: sidecar
"""
SAID = ["Hold on tight!", "Where to?", "Faster!", "I am going as fast as I can.", "Home at last."]


def render(run_cli, *args: str) -> str:
    code, out, err = run_cli("render", "board.yaml", *args)
    assert code == 0, out + err
    return out + err


def expected_starts(board: storyboard.Storyboard) -> list[float]:
    """Each line's start in the film, from the shots' places: a line with `at` at its clip's start + at;
    the first line without one where its shot begins to show (after its trim)."""
    places = places_in_film(board)
    starts = []
    for shot in board.shots:
        clip_start = places[shot.id].film_start
        assert clip_start is not None
        for number, line in enumerate(shot.dialogue):
            if line.at is not None:
                starts.append(clip_start + line.at)
            elif number == 0:
                starts.append(clip_start + shot.trim[0])
            else:
                starts.append(float("nan"))  # shares the time after the line before it: checked apart
    return starts


def test_sidecar_files_hold_every_line_at_its_place_in_the_cut(project, run_cli):
    project.write(BOARD)
    assert "film.srt" in render(run_cli)
    board = storyboard.load("board.yaml")
    expected = expected_starts(board)
    assert expected[:3] + expected[4:] == pytest.approx([0.0, 1.25, 2.25, 3.75], abs=1e-9)  # the places, by hand
    film_length = probe(Path("renders/film.mp4")).duration
    for name in ("renders/film.srt", "renders/film.vtt"):
        cues = pysubs2.load(name).events
        assert [cue.plaintext for cue in cues] == SAID
        starts, ends = [cue.start / 1000 for cue in cues], [cue.end / 1000 for cue in cues]
        for said, start, want in zip(SAID, starts, expected, strict=True):
            if want == want:  # not NaN
                assert abs(start - want) <= FRAME, (name, said, start, want)
        # A cue lasts until the next starts or its shot stops showing; cues never overlap.
        assert ends[0] == pytest.approx(starts[1], abs=0.002)
        assert ends[1] == pytest.approx(2.0, abs=FRAME)  # `meadow` ends (its last line is not cut by the crossfade)
        assert starts[2] < starts[3] < 3.75 and ends[3] == pytest.approx(3.75, abs=FRAME)  # shares `run` with "Faster!"
        assert ends[4] == pytest.approx(film_length, abs=FRAME)
        assert all(end <= following + 1e-9 for end, following in zip(ends, starts[1:], strict=False))


def test_sidecars_never_take_the_film_off_its_fast_path_and_follow_an_edited_line(project, run_cli, monkeypatch):
    cuts = BOARD.replace("    trim: {start: 0.75}\n", "").replace("type: crossfade, duration: 0.5", "type: cut")
    project.write(cuts.replace("type: fade, duration: 0.5", "type: cut").replace("at: 1.5", "at: 0.5"))

    def encoded(*args: object, **kwargs: object) -> None:
        raise AssertionError("the picture was encoded; these clips can be stream-copied")

    monkeypatch.setattr("storyboard.assembling.encode_segments", encoded)
    render(run_cli)
    film = Path("renders/film.mp4")
    made = film.stat().st_mtime_ns
    assert pysubs2.load("renders/film.srt").events[1].plaintext == "Where to?"

    # A line's words or time change the subtitle files, not the film (nor any clip: `at` is not in the prompt).
    project.write(project.root.joinpath("board.yaml").read_text().replace("at: 1.25", "at: 1.5"))
    out = render(run_cli)
    assert "0 generated, 3 reused" in out and "assembling" not in out and "film.srt" in out
    assert film.stat().st_mtime_ns == made
    assert pysubs2.load("renders/film.vtt").events[1].start == 1500
    out = render(run_cli)
    assert "is up to date" in out and "film.srt" not in out  # nothing changed: nothing written


def test_burned_subtitles_are_in_the_picture_during_their_cues_only(project, run_cli):
    project.write(BOARD.replace("subtitles: sidecar", "subtitles: none"))
    render(run_cli)
    os.replace("renders/film.mp4", "plain.mp4")
    project.write(BOARD.replace("subtitles: sidecar", "subtitles: burn"))
    out = render(run_cli)
    assert "0 generated, 3 reused" in out and not Path("renders/film.srt").exists()
    film = Path("renders/film.mp4")
    width, height = 1280, 720

    def frames(t: float) -> tuple[np.ndarray, np.ndarray]:
        return (np.asarray(extract_frame(film, t), dtype=np.int16),
                np.asarray(extract_frame(Path("plain.mp4"), t), dtype=np.int16))

    burned, plain = frames(0.5)  # "Hold on tight!"
    extract_frame(film, 0.5).save(project.root / "burned.png")
    changed = np.abs(burned - plain).max(axis=2) > 40
    changed &= changed.sum(axis=1, keepdims=True) >= 3  # not a lone pixel the two encodings round apart at an edge
    rows, columns = np.nonzero(changed)
    assert changed.sum() > 2000  # the text is there
    # Bottom centre, inside the title-safe area.
    assert rows.min() > height * 0.75 and rows.max() < height * 0.95
    assert columns.min() > width * 0.1 and columns.max() < width * 0.9
    assert abs((columns.min() + columns.max()) / 2 - width / 2) < width * 0.02
    assert (burned[changed] > 235).all(axis=1).sum() > 500  # white letters

    burned, plain = frames(3.3)  # "I am going as fast as I can.", over the background, not the preview's dark card
    extract_frame(film, 3.3).save(project.root / "burned-over-picture.png")
    changed = np.abs(burned - plain).max(axis=2) > 40
    assert (burned[changed] > 235).all(axis=1).sum() > 500 and (burned[changed] < 40).all(axis=1).sum() > 500  # outlined

    burned, plain = frames(2.125)  # between `meadow`'s last cue (ends at 2 s) and `run`'s first (2.25 s)
    assert np.abs(burned - plain).mean() < 1.5

    # A line said at another time re-burns the film (from the clips made: the time is not in the prompt).
    project.write(BOARD.replace("subtitles: sidecar", "subtitles: burn").replace("at: 1.25", "at: 1.5"))
    out = render(run_cli)
    assert "0 generated, 3 reused" in out and "assembling" in out


def test_lines_without_a_time_share_the_shot_by_their_length(project):
    project.write(BOARD)
    board = storyboard.load("board.yaml")
    meadow = board.shot("meadow")
    shot = replace(meadow, dialogue=[meadow.dialogue[0], Line("raccoon", "A much longer line than that", None, ())])
    (cue_a, cue_b) = cues_of([shot], [10.0], [2.0], FPS)
    assert cue_a.start == 10.0 and cue_b.end == 12.0 and cue_a.end == cue_b.start
    assert 10.7 < cue_b.start < 10.9  # 14 + 10 and 28 + 10 characters' worth of 2 s


def test_subtitle_text_is_kept_as_written_in_both_formats():
    cues = [Cue(1.0, 2.5, "Tom & Jerry <3 {laughs}\nC:\\Notes -->", "a")]
    srt, vtt = sidecar_text(cues, ".srt"), sidecar_text(cues, ".vtt")
    assert srt == "1\n00:00:01,000 --> 00:00:02,500\nTom & Jerry <3 {laughs} C:\\Notes -->\n\n"  # one line: see below
    assert vtt.startswith("WEBVTT\n\n1\n00:00:01.000 --> 00:00:02.500\n")
    assert "Tom &amp; Jerry &lt;3 {laughs} C:\\Notes --&gt;\n" in vtt


INJECTIONS = ["x\n\n2\n00:00:00,000 --> 00:00:09,000\ninjected",  # a blank line, a number, a timing line
              "y\n3\n00:00:01,000 --> 00:00:08,000",  # no blank line: readers still take it for a timing line
              "at 00:00:01.000 and 00:00:02.000 exactly",  # two timecodes on one line, no arrow
              "z\n4"]  # a number line at the end: taken for the next cue's number


def test_a_line_that_holds_a_cue_of_its_own_stays_in_its_cue(project, run_cli):
    """Whatever a dialogue line holds (blank lines, numbers, timecodes), each line is one cue of the
    sidecar files, read back with its words; the film has a cue for every line and no more."""
    board = BOARD
    for said, injected in zip(["Hold on tight!", "Where to?", "Faster!", "Home at last."], INJECTIONS, strict=True):
        board = board.replace(f'say: "{said}"', f"say: {json.dumps(injected)}")
    project.write(board)
    render(run_cli)
    for name in ("renders/film.srt", "renders/film.vtt"):
        cues = pysubs2.load(name).events
        assert len(cues) == len(SAID), (name, [cue.plaintext for cue in cues])
        texts = [cue.plaintext for cue in cues]
        assert texts[0].startswith("x 2 00") and texts[0].endswith(" injected"), texts
        assert texts[4] == "z 4" and texts[3] == "I am going as fast as I can.", texts
        assert all(cue.end > cue.start for cue in cues)
    assert "00\u223600\u223600,000 --> 00\u223600\u223609,000" in Path("renders/film.srt").read_text()
