"""The film's sound to broadcast standard, measured on tone-coded footage: each clip carries one sine of
its own frequency, so where a shot's sound starts and stops in the mix, and how loud it is, can be read
off the film. Peaks (a true-peak limiter), ducking that holds through pauses, 5.1 downmixes, and the
editor's controls of a shot's sound (`sound:` lead and tail, volume, mute, loudness matched across cuts)."""
from __future__ import annotations

import re
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
from avprobe import FFMPEG

from storyboard.assembling import AssemblyError, FilmSettings, Piece, Soundtrack, assemble
from storyboard.model import ShotSound

RATE = 48_000
FPS = 24
SIZE = (64, 36)


def tone_clip(folder: Path, name: str, seconds: float, hz: float, level: float, *, layout: str = "stereo",
              sound: str | None = None) -> Path:
    """A tiny clip of `seconds` whose sound is a sine of `hz` at peak `level` on every channel of `layout`
    (or the lavfi expression `sound`, one per channel separated by '|')."""
    path = folder / f"{name}.mp4"
    if path.exists():
        return path
    channels = {"stereo": 2, "5.1": 6}[layout]
    expression = sound or "|".join([f"{level}*sin(2*PI*{hz}*t)"] * channels)
    subprocess.run([FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", f"color=c=gray:s={SIZE[0]}x{SIZE[1]}:r={FPS}:d={seconds}",
                    "-f", "lavfi", "-i", f"aevalsrc=exprs='{expression}':s={RATE}:c={layout}:d={seconds}",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "pcm_s16le" if layout == "5.1"
                    else "aac", "-b:a", "256k", "-t", str(seconds), str(path.with_suffix(".mov" if layout == "5.1" else ".mp4"))],
                   check=True)
    return path.with_suffix(".mov") if layout == "5.1" else path


def write_music(path: Path, hz: float = 3000, level: float = 0.9, seconds: float = 2.0) -> Path:
    t = np.arange(int(RATE * seconds)) / RATE
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((level * np.sin(2 * np.pi * hz * t) * 32767).astype("<i2").tobytes())
    return path


