"""The media module against files made here with ffmpeg: what probing and frame extraction see."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from avprobe import FFMPEG
from PIL import Image

from storyboard.media import extract_frame, probe


def ffmpeg(*arguments: str) -> None:
    subprocess.run([FFMPEG, "-v", "error", "-y", *arguments], check=True)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("media")
    made = {name: folder / name for name in ("clip.mp4", "turned.mp4", "cover.m4a", "cover.png")}
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x180:r=24:d=3", "-c:v", "libx264", "-g", "24", str(made["clip.mp4"]))
    ffmpeg("-display_rotation", "90", "-i", str(made["clip.mp4"]), "-c", "copy", str(made["turned.mp4"]))
    Image.new("RGB", (64, 64), (200, 30, 30)).save(made["cover.png"])
    ffmpeg("-f", "lavfi", "-i", "sine=d=2", "-i", str(made["cover.png"]), "-map", "0", "-map", "1", "-c:a", "aac",
           "-c:v", "png", "-disposition:v", "attached_pic", str(made["cover.m4a"]))
    return made


def reference_frame(path: Path, *seek: str) -> np.ndarray:
    """The frame ffmpeg itself shows (it turns pictures upright by their display matrix)."""
    out = path.with_name(f"{path.stem}-ref.png")
    ffmpeg(*seek, "-i", str(path), "-frames:v", "1", "-update", "1", str(out))
    return np.asarray(Image.open(out).convert("RGB")).astype(int)


def test_cover_art_in_a_music_file_is_not_its_picture(files):
    info = probe(files["cover.m4a"])
    assert info.video is None and info.has_audio


def test_frames_are_the_ones_ffmpeg_shows_at_that_time(files):
    for at, seek in (("start", ()), (1.5, ("-ss", "1.5")), ("end", ("-sseof", "-0.05"))):
        ours = np.asarray(extract_frame(files["clip.mp4"], at)).astype(int)
        assert np.abs(ours - reference_frame(files["clip.mp4"], *seek)).mean() < 1.0, at


def test_a_turned_clip_gives_its_frames_upright(files):
    assert probe(files["turned.mp4"]).picture.rotation == 90
    ours = np.asarray(extract_frame(files["turned.mp4"], "start")).astype(int)
    assert ours.shape == (320, 180, 3)  # portrait, as it plays
    assert np.abs(ours - reference_frame(files["turned.mp4"])).mean() < 1.0


def test_a_soundtrack_with_cover_art_makes_a_film(project, files, run_cli):
    import shutil

    shutil.copy(files["cover.m4a"], project.root / "assets" / "theme.m4a")
    project.write("""
        storyboard: 1
        shots: [{id: one, prompt: a lighthouse, resolution: 720p, duration: 2}]
        output: {path: film.mp4, audio: {music: {path: assets/theme.m4a, volume: 0.5}}}
    """)
    assert run_cli("validate", "board.yaml")[0] == 0
    code, _out, err = run_cli("render", "board.yaml")
    assert code == 0, err
    assert probe(project.root / "film.mp4").has_audio
