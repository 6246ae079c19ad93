"""Ctrl-C (or SIGTERM) during generation: once, stop gracefully; twice, stop now."""
from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator

from ..events import Event
from .fetching import Run


@contextlib.contextmanager
def interruptible(runs: list[Run], tell: Callable[[Event], None]) -> Iterator[None]:
    """While inside, SIGINT and SIGTERM interrupt every one of `runs` (see `interrupt`) instead of
    raising; the first time, `tell` is told what happens."""
    loop = asyncio.get_running_loop()
    installed = []
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[signum] = signal.getsignal(signum)
            loop.add_signal_handler(signum, _interrupt_all, runs, tell)
            installed.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
            break
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
            signal.signal(signum, previous[signum])


def _interrupt_all(runs: list[Run], tell: Callable[[Event], None]) -> None:
    if not any(run.outcome.interrupted for run in runs):
        tell(Event(None, "note", "interrupted: submitting nothing new; generations already sent are kept "
                                 "in the render state and resumed by the next render (Ctrl-C again to stop now)"))
    for run in runs:
        interrupt(run)


def interrupt(run: Run) -> None:
    """The first time: submit nothing new, let creates on the wire answer. The second: cancel everything."""
    forced = run.outcome.interrupted
    run.outcome.interrupted = True
    run.stopping = True
    for shot_id, task in run.tasks.items():
        if forced or shot_id not in run.creating:
            task.cancel()