def samples(film: Path) -> np.ndarray:
    """The film's sound, decoded, as float (samples, 2)."""
    raw = subprocess.run([FFMPEG, "-v", "error", "-i", str(film), "-vn", "-ac", "2", "-ar", str(RATE), "-f", "f32le", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype="<f4").reshape(-1, 2)


def true_peak(film: Path) -> float:
    """dBTP of the film's sound by ffmpeg's EBU R128 meter."""
    report = subprocess.run([FFMPEG, "-hide_banner", "-i", str(film), "-vn", "-af", "ebur128=peak=true:framelog=quiet",
                             "-f", "null", "-"], capture_output=True, text=True).stderr
    return float(re.findall(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS", report)[-1])


def loudness(film: Path, start: float, end: float) -> float:
    """Integrated loudness (LUFS) of the film's sound between two times."""
    report = subprocess.run([FFMPEG, "-hide_banner", "-ss", str(start), "-t", str(end - start), "-i", str(film), "-vn",
                             "-af", "ebur128=framelog=quiet", "-f", "null", "-"], capture_output=True, text=True).stderr
    return float(re.findall(r"I:\s+(-?[\d.]+) LUFS", report)[-1])


def level(sound: np.ndarray, hz: float, start: float, seconds: float = 0.1) -> float:
    """Amplitude of the sine of `hz` in the left channel over `seconds` from `start`."""
    window = sound[round(start * RATE):round((start + seconds) * RATE), 0].astype(np.float64)
    t = np.arange(len(window)) / RATE
    return float(2 * abs(np.mean(window * np.exp(-2j * np.pi * hz * t))))


@pytest.fixture(scope="module")
def footage(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tones")


def test_no_film_clips_whatever_the_volumes(footage, tmp_path):
    loud = tone_clip(footage, "loud", 2.0, 1000, 0.9)
    music = Soundtrack(write_music(tmp_path / "music.wav", level=0.9))  # at its default volume, normalize off
    film = tmp_path / "film.mp4"
    assemble([Piece(loud), Piece(loud)], film, FilmSettings(size=SIZE, fps=FPS, music=music))
    sound = samples(film)
    clipped = float(np.mean(np.abs(sound) >= 0.98))  # at full scale, give or take what AAC coding adds
    assert clipped == 0.0, f"{clipped:.1%} of samples clipped"
    assert true_peak(film) <= -1.0
    assert level(sound, 1000, 1.0) > 0.3 and level(sound, 3000, 1.0) > 0.3  # both still there, as they were mixed


def test_even_noise_at_full_scale_under_loud_music_stays_below_minus_1_dbtp(footage, tmp_path):
    noise = tone_clip(footage, "noise", 2.0, 0, 0, sound="|".join(["0.99*(2*random(0)-1)"] * 2))
    music = Soundtrack(write_music(tmp_path / "music.wav", hz=15_000, level=0.99), volume=4.0)
    film = tmp_path / "film.mp4"
    assemble([Piece(noise)], film, FilmSettings(size=SIZE, fps=FPS, music=music))
    assert true_peak(film) <= -1.0 and float(np.mean(np.abs(samples(film)) >= 0.98)) == 0.0


def test_ducking_holds_through_pauses_in_speech_and_returns_after_a_second(footage, tmp_path):
    # 1 s quiet, then "speech" (0.7 s of sound, 0.3 s pause) four times, then 2 s quiet
    speech = tone_clip(footage, "speech", 7.0, 1000, 0.3,
                       sound="|".join(["0.3*sin(2*PI*1000*t)*between(t,1,4.7)*lt(mod(t-1,1),0.7)"] * 2))
    volume, duck = 0.5, 0.3
    music = Soundtrack(write_music(tmp_path / "music.wav", level=0.5), volume=volume, duck=duck)
    film = tmp_path / "film.mp4"
    assemble([Piece(speech)], film, FilmSettings(size=SIZE, fps=FPS, music=music))
    sound = samples(film)
    full = level(sound, 3000, 0.4, 0.4) / volume  # the music's amplitude at gain 1
    gains = {round(at, 2): level(sound, 3000, at, 0.02) / full for at in np.arange(0.0, 7.0, 0.02)}
    ducked = volume * duck
    under_speech = [gain for at, gain in gains.items() if 1.0 <= at <= 4.68]
    swing = f"music swings {min(under_speech):.2f}–{max(under_speech):.2f}"
    assert max(abs(gain - ducked) for gain in under_speech) <= 0.05, swing
    assert all(abs(gains[at] - volume) <= 0.05 for at in (0.2, 0.5)) and gains[0.96] < volume - 0.1  # going down as speech begins
    assert abs(gains[5.0] - ducked) <= 0.05  # a pause of 0.3 s is not the end of the speech
    assert all(abs(gains[round(at, 2)] - volume) <= 0.05 for at in np.arange(5.76, 6.9, 0.1))  # back about 1 s after it


def test_a_5_1_clip_is_folded_to_stereo_with_its_lfe_and_never_clips(footage, tmp_path):
    # every channel at full scale, each with a tone of its own: FL FR FC LFE BL BR
    tones = {"FL": 500, "FR": 700, "FC": 900, "LFE": 60, "BL": 1100, "BR": 1300}
    surround = tone_clip(footage, "surround", 2.0, 0, 0, layout="5.1",
                         sound="|".join(f"0.99*sin(2*PI*{hz}*t)" for hz in tones.values()))
    film = tmp_path / "film.mp4"
    assemble([Piece(surround)], film, FilmSettings(size=SIZE, fps=FPS))
    sound = samples(film)
    assert float(np.mean(np.abs(sound) >= 0.999)) == 0.0 and true_peak(film) <= -1.0

    def heard(hz: float, channel: int) -> float:
        return level(sound[:, [channel, channel]], hz, 0.5, 1.0)

    front = heard(tones["FL"], 0)
    assert front > 0.2 and heard(tones["FL"], 1) < 0.01 * front  # left stays left, loud enough to hear
    assert abs(heard(tones["FR"], 1) / front - 1) < 0.05
    for name in ("FC", "LFE"):  # to both sides at -3 dB
        for channel in (0, 1):
            assert abs(heard(tones[name], channel) / front - 0.5 ** 0.5) < 0.05, name
    assert abs(heard(tones["BL"], 0) / front - 0.5 ** 0.5) < 0.05 and heard(tones["BL"], 1) < 0.01 * front


def spans(sound: np.ndarray, hz: float, end: float, step: float = 0.01) -> list[tuple[float, float]]:
    """Where the sine of `hz` is heard (above 0.05): [(from, to)] in seconds, to `step`."""
    heard = [level(sound, hz, at, step) > 0.05 for at in np.arange(0.0, end, step)]
    found, begin = [], None
    for number, on in enumerate([*heard, False]):
        if on and begin is None:
            begin = number * step
        elif not on and begin is not None:
            found.append((round(begin, 2), round(number * step, 2)))
            begin = None
    return found


@pytest.fixture(scope="module")
def three(footage) -> list[Path]:
    """Three 2 s shots, each its own tone; the middle one's tone steps 0.2 → 0.4 at 0.5 s and → 0.3 at 1.5 s, so
    which part of its clip is heard where can be read off the film."""
    steps = "(0.2*lt(t,0.5)+0.4*between(t,0.5,1.5)*lt(t,1.5)+0.3*gte(t,1.5))"
    return [tone_clip(footage, "a500", 2.0, 500, 0.4),
            tone_clip(footage, "b800", 2.0, 800, 0, sound="|".join([f"{steps}*sin(2*PI*800*t)"] * 2)),
            tone_clip(footage, "c1100", 2.0, 1100, 0.4)]


def test_a_j_cut_and_an_l_cut_move_the_sound_in_sync_and_keep_the_film_length(three, tmp_path):
    a, b, c = three
    film = tmp_path / "film.mp4"
    middle = Piece(b, trim_start=0.5, trim_end=1.5, sound=ShotSound(lead=0.4, tail=0.3))
    assemble([Piece(a), middle, Piece(c)], film, FilmSettings(size=SIZE, fps=FPS))
    sound = samples(film)
    assert abs(len(sound) / RATE - 5.0) < 0.03  # 2 + 1 + 2 s, as without the J/L cuts
    assert spans(sound, 500, 5.0) == [(0.0, 1.6)]  # the first shot's sound gives way 0.4 s before its picture ends
    assert spans(sound, 800, 5.0) == [(1.6, 3.3)]  # the middle shot's: 0.4 s early, 0.3 s late
    assert spans(sound, 1100, 5.0) == [(3.3, 5.0)]
    # in sync: what is heard under the first shot is the middle clip's sound from before its trim, and so on
    assert abs(level(sound, 800, 1.7, 0.2) - 0.2) < 0.03
    assert abs(level(sound, 800, 2.2, 0.6) - 0.4) < 0.03
    assert abs(level(sound, 800, 3.05, 0.2) - 0.3) < 0.03


def test_volume_and_mute_change_only_the_shot_and_the_soundtrack_ducks_on(three, tmp_path):
    a, b, c = three
    music = Soundtrack(write_music(tmp_path / "music.wav", level=0.4), volume=0.5, duck=0.4)
    film = tmp_path / "film.mp4"
    pieces = [Piece(a, sound=ShotSound(volume=0.5)), Piece(b), Piece(c, sound=ShotSound(mute=True))]
    assemble(pieces, film, FilmSettings(size=SIZE, fps=FPS, music=music))
    sound = samples(film)
    assert abs(level(sound, 500, 0.5, 1.0) - 0.2) < 0.02  # half of 0.4
    assert abs(level(sound, 800, 2.6, 0.6) - 0.4) < 0.02  # untouched
    assert level(sound, 1100, 4.2, 1.5) < 0.005  # muted
    music_level = level(sound, 3000, 5.2, 0.5)  # under the muted shot, more than a second after the sound: not ducked
    assert music_level > 0.1 and abs(level(sound, 3000, 1.0, 0.5) / music_level - 0.4) < 0.05


def test_with_normalize_shots_loudness_is_matched_across_cuts(footage, tmp_path):
    quiet, loud = tone_clip(footage, "quiet", 3.0, 600, 0.03), tone_clip(footage, "loud", 3.0, 1000, 0.9)
    film = tmp_path / "film.mp4"
    assemble([Piece(quiet), Piece(loud), Piece(quiet)], film, FilmSettings(size=SIZE, fps=FPS, normalize=True))
    levels = [loudness(film, start + 0.5, start + 2.5) for start in (0.0, 3.0, 6.0)]
    assert max(abs(levels[0] - levels[1]), abs(levels[1] - levels[2])) <= 3.0, levels
    assert abs(loudness(film, 0, 9) + 16) < 2 and true_peak(film) <= -1.0


def test_a_lead_longer_than_the_clip_has_sound_before_its_part_is_a_clear_error(three, tmp_path):
    a, b, _ = three
    with pytest.raises(AssemblyError, match=r"shot 'b': sound.lead \(0.6 s\) needs .* b800.mp4 has 0.5 s there"):
        assemble([Piece(a), Piece(b, trim_start=0.5, shot="b", sound=ShotSound(lead=0.6))], tmp_path / "film.mp4",
                 FilmSettings(size=SIZE, fps=FPS))
    assert not (tmp_path / "film.mp4").exists()


SOUND_BOARD = """
storyboard: 1
defaults: {resolution: 720p, duration: 2, aspect_ratio: "16:9"}
shots:
  - id: a
    prompt: a fox
    sound: {lead: 0.5}
  - id: b
    prompt: a hare
    trim: {start: 0.5}
    sound: {lead: 0.3, volume: 0.5}
  - id: c
    prompt: an owl
    sound: {lead: 0.5}
  - id: d
    clip: assets/walk.mp4
    trim: {start: 1.0}
    sound: {lead: 0.5}
  - id: e
    prompt: a crow
    trim: {start: 1.9}
    sound: {lead: 1.5}
  - id: f
    prompt: a wren
    sound: {tail: 0.5, mute: true}
"""


def test_validation_refuses_leads_and_tails_that_do_not_fit_at_their_line(project, run_cli):
    project.write(SOUND_BOARD)
    code, _, err = run_cli("validate", "board.yaml")
    assert code == 2
    assert err.splitlines() == [
        "board.yaml:6:19: shot 'a': sound.lead (0.5 s): the first shot has no shot before it for its sound to play under",
        "board.yaml:13:19: shot 'c': sound.lead (0.5 s) plays the clip's sound from before the part the film shows, "
        "in sync, and it has 0 s there: start the shot later in its clip (trim.start)",
        "board.yaml:17:19: shot 'd': sound.lead (0.5 s) needs the clip's own sound, and walk.mp4 has none",
        "board.yaml:21:19: shot 'e': sound.lead (1.5 s) is longer than shot 'd' before it (1 s long)",
        "board.yaml:24:19: shot 'f': sound.tail (0.5 s): the last shot has no shot after it for its sound to play under",
    ]


def test_a_shot_shorter_than_a_frame_is_a_warning_at_its_line(project, run_cli):
    project.write("""
        storyboard: 1
        defaults: {resolution: 720p, duration: 2, aspect_ratio: "16:9"}
        shots:
          - id: a
            prompt: a fox
          - id: blink
            prompt: a flash
            trim: {end: 0.04}
            transition: {type: crossfade, duration: 0.04}
        """)
    for command in ("validate", "plan"):
        code, _, err = run_cli(command, "board.yaml")
        assert code == 0
        assert "board.yaml:8:11: warning: shot 'blink' lasts 0.04 s in the film, less than one frame at 24 fps " \
               "(0.0417 s): it may show on no frame" in err, err


CUT_BOARD = """
storyboard: 1
defaults: {resolution: 720p, duration: 2, aspect_ratio: "16:9"}
shots:
  - id: a
    prompt: a fox
  - id: b
    prompt: a hare
    trim: {start: 0.5, end: 1.5}
    sound: {lead: 0.25, tail: 0.5}
    dialogue: [{who: hare, say: "Over here!", at: 0.5}]
  - id: c
    prompt: an owl
cast:
  hare: {description: a hare}
output:
  path: out/film.mp4
  fps: 24
  subtitles: sidecar
  quality: {crf: 30, preset: ultrafast}
"""


def test_j_and_l_cuts_reach_the_otio_cut_and_subtitles_follow_the_picture(project, run_cli):
    import opentimelineio as otio

    project.write(CUT_BOARD)
    code, _, err = run_cli("render", "board.yaml")
    assert code == 0, err
    film = project.root / "out" / "film.mp4"
    assert abs(len(samples(film)) / RATE - 5.0) < 0.03  # the film's length does not change
    assert (project.root / "out" / "film.srt").read_text().split("\n")[1].startswith("00:00:02,000 --> ")  # the picture's time
    code, _, err = run_cli("export", "board.yaml", "cut.otio")
    assert code == 0, err
    cut = otio.adapters.read_from_file(str(project.root / "cut.otio"))
    video, sound = (track for track in cut.tracks if track.name in ("V1", "A1"))

    def placed(track: otio.schema.Track) -> dict[str, tuple[int, int, int]]:
        """Each clip: (first frame in the cut, frames, first frame of its media)."""
        return {clip.name: (track.range_of_child(clip).start_time.to_frames(), clip.duration().to_frames(),
                            clip.source_range.start_time.to_frames()) for clip in track.find_clips()}

    assert placed(video) == {"a": (0, 48, 0), "b": (48, 24, 12), "c": (72, 48, 0)}
    assert placed(sound) == {"a": (0, 42, 0), "b": (42, 42, 6), "c": (84, 36, 12)}  # 0.25 s early, 0.5 s late, in sync
    assert sound.duration().to_frames() == video.duration().to_frames() == 120
    code, _, err = run_cli("export", "board.yaml", "cut.xml")  # FCP 7 XML: Premiere Pro, DaVinci Resolve
    assert code == 0, err
    import xml.etree.ElementTree as ElementTree

    items = [(item.findtext("name"), *(int(item.findtext(tag) or -1) for tag in ("start", "end", "in")))
             for item in ElementTree.parse(project.root / "cut.xml").iter("clipitem") if item.find(".//sourcetrack") is not None]
    assert items == [("a", 0, 42, 0), ("b", 42, 84, 6), ("c", 84, 120, 12)]
