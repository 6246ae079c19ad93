"""The film's picture to broadcast standard, measured on generated footage (`footage_picture.py`): one colour
description (BT.709, limited range, tagged) whatever the clips say, HDR tone-mapped, display aspect kept,
interlaced clips deinterlaced, fades and crossfades at their true times between frames, keyframes for editors."""
from __future__ import annotations

import itertools
import re
import subprocess

import numpy as np
import pytest
from footage_picture import (
    FFMPEG,
    MID_GREY,
    anamorphic_clip,
    bright_box,
    colour_tags,
    combing,
    film_rgb,
    interlaced_clip,
    keyframe_times,
    level_clip,
    opacities,
    parameter_sets,
    patch_clip,
    patch_errors,
    progressive_edge_clip,
    sound_gain,
)

import storyboard
from storyboard.assembling import FilmSettings, Piece, Timeline, assemble, film_timeline
from storyboard.assembling.encode import encode_arguments
from storyboard.assembling.segments import segments_of

BT709_LIMITED = ("1", "1", "1", "1")  # primaries, transfer, matrix BT.709; range MPEG (limited)
SDR_TOLERANCE = 5  # levels (0-255) a patch may move through conversion and compression


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("picture-footage")
    made = {}

    def clip(name, make):
        if name not in made:
            made[name] = make(folder / f"{name}.mp4")
        return made[name]
    return clip


def _patches(clips, encoding):
    size = (640, 480) if encoding.startswith("bt601") else (320, 180)  # BT.601 is SD (untagged: by its size)
    return clips(encoding, lambda path: patch_clip(encoding, path, size=size))


@pytest.mark.parametrize("encoding", ["bt601", "bt601_untagged", "full_range"])
def test_sdr_clips_are_converted_to_bt709_limited_and_keep_their_colours(clips, tmp_path, encoding):
    film = tmp_path / "film.mp4"
    assemble([Piece(_patches(clips, encoding)), Piece(_patches(clips, "bt709"))], film, FilmSettings(size=(320, 180), fps=25))
    assert colour_tags(film) == BT709_LIMITED  # a full-range first clip does not make the film full range
    for at in (0.2, 0.6):  # the clip, then the BT.709 one after it
        errors = patch_errors(film_rgb(film, at)[0])
        assert max(errors) <= SDR_TOLERANCE, (at, errors)


@pytest.mark.parametrize("encoding", ["pq", "hlg"])
def test_hdr_clips_are_tone_mapped_to_sdr_and_the_film_is_never_hdr(clips, tmp_path, encoding):
    film = tmp_path / "film.mp4"
    assemble([Piece(_patches(clips, encoding)), Piece(_patches(clips, "bt709"))], film, FilmSettings(size=(320, 180), fps=25))
    assert colour_tags(film) == BT709_LIMITED
    errors = patch_errors(film_rgb(film, 0.2)[0])
    assert errors[MID_GREY] <= 12 and max(errors) <= 20, errors


def test_one_set_of_parameter_sets_for_a_film_of_mixed_sources(clips, tmp_path):
    sources = [_patches(clips, encoding) for encoding in ("full_range", "bt601", "pq", "bt709")]
    film, kept = tmp_path / "film.mp4", tmp_path / "kept"
    assemble([Piece(path) for path in sources], film, FilmSettings(size=(320, 180), fps=25), kept=kept)
    segments = sorted((kept / "segments").glob("*.mp4"))
    assert len(segments) == len(sources)
    assert len({parameter_sets(path) for path in segments}) == 1
    assert parameter_sets(film) == parameter_sets(segments[0])


def test_clips_copied_as_they_are_make_a_film_tagged_bt709(tmp_path):
    clip = patch_clip("bt709_matrix_only", tmp_path / "clip.mp4", seconds=0.4)  # says its matrix, not the rest
    film = tmp_path / "film.mp4"
    assert assemble([Piece(clip), Piece(clip)], film, FilmSettings(size=(320, 180), fps=25)) == "copy"
    assert colour_tags(film) == BT709_LIMITED


def test_anamorphic_pal_keeps_its_display_aspect(clips, tmp_path):
    film = tmp_path / "film.mp4"
    assemble([Piece(clips("anamorphic", anamorphic_clip))], film, FilmSettings(size=(1280, 720), fps=25))
    frame = film_rgb(film, 0.2)[0]
    width, height = bright_box(frame)
    assert abs(width / height - 1) <= 0.03, (width, height)  # the square shows square
    shown = np.flatnonzero(frame.mean(axis=(0, 2)) > 50)  # the grey picture, not the black bars
    assert shown[-1] - shown[0] + 1 >= 1280 * 0.97  # 16:9 fills the 16:9 frame


