"""Footage as people have it (issue #10): variable frame rates, phone rotation, streams that start
apart or at +10 s, NTSC rates, every container, and files cut short. Each case is a small clip
made here with ffmpeg (`footage.py`), with white flashes and 1 kHz beeps at the same instants;
the film made of `plain, case, plain` is decoded and measured, on the fast path and the drawn one.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from footage import CASES, Case, film_around, make_case, marker_box
from test_aimlapi_hostile_answers import PAID, SOLO, scripted_faults

from storyboard.assembling import AssemblyError, FilmSettings, Piece, assemble
from storyboard.emulator import hostile
from storyboard.errors import MediaError
from storyboard.media import check_video, probe, sniff

FPS = 24.0
HALF_FRAME = 0.5 / FPS
SAMPLE_EXACT = 0.001  # seconds: "within 1 ms"; Matroska's timestamps are whole milliseconds
COPYABLE = {"plain", "mov"}  # the same codec, size, rate and parameter sets as the film, upright, starting together
HOSTILE = [name for name in CASES if name != "truncated"]
CONTAINERS = {"mpegts": ".ts", "m2ts": ".m2ts", "mkv": ".mkv", "mov": ".mov", "webm": ".webm", "avi": ".avi", "mxf": ".mxf"}


@pytest.fixture(scope="session")
def cases(tmp_path_factory):
    folder = tmp_path_factory.mktemp("footage")
    return lambda name: make_case(name, folder)


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path-allowed", "drawn"])
@pytest.mark.parametrize("name", HOSTILE)
def test_footage_plays_in_sync_upright_and_whole(cases, tmp_path, name, fast_path):
    film = film_around(cases(name), cases("plain"), tmp_path, fast_path=fast_path)
    assert film.way == ("copy" if fast_path and name in COPYABLE else "segments")
    assert film.sound <= SAMPLE_EXACT, f"the sound is {film.sound * 1000:.2f} ms off its timestamps"
    limit = SAMPLE_EXACT if film.way == "copy" else HALF_FRAME + SAMPLE_EXACT
    assert film.picture <= limit, f"a flash is {film.picture * 1000:.1f} ms off its timestamp"
    assert film.sync <= limit, f"picture and sound {film.sync * 1000:.1f} ms apart"
    assert abs(film.duration_error) <= HALF_FRAME, f"the film is {film.duration_error * 1000:.1f} ms off its length"
    assert abs(film.audio_minus_video) < 0.025  # the film's AAC ends within one of its frames of the picture
    assert film.rotation == 0 and film.marker == "top-left"


def test_a_portrait_phone_clip_is_fitted_upright_never_stretched(cases, tmp_path):
    rotated, plain = cases("rotated"), cases("plain")
    assert probe(rotated.path).picture.size == (640, 360) and probe(rotated.path).picture.rotation % 360 == 270
    film_around(rotated, plain, tmp_path, fast_path=True)  # first a clip that copies, then the turned one
    landscape = tmp_path / "rotated-fast-640x360-contain.mp4"
    left, top, right, bottom = marker_box(landscape, plain.duration + 1.0)
    assert abs((right - left) * 640 - (bottom - top) * 360) <= 2  # a square stays square: 360x640 pillarboxed
    assert 0.33 < left < 0.35 and top < 0.01  # at the top-left of the upright picture, centred in the frame
    film = film_around(rotated, plain, tmp_path, fast_path=True, size=(360, 640))
    assert film.rotation == 0 and film.marker == "top-left"
    portrait = tmp_path / "rotated-fast-360x640-contain.mp4"
    left, top, right, bottom = marker_box(portrait, plain.duration + 1.0)
    assert (left, top) == (0.0, 0.0) and abs((right - left) * 360 - (bottom - top) * 640) <= 2  # fills a 9:16 film


def test_a_rotated_clip_first_in_the_film_does_not_turn_the_others(cases, tmp_path):
    rotated, plain = cases("rotated"), cases("plain")
    film = tmp_path / "film.mp4"
    way = assemble([Piece(rotated.path), Piece(plain.path), Piece(plain.path)], film, FilmSettings(size=(640, 360), fps=FPS))
    assert way == "segments"
    left, top, right, bottom = marker_box(film, rotated.duration + 1.0)  # the plain clip after it: as it is
    assert (left, top) == (0.0, 0.0) and round((right - left) * 640) == 72 and round((bottom - top) * 360) == 72


def test_every_container_that_carries_video_is_recognised_and_validates(cases, project, run_cli):
    lines = ["storyboard: 1", "shots:"]
    for name, suffix in CONTAINERS.items():
        clip = cases(name).path
        assert clip.suffix == suffix
        kind, description = sniff(clip)
        assert kind == "video", f"{name}: {description}"
        shutil.copy(clip, project.root / "assets" / clip.name)
        lines += [f"  - id: {name}", f"    clip: assets/{clip.name}"]
    project.write("\n".join(lines) + "\n")
    code, out, err = run_cli("validate", "board.yaml")
    assert code == 0, out + err


def test_a_bare_elementary_stream_and_unknown_containers_are_asked_of_ffmpeg(tmp_path):
    from footage import _ffmpeg

    raw = tmp_path / "clip.h264"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x180:r=24:d=1", "-c:v", "libx264", "-f", "h264", str(raw))
    kind, description = sniff(raw)
    assert kind == "video" and "H.264" in description
    assert probe(raw).picture.frames == 24


# A clip cut short: refused where it enters (footage at validate, a download before the store), never a short film.


def test_footage_cut_short_is_refused_at_validate_naming_the_shot_line(project, run_cli, cases):
    shutil.copy(cases("truncated").path, project.root / "assets" / "cut.mp4")
    project.write("""
        storyboard: 1
        shots:
          - id: fine
            clip: assets/walk.mp4
          - id: broken
            clip: assets/cut.mp4
    """)
    code, _, err = run_cli("validate", "board.yaml")
    assert code == 2
    assert "board.yaml:6:11: clip 'assets/cut.mp4': is damaged or cut short: its picture stops at" in err
    code, _, _ = run_cli("render", "board.yaml")
    assert code == 2 and not (project.root / "renders").exists()


def test_assembly_refuses_a_clip_cut_short_naming_the_shot_and_the_file(cases, tmp_path):
    damaged: Case = cases("truncated")
    film = tmp_path / "film.mp4"
    with pytest.raises(AssemblyError, match=r"shot 'closing' \(.*truncated\.mp4\): .*damaged or cut short"):
        assemble([Piece(cases("plain").path), Piece(damaged.path, shot="closing")], film, FilmSettings(size=(640, 360), fps=FPS))
    assert not film.exists()


def test_a_downloaded_clip_cut_short_inside_is_fetched_again_and_never_stored(project, run_cli, service):
    emulator = service(latency=0.2)
    scripted_faults(emulator, "download", [{"damaged"}])
    project.write(SOLO)
    code, out, err = run_cli(*PAID)
    assert code == 0, out + err
    stats = emulator.stats()
    assert (stats["creates"], stats["downloads"], stats["faults"]) == (1, 2, {"damaged": 1})
    clips = list((project.root / ".storyboard" / "clips").rglob("*.mp4"))
    assert clips and all(probe(clip).damage is None for clip in clips)


def test_the_emulator_damaged_fault_is_a_clip_that_opens_and_stops_short(cases, tmp_path):
    sent = tmp_path / "sent.mp4"
    sent.write_bytes(hostile.damaged_clip(cases("plain").path))
    assert "of the 2.50 s it declares" in (probe(sent).damage or "")
    with pytest.raises(MediaError, match="damaged or cut short"):
        check_video(sent)
    assert Path(sent).stat().st_size < cases("plain").path.stat().st_size


@pytest.mark.parametrize("suffix", [".mp4", ".flv"], ids=["seekable", "cannot-seek-back"])
def test_a_trim_deep_into_a_long_clip_seeks_and_stays_in_sync(tmp_path, suffix):
    from footage import _ffmpeg, analyse

    clip = tmp_path / f"long{suffix}"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x180:r=24:d=20,eq=brightness=-0.5,"
            "drawbox=c=white:t=fill:enable='between(t,15.5,15.6)'",
            "-f", "lavfi", "-i", "aevalsrc='if(between(t,15.5,15.6),0.5*sin(2*PI*1000*t),0)':s=48000:d=20",
            "-c:v", "libx264" if suffix == ".mp4" else "flv1", "-g", "48", "-pix_fmt", "yuv420p", "-ac", "2", str(clip))
    film = tmp_path / "film.mp4"
    assemble([Piece(clip, trim_start=15.0, trim_end=17.0)], film, FilmSettings(size=(320, 180), fps=FPS))
    found = analyse(film)
    lead = probe(clip).picture.start - probe(clip).start  # FLV's MP3 starts before its picture
    assert len(found.flashes) == len(found.beeps) == 1 and abs(found.video_duration - 2.0) < 1e-6
    assert abs(found.beeps[0] - (0.5 + lead)) <= SAMPLE_EXACT and found.worst_offset() <= HALF_FRAME + SAMPLE_EXACT
