"""What the stress scripts share: an emulator that counts what it creates, storyboards of short
shots, `storyboard render` as a process, and the checks run after every scenario.

The checks (each returns the problems it found, as sentences; an empty list is a pass):

- `check_store`: every clip at its final name in `.storyboard/clips` decodes cleanly, and
  every render-state row that says `stored` names a clip whose SHA-256 is the one recorded;
- `check_film`: the film is absent, or complete (decodes cleanly, the expected length);
- `leftovers`: no `.*.partial.*` file in the project, `.storyboard/tmp` empty, nothing named
  `storyboard-*` in the folder the render processes had as TMPDIR;
- `secret_places`: the API key, in any letter case, in no file of the project (nor of that
  TMPDIR) and in no captured output;
- `Ledger.problems`: every request was created, and created again only after the service
  ended its generation failed, or after the user consented (`--resubmit SHOT`).

Nothing here is part of the package: the scripts are `stress/soak.py` and `stress/crash.py`,
and `tests/test_crash_and_fault_recovery.py` runs short versions of both.
"""
from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import platform
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import yaml

import storyboard
from storyboard.emulator import Emulator, faults, hostile
from storyboard.errors import InvalidStoryboard

ROOT = Path(__file__).resolve().parent.parent
# Distinctive, and in mixed case: the emulator's `echo_key` fault sends it back lower-cased.
KEY = "sk-StressSweep-Q7xK2mVp9RtL4wZb"
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
MODEL = "alibaba/wan-2-7-r2v"
SHOT_TAG = re.compile(r"\bshot (s\d{3})\b")

# Fault odds per request attempt. "realistic": a service having a bad day; "hostile": every
# kind often enough that a few dozen shots meet each of them several times.
REALISTIC = {
    "slow": 0.03, "drop": 0.01, "429": 0.04, "500": 0.01, "fail": 0.02, "expired": 0.02, "html": 0.01,
    "truncate": 0.02, "lost": 0.01, "echo_key": 0.005, "odd_status": 0.01, "not_json": 0.005, "giant": 0.003,
    "trickle": 0.005, "odd_scheme": 0.005, "redirect": 0.02, "gzip": 0.05,
}
HOSTILE = {
    "slow": 0.1, "drop": 0.1, "429": 0.15, "500": 0.08, "fail": 0.1, "expired": 0.15, "html": 0.1,
    "truncate": 0.15, "lost": 0.1, "echo_key": 0.05, "odd_status": 0.1, "not_json": 0.08, "giant": 0.04,
    "trickle": 0.05, "odd_scheme": 0.05, "redirect": 0.15, "gzip": 0.2,
}
PRESETS = {"realistic": REALISTIC, "hostile": HOSTILE, "none": {}}


def fault_spec(odds: dict[str, float]) -> str:
    return ",".join(f"{name}={value:g}" for name, value in odds.items())


def resolve_faults(text: str) -> str:
    """A preset name (`realistic`, `hostile`, `none`) or a fault spec as `storyboard emulator --faults` takes."""
    return fault_spec(PRESETS[text]) if text in PRESETS else text


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the emulator ----------------------------------------------------------------------------------------


@dataclass
class Created:
    """One create the emulator answered with a generation: a new one, or an idempotent replay."""

    at: float  # time.monotonic()
    shot: str | None  # from the prompt's "shot sNNN"
    prompt: str
    generation: Any  # storyboard.emulator.Generation
    replayed: bool

    @property
    def failed(self) -> bool:
        """The service ended it failed (the `fail` fault): billed, and a new create is the tool's right."""
        return getattr(self.generation, "failure", None) is not None


