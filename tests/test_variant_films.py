"""Films that share shots (the variants of a file) share the work those shots cost: a shot's loudness is measured
once for every film that shows it (and kept for the next assembly), a segment is encoded once, and each film is
still the film it would be alone."""
from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from avprobe import FFMPEG
from test_broadcast_sound import FPS, SIZE, loudness, tone_clip

import storyboard
from storyboard.assembling import FilmSettings, Piece, assemble


@pytest.fixture
def ffmpeg_runs(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every ffmpeg process started from now on, counted by what it does."""
    runs: Counter[str] = Counter()
    started = subprocess.Popen

    class Counted(started):  # type: ignore[misc, valid-type]
        def __init__(self, arguments, *rest, **options):
            text = " ".join(map(str, arguments))
            kind = ("true peak" if "ebur128=peak=true" in text else "shot loudness" if "ebur128" in text
                    else "segment" if "-filter_complex" in text else "mux" if "pipe:0" in text else "other")
            runs[kind] += 1
            if kind == "segment":  # one ffmpeg may encode two segments (a clip's body and the crossfade out of it)
                runs["segments encoded"] += text.count(" -f mp4 ")
            super().__init__(arguments, *rest, **options)

    monkeypatch.setattr(subprocess, "Popen", Counted)
    return runs


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tones")
    return {"quiet": tone_clip(folder, "quiet", 3.0, 600, 0.03), "loud": tone_clip(folder, "loud", 3.0, 1000, 0.9),
            "middle": tone_clip(folder, "middle", 3.0, 1500, 0.2)}


def test_films_assembled_side_by_side_measure_the_loudness_of_the_shot_they_share_once(tones, tmp_path, ffmpeg_runs):
    settings = FilmSettings(size=SIZE, fps=FPS, normalize=True)
    films = {"a": [tones["quiet"], tones["loud"]], "b": [tones["quiet"], tones["middle"]]}
    failures: list[BaseException] = []

    def film(name: str) -> None:
        try:
            assemble([Piece(path) for path in films[name]], tmp_path / f"{name}.mp4", settings, kept=tmp_path / "kept")
        except BaseException as error:  # noqa: BLE001 - raised again in the test's thread
            failures.append(error)

    threads = [threading.Thread(target=film, args=(name,)) for name in films]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert ffmpeg_runs["shot loudness"] == 3  # quiet, loud, middle: the shared `quiet` once, not once per film
    for name in films:  # each film as it would be alone: the cut does not jump in level, the film at -16 LUFS
        levels = [loudness(tmp_path / f"{name}.mp4", start + 0.5, start + 2.5) for start in (0.0, 3.0)]
        assert abs(levels[0] - levels[1]) <= 3.0, (name, levels)
        assert abs(loudness(tmp_path / f"{name}.mp4", 0, 6) + 16) < 2


def test_assembling_a_film_again_measures_no_shot_again_unless_its_record_is_unreadable(tones, tmp_path, ffmpeg_runs):
    settings = FilmSettings(size=SIZE, fps=FPS, normalize=True)
    pieces, kept, film = [Piece(tones["quiet"]), Piece(tones["loud"])], tmp_path / "kept", tmp_path / "film.mp4"
    assemble(pieces, film, settings, kept=kept)
    assert ffmpeg_runs["shot loudness"] == 2
    again = tmp_path / "again.mp4"
    assemble(pieces, again, settings, kept=kept)
    assert ffmpeg_runs["shot loudness"] == 2  # both found as they were measured
    assert abs(loudness(again, 0, 6) - loudness(film, 0, 6)) < 0.1
    records = sorted((kept / "segments").glob("loudness-*.json"))
    assert len(records) == 2
    records[0].write_text("{not json")
    measured = ffmpeg_runs["shot loudness"]
    assemble(pieces, film, settings, kept=kept)
    assemble([Piece(tones["quiet"], trim_start=0.5), Piece(tones["loud"])], film, settings, kept=kept)
    assert ffmpeg_runs["shot loudness"] == measured + 2  # the unreadable record, and the part of `quiet` a trim changed


VARIANTS = """
storyboard: 1
variants:
  product: [shoes, bag]
defaults: {resolution: 720p, duration: 2}
shots:
  - {id: opening, prompt: fog over a mountain lake, seed: 1}
  - {id: hero, prompt: "the {{ variant.product }} on a rock", seed: 2}
  - {id: brand, prompt: the logo in chalk, seed: 3, transition: {type: crossfade, duration: 0.25}}
output:
  path: out/ad-{{ variant.product }}.mp4
  audio: {normalize: true}
"""


def test_rendering_variants_does_each_shared_shots_sound_and_picture_work_once(project, ffmpeg_runs):
    project.write(VARIANTS)
    boards = storyboard.load_variants("board.yaml")
    storyboard.render_variants(boards, backend="preview")  # the clips, and the films a first time
    for film in (project.root / "out").glob("*.mp4"):
        film.unlink()
    shutil.rmtree(project.root / ".storyboard" / "segments")  # nothing kept from that first time
    ffmpeg_runs.clear()
    result = storyboard.render_variants(boards, backend="preview")
    assert sorted(path.name for path in result.films.values()) == ["ad-bag.mp4", "ad-shoes.mp4"]
    assert ffmpeg_runs["shot loudness"] == 4  # opening and brand once for both films, each film's own hero
    # the segments: opening's body once; then per film hero's body, the crossfade hero → brand, brand's body
    # (brand's body is the same clip from the same time in both films: once)
    assert ffmpeg_runs["segments encoded"] == 1 + 2 * 2 + 1
    assert ffmpeg_runs["mux"] == 2


def test_films_starting_side_by_side_read_a_clip_they_share_once(tones, monkeypatch):
    import av

    from storyboard.media import probe

    opened: list[str] = []
    original = av.open

    def slow_open(file, *rest, **options):  # a big clip on a slow disk: both films ask before either has it
        opened.append(str(file))
        time.sleep(0.3)
        return original(file, *rest, **options)

    shared = tones["quiet"].parent / "shared.mp4"
    shared.write_bytes(tones["quiet"].read_bytes())  # a file no test has probed yet
    monkeypatch.setattr(av, "open", slow_open)
    with ThreadPoolExecutor(max_workers=2) as films:
        infos = list(films.map(probe, [shared, shared]))
    assert opened == [str(shared)] and infos[0] == infos[1] and infos[0].has_audio


def _clip(folder: Path, name: str, keyframes_every: int) -> Path:
    """2 s of moving picture at 24 fps (every frame its own), a keyframe every `keyframes_every` frames."""
    path = folder / f"{name}.mp4"
    subprocess.run([FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=320x180:r=24:d=2", "-c:v", "libx264",
                    "-preset", "ultrafast", "-g", str(keyframes_every), "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def _frames(path: Path) -> list[str]:
    """Each decoded frame's MD5."""
    report = subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-map", "0:v:0", "-f", "framemd5", "-"],
                            capture_output=True, text=True, check=True).stdout
    return [line.split(",")[-1].strip() for line in report.splitlines() if line and not line.startswith("#")]


