"""`storyboard export`: the film's cut for an editor. Every format is read back with OpenTimelineIO
and checked against the plan and the film itself (its frames, by probing it)."""
from __future__ import annotations

import json
import math
import re
import sys
import wave
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest
from conftest import copy_of, rendered_once

import storyboard
from storyboard.exporting import FORMATS, export
from storyboard.exporting import formats as export_formats
from storyboard.exporting.cut import gather
from storyboard.media import probe
from storyboard.project.store import ClipStore

FPS = 24
BOARD = """\
storyboard: 1
title: The Night Ferry
defaults: {resolution: 720p, duration: 2, aspect_ratio: "16:9"}
cast:
  fox: {description: a red fox}
  ferryman: {description: an old ferryman}
shots:
  - id: opening
    prompt: A red fox waits on the dock at dawn
    seed: 3
    trim: {start: 0.25, end: 1.75}
  - id: lake
    prompt: The ferry crosses the lake
    transition: {type: crossfade, duration: 0.5}
    dialogue:
      - {who: fox, say: "Is that the ferry?", at: 0.5}
      - {who: ferryman, say: "All aboard!"}
  - id: walk
    clip: assets/walk.mp4
    trim: {start: 0.5}
    transition: {type: fade, duration: 1}
  - id: dock
    prompt: The dock at night
    seed: 5
    takes: 2
    take: 2
    transition: {type: crossfade, duration: 0.3}
    dialogue:
      - {who: ferryman, say: "Mind the gap."}
output:
  path: out/film.mp4
  fps: 24
  audio:
    music: {path: assets/theme.wav, volume: 0.5, loop: true}
"""
SHOTS = ["opening", "lake", "walk", "dock"]
COLLECTED = ["01-opening.mp4", "02-lake.mp4", "03-walk.mp4", "04-dock-take2.mp4"]  # dock: take 2 of 2
THEME_SECONDS = 1.5


def write_theme(path: Path, seconds: float = THEME_SECONDS) -> None:
    rate = 48_000
    samples = (np.sin(np.arange(round(seconds * rate)) * 2 * np.pi * 440 / rate) * 8000).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    """A project rendered once on the preview backend; each test gets its own copy."""
    return rendered_once(tmp_path_factory, "export", BOARD, lambda root: write_theme(root / "assets" / "theme.wav"))


