"""The local store (`.storyboard/`) as `cache status` and `cache gc` see it.

Clips (`clips/<backend>/<request>.mp4`, a still's `.png`) are referenced when a storyboard of the folder (or its
storyboard.lock) still names their request; frames (`frames/<clip sha256>-<at>.png`) when their
clip is. The film's segments (`segments/`; `pictures/` from versions before them) are derived from
the clips and rebuilt on demand: nothing references them, so gc keeps only the newest, up to a size.
A paid clip that no shared cache holds is kept unless asked: it cannot be had again without paying.
"""
from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..cache.references import References, paid_store
from ..files import file_sha256
from ..project.state import State
from ..project.store import ClipStore

DERIVED = ("segments", "pictures")
KINDS = ("clips", "frames", *DERIVED)
_FRAME = re.compile(r"^([0-9a-f]{64})-")


@dataclass(frozen=True)
class StoredFile:
    path: Path
    kind: str  # clips | frames | segments | pictures
    size: int
    mtime: float
    referenced: bool
    only_copy: bool = False  # a paid clip no shared cache is known to hold


@dataclass
class LocalStore:
    root: Path
    files: list[StoredFile] = field(default_factory=list)

    def of(self, kind: str) -> list[StoredFile]:
        return [item for item in self.files if item.kind == kind]


def clip_backends(store: ClipStore) -> list[str]:
    folder = store.root / "clips"
    return sorted(entry.name for entry in folder.iterdir() if entry.is_dir()) if folder.is_dir() else []


def survey(store: ClipStore, refs: References) -> LocalStore:
    """Every file of the local store's clips, frames, segments and pictures, and whether it is referenced."""
    found = LocalStore(store.root)
    records = {}
    if store.state_path.exists():
        state = State(store.state_path, read_only=True)
        try:
            records = {(record.backend, record.request_hash): record for record in state.all()}
        finally:
            state.close()
    kept_shas: set[str] = set()
    for path in _files(store.root / "clips"):
        backend, request = path.parent.name, path.stem
        record = records.get((backend, request))
        referenced = request in refs.requests
        if referenced and record is not None and record.clip_sha256:
            kept_shas.add(record.clip_sha256)
        elif referenced:
            with contextlib.suppress(OSError):
                kept_shas.add(file_sha256(path))
        only_copy = paid_store(backend) and (record is None or not record.shared)
        found.files.append(_stored(path, "clips", referenced, only_copy))
    for path in _files(store.root / "frames"):
        match = _FRAME.match(path.name)
        found.files.append(_stored(path, "frames", match is not None and match.group(1) in kept_shas))
    for kind in DERIVED:
        found.files += [_stored(path, kind, False) for path in _files(store.root / kind)]
    return found


@dataclass
class Collection:
    """What gc removes (oldest first) and what it keeps that it could remove."""

    removed: list[StoredFile] = field(default_factory=list)
    kept_only_copies: list[StoredFile] = field(default_factory=list)
    kept_derived: list[StoredFile] = field(default_factory=list)


def collect(local: LocalStore, *, keep_derived: int, unshared: bool) -> Collection:
    """The files to remove: unreferenced clips (paid ones no shared cache holds only with `unshared`),
    their frames, and derived files beyond the newest `keep_derived` bytes; oldest first."""
    chosen = Collection()
    for item in local.of("clips") + local.of("frames"):
        if item.referenced:
            continue
        if item.only_copy and not unshared:
            chosen.kept_only_copies.append(item)
        else:
            chosen.removed.append(item)
    budget = keep_derived
    for item in sorted((item for kind in DERIVED for item in local.of(kind)), key=lambda item: -item.mtime):
        if item.size <= budget:
            budget -= item.size
            chosen.kept_derived.append(item)
        else:
            budget = 0  # newest first: once one does not fit, every older one goes
            chosen.removed.append(item)
    chosen.removed.sort(key=lambda item: item.mtime)
    return chosen


def remove(files: list[StoredFile], root: Path) -> int:
    """Remove the files (oldest first, as given) and the folders they leave empty below the kinds'
    folders; the bytes freed. A file already gone is no error."""
    freed = 0
    for item in files:
        with contextlib.suppress(FileNotFoundError):
            item.path.unlink()
            freed += item.size
        folder = item.path.parent
        while folder.name not in KINDS and root in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                break
            folder = folder.parent
    return freed


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return [path for path in folder.rglob("*") if path.is_file() and ".partial" not in path.name]


def _stored(path: Path, kind: str, referenced: bool, only_copy: bool = False) -> StoredFile:
    info = path.stat()
    return StoredFile(path, kind, info.st_size, info.st_mtime, referenced, only_copy)
