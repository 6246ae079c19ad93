"""Films encoded in segments kept between assemblies: an edit encodes only the segments it
touched, a change only to the sound none, and a segment lost or damaged is encoded again."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from avprobe import beep_times, decode_errors, probe
from test_assemble import FPS, FRAME, center_flash_times, make_clip, near, write_tone

from storyboard.assembling import AssemblyError, FilmSettings, Piece, Progress, Soundtrack, assemble
from storyboard.assembling.subtitles import Cue


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    return {"wide24": make_clip(folder, "wide24", 1280, 720, 24, 2.0, 1),
            "wide24_b": make_clip(folder, "wide24_b", 1280, 720, 24, 2.0, 5)}


def _segment_files(kept: Path) -> dict[str, int]:
    """The kept segments, each with its inode: a segment encoded again is a new file."""
    return {path.name: path.stat().st_ino for path in (kept / "segments").glob("*.mp4")}


def test_a_change_only_to_the_sound_encodes_no_segment_again(clips, tmp_path):
    write_tone(tmp_path / "tone.wav")
    pieces = [Piece(clips["wide24"]), Piece(clips["wide24_b"], transition="crossfade", transition_duration=0.5)]
    kept, film = tmp_path / "kept", tmp_path / "film.mp4"
    loud = FilmSettings(size=(1280, 720), fps=FPS, music=Soundtrack(tmp_path / "tone.wav", volume=0.2))
    reports: list[Progress] = []
    assert assemble(pieces, film, loud, kept=kept, progress=reports.append) == "segments"
    segments = _segment_files(kept)
    assert len(segments) == 3 and [report.reused for report in reports] == [False] * 3  # two bodies, one crossfade
    assert sorted(report.segment for report in reports) == ["crossfade 'wide24.mp4' → 'wide24_b.mp4'",
                                                            "shot 'wide24.mp4'", "shot 'wide24_b.mp4'"]
    flashes = center_flash_times(film)

    quiet = FilmSettings(size=(1280, 720), fps=FPS, music=Soundtrack(tmp_path / "tone.wav", volume=0.05))
    reports.clear()
    assert assemble(pieces, film, quiet, kept=kept, progress=reports.append) == "kept"
    assert _segment_files(kept) == segments and all(report.reused for report in reports)  # nothing encoded again
    assert abs(probe(film).duration - 3.5) <= FRAME and center_flash_times(film) == flashes
    fresh = tmp_path / "fresh.mp4"  # the same film made from scratch: the kept segments make no difference
    assert assemble(pieces, fresh, quiet) == "segments"
    assert beep_times(film) == beep_times(fresh) and len(beep_times(film)) == 4
    assert near(beep_times(film), flashes, tolerance=0.001 + 0.5 / FPS)
    assert decode_errors(film) == ""


def test_an_edit_encodes_only_the_segments_it_touched(clips, tmp_path):
    kept, film = tmp_path / "kept", tmp_path / "film.mp4"
    settings = FilmSettings(size=(1280, 720), fps=FPS)
    a, b, c = (Piece(clips[name], shot=name) for name in ("wide24", "wide24_b", "wide24"))
    pieces = [a, replace(b, transition="crossfade", transition_duration=0.5), replace(c, shot="c", transition="fade",
                                                                                     transition_duration=0.5)]
    assert assemble(pieces, film, settings, kept=kept) == "segments"
    first = _segment_files(kept)
    assert len(first) == 4  # a, the crossfade, b and its fade out, c and its fade in (a and c are the same clip, faded apart)

    reports: list[Progress] = []
    trimmed = [pieces[0], pieces[1], replace(pieces[2], trim_start=0.5)]  # only the last shot changes
    assert assemble(trimmed, film, settings, kept=kept, progress=reports.append) == "segments"
    encoded = [report.segment for report in reports if not report.reused]
    assert encoded == ["shot 'c'"] and sum(report.reused for report in reports) == 3
    after = _segment_files(kept)
    assert len(after) == 5 and all(after[name] == inode for name, inode in first.items())  # the others as they were
    assert abs(probe(film).duration - (2 + 2 - 0.5 + 1.5)) <= FRAME and decode_errors(film) == ""
    fresh = tmp_path / "fresh.mp4"
    assemble(trimmed, fresh, settings)
    assert center_flash_times(film) == center_flash_times(fresh)  # the same film as one made from nothing kept


def test_a_crash_while_encoding_keeps_no_partial_segment(clips, tmp_path, monkeypatch):
    pieces = [Piece(clips["wide24"]), Piece(clips["wide24_b"], transition="crossfade", transition_duration=0.5)]
    kept = tmp_path / "kept"
    def crash(arguments, capture=False):
        Path(arguments[-1]).write_bytes(b"half a segment")  # ffmpeg's output, cut short
        raise OSError(28, "No space left on device", arguments[-1])

    monkeypatch.setattr("storyboard.assembling.encode.run_ffmpeg", crash)
    with pytest.raises(AssemblyError, match="No space left on device"):
        assemble(pieces, tmp_path / "film.mp4", FilmSettings(size=(1280, 720), fps=FPS), kept=kept)
    assert list((kept / "segments").iterdir()) == [] and not (tmp_path / "film.mp4").exists()
    monkeypatch.undo()
    assert assemble(pieces, tmp_path / "film.mp4", FilmSettings(size=(1280, 720), fps=FPS), kept=kept) == "segments"
    assert decode_errors(tmp_path / "film.mp4") == ""


def test_a_damaged_kept_segment_is_encoded_again(clips, tmp_path):
    kept, film = tmp_path / "kept", tmp_path / "film.mp4"
    pieces = [Piece(clips["wide24"]), Piece(clips["wide24_b"], transition="crossfade", transition_duration=0.5)]
    settings = FilmSettings(size=(1280, 720), fps=FPS)
    assemble(pieces, film, settings, kept=kept)
    flashes = center_flash_times(film)
    segments = sorted((kept / "segments").glob("*.mp4"), key=lambda path: path.stat().st_size)
    segments[-1].write_bytes(segments[-1].read_bytes()[: segments[-1].stat().st_size // 2])  # cut short by a disk error
    segments[0].write_bytes(b"not a video")
    reports: list[Progress] = []
    assert assemble(pieces, film, settings, kept=kept, progress=reports.append) == "segments"
    assert sum(not report.reused for report in reports) == 2  # the two damaged ones, encoded again; the third kept
    assert center_flash_times(film) == flashes and decode_errors(film) == ""


def test_an_edited_subtitle_encodes_only_the_segments_it_shows_on(clips, tmp_path):
    kept, film = tmp_path / "kept", tmp_path / "film.mp4"
    pieces = [Piece(clips["wide24"], shot="a"), Piece(clips["wide24_b"], shot="b", transition="crossfade",
                                                       transition_duration=0.5)]
    settings = FilmSettings(size=(1280, 720), fps=FPS)
    lines = [Cue(0.25, 1.0, "Hold on tight!", "a"), Cue(2.0, 3.0, "Where to?", "b")]  # in a's body; in b's
    assert assemble(pieces, film, settings, captions=lines, kept=kept) == "segments"
    reports: list[Progress] = []
    edited = [lines[0], Cue(2.0, 3.0, "Where now?", "b")]
    assert assemble(pieces, film, settings, captions=edited, kept=kept, progress=reports.append) == "segments"
    assert [report.segment for report in reports if not report.reused] == ["shot 'b'"]  # a and the crossfade: kept
    assert decode_errors(film) == "" and abs(probe(film).duration - 3.5) <= FRAME


def test_swapped_kept_segments_are_encoded_again(clips, tmp_path):
    kept, film = tmp_path / "kept", tmp_path / "film.mp4"
    pieces = [Piece(clips["wide24"], shot="a"), Piece(clips["wide24_b"], shot="b", transition="crossfade",
                                                       transition_duration=0.5)]
    settings = FilmSettings(size=(1280, 720), fps=FPS)
    reports: list[Progress] = []
    assemble(pieces, film, settings, kept=kept, progress=reports.append)
    flashes = center_flash_times(film)
    one, two = sorted((kept / "segments").glob("*.mp4"), key=lambda path: path.stat().st_size)[1:]  # the two bodies
    swap = tmp_path / "swap.mp4"
    one.rename(swap)
    two.rename(one)
    swap.rename(two)  # each the other's file: both whole, each with the other's frames
    reports.clear()
    assert assemble(pieces, film, settings, kept=kept, progress=reports.append) == "segments"
    assert sum(not report.reused for report in reports) == 2  # both swapped files, encoded again; the crossfade kept
    assert center_flash_times(film) == flashes and decode_errors(film) == ""


def _crossfaded_once(clips: dict[str, Path], tmp_path: Path) -> tuple[list[Piece], FilmSettings, Path, Path, list[float]]:
    """Two clips crossfaded, assembled once with its segments kept: the pieces, the settings, the film, the
    largest kept segment and the film's flash times."""
    kept, film = tmp_path / "kept", tmp_path / "film.mp4"
    pieces = [Piece(clips["wide24"]), Piece(clips["wide24_b"], transition="crossfade", transition_duration=0.5)]
    settings = FilmSettings(size=(1280, 720), fps=FPS)
    assemble(pieces, film, settings, kept=kept)
    segment = max((kept / "segments").glob("*.mp4"), key=lambda path: path.stat().st_size)
    return pieces, settings, film, segment, center_flash_times(film)


