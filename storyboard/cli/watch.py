"""`storyboard render --watch`: render, then render again whenever a file the storyboard reads changes.

The files watched are those of the last load that succeeded: the storyboard, the snippets its prompts
include, the local references of its cast and shots, first frame images, footage, the soundtrack and
the project's model profiles (`models/`); they are recomputed after every load, so a file a save
starts to reference is watched from then on. What a render regenerates is the pipeline's business:
unchanged requests keep their clips (content hashes), so a re-render makes only what changed.

The truth about a change is each file's (size, mtime, inode), compared with a snapshot taken before
the load that read it; `watchfiles` (inotify, FSEvents, ReadDirectoryChangesW) only wakes the loop
up, and a periodic look catches what it cannot see (a save made while a render ran, a symbolic link's
target elsewhere). A change is rendered once the files have rested for `debounce` seconds.
"""
from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InvalidStoryboard, Problem, StoryboardError
from ..events import Event
from ..loading import load
from ..loading.checks.outputs import inputs as read_files
from ..loading.profiles import PROJECT_PROFILES_DIR, profile_files
from ..messages import describe_os_error
from ..model import LOCK_FILE, STATE_DIR, Storyboard

DEBOUNCE = 0.3  # seconds the files must rest after a change before the render starts
LOOK_EVERY_MS = 2000  # look at every watched file this often, even without a file system event
MAX_SETTLE = 5.0  # seconds: a file still changing after this is rendered anyway

_NOT_INPUTS = {"renders", "node_modules", "__pycache__", "venv"}  # subfolders not worth watching for a missing file
Fact = tuple[int, int, int] | None  # (size, mtime_ns, inode), None for a missing file
RenderOnce = Callable[[Storyboard], None]


def inputs(board: Storyboard) -> list[Path]:
    """Every local file the storyboard reads, the storyboard first, each once."""
    return list(dict.fromkeys(Path(os.path.normpath(path)) for path, _ in read_files(board)))


@dataclass
class Budget:
    """A spending limit over every render of a watch session (`--max-cost` with `--watch`)."""

    limit: float
    spent: float = 0.0  # creates whose answer never came included, at their estimate: they may be billed
    unknown: float = 0.0  # of `spent`, those estimates
    _this_render: float = field(default=0.0, repr=False)
    _unknown_this_render: float = field(default=0.0, repr=False)

    def left(self) -> float:
        return max(0.0, round(self.limit - self.spent, 6))

    def track(self, on_event: Callable[[Event], None]) -> Callable[[Event], None]:
        """`on_event`, counting what the render reports having spent (a failed render's spend included,
        and the estimate of every create whose answer was lost: the render's events count them in
        `total_usd`, since they may be billed; a generation that failed is billed nothing, and its
        charge comes off again)."""
        self._this_render = 0.0
        self._unknown_this_render = 0.0

        def tracked(event: Event) -> None:
            # the render's running total, said as it changes: down too, when a failed generation is not billed
            if event.total_usd is not None and event.total_usd != self._this_render:
                self.spent = max(0.0, self.spent + event.total_usd - self._this_render)
                self._this_render = event.total_usd
            if event.unknown_usd is not None and event.unknown_usd > self._unknown_this_render:
                self.unknown += event.unknown_usd - self._unknown_this_render
                self._unknown_this_render = event.unknown_usd
            on_event(event)

        return tracked

    def __str__(self) -> str:
        unknown = f" ({self.unknown:.2f} USD of it by creates whose answer was lost, at their estimate)" if self.unknown else ""
        return f"{self.spent:.2f} of {self.limit:.2f} USD spent{unknown}"


def watch(file: str | os.PathLike[str], render_once: RenderOnce, *, say: Callable[[str], None],
          show_problems: Callable[[Sequence[Problem]], None], budget: Budget | None = None,
          debounce: float = DEBOUNCE, stop: Callable[[], bool] | None = None) -> None:
    """Render `file` with `render_once`, then again after every change of a file it reads, until
    interrupted (KeyboardInterrupt) or `stop()` says so. An invalid storyboard's problems go to
    `show_problems`, a failed render's error to `say`, and watching goes on; only a storyboard file
    that does not exist at the start raises (InvalidStoryboard)."""
    loop = _Loop(Path(file), render_once, say, show_problems, budget, debounce, stop or (lambda: False))
    if not loop.file.exists():
        load(file)  # raises its "no such file" problem: a typo in the command, not a save to wait for
    loop.run()