class CountingEmulator(Emulator):
    """The emulator, plus a record of every generation it made (or replayed), and of when each
    create, poll and download was being answered (for crash.py's phase windows)."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.created: list[Created] = []
        # (create|poll|download, start, end (monotonic), generation id or file name when known)
        self.answering: list[tuple[str, float, float, str]] = []
        self._record = threading.Lock()
        self.in_flight: dict[int, tuple[str, str]] = {}  # answers being sent: id -> (kind, subject)
        self._time_requests()

    def create_generation(self, *args: Any, **kwargs: Any) -> Any:
        made = super().create_generation(*args, **kwargs)
        generation, replayed = made if isinstance(made, tuple) else (made, False)
        prompt = str(generation.body.get("prompt", ""))
        found = SHOT_TAG.search(prompt)
        with self._record:
            self.created.append(Created(time.monotonic(), found.group(1) if found else None, prompt, generation,
                                        bool(replayed)))
        return made

    def _time_requests(self) -> None:
        """Time the handler's create, poll and download answers. Best effort: the handler's method
        names are the emulator's business, so anything missing is simply not timed."""
        server = getattr(self, "_server", None)
        handler = getattr(server, "RequestHandlerClass", None)
        if server is None or handler is None:
            return
        emulator = self
        overrides = {}
        for kind, method in (("create", "_create"), ("poll", "_poll"), ("download", "_download")):
            original = getattr(handler, method, None)
            if original is None:
                continue

            def timed(self: Any, *args: Any, _original: Any = original, _kind: str = kind) -> Any:
                subject = args[0] if args else ""
                if isinstance(subject, dict):  # a poll's query
                    subject = (subject.get("generation_id") or [""])[0]
                subject = subject if isinstance(subject, str) else ""
                started = time.monotonic()
                token = object()
                with emulator._record:
                    emulator.in_flight[id(token)] = (_kind, subject)
                try:
                    return _original(self, *args)
                finally:
                    with emulator._record:
                        del emulator.in_flight[id(token)]
                        emulator.answering.append((_kind, started, time.monotonic(), subject))

            overrides[method] = timed
        server.RequestHandlerClass = type("TimedHandler", (handler,), overrides)

    def now_answering(self) -> list[tuple[str, str]]:
        with self._record:
            return list(self.in_flight.values())

    def answered(self) -> list[tuple[str, float, float, str]]:
        with self._record:
            return list(self.answering)

    def made_for(self, tag: str) -> list[Created]:
        """The creates whose prompt carries `tag` (a run's or a round's own words)."""
        with self._record:
            return [created for created in self.created if tag in created.prompt]


@contextlib.contextmanager
def knobs(*, slow_seconds: float | None = None, trickle_seconds: float | None = None,
          giant_bytes: int | None = None) -> Iterator[None]:
    """Set the emulator's fault knobs (module values, read at each answer) meanwhile. They are
    process-wide: set them once around every emulator that runs at the same time."""
    wanted = [(faults, "SLOW_SECONDS", slow_seconds), (hostile, "TRICKLE_SECONDS", trickle_seconds),
              (hostile, "GIANT_BYTES", giant_bytes)]
    saved = [(module, name, getattr(module, name)) for module, name, value in wanted if value is not None]
    for module, name, value in wanted:
        if value is not None:
            setattr(module, name, value)
    try:
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


@contextlib.contextmanager
def stress_emulator(faults_spec: str, seed: int, latency: float) -> Iterator[CountingEmulator]:
    """A CountingEmulator on 127.0.0.1 that accepts only KEY."""
    server = CountingEmulator(host="127.0.0.1", port=0, api_key=KEY, latency=latency, faults=faults_spec, seed=seed)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# -- projects --------------------------------------------------------------------------------------------


