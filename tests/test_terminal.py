"""The user's terminal after a command: exactly as it was. A child process that reads the terminal
(ffmpeg does, unless told not to) and is then killed leaves it raw: no echo, and Enter ignored at
the next `[y/N]` prompt."""
from __future__ import annotations

import os
import subprocess
import sys
import termios
import threading
from pathlib import Path

import pytest
from test_assemble import write_tone

ROOT = Path(__file__).resolve().parent.parent

BOARD = """\
storyboard: 1
defaults: {duration: 2, resolution: 720p}
shots:
  - {id: one, prompt: a lamp, seed: 1}
  - {id: two, prompt: a door, seed: 2}
output:
  path: out/film.mp4
  fps: 12
  audio:
    music: {path: assets/tone.wav, volume: 0.3, loop: true}
"""


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_a_render_with_a_soundtrack_leaves_the_terminal_as_it_found_it(project):
    project.write(BOARD)
    write_tone(project.root / "assets" / "tone.wav", seconds=1.0)
    leader, follower = os.openpty()
    shown = bytearray()
    reader = threading.Thread(target=_drain, args=(leader, shown), daemon=True)  # a full terminal would block the render
    reader.start()
    try:
        before = termios.tcgetattr(follower)
        done = subprocess.run([sys.executable, "-m", "storyboard", "render", "board.yaml"], stdin=follower,
                              stdout=follower, stderr=follower, cwd=project.root, timeout=300,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=False)
        after = termios.tcgetattr(follower)
    finally:
        os.close(follower)
        reader.join(timeout=10)
        os.close(leader)
    assert done.returncode == 0, shown.decode(errors="replace")
    assert (project.root / "out" / "film.mp4").is_file()
    lflag = 3
    assert after[lflag] & termios.ICANON and after[lflag] & termios.ECHO  # a prompt still reads lines, and shows them
    assert after == before


def _drain(leader: int, into: bytearray) -> None:
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the other side closed
            return
        if not chunk:
            return
        into += chunk