class _Loop:
    def __init__(self, file: Path, render_once: RenderOnce, say: Callable[[str], None],
                 show_problems: Callable[[Sequence[Problem]], None], budget: Budget | None, debounce: float,
                 stop: Callable[[], bool]):
        self.shown = file  # as the user named it
        self.file = Path(os.path.normpath(file.absolute()))
        self.root = self.file.parent
        self.render_once, self.say, self.show_problems = render_once, say, show_problems
        self.budget, self.debounce, self.stop = budget, debounce, stop
        self.known: list[Path] = [self.file, *profile_files(self.root)]  # the files of the last good load
        self.snapshot: dict[Path, Fact] = {}
        self.problems: list[Problem] | None = None  # of the last load, when it failed
        self.listing: dict[Path, Fact] = {}  # every file of the project's folders when the snapshot was taken

    def run(self) -> None:
        changed: set[Path] = set()
        while not self.stop():
            if not self._once(changed):
                changed = self._wait()  # a retry that changed nothing: said nothing, and waits on
                continue
            files = f"{len(self.known)} file{'' if len(self.known) == 1 else 's'}"
            self.say(f"watching {files}… ({f'{self.budget}; ' if self.budget else ''}Ctrl-C to stop)")
            changed = self._wait()

    def _once(self, changed: set[Path]) -> bool:
        """Load and render after `changed` (empty: the first render), saying why. False: nothing to say
        (while the storyboard is invalid, a file it does not read changed, and the problems are the same)."""
        watched = set(self.known)
        reason = f"rendering {self.shown}" if not changed else _describe(changed, {**self.listing, **self.snapshot})
        quiet = bool(changed) and self.problems is not None and not changed & watched  # a retry, maybe in vain
        if not quiet:
            self.say(reason)
        self.snapshot = _facts(self._candidates())  # before loading: a save during the load or the render is seen
        self.listing = self._list()
        try:
            board = load(self.shown)  # problems name the file as the user does
        except InvalidStoryboard as error:
            problems = sorted(error.problems)
            if quiet and problems == self.problems:
                return False
            if quiet:
                self.say(reason)
            self.problems = problems
            self.show_problems(error.problems)
            return True
        if quiet:
            self.say(reason)
        self.problems = None
        self.known = inputs(board)
        self.snapshot = {path: self.snapshot[path] if path in self.snapshot else _fact(path) for path in self._candidates()}
        try:
            self.render_once(board)
        except InvalidStoryboard as error:  # what the backend refuses before paying, a hold whose clip is gone
            self.show_problems(error.problems)
        except StoryboardError as error:  # a shot failed, the budget refused, assembly failed: say it, keep watching
            self.say(f"error: {error}")
        except OSError as error:
            self.say(f"error: {describe_os_error(error)}")
        return True

    def _candidates(self) -> list[Path]:
        """The files whose change means a new load: the known ones, and any model profile added since."""
        return list(dict.fromkeys([*self.known, *profile_files(self.root)]))

    def _folders(self, wide: bool = False) -> list[str]:
        """The folders to ask the operating system about: those of the files (and of their link
        targets), the project's, and its models/ folder; while the storyboard is invalid (or `wide`),
        also the project's subfolders (assets/, snippets/...), where the file it misses may appear."""
        folders = {self.root, self.root / PROJECT_PROFILES_DIR}
        for path in self.known:
            folders.add(path.parent)
            with contextlib.suppress(OSError, RuntimeError):  # a link loop: the periodic look covers it
                folders.add(path.resolve().parent)
        if wide or self.problems is not None:
            with contextlib.suppress(OSError):
                folders.update(entry for entry in self.root.iterdir() if not entry.name.startswith(".")
                               and entry.name not in _NOT_INPUTS and entry.is_dir())
        return sorted(str(folder) for folder in folders if folder.is_dir())

    def _list(self) -> dict[Path, Fact]:
        """Every file of the project's folders (wide), but storyboard's own and editors' swap files."""
        found: dict[Path, Fact] = {}
        for folder in self._folders(wide=True):
            with contextlib.suppress(OSError):
                found.update((Path(os.path.normpath(entry.path)), _fact(Path(entry.path))) for entry in os.scandir(folder)
                             if self._relevant(None, entry.path) and entry.is_file())
        return found

    def _look(self) -> dict[Path, Fact]:
        """The files that matter now: the storyboard's; while it is invalid, every file of the project's
        folders too (one of them may be the reference the storyboard misses)."""
        now = _facts(self._candidates())
        return {**self._list(), **now} if self.problems is not None else now

    def _changed(self) -> set[Path]:
        """The files changed since the snapshot."""
        now = self._look()
        before = {**self.listing, **self.snapshot} if self.problems is not None else self.snapshot
        return {path for path in {*now, *before} if now.get(path) != before.get(path)}

    def _wait(self) -> set[Path]:
        """Block until `_changed` finds something; return it, settled. The operating system's events
        only say when to look; a look every LOOK_EVERY_MS catches what they cannot."""
        import watchfiles  # imported only when watching

        while not self.stop():
            if changed := self._changed():
                return self._settle(changed)
            folders = self._folders()
            try:
                for _ in watchfiles.watch(*folders, watch_filter=self._relevant, recursive=False,
                                               rust_timeout=LOOK_EVERY_MS, yield_on_timeout=True,
                                               stop_event=_StopEvent(self.stop)):
                    if changed := self._changed():
                        return self._settle(changed)
                    if self._folders() != folders:
                        break  # a folder appeared (models/): watch it too
            except (OSError, RuntimeError):  # a folder vanished while being watched: look again in a moment
                time.sleep(LOOK_EVERY_MS / 1000)
        return set()

    def _relevant(self, change: object, path: str) -> bool:
        """Events worth waking up for: not storyboard's own state, its lock, or an editor's swap file."""
        name = os.path.basename(path)
        inside_state = Path(path).is_relative_to(self.root / STATE_DIR)
        return not (inside_state or name in (LOCK_FILE, STATE_DIR) or name.startswith((".#", "~"))
                    or name.endswith(("~", ".swp", ".swx", ".tmp")) or ".partial." in name)

    def _settle(self, changed: set[Path]) -> set[Path]:
        """`changed`, plus whatever else changes until the files rest for `debounce` seconds."""
        deadline = time.monotonic() + MAX_SETTLE
        before = self._look()
        while time.monotonic() < deadline:
            time.sleep(self.debounce)
            after = self._look()
            if after == before:
                break
            before = after
        return changed | self._changed()


class _StopEvent:
    """What watchfiles asks to stop: anything with is_set()."""

    def __init__(self, stop: Callable[[], bool]):
        self.stop = stop

    def is_set(self) -> bool:
        return self.stop()


def _fact(path: Path) -> Fact:
    try:
        info = path.stat()
    except (OSError, ValueError):
        return None
    return info.st_size, info.st_mtime_ns, info.st_ino


def _facts(paths: Iterable[Path]) -> dict[Path, Fact]:
    return {path: _fact(path) for path in paths}


def _describe(changed: set[Path], before: dict[Path, Fact]) -> str:
    """`storyboard.yaml changed`, `models/x.yaml added`, `a.png changed, b.png removed and 2 more`..."""
    def said(path: Path) -> str:
        try:
            name = os.path.relpath(path)
        except ValueError:  # another drive (Windows)
            name = str(path)
        if not path.exists():
            return f"{name} removed"
        return f"{name} added" if before.get(path) is None else f"{name} changed"

    lines = sorted(said(path) for path in changed)
    return ", ".join(lines[:3]) + (f" and {len(lines) - 3} more" if len(lines) > 3 else "")