def write_board(folder: Path, shots: int, tag: str, *, continuity: bool = False) -> Path:
    """`shots` distinct 2 s 720p 1:1 shots (the smallest 720p frame), no local references. With
    `continuity`, the last shot starts on the last frame of the first (frame extraction, a data: URI)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["storyboard: 1", f"title: stress {tag}",
             'defaults: {resolution: 720p, duration: 2, aspect_ratio: "1:1"}', "shots:"]
    for index in range(shots):
        lines += [f"  - id: s{index:03d}", f"    prompt: {tag} shot s{index:03d}, a lighthouse at dusk, wave {index}",
                  f"    seed: {1000 + index}"]
        if continuity and shots > 1 and index == shots - 1:
            lines.append("    first_frame: {shot: s000, at: end}")
    lines += ["output: {path: renders/board.mp4}"]
    board = folder / "board.yaml"
    board.write_text("\n".join(lines) + "\n")
    return board


def allow_short_clips(board: Path, emulator: Emulator | None = None) -> bool:
    """Make 2 s shots valid if the built-in model profile no longer allows them: a `models/short.yaml`
    override in the project (README, "Model profiles"), taught to the emulator too. True if written."""
    try:
        storyboard.load(board)
        return False
    except InvalidStoryboard as error:
        if "duration" not in str(error):
            raise
    builtin = Path(storyboard.__file__).resolve().parent / "loading" / "models"
    source = next(path for path in sorted(builtin.glob("*.yaml")) if yaml.safe_load(path.read_text())["model"] == MODEL)
    fields = dict(yaml.safe_load(source.read_text())["fields"])
    fields["duration"] = {"type": "integer", "minimum": 2, "maximum": 15, "default": 5}
    models = board.parent / "models"
    models.mkdir(exist_ok=True)
    (models / "short.yaml").write_text(yaml.safe_dump({"model": MODEL, "fields": fields}, sort_keys=False))
    storyboard.load(board)  # must now pass
    if emulator is not None:
        teach_profiles(emulator, board.parent)
    return True


def teach_profiles(emulator: Emulator, project: Path) -> None:
    """The emulator validates creates against the built-in profiles; give it the project's overrides
    too, standing for a service whose model accepts them (what `Emulator(profiles_from=...)` does at start)."""
    from storyboard.loading.profiles import load_profiles

    emulator._profiles = load_profiles(project)


# -- running `storyboard render` -------------------------------------------------------------------------


@dataclass
class Run:
    argv: list[str]
    exit: int | None
    stdout: str
    stderr: str
    started: float  # monotonic
    wall: float
    signal: str | None = None  # "SIGKILL", "SIGINT (group)", "SIGINT (process)", "SIGTERM" when sent; "timeout"
    signalled_at: float | None = None  # seconds after start
    stragglers: list[str] = field(default_factory=list)  # its group's live processes 0.5 s after it exited
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def asked_consent(self) -> set[str]:
        """The shots this run says need `--resubmit` before they are paid for again."""
        asked = set()
        for event in self.events:
            if event.get("state") == "failed" and event.get("shot") and "--resubmit" in str(event.get("message")):
                asked.add(str(event["shot"]))
        asked |= set(re.findall(r"--resubmit (s\d{3})\b", self.output))
        return asked

    def event_times(self, offset: float) -> list[tuple[float, dict[str, Any]]]:
        """(seconds after the process started, event) for each JSON event; `offset` = time.time() - monotonic."""
        return [(event["time"] - offset - self.started, event) for event in self.events if "time" in event]


def render_env(base_url: str, tmpdir: Path) -> dict[str, str]:
    tmpdir.mkdir(parents=True, exist_ok=True)
    env = {name: value for name, value in os.environ.items() if name not in ("AIMLAPI_KEY", "AIMLAPI_BASE_URL")}
    env.update({"AIMLAPI_KEY": KEY, "AIMLAPI_BASE_URL": base_url, "TMPDIR": str(tmpdir), "PYTHONUNBUFFERED": "1",
                # The emulator's usage log has no lag: a lost create's row is waited for seconds, not minutes.
                "STORYBOARD_LOG_LAG": "5"})
    return env


def render(project: Path, env: dict[str, str], extra: list[str], logs: Path, *, timeout: float = 900.0,
           trigger: Callable[[float, str], bool] | None = None, how: str = "SIGKILL", tick: float = 0.002) -> Run:
    """`python -m storyboard render board.yaml --backend aimlapi --yes --json …` in `project`.

    With `trigger`, it is asked every `tick` seconds, with the seconds since the start and the
    output that arrived since it was last asked; once it says True the process gets `how`:
    SIGKILL (then its helpers, in the session it leads), SIGINT to its process group (as Ctrl-C
    on a terminal does), SIGINT to the process alone, or SIGTERM (`kill`). Output goes to files under `logs`
    (never into the project). A render still running after `timeout` is killed: exit None."""
    argv = [sys.executable, "-m", "storyboard", "render", "board.yaml", "--backend", "aimlapi", "--yes", "--json", *extra]
    logs.mkdir(parents=True, exist_ok=True)
    number = len(list(logs.glob("*.out")))
    out_path, err_path = logs / f"{number:03d}.out", logs / f"{number:03d}.err"
    sent: str | None = None
    signalled_at: float | None = None
    stragglers: list[str] = []
    with open(out_path, "w+") as out, open(err_path, "w+") as err, open(out_path) as reader:
        started = time.monotonic()
        process = subprocess.Popen(argv, cwd=project, env=env, stdout=out, stderr=err, start_new_session=True)
        if trigger is not None:
            while process.poll() is None:
                elapsed = time.monotonic() - started
                if trigger(elapsed, reader.read()):
                    if how != "SIGKILL" and ignores_sigint(process.pid):
                        _kill_tree(process)
                        raise RuntimeError("the render inherited an ignored SIGINT from the harness: start the harness "
                                           "in the foreground (or from a shell with job control)")
                    sent, signalled_at = how, elapsed
                    if how == "SIGKILL":
                        _kill_tree(process)
                    else:
                        with contextlib.suppress(ProcessLookupError):
                            if how == "SIGINT (group)":
                                os.killpg(process.pid, signal.SIGINT)
                            else:
                                os.kill(process.pid, signal.SIGTERM if how == "SIGTERM" else signal.SIGINT)
                    break
                if elapsed > timeout:
                    break
                time.sleep(tick)
        try:
            process.wait(timeout=max(1.0, timeout - (time.monotonic() - started)))
        except subprocess.TimeoutExpired:
            _kill_tree(process)
            sent = "timeout" if sent is None else f"{sent}, then SIGKILL at the timeout"
        # Helpers it left running (an ffmpeg it started) end with it; after a kill -9 they were killed too
        # and only need reaping, so only a group still there half a second later counts as left running.
        # Zombies (ended, not yet reaped by whoever adopted them) are not running and do not count.
        for _ in range(50):
            if not group_members(process.pid):
                break
            time.sleep(0.01)
        else:
            if sent != "SIGKILL":
                stragglers = group_members(process.pid)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        wall = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    code = None if sent is not None and "timeout" in sent else process.returncode
    run = Run(argv[2:], code, stdout, stderr, started, wall, sent, signalled_at, stragglers=stragglers)
    for line in stdout.splitlines():
        with contextlib.suppress(ValueError):
            value = json.loads(line)
            if isinstance(value, dict):
                run.events.append(value)
    return run


def ignores_sigint(pid: int) -> bool:
    """True if the process ignores SIGINT (Linux /proc; False where it cannot be told)."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        status = Path(f"/proc/{pid}/status").read_text()
        mask = int(next(line for line in status.splitlines() if line.startswith("SigIgn:")).split()[1], 16)
        return bool(mask & (1 << (signal.SIGINT - 1)))
    return False


