"""Exceptions raised by storyboard, and the `Problem` every input error is made of."""
from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass

SECRET_VARIABLES = ("AIMLAPI_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def secrets() -> list[str]:
    """The secrets in the environment that must never be shown or written anywhere."""
    return [secret for name in SECRET_VARIABLES if len(secret := os.environ.get(name, "")) >= 4]


def redact(text: str, extra: tuple[str, ...] = ()) -> str:
    """`text` with every secret (from the environment, and `extra`) replaced by ***, in any letter case:
    a service echoing a key back lower-cased must not leak it either."""
    for secret in (*secrets(), *extra):
        if len(secret) >= 4:
            text = re.sub(re.escape(secret), "***", text, flags=re.IGNORECASE)
    return text


def holds_secret(text: str) -> bool:
    """True if `text` contains a secret from the environment, in any letter case."""
    folded = text.casefold()
    return any(secret.casefold() in folded for secret in secrets())


def describe_os_error(error: OSError) -> str:
    """What the file system refused, said for a person: what happened, what is kept, what to do."""
    where = " -> ".join(str(name) for name in (error.filename, error.filename2) if name is not None)
    what = f"{error.strerror or error}" + (f": {where}" if where else "")
    if error.errno == errno.ENOSPC:
        return (f"{what}. Free some space and run the command again: clips already made and the record of "
                "generations already paid for are kept in the project's .storyboard/ folder.")
    if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return (f"{what}. storyboard writes its clips, render state and films next to the storyboard; "
                "make that folder writable, or work in a writable copy of the whole project (with its "
                ".storyboard/ folder, which records what was already paid for).")
    return what


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
    """The command was asked for something impossible (unknown backend, unknown shot id)."""


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