def test_a_kept_segment_overwritten_with_garbage_of_its_size_is_encoded_again(clips, tmp_path):
    pieces, settings, film, segment, flashes = _crossfaded_once(clips, tmp_path)
    kept = tmp_path / "kept"
    data = bytearray(segment.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 4096] = bytes(4096)  # the container intact, the picture in the middle of it not
    segment.write_bytes(bytes(data))
    reports: list[Progress] = []
    assert assemble(pieces, film, settings, kept=kept, progress=reports.append) == "segments"
    assert sum(not report.reused for report in reports) == 1
    assert center_flash_times(film) == flashes and decode_errors(film) == ""


def test_a_kept_segment_rewritten_with_its_old_mtime_is_found_when_the_film_fails(clips, tmp_path):
    """Its size, mtime and inode as recorded: reused at first, but the film that fails to join sends it to be hashed."""
    import os

    pieces, settings, film, segment, flashes = _crossfaded_once(clips, tmp_path)
    kept = tmp_path / "kept"
    facts = segment.stat()
    with open(segment, "r+b") as file:  # the same inode
        file.write(b"\0" * facts.st_size)
    os.utime(segment, ns=(facts.st_atime_ns, facts.st_mtime_ns))
    assert assemble(pieces, film, settings, kept=kept) == "segments"
    assert center_flash_times(film) == flashes and decode_errors(film) == ""