def group_members(group: int) -> list[str]:
    """The live processes of a process group (zombies left out), as "pid state command line" (Linux /proc;
    [] elsewhere)."""
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == group and fields[0] != "Z":
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                found.append(f"{entry.name} {fields[0]} {command[:200]}")
    return found


def _kill_tree(process: subprocess.Popen[Any]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGKILL)
    # Until wait() reaps the leader, its id (and so this group) cannot be reused.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def resubmit_flags(shots: set[str]) -> list[str]:
    return [flag for shot in sorted(shots) for flag in ("--resubmit", shot)]


# -- checks ----------------------------------------------------------------------------------------------


_DECODED: dict[tuple[str, int, int], str] = {}


def decode_errors(path: Path) -> str:
    """What ffmpeg complains of while decoding every frame and sample ('' when clean); cached per version
    of the file. The same check as tests/avprobe.py's."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _DECODED:
        done = subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True, text=True)
        _DECODED[key] = done.stderr.strip() + ("" if done.returncode == 0 else f" (exit {done.returncode})")
    return _DECODED[key]


def duration_of(path: Path) -> float | None:
    text = subprocess.run([FFMPEG, "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    found = re.search(r"Duration: (\d+):(\d+):([\d.]+)", text)
    return int(found.group(1)) * 3600 + int(found.group(2)) * 60 + float(found.group(3)) if found else None


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def state_rows(project: Path) -> list[dict[str, Any]]:
    """The render state's rows, read without writing (the file may have been left by a killed render)."""
    path = project / ".storyboard" / "state.sqlite"
    if not path.exists():
        return []
    db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM generations")]
    except sqlite3.OperationalError as error:
        if "no such table" in str(error):
            return []
        raise
    finally:
        db.close()


def check_store(project: Path) -> list[str]:
    """No corrupt clip accepted: clips at final names decode; `stored` rows match their clip's SHA-256."""
    problems = []
    clips = project / ".storyboard" / "clips"
    for path in sorted(clips.rglob("*.mp4")) if clips.is_dir() else []:
        if path.name.startswith("."):
            continue  # a temporary file (`.NAME.*.partial.mp4`), not an accepted clip
        errors = decode_errors(path)
        if errors:
            problems.append(f"stored clip {path.relative_to(project)} does not decode: {errors[:300]}")
    for row in state_rows(project):
        if row["status"] != "stored":
            continue
        path = clips / row["backend"] / f"{row['request_hash']}.mp4"
        if not path.is_file():
            continue  # deleted by hand or by a test; the next render recovers it (not this check's business)
        if sha256(path) != row["clip_sha256"]:
            problems.append(f"{path.relative_to(project)} does not match the SHA-256 its `stored` row records")
    return problems


def check_film(film: Path, expected_seconds: float, *, must_exist: bool) -> list[str]:
    if not film.exists():
        return [f"no film at {film.name}"] if must_exist else []
    errors = decode_errors(film)
    if errors:
        return [f"the film at {film.name} does not decode: {errors[:300]}"]
    length = duration_of(film)
    if length is None or abs(length - expected_seconds) > 0.25:
        return [f"the film at {film.name} lasts {length} s, not {expected_seconds:g} s"]
    return []


