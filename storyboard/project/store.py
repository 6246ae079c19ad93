"""The project-local store of what already exists: generated clips by request hash, frames.

Lives in `.storyboard/` next to the storyboard file, git-ignored by a `.gitignore` it writes
for itself. A clip is only ever moved into place complete (see files.atomic_path).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

from ..files import FileFacts, atomic_path, atomic_write_bytes
from ..model import STATE_DIR


class ClipStore:
    def __init__(self, project_root: Path):
        self.root = project_root / STATE_DIR

    @property
    def state_path(self) -> Path:
        return self.root / "state.sqlite"

    def clip_path(self, backend: str, request_hash: str, *, still: bool = False) -> Path:
        """Where the clip of a request is kept; a still's picture (`still`) beside the clips, as a PNG."""
        return self.root / "clips" / backend / f"{request_hash}.{'png' if still else 'mp4'}"

    def has_clip(self, backend: str, request_hash: str, *, still: bool = False) -> bool:
        path = self.clip_path(backend, request_hash, still=still)
        return path.is_file() and path.stat().st_size > 0

    def frame_path(self, clip_sha256: str, at: str | float) -> Path:
        return self.root / "frames" / f"{clip_sha256}-{at}.png"

    def film_is_current(self, film: Path, fingerprint: str) -> bool:
        """True if `film` is still exactly the file assembled from `fingerprint`."""
        saved = self._film_facts(film)
        return saved is not None and saved.get("fingerprint") == fingerprint

    def paid_clips_in(self, film: Path) -> int:
        """How many clips of the paid service `film` was assembled from (0 when it is not the file recorded)."""
        saved = self._film_facts(film)
        paid = saved.get("paid_clips", 0) if saved else 0
        return paid if isinstance(paid, int) else 0

    def remember_film(self, film: Path, fingerprint: str, paid_clips: int = 0) -> None:
        stat = film.stat()
        record: dict[str, object] = {"fingerprint": fingerprint, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        if paid_clips:  # only then: films of free clips keep the record they had
            record["paid_clips"] = paid_clips
        self.ensure()
        atomic_write_bytes(self._film_record(film), json.dumps(record).encode())

    def _film_facts(self, film: Path) -> dict[str, object] | None:
        """What was recorded when `film` was assembled, if it is still that very file."""
        record = self._film_record(film)
        if not record.is_file() or not film.is_file():
            return None
        try:
            saved = json.loads(record.read_text())
        except (OSError, ValueError):
            return None
        stat = film.stat()
        if not isinstance(saved, dict) or (saved.get("size"), saved.get("mtime_ns")) != (stat.st_size, stat.st_mtime_ns):
            return None
        return saved

    def _film_record(self, film: Path) -> Path:
        name = hashlib.sha256(str(film.absolute()).encode()).hexdigest()[:24]
        return self.root / "films" / f"{name}.json"

    @property
    def scratch(self) -> Path:
        """Where a render keeps its working files (a film's mix, a preview's sound)."""
        return self.root / "tmp"

    def remove_leftovers(self) -> None:
        """Temporary files of writes a killed render never finished, and its working files."""
        for leftover in self.root.rglob(".*.partial.*"):
            leftover.unlink(missing_ok=True)
        shutil.rmtree(self.scratch, ignore_errors=True)

    @contextlib.contextmanager
    def writing(self, destination: Path) -> Iterator[Path]:
        """A temporary path that becomes `destination` only if the block succeeds."""
        self.ensure()
        with atomic_path(destination) as temporary:
            yield temporary

    def ensure(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        ignore = self.root / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# storyboard's local state: generated clips and caches\n*\n")


def clip_is_intact(path: Path, recorded: FileFacts | None) -> bool | None:
    """True if `path` is the clip whose facts were `recorded`; False if it is missing or damaged;
    None if there is a file but nothing to check it against."""
    if not path.is_file():
        return False
    if recorded is None:
        return None if path.stat().st_size > 0 else False
    return recorded.describe(path)
