"""Exceptions raised by storyboard, and the `Problem` every input error is made of."""
from __future__ import annotations

from dataclasses import dataclass


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
    """Base of every error storyboard raises. The command line maps each kind to an exit code
    (see `cli.exit_code`): input and usage errors 2, render errors 1."""


class InvalidStoryboard(StoryboardError):
    """The storyboard (or a file it names) is wrong; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


class UsageError(StoryboardError):
    """The call asked for something impossible (unknown backend, unknown shot id). `option` names the
    argument at fault as the Python API spells it (`only`, `output`), quoted as `only` in the message:
    the command line says its own flag (--only, -o) in its place."""

    def __init__(self, message: str, *, option: str | None = None):
        self.option = option
        super().__init__(message)


class OverBudget(UsageError):
    """The render would cost more than the user allowed; nothing was submitted."""


class RenderError(StoryboardError):
    """Generating a shot or assembling the film failed."""


class ShotFailed(RenderError):
    def __init__(self, shot_id: str, reason: str, *, skipped: bool = False):
        self.shot_id = shot_id
        self.reason = reason
        self.skipped = skipped  # never started, because of another failure or the budget
        super().__init__(f"shot {shot_id!r} {'was not rendered' if skipped else 'failed'}: {reason}")


class StateError(RenderError):
    """The render state (the record of what was submitted and paid) cannot be used."""


class MediaError(RenderError):
    """A file cannot be read as the image, video or sound it should be, or ffmpeg failed on it."""


class AssemblyError(RenderError):
    """The film could not be assembled from its clips."""


# What a backend tells the generator (see backends.Backend); each decides what happens next.


class SubmissionUnknown(RenderError):
    """`submit` failed in a way that may still have created (and billed) a generation."""


class GenerationFailed(RenderError):
    """`wait`: the service ended the generation failed; submitting again is a new request."""


class LinkExpired(RenderError):
    """`fetch`: the location no longer serves the clip; `wait` on the generation may give a fresh one."""


class PublishError(RenderError):
    """A local reference could not be made into a URL the service can fetch."""


class FileRefused(StoryboardError):
    """A path names something other than a regular file, or a file over the size limit."""