def leftovers(project: Path, tmpdir: Path | None) -> list[str]:
    found = [str(path.relative_to(project)) for path in project.rglob(".*.partial.*")]
    scratch = project / ".storyboard" / "tmp"
    if scratch.is_dir():
        found += [str(path.relative_to(project)) for path in scratch.rglob("*")]
    if tmpdir is not None and tmpdir.is_dir():
        found += [f"$TMPDIR/{path.name}" for path in tmpdir.iterdir() if path.name.startswith("storyboard-")]
    return sorted(found)


def secret_places(key: str, folders: list[Path], texts: dict[str, str]) -> list[str]:
    """Where `key` shows, in any letter case: files under `folders` (sqlite, lock files, clips, the film
    included) and the named texts (captured output)."""
    needle = key.lower().encode()
    found = []
    for folder in folders:
        for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
            if path.is_file() and not path.is_symlink():
                with contextlib.suppress(OSError):
                    if needle in path.read_bytes().lower():
                        found.append(str(path))
    found += [name for name, text in texts.items() if key.lower() in text.lower()]
    return found


@dataclass
class Ledger:
    """What was created for a set of requests, against what the tool may create.

    A request's first create is the one expected. Another generation of the same request is
    allowed only after the previous generation ended failed on the service (a definite answer,
    billed, and a new attempt is what the tool is for) or after the user named the shot with
    `--resubmit` since then. Anything else is a silent second bill."""

    requests: list[str]  # shot ids
    created: list[Created]
    consents: dict[str, int]  # shot -> --resubmit SHOT given, in all

    def by_shot(self) -> dict[str, list[Created]]:
        made: dict[str, list[Created]] = {shot: [] for shot in self.requests}
        for created in sorted(self.created, key=lambda item: item.at):
            made.setdefault(created.shot or "?", []).append(created)
        return made

    def figures(self) -> dict[str, int]:
        new = [created for created in self.created if not created.replayed]
        after_failure = paid_again = 0
        for made in self.by_shot().values():
            generations = [created for created in made if not created.replayed]
            for earlier, _later in itertools.pairwise(generations):
                if earlier.failed:
                    after_failure += 1
                else:
                    paid_again += 1
        return {
            "requests": len(self.requests),
            "creates": len(new),
            "after_failure": after_failure,  # new generations after the service failed the previous one
            "paid_again": paid_again,  # new generations of a request whose previous one was not failed
            "replays": sum(created.replayed for created in self.created),  # resubmissions answered by Idempotency-Key
            "consents": sum(self.consents.values()),
        }

    def problems(self) -> list[str]:
        problems = []
        for shot, made in self.by_shot().items():
            generations = [created for created in made if not created.replayed]
            if shot not in self.requests:
                problems.append(f"{len(generations)} generation(s) for no request of this scenario ({shot})")
                continue
            if not generations:
                problems.append(f"{shot}: never created")
                continue
            paid_again = sum(not earlier.failed for earlier, _ in itertools.pairwise(generations))
            if paid_again > self.consents.get(shot, 0):
                problems.append(f"{shot}: created {len(generations)} times ({paid_again} while an earlier generation "
                                f"had not failed), with {self.consents.get(shot, 0)} consent(s) to pay again")
        return problems


# -- where and when --------------------------------------------------------------------------------------


def machine() -> str:
    """`date -u`, cores, CPU, memory, Python, and the storyboard source measured."""
    stamp = subprocess.run(["date", "-u"], capture_output=True, text=True).stdout.strip()
    cpu = ""
    with contextlib.suppress(OSError):
        found = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
        cpu = f' ("{found.group(1).strip()}")' if found else ""
    memory = ""
    with contextlib.suppress(OSError, AttributeError, ValueError):
        memory = f", {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB"
    return (f"{stamp}; nproc {os.cpu_count()}{cpu}, {platform.machine()}{memory}; "
            f"{platform.python_implementation()} {platform.python_version()}; storyboard {revision()}")


def revision() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "storyboard"], cwd=ROOT, capture_output=True,
                               text=True).stdout.strip()
    except OSError:
        head, dirty = "", ""
    digest = hashlib.sha256()
    package = ROOT / "storyboard"
    for path in sorted(package.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".yaml", ".json"):
            digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    source = f"source sha256 {digest.hexdigest()[:10]}"
    return f"{head or '?'}{' + uncommitted changes in storyboard/' if dirty else ''} ({source})"