def test_interlaced_footage_is_deinterlaced_and_progressive_is_not(clips, tmp_path):
    film = tmp_path / "film.mp4"
    assemble([Piece(clips("interlaced", interlaced_clip))], film, FilmSettings(size=(720, 576), fps=25))
    frames = film_rgb(film)
    assert max(combing(frame) for frame in frames[2:-2]) <= 3, [round(combing(frame), 1) for frame in frames]
    progressive = clips("progressive", progressive_edge_clip)
    timeline = film_timeline([Piece(progressive)], 25)
    [segment] = segments_of(timeline)
    graph = " ".join(encode_arguments(segment, timeline, FilmSettings(size=(720, 576), fps=25), {}))
    assert "bwdif" not in graph


def test_a_bt709_progressive_square_pixel_clip_takes_no_step_of_its_own(clips):
    timeline = film_timeline([Piece(_patches(clips, "bt709"))], 25)
    [segment] = segments_of(timeline)
    graph = " ".join(encode_arguments(segment, timeline, FilmSettings(size=(640, 360), fps=25), {}))
    assert not re.search(r"bwdif|colorspace=all|zscale|tonemap|in_range|xfade", graph), graph


def _ramp(times: np.ndarray, start: float, duration: float) -> np.ndarray:
    return np.clip((times - start) / duration, 0, 1)


def test_a_crossfade_between_film_frames_follows_its_true_times(tmp_path):
    # 26 frames at 25 fps: the 0.45 s crossfade starts at 0.59 s, between the 24 fps film's frames 14 and 15
    # the light clip has a tone, the dark one silence: the sound's gain is the light clip's share, as its opacity is
    dark, light = level_clip(16, tmp_path / "dark.mp4", 1.04), level_clip(235, tmp_path / "light.mp4", 1.0, tone=True)
    film = tmp_path / "film.mp4"
    pieces = [Piece(dark), Piece(light, transition="crossfade", transition_duration=0.45)]
    assemble(pieces, film, FilmSettings(size=(64, 36), fps=24))
    shown = opacities(film)
    times = np.arange(len(shown)) / 24
    expected = _ramp(times, 0.59, 0.45)
    assert np.abs(shown - expected).max() <= 0.02, np.round(shown - expected, 3)
    ramp = (times > 0.5) & (times < 1.1)
    heard = sound_gain(film, times[ramp])
    assert np.abs(heard - shown[ramp]).max() <= 0.04, np.round(heard - shown[ramp], 3)  # picture and sound ramp together


def test_a_fade_through_black_between_film_frames_follows_its_true_times(tmp_path):
    first, second = level_clip(235, tmp_path / "a.mp4", 1.04), level_clip(235, tmp_path / "b.mp4", 1.0)
    film = tmp_path / "film.mp4"
    pieces = [Piece(first), Piece(second, transition="fade", transition_duration=0.4)]
    assemble(pieces, film, FilmSettings(size=(64, 36), fps=24))
    shown = opacities(film, low=0)  # black is RGB 0
    times = np.arange(len(shown)) / 24
    expected = np.where(times < 1.04, 1 - _ramp(times, 0.84, 0.2), _ramp(times, 1.04, 0.2))
    assert np.abs(shown - expected).max() <= 0.02, np.round(shown - expected, 3)
    timeline = Timeline(pieces, film_timeline(pieces, 24).sources, 24)
    assert all(abs(opacity - expected[k]) <= 0.02 for k in range(len(shown)) for _, opacity in timeline.on_screen(k / 24))


@pytest.mark.parametrize("interval", [2.0, 1.0])
def test_keyframes_come_at_least_every_interval_in_a_closed_gop(tmp_path, interval):
    clip = tmp_path / "clip.mp4"  # x264's default GOP: one keyframe in 5 s
    subprocess.run([FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=64x36:r=24:d=5", "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-colorspace", "bt709", str(clip)], check=True)
    film = tmp_path / "film.mp4"
    assemble([Piece(clip), Piece(clip)], film, FilmSettings(size=(64, 36), fps=24, keyframe_interval=interval))
    times = [*keyframe_times(film), 10.0]
    assert max(later - earlier for earlier, later in itertools.pairwise(times)) <= interval + 1e-3, times
    settings = film.read_bytes()
    assert b"open_gop=0" in settings and f"keyint={round(interval * 24)} ".encode() in settings


def test_keyframe_interval_is_an_output_option_checked_at_its_line(project, run_cli):
    board = """
        storyboard: 1
        shots:
          - id: a
            prompt: a cat
        output:
          keyframe_interval: {value}
        """
    path = project.write(board.replace("{value}", "0"))
    code, _, err = run_cli("validate", str(path))
    assert code != 0 and "board.yaml:6:" in err and "keyframe_interval" in err, err
    path = project.write(board.replace("{value}", "1.5"))
    assert storyboard.load(path).output.keyframe_interval == 1.5
