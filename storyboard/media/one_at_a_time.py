"""Work on one thing done by one thread at a time: threads that ask for the same thing at once (films
assembled side by side that share a clip, a shot, a segment) wait for the one doing it, then find its
result where the work keeps it (a cache, a file), instead of doing it too."""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Hashable, Iterator

_HELD: dict[Hashable, threading.Lock] = {}  # a thing being worked on -> held while it is
_GUARD = threading.Lock()


@contextlib.contextmanager
def one_at_a_time(key: Hashable) -> Iterator[None]:
    """Held while the work on `key` is done (make keys of different work differ, e.g. ("probe", path)).
    The lock is dropped once nobody holds it: the work's result answers later askers."""
    with _GUARD:
        lock = _HELD.setdefault(key, threading.Lock())
    try:
        with lock:
            yield
    finally:
        with _GUARD:
            if _HELD.get(key) is lock:
                del _HELD[key]
