"""Assembly of mixed clips: sizes, frame rates, missing and short sound, cuts, crossfades and
fades, the soundtrack, and the stream-copy fast path against the moviepy path."""
from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
from avprobe import FFMPEG, audio_samples, beep_times, decode_errors, flash_times, probe
from conftest import plan_table

from storyboard.assembling import AssemblyError, FilmSettings, Piece, Soundtrack, assemble
from storyboard.backends.animatic import Animatic, marker_times, render_animatic
from storyboard.errors import RenderError

FPS = 24
FRAME = 1 / FPS


def make_clip(folder: Path, name: str, width: int, height: int, fps: int, duration: float, seed: int,
              audio: str = "full") -> Path:
    """A preview animatic with sync markers (flash + beep at each, over a hum); `audio`: full | none | short (first 1.2 s)."""
    path = folder / f"{name}.mp4"
    render_animatic(Animatic(width, height, duration, seed, name, f"clip {name}", fps=fps, markers=True), path)
    if audio != "full":
        edited = folder / f"{name}-edited.mp4"
        keep = ["-an"] if audio == "none" else ["-af", "atrim=0:1.2"]
        subprocess.run([FFMPEG, "-v", "error", "-y", "-i", str(path), "-c:v", "copy", *keep, str(edited)], check=True)
        edited.replace(path)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    return {
        "wide24": make_clip(folder, "wide24", 1280, 720, 24, 2.0, 1),
        "tall30": make_clip(folder, "tall30", 720, 1280, 30, 2.0, 2),
        "full25_silent": make_clip(folder, "full25_silent", 1920, 1080, 25, 2.0, 3, audio="none"),
        "wide24_short_audio": make_clip(folder, "wide24_short_audio", 1280, 720, 24, 3.0, 4, audio="short"),
        "wide24_b": make_clip(folder, "wide24_b", 1280, 720, 24, 2.0, 5),
    }


def center_flash_times(path: Path) -> list[float]:
    """Flashes seen in the middle of the frame (letterboxed clips do not fill it)."""
    raw = subprocess.run(
        [FFMPEG, "-v", "error", "-i", str(path), "-vf", "crop=iw/8:ih/8,scale=8:8", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        capture_output=True, check=True,
    ).stdout
    bright = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 64).mean(axis=1)
    return [index / FPS for index in np.flatnonzero(bright > 240)]


def near(found: list[float], expected: list[float], tolerance: float = FRAME + 1e-3) -> bool:
    return len(found) == len(expected) and all(abs(a - b) <= tolerance for a, b in zip(found, expected, strict=True))


def test_mixed_clips_with_cuts_crossfade_and_fade_stay_in_sync(clips, tmp_path):
    pieces = [
        Piece(clips["wide24"]),
        Piece(clips["tall30"], transition="crossfade", transition_duration=0.3),
        Piece(clips["full25_silent"]),
        Piece(clips["wide24_short_audio"], transition="fade", transition_duration=0.4),
    ]
    film = tmp_path / "film.mp4"
    way = assemble(pieces, film, FilmSettings(size=(1280, 720), fps=FPS))
    assert way == "segments"
    info = probe(film)
    assert info.video is not None and info.audio is not None
    assert "1280x720" in info.video and "24 fps" in info.video and "yuv420p" in info.video
    assert "aac" in info.audio and "48000 Hz" in info.audio and "stereo" in info.audio
    assert abs(info.duration - (2 + 2 - 0.3 + 2 + 3)) <= FRAME  # the sum minus the overlap, to the frame
    assert decode_errors(film) == ""

    placed = [(0.0, 2.0, 24), (1.7, 2.0, 30), (3.7, 2.0, 25), (5.7, 3.0, 24)]  # start in the film, length, clip fps
    expected_flashes = [start + t for start, length, fps in placed for t in marker_times(length, fps)]
    assert near(center_flash_times(film), expected_flashes), center_flash_times(film)
    # Sound: beeps where the picture flashes; none from the silent clip; the short one only while it lasts.
    expected_beeps = [0.5, 1.5, 2.2, 3.2, 6.2]
    assert near(beep_times(film), expected_beeps), beep_times(film)


def test_cuts_do_not_click(clips, tmp_path):
    pieces = [Piece(clips["wide24"]), Piece(clips["wide24_b"]), Piece(clips["full25_silent"]), Piece(clips["wide24"])]
    film = tmp_path / "film.mp4"
    assemble(pieces, film, FilmSettings(size=(1280, 720), fps=FPS))
    samples = audio_samples(film)
    for boundary in (2.0, 4.0, 6.0):
        at = int(boundary * 48_000)
        jumps = np.abs(np.diff(samples[at - 480:at + 480]))
        assert jumps.max() < 0.01, (boundary, jumps.max())  # the hum itself moves < 0.002 per sample


