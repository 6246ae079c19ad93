"""Words every stage shares: paths said short, OS errors said for a person, one-line quotes of
what a file holds, and "did you mean" for a near miss."""
from __future__ import annotations

import difflib
import errno
import os
from pathlib import Path
from typing import Any

MAX_MESSAGE = 1000  # characters of one problem's message; what it quotes from the file is cut in the middle
MAX_SUGGESTIONS = 500


def display_path(path: Path) -> str:
    """A path as short as it can be said from the current folder."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def os_reason(error: BaseException) -> str:
    """Why the operating system refused, in its words without the errno: 'No space left on device'."""
    return getattr(error, "strerror", None) or str(error).strip() or type(error).__name__


def describe_os_error(error: OSError) -> str:
    """What the file system refused, said for a person: what happened, what is kept, what to do."""
    where = " -> ".join(str(name) for name in (error.filename, error.filename2) if name is not None)
    what = os_reason(error) + (f": {where}" if where else "")
    if error.errno == errno.ENOSPC:
        return (f"{what}. Free some space and run the command again: clips already made and the record of "
                "generations already paid for are kept in the project's .storyboard/ folder.")
    if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return (f"{what}. storyboard writes its clips, render state and films next to the storyboard; "
                "make that folder writable, or work in a writable copy of the whole project (with its "
                ".storyboard/ folder, which records what was already paid for).")
    return what


def one_line(text: str) -> str:
    """`text` with line breaks and other invisible characters written as escapes (\\n, \\x1e, \\u2028),
    and at most MAX_MESSAGE characters long."""
    text = text if len(text) <= MAX_MESSAGE else f"{text[:MAX_MESSAGE - 50]}...{text[-40:]}"
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def shown(value: Any, width: int = 60) -> str:
    """repr(value), shortened in the middle when long: a message quotes what it is about, not all of it."""
    text = repr(value) if not isinstance(value, str) or len(value) <= 2 * width else repr(value[:width]) + "..."
    return text if len(text) <= 2 * width else f"{text[:width]}...{text[-20:]}"


def type_of(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (int, float)):
        return f"the number {shown(value)}"
    return f"the string {shown(value)}"


def suggest(word: str, choices: list[str]) -> str:
    """' (did you mean 'x'?)' for the choice closest to a misspelt `word`, or ''. Not among more than
    MAX_SUGGESTIONS choices: each lookup compares with every choice, and a file may hold 20,000 shots."""
    close = difflib.get_close_matches(word, choices, n=1) if len(choices) <= MAX_SUGGESTIONS else []
    return f" (did you mean {close[0]!r}?)" if close else ""
