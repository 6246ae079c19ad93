"""The preview's animatics: quiet and readable by default, with sync markers on request; what the
card says about the shot; a soundtrack over preview clips."""
from __future__ import annotations

import wave

import numpy as np
import pytest
from avprobe import audio_samples, beep_times, flash_times, frame_brightness

import storyboard
from storyboard.assembling import FilmSettings, Piece, Soundtrack, assemble
from storyboard.backends import Job
from storyboard.backends.animatic import Animatic, _plate, clock, heading, marker_times, plate_rows, render_animatic
from storyboard.backends.preview import PreviewBackend

FPS = 24
RATE = 48_000

BOARD = """
storyboard: 1
defaults: {resolution: 720p, duration: 2, aspect_ratio: "16:9"}
shots:
  - {id: one, prompt: a red door, seed: 1}
  - id: two
    prompt: the door opens
    transition: {type: crossfade, duration: 0.5}
  - {id: three, prompt: a garden behind it, duration: 3, seed: 3}
"""


def cards(board_file: str) -> dict[str, Animatic]:
    """What the preview would draw for each shot of the storyboard, by shot id."""
    board = storyboard.load(board_file)
    engine = PreviewBackend.for_storyboard(board)
    return {item.id: engine.animatic(Job(item)) for item in storyboard.plan(board).shots if item.footage is None}


def test_the_card_says_which_shot_of_how_many_and_a_random_seed_when_none_is_set(project):
    project.write(BOARD)
    drawn = cards("board.yaml")
    assert heading(drawn["one"]) == "shot 1 of 3  ·  seed: 1  ·  2 s"
    assert heading(drawn["two"]) == "shot 2 of 3  ·  seed: random  ·  2 s"  # not a seed the request does not carry
    assert heading(drawn["three"]) == "shot 3 of 3  ·  seed: 3  ·  3 s"


def test_the_clock_shows_the_film_timecode_and_the_time_into_the_shot(project):
    project.write(BOARD)
    drawn = cards("board.yaml")
    assert clock(drawn["one"], 1.0) == ["film 00:00:01.00", "shot 01.00 / 2 s"]
    assert clock(drawn["two"], 0.25) == ["film 00:00:01.75", "shot 00.25 / 2 s"]  # the crossfade overlaps shot one
    assert clock(drawn["three"], 2.5) == ["film 00:00:06.00", "shot 02.50 / 3 s"]


def test_the_film_timecode_follows_footage_trims_and_transitions_as_the_film_is_cut(project):
    project.write("""
        storyboard: 1
        defaults: {resolution: 720p, duration: 2, aspect_ratio: "16:9"}
        shots:
          - id: opening
            clip: assets/walk.mp4
            trim: {start: 0.5, end: 1.5}
          - {id: hero, prompt: a lighthouse, seed: 1, transition: {type: crossfade, duration: 0.25}, trim: {start: 0.5}}
          - {id: finale, prompt: the lamp turns on, seed: 2, transition: {type: fade, duration: 0.5}}
        """)
    drawn = cards("board.yaml")
    # opening keeps 1 s of the footage; hero begins 0.25 s before it ends, 0.5 s into its own clip, and lasts 1.5 s.
    assert clock(drawn["hero"], 0.5)[0] == "film 00:00:00.75"
    assert clock(drawn["finale"], 0.0)[0] == "film 00:00:02.25"


def test_the_card_names_each_reference_as_the_prompt_does_with_the_cast_member_it_shows(project):
    project.write("""
        storyboard: 1
        defaults: {resolution: 720p, duration: 2, aspect_ratio: "16:9"}
        cast:
          tan: {image: assets/red.png, description: a tan cat}
        shots:
          - {id: door, prompt: "{{ cast.tan }} opens the door", seed: 1, image_urls: [assets/blue.png]}
        """)
    board = storyboard.load("board.yaml")
    prompt = storyboard.plan(board).shot("door").body["prompt"]
    assert prompt.startswith("Image 2 (a tan cat) opens")  # the shot's own image is Image 1
    drawn = cards("board.yaml")["door"]
    root = project.root
    assert drawn.references == [("Image 1 · blue.png", root / "assets" / "blue.png", "assets/blue.png"),
                                ("Image 2 · tan", root / "assets" / "red.png", "assets/red.png")]
    plate, _ = _plate(drawn)
    assert np.array_equal(plate, _plate(cards("board.yaml")["door"])[0])  # the same card every time


