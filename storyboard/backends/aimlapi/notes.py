"""What a shot's wait on the service says while it lasts: each note once."""
from __future__ import annotations

from collections.abc import Callable


class Notes:
    """Progress notes for one shot, each said once (the same note again is not news)."""

    def __init__(self, report: Callable[[str], None] | None, scrub: Callable[[str], str]):
        self._report = report
        self._scrub = scrub
        self._said: set[str] = set()

    def say(self, topic: str, message: str) -> None:
        if topic not in self._said:
            self._said.add(topic)
            if self._report is not None:
                self._report(self._scrub(message))

    def end(self, topic: str, message: str) -> None:
        """`topic` is over: say `message` if `topic` was said, and let it be said again later."""
        if topic in self._said:
            self._said.discard(topic)
            if self._report is not None:
                self._report(self._scrub(message))