@pytest.fixture
def copy(made: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return copy_of(made, tmp_path, monkeypatch)


def film_frames(root: Path) -> int:
    info = probe(root / "out" / "film.mp4")
    assert info.picture.fps == FPS
    assert info.duration is not None and abs(info.duration - info.picture.frames / FPS) < 1e-3
    return info.picture.frames


def shot_clips(track: otio.schema.Track) -> list[otio.schema.Clip]:
    """The clips of a track that play a shot (an EDL's fades come back as clips of black)."""
    return [item for item in track if isinstance(item, otio.schema.Clip)
            and not isinstance(item.media_reference, otio.schema.GeneratorReference)]


def transitions(track: otio.schema.Track) -> list[tuple[int, int]]:
    return [(round(item.in_offset.to_frames()), round(item.out_offset.to_frames()))
            for item in track if isinstance(item, otio.schema.Transition)]


def frames(time: otio.opentime.RationalTime) -> int:
    value = time.to_frames(FPS)
    assert value == time.value_rescaled_to(FPS)  # whole frames
    return int(value)


def frame_by_frame(track: otio.schema.Track, fps: float) -> list[dict[str, float]]:
    """For each frame of a track: the shots it shows and the time (seconds into each clip) shown of
    each, dissolves' handles included, as an editor plays it."""
    shown: list[dict[str, float]] = [{} for _ in range(round(track.duration().to_frames()))]
    items = list(track)
    at = 0
    for index, item in enumerate(items):
        if isinstance(item, otio.schema.Transition):
            before, after = items[index - 1], items[index + 1]
            for frame in range(at - round(item.in_offset.to_frames()), at + round(item.out_offset.to_frames())):
                if isinstance(before, otio.schema.Clip):
                    shown[frame][before.name] = (before.source_range.end_time_exclusive().to_frames() + frame - at) / fps
                if isinstance(after, otio.schema.Clip):
                    shown[frame][after.name] = (after.source_range.start_time.to_frames() + frame - at) / fps
            continue
        length = round(item.duration().to_frames())
        if isinstance(item, otio.schema.Clip):
            for frame in range(at, at + length):
                shown[frame][item.name] = (item.source_range.start_time.to_frames() + frame - at) / fps
        at += length
    return shown


def assert_plays_as_the_film(track: otio.schema.Track, board_file: str) -> None:
    """Every frame shows the shots the film shows there, each at the time of its clip the film shows (to the frame)."""
    timeline = gather(storyboard.load(board_file), "preview").timeline
    fps = timeline.fps
    cut = frame_by_frame(track, fps)
    assert len(cut) == timeline.frames
    for frame, shown in enumerate(cut):
        film = {timeline.pieces[index].shot: timeline.pieces[index].trim_start + frame / fps - timeline.starts[index]
                for index, _ in timeline.on_screen(frame / fps)}
        assert shown.keys() == film.keys(), frame
        for shot, at in shown.items():
            assert abs(at - film[shot]) < 1 / fps, (frame, shot)
            assert 0 <= at < 2.0, (frame, shot)  # within the clip: handles exist


def test_the_otio_timeline_is_the_film_frame_for_frame(copy, run_cli):
    code, out, err = run_cli("export", "board.yaml", "out/cut.otio")
    assert code == 0, err
    assert "exported: out/cut.otio" in out and "149 frames at 24 fps" in out
    timeline = otio.adapters.read_from_file("out/cut.otio")
    total = film_frames(copy)
    assert total == 149  # 1.5 + 2 - 0.5 + 1.5 + 2 - 0.3 s at 24 fps
    assert timeline.name == "The Night Ferry"
    assert frames(timeline.duration()) == total and timeline.duration().rate == FPS
    assert [(track.name, track.kind) for track in timeline.tracks] == [("V1", "Video"), ("A1", "Audio"), ("A2", "Audio")]
    assert all(frames(track.duration()) == total for track in timeline.tracks)

    video = timeline.video_tracks()[0]
    assert_plays_as_the_film(video, "board.yaml")
    clips = shot_clips(video)
    assert [clip.name for clip in clips] == SHOTS
    # in and out points: the trims, and half of each crossfade (the dissolve is centred on the cut)
    assert [(frames(clip.source_range.start_time), frames(clip.source_range.duration)) for clip in clips] == [
        (6, 30),   # opening: trim 0.25 s to 1.75 s, its last 6 frames under the dissolve
        (6, 42),   # lake: from the middle of the dissolve to its end
        (12, 32),  # walk: trim 0.5 s, the dissolve into dock from its frame 44
        (3, 45),   # dock: 0.3 s crossfade, 7 frames: 3 before the cut, 4 after
    ]
    assert transitions(video) == [(6, 6), (12, 0), (0, 12), (3, 4)]
    kinds = [item.metadata["storyboard"]["transition"] for item in video if isinstance(item, otio.schema.Transition)]
    assert kinds == ["crossfade", "fade", "fade", "crossfade"]
    fade_gap = next(item for item in video if isinstance(item, otio.schema.Gap))
    assert frames(fade_gap.duration()) == 0  # a fade adds no time: out to black, then in, around the cut
    for clip in clips:  # each clip whole, and its media within it, dissolves' handles included
        available = clip.media_reference.available_range
        assert frames(available.start_time) == 0 and frames(available.duration) == 48
        assert clip.source_range.end_time_exclusive() <= available.end_time_exclusive()

    board = storyboard.load("board.yaml")
    the_plan = storyboard.plan(board)
    store = ClipStore(copy)
    assert the_plan.backend is not None  # the plan looked its clips up
    for clip, item, name in zip(clips, the_plan.shots, COLLECTED, strict=True):
        path = item.footage or store.clip_path(the_plan.backend, item.hash)
        assert clip.media_reference.target_url == f"cut-media/{name}"  # beside out/cut.otio
        assert (copy / "out" / "cut-media" / name).samefile(path)
        about = clip.metadata["storyboard"]
        assert about["shot"] == item.id and about["hash"] == item.hash
        if item.footage is None:
            assert about["prompt"] == item.body["prompt"] and about["model"] == "alibaba/wan-2-7-r2v"
            assert (about["take"], about["takes"], about["seed"]) == (item.take, item.takes, item.setting("seed"))
    dock = clips[3].metadata["storyboard"]
    assert (dock["take"], dock["takes"]) == (2, 2) and dock["hash"] == the_plan.takes("dock")[1].hash
    assert clips[0].metadata["storyboard"]["prompt"] == "A red fox waits on the dock at dawn"
    assert clips[2].metadata["storyboard"]["footage"].endswith("walk.mp4")
    assert "prompt" not in clips[2].metadata["storyboard"]

    sound, music = timeline.audio_tracks()
    assert [clip.name for clip in shot_clips(sound)] == ["opening", "lake", "dock"]  # walk.mp4 has no sound: a gap
    assert [type(item).__name__ for item in sound] == ["Clip", "Transition", "Clip", "Transition", "Gap", "Transition", "Clip"]
    assert transitions(sound) == [(6, 6), (12, 0), (0, 7)]  # dock's sound fades in from the silence over the overlap
    loops = shot_clips(music)
    assert {clip.name for clip in loops} == {"theme.wav"} and len(loops) == math.ceil(total / (THEME_SECONDS * FPS))
    assert loops[0].metadata["storyboard"]["soundtrack"]["volume"] == 0.5
    assert loops[0].media_reference.target_url == "cut-media/soundtrack.wav"


def test_the_otio_file_reads_as_an_editor_would_read_it(copy, run_cli):
    assert run_cli("export", "board.yaml", "cut.otio")[0] == 0
    document = json.loads((copy / "cut.otio").read_text())
    assert document["OTIO_SCHEMA"].startswith("Timeline.")
    assert document["metadata"]["storyboard"]["fps"] == FPS
    first = document["tracks"]["children"][0]["children"][0]
    assert first["name"] == "opening"
    assert first["media_references"]["DEFAULT_MEDIA"]["target_url"] == "cut-media/01-opening.mp4"
    assert first["metadata"]["storyboard"]["request"]["seed"] == 3


@pytest.mark.parametrize("suffix", [".xml", ".edl", ".fcpxml"])
def test_the_editor_formats_read_back_as_the_same_cut(copy, run_cli, suffix):
    code, out, err = run_cli("export", "board.yaml", f"cut{suffix}")
    assert code == 0, err
    assert FORMATS[suffix].loses in out  # what the format cannot hold is said
    timeline = otio.adapters.read_from_file(f"cut{suffix}")
    total = film_frames(copy)
    video = timeline.video_tracks()
    assert len(video) == 1
    assert frames(video[0].duration()) == total
    assert video[0].duration().rate == FPS
    clips = shot_clips(video[0])
    assert [clip.name for clip in clips] == SHOTS
    if suffix == ".edl":  # an EDL starts each dissolve on the clip after it: the whole dissolve is the incoming clip's
        assert transitions(video[0]) == [(0, 12), (0, 12), (0, 12), (0, 7)]
        assert [frames(clip.source_range.start_time) for clip in clips] == [6, 0, 12, 0]
        assert timeline.audio_tracks() == []
    elif suffix == ".xml":
        assert transitions(video[0]) == [(6, 6), (12, 0), (0, 12), (3, 4)]
        assert [frames(clip.source_range.start_time) for clip in clips] == [6, 6, 12, 3]
        assert [frames(track.duration()) for track in timeline.audio_tracks()] == [total, total]
    else:  # the fcpx_xml adapter writes no transitions: cuts at the middle of each crossfade
        assert transitions(video[0]) == []
        assert [(frames(clip.source_range.start_time), frames(clip.duration())) for clip in clips] == \
            [(6, 30), (6, 42), (12, 32), (3, 45)]


def test_the_fcp7_xml_says_fades_and_sound_as_premiere_and_resolve_read_them(copy, run_cli):
    assert run_cli("export", "board.yaml", "cut.xml")[0] == 0
    root = ElementTree.parse(copy / "cut.xml").getroot()
    assert root.tag == "xmeml"
    sequence = root.find("./project/children/sequence")
    assert sequence is not None and sequence.findtext("duration") == "149" and sequence.findtext("rate/timebase") == "24"
    frame = sequence.find("./media/video/format/samplecharacteristics")
    assert frame is not None and (frame.findtext("width"), frame.findtext("height")) == ("1280", "720")  # the film's
    video = sequence.findall("./media/video/track/transitionitem")
    assert [item.findtext("alignment") for item in video] == ["center", "end-black", "start-black", "center"]
    assert {item.findtext("effect/mediatype") for item in video} == {"video"}
    audio = sequence.findall("./media/audio/track/transitionitem")
    assert {item.findtext("effect/mediatype") for item in audio} == {"audio"}
    names = [item.findtext("name") for item in sequence.findall("./media/video/track/clipitem")]
    assert names == SHOTS
    urls = {element.text for element in root.iter("pathurl")}
    assert urls == {f"cut-media/{name}" for name in COLLECTED} | {"cut-media/soundtrack.wav"}


def test_the_edl_names_each_shot_and_gives_each_shot_its_own_reel_named_after_it(copy, run_cli):
    (copy / "long.yaml").write_text(BOARD.replace("id: opening", "id: opening-of_the.film"))
    assert run_cli("export", "long.yaml", "cut.edl")[0] == 0
    text = (copy / "cut.edl").read_text()
    assert text.startswith("TITLE: The Night Ferry\n")
    events = [line.split() for line in text.splitlines() if line[:3].isdigit()]
    # the shot's number in the film and its id: 8 letters, digits and '_' at most, never a hash
    assert [event[1] for event in events] == ["01OPENIN", "01OPENIN", "02LAKE", "02LAKE", "BL", "BL", "03WALK", "03WALK",
                                              "04DOCK"]  # a dissolve's event names the reels on both its sides
    for shot, name in zip(["opening-of_the.film", *SHOTS[1:]], COLLECTED, strict=True):
        assert f"CLIP NAME:  {shot}" in text
        assert f" CLIP: cut-media/{name.replace('opening', 'opening-of_the.film')}\n" in text  # FROM, or TO for a dissolve's
    assert " D 012 " in text and " D 007 " in text  # the dissolves, the fade's through black (BL)


def test_the_fcpxml_carries_each_prompt_as_a_note(copy, run_cli):
    assert run_cli("export", "board.yaml", "cut.fcpxml")[0] == 0
    root = ElementTree.parse(copy / "cut.fcpxml").getroot()
    notes = [element.text for element in root.iter("note")]
    assert "opening: A red fox waits on the dock at dawn" in notes
    sequence = root.find(".//sequence")
    assert sequence is not None and sequence.get("duration") == "149/24s"


def test_clips_not_rendered_yet_are_named_and_nothing_is_written(copy, run_cli):
    (copy / "more.yaml").write_text(BOARD.replace("  - id: dock", "  - id: later\n    prompt: A new shot\n  - id: dock")
                                    .replace("seed: 5", "seed: 6"))
    code, _, err = run_cli("export", "more.yaml", "cut.otio")
    assert code == 1
    assert err.strip() == ("error: no clip yet for 2 shots on the preview backend: 'later', 'dock' (take 2); "
                           "render first: storyboard render more.yaml")
    assert not (copy / "cut.otio").exists()
    code, _, err = run_cli("export", "board.yaml", "cut.otio", "--backend", "aimlapi")
    assert code == 1 and "render first: storyboard render board.yaml --backend aimlapi" in err
    assert "'walk'" not in err  # footage needs no render


def test_a_missing_adapter_says_how_to_install_it(copy, run_cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "otio_cmx3600_adapter", None)  # as if the plugin were not installed
    code, _, err = run_cli("export", "board.yaml", "cut.edl")
    assert code == 2
    assert err.count("\n") == 1 and "pip install 'storyboard-render[editors]'" in err
    assert not (copy / "cut.edl").exists()
    assert run_cli("export", "board.yaml", "cut.otio")[0] == 0  # .otio needs no plugin


def test_an_unknown_extension_lists_the_formats(copy, run_cli):
    code, _, err = run_cli("export", "board.yaml", "cut.mov")
    assert code == 2
    assert "'.mov'" in err and all(suffix in err for suffix in (".otio", ".xml", ".edl", ".fcpxml"))
    assert run_cli("export", "board.yaml", "cut")[0] == 2


def test_export_never_overwrites_an_input(copy, run_cli):
    before = (copy / "board.yaml").read_bytes()
    (copy / "cut.otio").symlink_to(copy / "board.yaml")
    code, _, err = run_cli("export", "board.yaml", "cut.otio")
    assert code == 2 and "the storyboard file itself" in err
    assert (copy / "board.yaml").read_bytes() == before
    code, _, err = run_cli("export", "board.yaml", ".storyboard/cut.otio")
    assert code == 2 and ".storyboard/" in err
    (copy / "snippets").mkdir()
    (copy / "snippets" / "style.xml").write_text("at night")
    (copy / "snippet.yaml").write_text(BOARD.replace("The dock at night", "The dock {% include 'snippets/style.xml' %}"))
    code, _, err = run_cli("export", "snippet.yaml", "snippets/style.xml")
    assert code == 2 and "template snippet" in err
    assert (copy / "snippets" / "style.xml").read_text() == "at night"


def test_a_failed_write_leaves_the_previous_file_as_it_was(copy, monkeypatch):
    written = export("board.yaml", "cut.otio")
    assert (written.path, written.shots, written.frames, written.fps) == (Path("cut.otio"), 4, 149, FPS)
    before = (copy / "cut.otio").read_bytes()

    def broken(timeline, chosen, path):
        path.write_text("half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export_formats, "write", broken)
    with pytest.raises(OSError):
        export("board.yaml", "cut.otio")
    assert (copy / "cut.otio").read_bytes() == before
    assert [path.name for path in copy.iterdir() if "partial" in path.name] == []


def test_odd_rates_and_times_still_last_as_long_as_the_film(copy, run_cli):
    """30 fps from 24 fps clips (and 12 fps footage), trims and transitions off the frame grid."""
    odd = (BOARD.replace("fps: 24", "fps: 30").replace("{start: 0.25, end: 1.75}", "{start: 0.33, end: 1.71}")
           .replace("duration: 0.5}", "duration: 0.37}").replace("{type: fade, duration: 1}", "{type: fade, duration: 0.45}")
           .replace("trim: {start: 0.5}", "trim: {start: 0.29, end: 1.93}").replace("duration: 0.3}", "duration: 0.53}"))
    (copy / "odd.yaml").write_text(odd.replace("out/film.mp4", "out/odd.mp4"))
    assert run_cli("render", "odd.yaml")[0] == 0
    film = probe(copy / "out" / "odd.mp4").picture
    for suffix in (".otio", ".xml", ".edl", ".fcpxml"):
        assert run_cli("export", "odd.yaml", f"odd{suffix}")[0] == 0
        timeline = otio.adapters.read_from_file(f"odd{suffix}", **({"rate": 30} if suffix == ".edl" else {}))
        video = timeline.video_tracks()[0]
        assert video.duration().rate == 30
        assert video.duration().to_frames() == film.frames, suffix
        assert [clip.name for clip in shot_clips(video)] == SHOTS
        if suffix in (".otio", ".xml"):
            assert_plays_as_the_film(video, "odd.yaml")


def test_a_rate_a_format_cannot_hold_is_refused_and_ntsc_rates_are_exact(copy, run_cli):
    (copy / "slow.yaml").write_text(BOARD.replace("fps: 24", "fps: 12"))
    for suffix in (".xml", ".edl", ".fcpxml"):
        code, _, err = run_cli("export", "slow.yaml", f"slow{suffix}")
        assert code == 2 and "12 fps" in err and ".otio" in err, suffix
    assert run_cli("export", "slow.yaml", "slow.otio")[0] == 0

    (copy / "ntsc.yaml").write_text(BOARD.replace("fps: 24", "fps: 29.97"))
    expected = gather(storyboard.load("ntsc.yaml"), "preview").timeline.frames
    for suffix in (".otio", ".xml", ".edl"):
        code, out, err = run_cli("export", "ntsc.yaml", f"ntsc{suffix}")
        assert code == 0, err
        timeline = otio.adapters.read_from_file(f"ntsc{suffix}", **({"rate": 30000 / 1001} if suffix == ".edl" else {}))
        video = timeline.video_tracks()[0]
        assert video.duration().rate == pytest.approx(30000 / 1001, abs=1e-9), suffix
        assert round(video.duration().value) == expected, suffix
    assert "import it at 29.97 fps" in out  # an EDL does not say its rate
    code, _, err = run_cli("export", "ntsc.yaml", "ntsc.fcpxml")
    assert code == 2 and "29.97 fps" in err


def store_files(root: Path) -> list[Path]:
    """Each shot's clip as the film uses it (the store's, or the footage), in film order."""
    the_plan = storyboard.plan(storyboard.load(root / "board.yaml"))
    assert the_plan.backend is not None
    store = ClipStore(root)
    return [item.footage or store.clip_path(the_plan.backend, item.hash) for item in the_plan.shots]


def collected_urls(timeline: otio.schema.Timeline) -> list[str]:
    return [clip.media_reference.target_url for clip in shot_clips(timeline.video_tracks()[0])]


@pytest.mark.parametrize("suffix", [".otio", ".xml", ".edl", ".fcpxml"])
def test_the_media_are_collected_beside_the_cut_with_readable_names_and_relative_paths(copy, run_cli, suffix):
    code, out, err = run_cli("export", "board.yaml", f"out/cut{suffix}")
    assert code == 0, err
    media = copy / "out" / "cut-media"
    assert sorted(path.name for path in media.iterdir()) == [*COLLECTED, "soundtrack.wav"]  # nothing else: no leftovers
    assert "media: out/cut-media/ (5 files: 5 linked)" in out
    for name, source in zip(COLLECTED, store_files(copy), strict=True):
        assert (media / name).samefile(source)  # a hard link: same file system here
    assert (media / "soundtrack.wav").samefile(copy / "assets" / "theme.wav")
    written = (copy / "out" / f"cut{suffix}").read_text()
    assert ".storyboard" not in written  # no path into the clip store
    timeline = otio.adapters.read_from_file(f"out/cut{suffix}")
    if suffix == ".edl":  # no paths in an EDL's events: its FROM CLIP (and a dissolve's TO CLIP) comments say them
        urls = list(dict.fromkeys(re.findall(r"^\* (?:FROM|TO) CLIP: (.+)$", written, re.MULTILINE)))
    else:
        urls = collected_urls(timeline)
    assert urls == [f"cut-media/{name}" for name in COLLECTED]
    for url, source in zip(urls, store_files(copy), strict=True):
        assert (copy / "out" / url).samefile(source)  # relative to the exported file: it resolves
    if suffix != ".edl":  # the soundtrack too (an EDL holds the picture only)
        music = next(track for track in timeline.audio_tracks() if shot_clips(track)[0].name == "theme.wav")
        assert {clip.media_reference.target_url for clip in shot_clips(music)} == {"cut-media/soundtrack.wav"}


def test_media_are_copied_where_hard_links_are_refused_and_a_second_export_reuses_them(copy, run_cli, monkeypatch):
    def refused(source, target):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr("os.link", refused)
    code, out, err = run_cli("export", "board.yaml", "cut.xml")
    assert code == 0, err
    assert "(5 files: 5 copied)" in out
    media = copy / "cut-media"
    before = {path.name: path.stat() for path in media.iterdir()}
    for name, source in zip(COLLECTED, store_files(copy), strict=True):
        assert not (media / name).samefile(source) and (media / name).read_bytes() == source.read_bytes()
    code, out, err = run_cli("export", "board.yaml", "cut.xml")
    assert code == 0, err
    assert "(5 files: 5 already there)" in out
    after = {path.name: path.stat() for path in media.iterdir()}
    assert {name: (info.st_ino, info.st_mtime_ns) for name, info in after.items()} == \
        {name: (info.st_ino, info.st_mtime_ns) for name, info in before.items()}  # not written again


def test_a_second_export_reuses_the_linked_media_and_replaces_what_changed(copy, run_cli):
    assert run_cli("export", "board.yaml", "cut.otio")[0] == 0
    media = copy / "cut-media"
    inodes = {path.name: path.stat().st_ino for path in media.iterdir()}
    (media / "02-lake.mp4").unlink()
    (media / "02-lake.mp4").write_bytes(b"edited by someone")  # no longer the clip: replaced, never written through
    (media / "03-walk.mp4").unlink()
    (media / "03-walk.mp4").symlink_to(copy / "board.yaml")  # a link is replaced, not followed
    board = (copy / "board.yaml").read_bytes()
    code, out, err = run_cli("export", "board.yaml", "cut.otio")
    assert code == 0, err
    assert "(5 files: 2 linked, 3 already there)" in out
    assert {path.name: path.stat().st_ino for path in media.iterdir()} == inodes
    assert (copy / "board.yaml").read_bytes() == board
    assert (media / "02-lake.mp4").samefile(store_files(copy)[1]) and not (media / "03-walk.mp4").is_symlink()


def test_media_store_points_at_the_clip_store_by_absolute_paths(copy, run_cli):
    code, out, err = run_cli("export", "board.yaml", "cut.otio", "--media", "store")
    assert code == 0, err
    assert "media: the clip store's files, by absolute paths" in out
    assert not (copy / "cut-media").exists()
    sources = store_files(copy)
    assert collected_urls(otio.adapters.read_from_file("cut.otio")) == [path.absolute().as_uri() for path in sources]
    written = storyboard.export("board.yaml", "cut.xml", media="store")  # the Python API says it the same way
    assert written.media is None and not (copy / "cut-media").exists()
    assert collected_urls(otio.adapters.read_from_file("cut.xml")) == [path.absolute().as_uri() for path in sources]
    default = storyboard.export("board.yaml", "cut.xml")
    assert default.media is not None and default.media.folder == Path("cut-media")
    assert [path.name for path in default.media.clips] == COLLECTED
    with pytest.raises(storyboard.UsageError, match="collect, store"):
        export("board.yaml", "cut.otio", media="elsewhere")  # type: ignore[arg-type]
    assert run_cli("export", "board.yaml", "cut.otio", "--media", "elsewhere")[0] == 2


def test_the_dialogue_becomes_markers_on_the_clips_at_their_time(copy, run_cli):
    for suffix in (".otio", ".xml", ".edl", ".fcpxml"):
        assert run_cli("export", "board.yaml", f"cut{suffix}")[0] == 0, suffix
    timeline = otio.adapters.read_from_file("cut.otio")
    clips = {clip.name: clip for clip in shot_clips(timeline.video_tracks()[0])}
    marked = {name: [(marker.name, marker.comment, frames(marker.marked_range.start_time),
                      frames(marker.marked_range.duration)) for marker in clip.markers] for name, clip in clips.items()}
    assert marked == {
        "opening": [], "walk": [],
        # in the clip's own time: "at: 0.5" is its frame 12; the line after shares the time to the shot's end
        "lake": [("fox", "Is that the ferry?", 12, 21), ("ferryman", "All aboard!", 33, 15)],
        # said from the shot's first frame, under the crossfade: marked where the clip shows, frame 3
        "dock": [("ferryman", "Mind the gap.", 3, 45)],
    }
    assert clips["lake"].markers[0].metadata["storyboard"] == {"shot": "lake", "who": "fox", "say": "Is that the ferry?",
                                                               "at": 0.5}
    assert all(not clip.markers for track in timeline.audio_tracks() for clip in shot_clips(track))  # once, on the picture

    xml = {clip.name: clip for clip in shot_clips(otio.adapters.read_from_file("cut.xml").video_tracks()[0])}
    assert [(marker.name, marker.metadata["fcp_xml"]["comment"], frames(marker.marked_range.start_time))
            for marker in xml["lake"].markers] == [("fox", "Is that the ferry?", 12), ("ferryman", "All aboard!", 33)]
    edl = (copy / "cut.edl").read_text()
    assert "* LOC: 00:00:00:12 YELLOW  FOX: IS THAT THE FERRY?\n" in edl and "FERRYMAN: MIND THE GAP." in edl
    values = [element.get("value") for element in ElementTree.parse(copy / "cut.fcpxml").getroot().iter("marker")]
    assert values == ["fox: Is that the ferry?", "ferryman: All aboard!", "ferryman: Mind the gap."]


def test_a_media_folder_holding_an_input_or_inside_the_state_folder_is_refused(copy, run_cli):
    (copy / "reel-media").mkdir()
    (copy / "reel-media" / "walk.mp4").write_bytes((copy / "assets" / "walk.mp4").read_bytes())
    (copy / "reel.yaml").write_text(BOARD.replace("clip: assets/walk.mp4", "clip: reel-media/walk.mp4"))
    code, _, err = run_cli("export", "reel.yaml", "reel.otio")
    assert code == 2 and "reel-media/" in err and "the clip of shot 'walk'" in err and "--media store" in err
    assert not (copy / "reel.otio").exists() and [path.name for path in (copy / "reel-media").iterdir()] == ["walk.mp4"]
    assert run_cli("export", "reel.yaml", "reel.otio", "--media", "store")[0] == 0  # nothing is written there then

    clips = copy / ".storyboard" / "clips"
    held = sorted(path.name for path in clips.rglob("*"))
    (copy / "cut-media").symlink_to(clips / "preview")
    code, _, err = run_cli("export", "board.yaml", "cut.edl")
    assert code == 2 and ".storyboard/" in err
    assert sorted(path.name for path in clips.rglob("*")) == held and not (copy / "cut.edl").exists()

    (copy / "notes.txt").write_text("at night")
    (copy / "notes-media").symlink_to(copy / "notes.txt")  # the folder's name is the snippet itself
    (copy / "snippet.yaml").write_text(BOARD.replace("The dock at night", "The dock {% include 'notes-media' %}"))
    code, _, err = run_cli("export", "snippet.yaml", "notes.xml")
    assert code == 2 and "template snippet" in err
    assert (copy / "notes.txt").read_text() == "at night"
    (copy / "film-media").write_text("not a folder")
    code, _, err = run_cli("export", "board.yaml", "film.otio")
    assert code == 2 and "not a folder" in err


@pytest.mark.parametrize("character", ["\x1b", "\x00", "\uffff"], ids=["escape", "nul", "U+FFFF"])
def test_words_xml_cannot_hold_and_a_title_of_several_lines_export_to_every_format(copy, run_cli, character):
    """A prompt, a dialogue line and the title may hold what XML 1.0 forbids; the title (an EDL's TITLE
    line) may hold line breaks that would write an event of their own. Every format still reads back."""
    escaped = json.dumps(character)[1:-1]
    injected = "001  BL       V     C        00:00:00:00 00:00:09:00 00:00:00:00 00:00:09:00"
    board = (BOARD.replace("title: The Night Ferry", f'title: "The Night\\n\\n{injected}\\nFerry {escaped}"')
             .replace("prompt: A red fox waits on the dock at dawn", f'prompt: "A red fox{escaped} waits"')
             .replace('say: "Is that the ferry?"', f'say: "Is that{escaped} the\\nferry?"'))
    (copy / "odd.yaml").write_text(board)
    code, out, err = run_cli("render", "odd.yaml")
    assert code == 0, out + err

    for suffix in (".otio", ".xml", ".edl", ".fcpxml"):
        code, out, err = run_cli("export", "odd.yaml", f"odd{suffix}")
        assert code == 0 and "Traceback" not in err, (suffix, out + err)
        timeline = otio.adapters.read_from_file(f"odd{suffix}")
        assert [clip.name for clip in shot_clips(timeline.video_tracks()[0])] == SHOTS, suffix
        assert frames(timeline.video_tracks()[0].duration()) == film_frames(copy), suffix
    edl = (copy / "odd.edl").read_text()
    assert edl.splitlines()[0].startswith("TITLE: The Night 001 BL V C 00:00:00:00 00:00:09:00 00:00:00:00 00:00:09:00 Ferry")
    assert "IS THAT\ufffd THE FERRY?" in edl.upper()