def test_fast_path_copies_video_and_keeps_the_same_timing(clips, tmp_path):
    pieces = [Piece(clips["wide24"]), Piece(clips["wide24_short_audio"]), Piece(clips["wide24_b"])]
    copied, drawn = tmp_path / "copied.mp4", tmp_path / "drawn.mp4"
    assert assemble(pieces, copied, FilmSettings(size=(1280, 720), fps=FPS)) == "copy"
    assert assemble(pieces, drawn, FilmSettings(size=(1280, 720), fps=FPS, fast_path=False)) == "segments"
    assert abs(probe(copied).duration - 7.0) <= FRAME and abs(probe(drawn).duration - 7.0) <= FRAME
    assert flash_times(copied, FPS) == flash_times(drawn, FPS)
    assert near(beep_times(copied), beep_times(drawn), tolerance=0.002)
    assert decode_errors(copied) == ""


def test_soundtrack_loops_fades_in_and_ducks_under_clip_sound(clips, tmp_path):
    music = tmp_path / "tone.wav"
    rate = 48_000
    t = np.arange(rate) / rate  # one second, looped
    tone = (0.5 * np.sin(2 * np.pi * 3000 * t) * 32767).astype("<i2")
    with wave.open(str(music), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(tone.tobytes())
    pieces = [Piece(clips["full25_silent"]), Piece(clips["wide24"])]
    film = tmp_path / "film.mp4"
    soundtrack = Soundtrack(music, volume=0.5, fade_in=1.0, duck=0.25)
    assemble(pieces, film, FilmSettings(size=(1280, 720), fps=FPS, music=soundtrack))

    samples = audio_samples(film)

    def tone_level(start: float) -> float:
        window = samples[int(start * rate):int(start * rate) + 4800]
        spectrum = np.abs(np.fft.rfft(window * np.hanning(len(window))))
        return float(spectrum[300])  # 3 kHz bin at 10 Hz resolution

    assert tone_level(0.1) < 0.2 * tone_level(1.2)  # fading in
    under_clip_sound = tone_level(3.0)
    assert 0.15 < under_clip_sound / tone_level(1.2) < 0.4  # ducked to about a quarter
    assert tone_level(3.9) > 0  # looped to the end of the film


def test_a_failed_assembly_leaves_the_previous_film(clips, tmp_path):
    film = tmp_path / "film.mp4"
    film.write_bytes(b"the previous film")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    with pytest.raises(AssemblyError):
        assemble([Piece(clips["wide24"]), Piece(broken)], film, FilmSettings(size=(1280, 720), fps=FPS))
    assert film.read_bytes() == b"the previous film"
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []


def test_a_film_that_cannot_be_written_is_an_assembly_error_with_the_reason(clips, tmp_path):
    film = tmp_path / "film.mp4"
    film.mkdir()  # a folder where the film should go
    (film / "notes.txt").write_text("mine")
    with pytest.raises(AssemblyError, match=r"^Is a directory: ") as raised:
        assemble([Piece(clips["wide24"])], film, FilmSettings(size=(1280, 720), fps=FPS))
    assert isinstance(raised.value, RenderError)  # what the render pipeline catches
    assert (film / "notes.txt").read_text() == "mine"
    assert [path.name for path in tmp_path.iterdir()] == ["film.mp4"]


def test_trim_takes_the_middle_of_a_clip(clips, tmp_path):
    film = tmp_path / "film.mp4"
    assemble([Piece(clips["wide24_short_audio"], trim_start=1.0, trim_end=2.75)], film,
             FilmSettings(size=(1280, 720), fps=FPS))
    assert abs(probe(film).duration - 1.75) <= FRAME
    assert near(flash_times(film, FPS), [0.5, 1.5])  # the clip's markers at 1.5 s and 2.5 s
    assert beep_times(film) == []  # its sound ends at 1.2 s, before the trim starts


FOOTAGE_BOARD = """
storyboard: 1
defaults: {resolution: 720p, duration: 2, aspect_ratio: "16:9"}
shots:
  - id: opening
    clip: assets/walk.mp4
    trim: {start: 0.5, end: 1.5}
    fit: cover
  - id: hero
    prompt: a lighthouse at dusk
    seed: 1
    first_frame: {shot: opening, at: end}
    transition: {type: crossfade, duration: 0.25}
  - id: finale
    prompt: the lamp turns on
    seed: 2
    transition: {type: fade, duration: 0.5}
output:
  path: out/film.mp4
  fps: 24
  quality: {crf: 28, preset: ultrafast}
  audio:
    music: {path: assets/tone.wav, volume: 0.3, fade_out: 1, duck: 0.5}
"""


def write_tone(path: Path, seconds: float = 1.0) -> None:
    rate = 48_000
    t = np.arange(int(rate * seconds)) / rate
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((0.5 * np.sin(2 * np.pi * 3000 * t) * 32767).astype("<i2").tobytes())


def test_a_storyboard_mixing_footage_and_generated_shots(project, run_cli):
    write_tone(project.root / "assets" / "tone.wav")
    project.write(FOOTAGE_BOARD)
    code, out, _ = run_cli("plan", "board.yaml")
    assert plan_table(out)["opening"] == ("footage", "footage: assets/walk.mp4")
    assert "2 of 2 generated shots to make with the preview backend" in out
    code, out, err = run_cli("render", "board.yaml", "--backend", "preview-sync")  # flashes to find the shots by
    assert code == 0, out + err
    assert "2 generated, 0 reused" in out
    film = project.root / "out" / "film.mp4"
    info = probe(film)
    assert info.video is not None and info.audio is not None
    assert "1280x720" in info.video and "aac" in info.audio
    assert abs(info.duration - (1.0 + 2 + 2 - 0.25)) <= FRAME
    assert decode_errors(film) == ""
    # The generated shots' markers, after the 1 s of footage and the crossfade.
    expected = [0.75 + t for t in marker_times(2.0)] + [2.75 + t for t in marker_times(2.0)]
    assert near(flash_times(film, FPS), expected), flash_times(film, FPS)

    # Assembly-only edits re-assemble without generating anything.
    project.write(FOOTAGE_BOARD.replace("crf: 28", "crf: 30").replace("start: 0.5", "start: 0.25"))
    code, out, err = run_cli("render", "board.yaml", "--backend", "preview-sync")
    assert code == 0 and "0 generated, 2 reused" in out and "assembling" in out
    assert "only the sound mixed again" not in out + err  # crf changed: the picture is encoded again
    encoded = [line for line in out.splitlines() if line.startswith("film: picture: encoded ")]
    assert len(encoded) == 4 and "film: picture: encoded crossfade 'opening' → 'hero' (" in out, out

    # A change only to the music encodes no segment again: the sound is mixed and muxed again.
    kept, length = sorted((project.root / ".storyboard" / "segments").glob("*.mp4")), probe(film).duration
    project.write(FOOTAGE_BOARD.replace("crf: 28", "crf: 30").replace("start: 0.5", "start: 0.25")
                  .replace("volume: 0.3", "volume: 0.6"))
    code, out, err = run_cli("render", "board.yaml", "--backend", "preview-sync")
    assert code == 0 and "assembling" in out and "only the sound mixed again" in err
    assert "film: picture: reused 4 of 4 segments\n" in out and "picture: encoded" not in out
    assert sorted((project.root / ".storyboard" / "segments").glob("*.mp4")) == kept
    assert probe(film).duration == length and decode_errors(film) == ""


def test_footage_mistakes_are_reported_at_their_lines(project, run_cli):
    project.write("""
        storyboard: 1
        shots:
          - id: a
            clip: assets/red.png
          - id: b
            clip: assets/walk.mp4
            prompt: not generated
            trim: {start: 2, end: 1}
          - id: c
            clip: assets/missing.mp4
        """)
    code, _, err = run_cli("validate", "board.yaml")
    assert code == 2
    assert err.splitlines() == [
        "board.yaml:4:11: clip 'assets/red.png' is a PNG image, not a video file",
        "board.yaml:7:5: a shot with a `clip` is not generated: remove `prompt`",
        "board.yaml:8:27: shot 'b': trim: end (1 s) must be after start (2 s)",
        "board.yaml:10:11: clip 'assets/missing.mp4' does not exist",
    ]


def test_loudness_normalisation_brings_a_quiet_mix_to_minus_16_lufs(clips, tmp_path):
    write_tone(tmp_path / "tone.wav")
    quiet = Soundtrack(tmp_path / "tone.wav", volume=0.05)
    pieces = [Piece(clips["full25_silent"]), Piece(clips["full25_silent"])]

    def loudness(normalize: bool) -> float:
        film = tmp_path / f"film-{normalize}.mp4"
        assemble(pieces, film, FilmSettings(size=(1280, 720), fps=FPS, music=quiet, normalize=normalize))
        assert abs(probe(film).duration - 4.0) <= FRAME
        report = subprocess.run([FFMPEG, "-hide_banner", "-i", str(film), "-af", "ebur128", "-f", "null", "-"],
                                capture_output=True, text=True).stderr
        return float(report.rsplit("I:", 1)[1].split("LUFS")[0])

    assert loudness(False) < -25
    assert abs(loudness(True) + 16) < 1.5


def test_other_sample_rates_and_mono_sound_stay_in_sync_and_the_film_starts_fast(clips, tmp_path):
    mono = tmp_path / "mono44.mp4"
    subprocess.run([FFMPEG, "-v", "error", "-y", "-i", str(clips["wide24_b"]), "-c:v", "copy", "-ac", "1", "-ar", "44100",
                    "-c:a", "aac", str(mono)], check=True)
    film = tmp_path / "film.mp4"
    assemble([Piece(clips["wide24"]), Piece(mono), Piece(clips["tall30"])], film, FilmSettings(size=(1280, 720), fps=FPS))
    audio = probe(film).audio
    assert audio is not None and "48000 Hz" in audio and "stereo" in audio
    assert near(beep_times(film), [0.5, 1.5, 2.5, 3.5, 4.5, 5.5]), beep_times(film)
    data = film.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # +faststart: players start before the whole file arrives


def test_clips_encoded_differently_are_not_stream_copied(clips, tmp_path):
    baseline = tmp_path / "baseline.mp4"
    subprocess.run([FFMPEG, "-v", "error", "-y", "-i", str(clips["wide24_b"]), "-c:v", "libx264", "-profile:v", "baseline",
                    "-pix_fmt", "yuv420p", "-c:a", "copy", str(baseline)], check=True)
    film = tmp_path / "film.mp4"
    assert assemble([Piece(clips["wide24"]), Piece(baseline)], film, FilmSettings(size=(1280, 720), fps=FPS)) == "segments"
    assert near(flash_times(film, FPS), [0.5, 1.5, 2.5, 3.5]) and decode_errors(film) == ""


def test_a_transition_longer_than_its_shots_is_a_validation_error(project, run_cli):
    project.write("""
        storyboard: 1
        defaults: {duration: 2}
        shots:
          - {id: a, prompt: one}
          - id: b
            prompt: two
            transition: {type: crossfade, duration: 2.5}
          - {id: c, prompt: three, transition: {type: fade, duration: 5}}
        """)
    code, _, err = run_cli("validate", "board.yaml")
    assert code == 2
    assert err.splitlines() == [
        "board.yaml:7:17: shot 'b': a 2.5 s crossfade needs 2.5 s of shot 'a', which lasts 2 s",
        "board.yaml:8:40: shot 'c': a 5 s fade needs 2.5 s of shot 'b', which lasts 2 s",
    ]


def lavfi_clip(path: Path, frames: int, fps: int = 24, audio_seconds: float | None = None, audio_delay: float = 0.0,
               timescale: int | None = None) -> Path:
    """A test-pattern clip of exactly `frames` frames; a 440 Hz tone for `audio_seconds`, starting `audio_delay` late."""
    video = ["-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate={fps}"]
    tone = "sine=frequency=440:sample_rate=48000"
    audio = [] if audio_seconds is None else ["-f", "lavfi", "-t", str(audio_seconds), "-i", tone]
    delay = ["-af", f"adelay={int(audio_delay * 1000)}:all=1"] if audio_delay else []
    scale = ["-video_track_timescale", str(timescale)] if timescale else []
    subprocess.run([FFMPEG, "-v", "error", "-y", *video, *audio, "-frames:v", str(frames), "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", *delay, *(["-c:a", "aac", "-ac", "2"] if audio else []),
                    *scale, str(path)], check=True)
    return path


def frame_count(path: Path) -> int:
    text = subprocess.run([FFMPEG, "-hide_banner", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "null", "-"],
                          capture_output=True, text=True).stderr
    return int(text.rsplit("frame=", 1)[1].split()[0])


def test_film_length_is_exact_to_the_frame_with_odd_lengths_and_longer_sound(tmp_path):
    clips = [lavfi_clip(tmp_path / "a.mp4", 49), lavfi_clip(tmp_path / "b.mp4", 50, audio_seconds=2.5),
             lavfi_clip(tmp_path / "c.mp4", 51, audio_seconds=1.0)]
    pieces = [Piece(path) for path in clips]
    for fast in (True, False):
        film = tmp_path / f"film-{fast}.mp4"
        assemble(pieces, film, FilmSettings(size=(1280, 720), fps=FPS, fast_path=fast))
        assert frame_count(film) == 150, fast
        assert decode_errors(film) == ""


def test_clips_with_other_timescales_are_not_stream_copied(tmp_path):
    pieces = [Piece(lavfi_clip(tmp_path / "a.mp4", 48)), Piece(lavfi_clip(tmp_path / "b.mp4", 48, timescale=90000))]
    film = tmp_path / "film.mp4"
    assert assemble(pieces, film, FilmSettings(size=(1280, 720), fps=FPS)) == "segments"
    assert frame_count(film) == 96 and decode_errors(film) == ""


def test_sound_that_starts_late_keeps_its_place_and_sound_that_ends_early_does_not_click(tmp_path):
    late = lavfi_clip(tmp_path / "late.mp4", 72, audio_seconds=1.0, audio_delay=0.5)
    film = tmp_path / "film.mp4"
    assemble([Piece(late)], film, FilmSettings(size=(1280, 720), fps=FPS))
    samples = audio_samples(film)
    loud = np.flatnonzero(np.abs(samples) > 0.05)
    assert abs(loud[0] / 48_000 - 0.5) < 0.01 and abs(loud[-1] / 48_000 - 1.5) < 0.01
    ending = samples[int(1.45 * 48_000):int(1.55 * 48_000)]
    assert np.abs(np.diff(ending)).max() < 0.08  # a 440 Hz tone at full scale moves at most 0.058 per sample


@pytest.mark.parametrize("problem", ["empty", "no sound"])
def test_a_soundtrack_that_cannot_play_is_a_clear_error(clips, tmp_path, problem):
    music = tmp_path / "music.wav"
    if problem == "empty":
        with wave.open(str(music), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(48_000)
    else:
        music = lavfi_clip(tmp_path / "music.mp4", 24)
    with pytest.raises(AssemblyError, match="the soundtrack"):
        assemble([Piece(clips["wide24"])], tmp_path / "film.mp4",
                 FilmSettings(size=(1280, 720), fps=FPS, music=Soundtrack(music)))


def test_a_first_frame_follows_the_trim_of_the_shot_it_comes_from(project):
    import storyboard

    write_tone(project.root / "assets" / "tone.wav")
    project.write(FOOTAGE_BOARD)
    before = {item.id: item.hash for item in storyboard.plan(storyboard.load("board.yaml")).shots}
    project.write(FOOTAGE_BOARD.replace("end: 1.5", "end: 1.75"))
    after = {item.id: item.hash for item in storyboard.plan(storyboard.load("board.yaml")).shots}
    assert before["hero"] != after["hero"]  # its first frame is now another frame of the footage
    assert before["finale"] == after["finale"] and before["opening"] == after["opening"]


def test_a_soundtrack_without_sound_is_a_validation_error(project, run_cli):
    project.write("storyboard: 1\nshots: [{id: a, prompt: x}]\noutput: {audio: {music: {path: assets/walk.mp4}}}\n")
    code, _, err = run_cli("validate", "board.yaml")
    assert code == 2 and err == "board.yaml:3:32: soundtrack 'assets/walk.mp4' has no sound\n"


def test_the_fast_path_copies_clips_whose_timestamps_begin_later(clips, tmp_path):
    later = tmp_path / "later.mp4"  # the same picture, silent, every timestamp 1.5 s later
    subprocess.run([FFMPEG, "-v", "error", "-i", str(clips["wide24"]), "-map", "0:v", "-c", "copy", "-output_ts_offset", "1.5",
                    str(later)], check=True)
    pieces = [Piece(later), Piece(clips["wide24_b"]), Piece(later)]
    copied, drawn = tmp_path / "copied.mp4", tmp_path / "drawn.mp4"
    settings = FilmSettings(size=(1280, 720), fps=FPS)
    assert assemble(pieces, copied, settings) == "copy"
    assert assemble(pieces, drawn, FilmSettings(size=(1280, 720), fps=FPS, fast_path=False)) == "segments"
    assert abs(probe(copied).duration - 6.0) <= FRAME
    assert flash_times(copied, FPS) == flash_times(drawn, FPS) and len(flash_times(copied, FPS)) == 6
    assert near(beep_times(copied), beep_times(drawn), tolerance=0.002) and len(beep_times(copied)) == 2
