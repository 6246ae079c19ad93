"""Every subprocess a benchmark starts meanwhile, measured once it ends (`os.wait4`): its command line,
its CPU seconds and its peak memory. Benchmarks sort them by what they do."""
from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Ended:
    command: str  # the arguments joined by spaces
    cpu: float  # user + system seconds
    peak_mb: int  # largest resident set


@contextlib.contextmanager
def measured() -> Iterator[list[Ended]]:
    """The processes started inside that ended, in the order they were reaped."""
    found: list[Ended] = []
    guard = threading.Lock()
    original = subprocess.Popen

    class Measured(original):  # type: ignore[misc, valid-type]
        def __init__(self, arguments: list[str], *rest: Any, **options: Any):
            super().__init__(arguments, *rest, **options)
            self.command = " ".join(map(str, arguments))

        def _try_wait(self, wait_flags: int) -> tuple[int, int]:
            try:
                pid, status, usage = os.wait4(self.pid, wait_flags)
            except ChildProcessError:
                return self.pid, 0  # as Popen's own: reaped elsewhere
            if pid == self.pid:
                with guard:
                    found.append(Ended(self.command, usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024))
            return pid, status

    subprocess.Popen = Measured  # type: ignore[misc]
    try:
        yield found
    finally:
        subprocess.Popen = original  # type: ignore[misc]
