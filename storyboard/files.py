"""Writing files so that a reader (or a crash) never sees half of one."""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(destination: Path) -> Iterator[Path]:
    """Yield a temporary path next to `destination`; on success fsync it and rename it into place.

    The temporary name keeps the destination's suffix, so tools that pick a format by
    extension (ffmpeg) still work. On any error the temporary file is removed and the
    destination is left as it was.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(
        prefix=f".{destination.stem}.", suffix=f".partial{destination.suffix}", dir=destination.parent
    )
    os.close(handle)
    temporary = Path(name)
    try:
        os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual mode
        yield temporary
        with open(temporary, "rb+") as file:
            os.fsync(file.fileno())
        os.replace(temporary, destination)
        _fsync_directory(destination.parent)
    finally:
        temporary.unlink(missing_ok=True)


def remove_leftovers(destination: Path) -> None:
    """Remove temporary files a killed writer of `destination` left behind (see atomic_path).

    Only call it while no one else can be writing `destination` (the project lock)."""
    if destination.parent.is_dir():
        for leftover in destination.parent.glob(f".{destination.stem}.*.partial{destination.suffix}"):
            leftover.unlink(missing_ok=True)


def _read_umask() -> int:
    # os.umask can only be read by setting it: do it once, at import, before worker threads
    # exist; setting it to 0 while threads write files would give their files the wrong mode.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def atomic_write_bytes(destination: Path, data: bytes) -> None:
    with atomic_path(destination) as temporary:
        temporary.write_bytes(data)


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


_hash_cache: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's content, remembered per (path, size, mtime) for this process."""
    stat = os.stat(path)
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _hash_cache:
        digest = hashlib.sha256()
        with open(path, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
        _hash_cache[key] = digest.hexdigest()
    return _hash_cache[key]