def test_a_card_drawn_without_a_storyboard_says_what_its_request_says(tmp_path):
    spec = Animatic(640, 360, 2.0, None, "abc12345", "a prompt")  # as the service emulator draws one
    assert heading(spec) == "seed: random  ·  2 s"
    assert clock(spec, 1.5) == ["shot 01.50 / 2 s"]


@pytest.mark.parametrize("size", [(1280, 720), (720, 1280), (720, 720)])
def test_the_text_of_a_shot_ending_and_of_a_shot_beginning_lie_apart_through_a_crossfade(size):
    width, height = size
    ending, beginning = Animatic(width, height, 5.0, 1, "a", "x"), Animatic(width, height, 5.0, 2, "b", "y")
    crossfade = 2.0  # up to (duration - 0.6 s) / 2
    for step in np.linspace(0, crossfade, 25):
        top_of_ending = plate_rows(ending, ending.duration - crossfade + step)
        top_of_beginning = plate_rows(beginning, step)
        assert top_of_ending[1] <= top_of_beginning[0], (step, top_of_ending, top_of_beginning)


@pytest.fixture(scope="module")
def quiet_clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("quiet") / "quiet.mp4"
    render_animatic(Animatic(1280, 720, 3.0, 7, "quiet", "a quiet shot", references=[("Image 1", None, "https://x/y.png")]),
                    path)
    return path


def test_a_default_preview_clip_neither_flashes_nor_beeps_and_is_silent(quiet_clip):
    brightness = frame_brightness(quiet_clip)
    assert len(brightness) == 3 * FPS
    assert brightness.max() < 120 and flash_times(quiet_clip, FPS) == []
    assert np.abs(np.diff(brightness)).max() < 2  # only the plate's slide mid-shot changes the picture much
    assert beep_times(quiet_clip) == [] and np.abs(audio_samples(quiet_clip)).max() < 0.001  # below -60 dBFS


def test_a_clip_with_sync_markers_flashes_and_beeps_at_the_same_instants(tmp_path):
    path = tmp_path / "marked.mp4"
    render_animatic(Animatic(640, 360, 3.0, 7, "marked", "a marked shot", markers=True), path)
    expected = marker_times(3.0)
    assert expected == [0.5, 1.5, 2.5]
    assert flash_times(path, FPS) == pytest.approx(expected, abs=1e-9)
    assert beep_times(path) == pytest.approx(expected, abs=0.002)


def test_a_ducked_soundtrack_keeps_its_full_level_over_default_preview_clips(quiet_clip, tmp_path):
    marked = tmp_path / "marked.mp4"  # clip sound (the markers' hum) for the soundtrack to duck under
    render_animatic(Animatic(1280, 720, 3.0, 8, "marked", "a marked shot", markers=True), marked)
    music = tmp_path / "tone.wav"
    t = np.arange(RATE) / RATE
    with wave.open(str(music), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((0.5 * np.sin(2 * np.pi * 3000 * t) * 32767).astype("<i2").tobytes())
    film = tmp_path / "film.mp4"
    assemble([Piece(quiet_clip), Piece(marked)], film,
             FilmSettings(size=(1280, 720), fps=FPS, music=Soundtrack(music, volume=0.5, duck=0.25)))
    samples = audio_samples(film)

    def levels(start: float) -> tuple[float, float]:
        """Over 0.1 s from `start` (300 cycles of the tone): the tone's amplitude, and the RMS of everything else."""
        window = samples[int(start * RATE):int(start * RATE) + 4800]
        spectrum = np.fft.rfft(window)
        tone = float(np.abs(spectrum[300]) / (len(window) / 2))  # 3 kHz at 10 Hz per bin
        spectrum[290:311] = 0
        return tone, float(np.sqrt(np.mean(np.fft.irfft(spectrum, len(window)) ** 2)))

    over_preview = [levels(start) for start in (0.6, 1.6, 2.6)]
    under_clip_sound = [levels(start) for start in (4.0, 5.0)]  # between the beeps
    full = np.mean([tone for tone, _ in over_preview])
    assert all(tone == pytest.approx(full, rel=0.05) for tone, _ in over_preview)
    assert all(rest < 0.001 for _, rest in over_preview)  # the preview adds nothing audible (below -60 dBFS)
    assert all(tone == pytest.approx(full * 0.25, rel=0.2) for tone, _ in under_clip_sound)  # ducked only there