@pytest.mark.parametrize("keyframes_every", [250, 12])  # one keyframe (as generated clips have), or one every 0.5 s
def test_a_clips_body_and_the_crossfade_out_of_it_are_one_ffmpeg_and_the_segments_they_are_alone(
        tmp_path, ffmpeg_runs, keyframes_every):
    from storyboard.assembling import film_timeline
    from storyboard.assembling.encode import _encoder, encode_arguments
    from storyboard.assembling.segments import segment_key, segments_of

    clips = [_clip(tmp_path, name, keyframes_every) for name in ("a", "b", "c")]
    pieces = [Piece(clips[0]), Piece(clips[1], transition="crossfade", transition_duration=0.5),
              Piece(clips[2], transition="crossfade", transition_duration=0.5)]
    settings, kept = FilmSettings(size=(320, 180), fps=FPS), tmp_path / "kept"
    assemble(pieces, tmp_path / "film.mp4", settings, kept=kept)
    assert ffmpeg_runs["segments encoded"] == 5  # a, a → b, b, b → c, c
    assert ffmpeg_runs["segment"] == 3  # a with a → b, b with b → c, c: each clip decoded once for its two segments
    timeline = film_timeline(pieces, FPS)
    for segment in segments_of(timeline):  # each segment as it would be encoded alone, frame for frame
        alone = tmp_path / "alone.mp4"
        subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", *encode_arguments(segment, timeline, settings, {}),
                        str(alone)], check=True)
        kept_segment = kept / "segments" / f"{segment_key(segment, timeline, settings, _encoder())}.mp4"
        assert _frames(kept_segment) == _frames(alone) and len(_frames(alone)) == segment.frames
