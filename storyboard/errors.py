"""Exceptions raised by storyboard, and the `Problem` every input error is made of."""
from __future__ import annotations

import os
from dataclasses import dataclass

SECRET_VARIABLES = ("AIMLAPI_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def redact(text: str) -> str:
    """`text` with every secret from the environment replaced by ***."""
    for name in SECRET_VARIABLES:
        secret = os.environ.get(name, "")
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with an input file, pointing at the line to fix (1-based)."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class StoryboardError(Exception):
    """Base of every error storyboard reports to a user."""

    exit_code = 1


class InvalidStoryboard(StoryboardError):
    """The storyboard (or a file it names) is wrong; carries every problem found."""

    exit_code = 2

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


class UsageError(StoryboardError):
    """The command was asked for something impossible (unknown backend, unknown shot id)."""

    exit_code = 2


class RenderError(StoryboardError):
    """Generating a shot or assembling the film failed."""

    exit_code = 1


class ShotFailed(RenderError):
    def __init__(self, shot_id: str, reason: str, *, skipped: bool = False):
        self.shot_id = shot_id
        self.reason = reason
        self.skipped = skipped  # never started, because of another failure or the budget
        super().__init__(f"shot {shot_id!r} {'was not rendered' if skipped else 'failed'}: {reason}")
