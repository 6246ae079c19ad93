"""`storyboard` commands in processes of their own (a render to kill, two machines at once), their
output read line by line as it comes."""
from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any


class Render:
    """`storyboard ARGS` in its own process, in `root`; its output lines readable as they come."""

    def __init__(self, root: Path, *args: str):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "storyboard", *args], cwd=root, env=dict(os.environ),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, count: int = 1, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while sum(text in line for line in self.seen) < count:
            try:
                self.seen.append(self.lines.get(timeout=max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError(f"no {count} x {text!r} within {timeout} s; output: {''.join(self.seen)}") from None

    def finish(self, timeout: float = 180.0) -> tuple[int, str]:
        code = self.process.wait(timeout)
        time.sleep(0.1)  # the reading thread's last lines
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return code, "".join(self.seen)


def killed_inside_the_create(root: Path, emulator: Any, *args: str, shot: str = "solo") -> None:
    """Run `storyboard ARGS` in `root` and kill it while `shot`'s create is on the wire (the emulator
    must answer late: `faults="slow=1"`); return once the service has made the generation the killed
    render asked for, the emulator's faults cleared."""
    render = Render(root, *args)
    render.wait_for(f"{shot}: generating")
    time.sleep(0.5)
    render.process.kill()
    render.finish()
    deadline = time.monotonic() + 10
    while emulator.stats()["creates"] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)  # the service goes on creating the generation the killed render asked for
    emulator.set_faults("")
