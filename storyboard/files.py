"""Writing files so that a reader (or a crash) never sees half of one."""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import FileRefused


@contextlib.contextmanager
def atomic_path(destination: Path) -> Iterator[Path]:
    """Yield a temporary path next to `destination`; on success fsync it and rename it into place.

    The temporary name keeps the destination's suffix, so tools that pick a format by
    extension (ffmpeg) still work. On any error the temporary file is removed and the
    destination is left as it was.
    """
    temporary = _temporary_beside(destination)
    try:
        os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual mode
        yield temporary
        with open(temporary, "rb+") as file:
            os.fsync(file.fileno())
        os.replace(temporary, destination)
        _fsync_directory(destination.parent)
    finally:
        temporary.unlink(missing_ok=True)


def _temporary_beside(destination: Path) -> Path:
    """A new empty file next to `destination`, named so `remove_leftovers` finds it if a writer is killed."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(
        prefix=f".{destination.stem}.", suffix=f".partial{destination.suffix}", dir=destination.parent
    )
    os.close(handle)
    return Path(name)


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


def atomic_link_or_copy(source: Path, destination: Path) -> bool:
    """Put `source`'s content at `destination` atomically: a hard link where the file system allows
    one (True), else a copy (False). Either is made under a temporary name next to `destination`
    and renamed into place, so a reader never sees half a file; whatever `destination` was (a file,
    a symbolic link) is replaced, never written through."""
    temporary = _temporary_beside(destination)
    try:
        temporary.unlink()
        try:
            os.link(source, temporary)  # the same file under a second name: no copy, no space
        except OSError:  # another file system, or one without hard links
            with atomic_path(destination) as copy:
                shutil.copyfile(source, copy)
            return False
        os.replace(temporary, destination)
        _fsync_directory(destination.parent)
        return True
    finally:
        temporary.unlink(missing_ok=True)


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
        _hash_cache[key] = content_sha256(path)
    return _hash_cache[key]


def content_sha256(path: Path) -> str:
    """SHA-256 of a file's content, read now (nothing remembered: a file rewritten with its old mtime is seen)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class FileFacts:
    """What a file was when it was recorded: its content's SHA-256, and the size, mtime (and inode, where
    kept) that say cheaply whether it may have changed since."""

    sha256: str
    size: int
    mtime_ns: int
    inode: int | None = None  # None: not recorded (then not compared)

    @classmethod
    def of(cls, path: Path, *, inode: bool = False) -> FileFacts:
        stat = os.stat(path)
        return cls(file_sha256(path), stat.st_size, stat.st_mtime_ns, stat.st_ino if inode else None)

    def describe(self, path: Path, *, thorough: bool = False) -> bool:
        """True if `path` is still the file these facts were taken of. Unchanged size, mtime (and inode)
        are taken on trust, as hashing every kept file would make re-renders slow; `thorough`, or when
        they differ, the content is hashed again."""
        stat = os.stat(path)
        if not thorough and (stat.st_size, stat.st_mtime_ns) == (self.size, self.mtime_ns) \
                and self.inode in (None, stat.st_ino):
            return True
        return stat.st_size == self.size and content_sha256(path) == self.sha256


def file_kind(mode: int) -> str | None:
    """None for a regular file, else what it is: 'a named pipe (FIFO)', 'a device', ..."""
    kinds = ((stat.S_ISREG, None), (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
             (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of `path`, a regular file of at most `limit` bytes, else FileRefused (or OSError).
    Opened without blocking (a pipe would wait for a writer) and judged on the open descriptor;
    at most `limit + 1` bytes are read, whatever size the file system reports (/dev/zero...)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    descriptor = os.open(path, flags)
    try:
        info = os.fstat(descriptor)
        kind = file_kind(info.st_mode)
        if kind is not None:
            raise FileRefused(f"is {kind}, not a file")
        with open(descriptor, "rb", closefd=False) as file:
            raw = file.read(limit + 1)
    finally:
        os.close(descriptor)
    if len(raw) > limit:
        raise FileRefused(f"file is {max(info.st_size, len(raw)):,} bytes; files larger than {limit:,} bytes are refused")
    return raw
