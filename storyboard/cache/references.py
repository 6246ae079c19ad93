"""What a project folder's storyboards still reference: the request hashes of every take of every
shot (held clips included) for each backend whose clips are stored, and what storyboard.lock and
the render state record of them. `cache status` and `cache gc` judge the stores by it."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..backends.addresses import SERVICE
from ..errors import InvalidStoryboard, StoryboardError
from ..loading import load_variants
from ..model import Storyboard
from ..planning.inventory import stock
from ..project.lockfile import LockFile

# `storyboard:` as a key at the start of a line, bare or quoted (YAML, or JSON written one key a line),
# or anywhere in a file written as one JSON object.
_STORYBOARD = re.compile(r"""^\s*["']?storyboard["']?\s*:""", re.MULTILINE)
_JSON_STORYBOARD = re.compile(r"""["']storyboard["']\s*:""")
SUFFIXES = {".yaml", ".yml", ".json"}  # in any letter case: the loader reads any of them


@dataclass
class References:
    folder: Path
    boards: list[Storyboard] = field(default_factory=list)
    broken: dict[str, str] = field(default_factory=dict)  # file name -> why it cannot be loaded
    requests: set[str] = field(default_factory=set)  # request hashes, every backend
    in_lock: set[str] = field(default_factory=set)  # of them, those storyboard.lock records
    on_the_service: dict[str, set[str]] = field(default_factory=dict)  # each board (`records_name`) -> its paid requests

    @property
    def complete(self) -> bool:
        """Every storyboard of the folder could be read: nothing referenced is unknown."""
        return not self.broken


def storyboard_files(folder: Path) -> list[Path]:
    """The folder's storyboard files, as the loader would read them: YAML or JSON (`.yaml`, `.yml`,
    `.json`, in any letter case, a byte-order mark or not) that say `storyboard:` as a key."""
    found = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in SUFFIXES or path.name.startswith(".") or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8-sig", errors="replace")
        except OSError:
            continue
        if _STORYBOARD.search(text) or (text.lstrip().startswith("{") and _JSON_STORYBOARD.search(text)):
            found.append(path)
    return found


def references(folder: Path, backends: list[str]) -> References:
    """What the storyboards of `folder` (every variant of those with `variants:`) reference, for clips of
    `backends` (store names; those storyboard.lock names and the real service's are looked at too)."""
    found = References(folder)
    for path in storyboard_files(folder):
        try:
            found.boards += load_variants(path)
        except InvalidStoryboard as error:
            found.broken[path.name] = str(error.problems[0]) if error.problems else "invalid"
        except (StoryboardError, OSError) as error:
            found.broken[path.name] = str(error)
    locks = {board.records_name: LockFile(folder, board.records_name).entries() for board in found.boards}
    backends = sorted({*backends, SERVICE, *(entry.backend for entries in locks.values()
                                              for takes in entries.values() for entry in takes if entry.backend)})
    for board in found.boards:
        for backend in backends:
            the_plan = stock(board, backend, paid=paid_store(backend))
            found.requests |= {item.hash for item in the_plan.requests + the_plan.stills if item.footage is None}
            if backend == SERVICE:
                found.on_the_service[board.records_name] = {item.hash for item in the_plan.requests + the_plan.stills
                                                            if item.footage is None}
        for takes in locks[board.records_name].values():
            found.in_lock |= {entry.request for entry in takes}
    found.requests |= found.in_lock
    return found


def paid_store(backend: str) -> bool:
    """True for the store name of the paid service's clips (`aimlapi`, or `aimlapi@HOST` for another address)."""
    return backend == SERVICE or backend.startswith(f"{SERVICE}@")
