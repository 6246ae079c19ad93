"""`storyboard.lock`: what each shot was generated from and where its clips can be fetched.

It sits next to the storyboard and is meant to be committed: a teammate who clones the
project without the (git-ignored) clip store re-downloads clips instead of paying for them
again, and sees the same choices. One section per storyboard file in the folder; per shot a
list of its takes (the one in the film marked `film: true`), keys sorted, so a change shows up
in `git diff` as the lines of the shots that changed.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from ..errors import InvalidStoryboard, Problem
from ..files import atomic_write_bytes
from ..model import LOCK_FILE, known_usd
from ..redaction import holds_secret

LOCK_NAME = LOCK_FILE
HEADER = (
    "# storyboard.lock: written by `storyboard render`; commit it.\n"
    "# Per shot: the request it was generated from and where its clip came from, so a clone\n"
    "# without the clip cache downloads clips instead of paying for them again.\n"
)


@dataclass(frozen=True)
class Entry:
    request: str  # the request hash (see `storyboard plan`)
    backend: str
    model: str | None = None
    seed: int | None = None
    generation: str | None = None
    video_url: str | None = None
    clip_sha256: str | None = None
    usd: float | None = None  # what the service charged for it
    estimated_usd: float | None = None  # what it was estimated at when it was made
    take: int | None = None  # which of the shot's takes (when it has several)
    film: bool = False  # the clip in the film


Entries = dict[str, list[Entry]]  # shot id -> its takes


def by_request(entries: Entries) -> dict[str, Entry]:
    """Every entry by its request hash."""
    return {entry.request: entry for takes in entries.values() for entry in takes}


def in_film(entries: Entries, backend: str) -> dict[str, str]:
    """Shot id -> request hash of the clip `backend` made that it has in the film."""
    return {shot_id: entry.request for shot_id, takes in entries.items() for entry in takes
            if entry.film and entry.backend == backend}


class LockFile:
    def __init__(self, folder: Path, storyboard_name: str):
        self.path = folder / LOCK_NAME
        self.section = storyboard_name
        self._document = self._read()

    def entries(self) -> Entries:
        """The usable entries of this storyboard's section; anything malformed is left out."""
        section = self._document.get(self.section)
        shots = section.get("shots") if isinstance(section, dict) else None
        found: Entries = {}
        for shot_id, values in (shots.items() if isinstance(shots, dict) else ()):
            if isinstance(values, dict):  # written before shots had takes: the one clip, in the film
                values = [values | {"film": True}]
            takes = [_entry(value) for value in values if isinstance(value, dict) and isinstance(value.get("request"), str)] \
                if isinstance(values, list) else []
            if takes:
                found[str(shot_id)] = takes
        return found

    def write(self, entries: Entries) -> None:
        """Replace this storyboard's section; other storyboards' sections are kept as they are now (read
        again: another section may have been written since this one was read)."""
        self._document = self._read()
        shots = {shot_id: [{k: v for k, v in asdict(_shareable(entry)).items() if v is not None and v is not False}
                           for entry in sorted(takes, key=lambda entry: (entry.take or 0, entry.request))]
                 for shot_id, takes in sorted(entries.items()) if takes}
        document = dict(self._document)
        if shots:
            document[self.section] = {"shots": shots}
        else:
            document.pop(self.section, None)
        if document == self._document and self.path.exists():
            return
        if not document and not self.path.exists():
            return
        text = HEADER + yaml.safe_dump(dict(sorted(document.items())), sort_keys=True, allow_unicode=True, width=1000)
        atomic_write_bytes(self.path, text.encode("utf-8"))
        self._document = document

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {}
        try:
            document = yaml.safe_load(self.path.read_text(encoding="utf-8")) or {}
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark
            line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            raise InvalidStoryboard([Problem(str(self.path), line, column,
                                             f"{LOCK_NAME} cannot be read ({error.problem}); a merge conflict? "
                                             "fix it, or delete it to rely on the local clip store only")]) from None
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            raise InvalidStoryboard([Problem(str(self.path), 1, 1, f"{LOCK_NAME} cannot be read ({error})")]) from None
        if not isinstance(document, dict):
            raise InvalidStoryboard([Problem(str(self.path), 1, 1, f"{LOCK_NAME} should be a mapping of storyboard files")])
        return document


def _shareable(entry: Entry) -> Entry:
    """The entry without anything that holds a secret: the file is committed and shared. A video URL
    the service signed with the API key is left out (the generation id still lets a clone fetch it)."""
    if entry.video_url is not None and holds_secret(entry.video_url):
        return replace(entry, video_url=None)
    return entry


def _entry(values: dict[str, Any]) -> Entry:
    """An entry from what the file says, each value of the type the field needs (else left out):
    the file is edited by people and merged by git."""
    def text(name: str) -> str | None:
        value = values.get(name)
        return None if value is None or isinstance(value, (dict, list)) else str(value)

    seed, usd, take = values.get("seed"), values.get("usd"), values.get("take")
    estimated = values.get("estimated_usd")
    return Entry(
        request=str(values["request"]),
        backend=text("backend") or "",
        model=text("model"),
        seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
        generation=text("generation"),
        video_url=text("video_url"),
        clip_sha256=text("clip_sha256"),
        usd=known_usd(usd),
        estimated_usd=known_usd(estimated),
        take=take if isinstance(take, int) and not isinstance(take, bool) and take > 0 else None,
        film=values.get("film") is True,
    )

