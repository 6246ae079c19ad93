"""What has been asked of each backend, kept durably: one sqlite row per request hash.

A row moves through these states; each change is committed before the next step starts:

    claimed    written *before* the create request is sent
    submitted  the service accepted it: the generation id is known, so a later run polls it
    completed  the service finished it: the video URL is known, so a later run downloads it
    stored     the clip is in the clip store, with its checksum
    failed     the service said no, or ended the generation failed: a new run submits again
    unknown    a create may or may not have reached the service (an ambiguous answer, or a
               crash between `claimed` and the answer): submitting again needs consent

A run killed at any instant therefore finds either nothing (nothing was sent), `claimed`
(the outcome is unknown), or a generation id to follow: it never pays twice silently.

Only one render works on a project at a time (`lock.project_lock`), so a `claimed` row seen at
the start of a run was left by a run that died.
"""
from __future__ import annotations

import contextlib
import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import StateError
from ..files import FileFacts
from ..model import known_usd
from ..redaction import redact
from .correlation import client_request_id

RecordStatus = Literal["claimed", "submitted", "completed", "stored", "failed", "unknown"]  # a row's state: see above
OUTCOME_UNKNOWN: tuple[RecordStatus, ...] = ("claimed", "unknown")  # a create may have reached the service

SCHEMA = """
CREATE TABLE IF NOT EXISTS generations (
    backend       TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    shot_id       TEXT NOT NULL,
    model         TEXT,
    seed          INTEGER,
    status        TEXT NOT NULL,
    generation_id TEXT,
    video_url     TEXT,
    usd_spent     REAL NOT NULL DEFAULT 0,  -- all creates of this request, summed
    clip_sha256   TEXT,
    clip_size     INTEGER,
    clip_mtime_ns INTEGER,
    attempts      INTEGER NOT NULL DEFAULT 0,
    error         TEXT,
    idempotency_key TEXT,                   -- sent with the create; kept while its outcome is unknown
    client_request_id TEXT,                 -- the create's X-Client-Request-Id: the usage log finds it by this
    claimed_at    REAL,                     -- when the last create was claimed (wall clock): where to look in the log
    shared        TEXT,                     -- the shared cache (s3://bucket/prefix) known to hold the clip
    created_at    REAL NOT NULL,
    updated_at    REAL NOT NULL,
    PRIMARY KEY (backend, request_hash)
)
"""
# The clip each shot had in the last render of a storyboard file: what `hold: true` keeps, and what
# `plan` compares against to show what an edit regenerates.
FILM_SCHEMA = """
CREATE TABLE IF NOT EXISTS in_film (
    storyboard    TEXT NOT NULL,
    backend       TEXT NOT NULL,
    shot_id       TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    body          TEXT,                     -- the request as sent (JSON): what a held shot shows
    updated_at    REAL NOT NULL,
    PRIMARY KEY (storyboard, backend, shot_id)
)
"""


@dataclass(frozen=True)
class Record:
    backend: str
    request_hash: str
    shot_id: str
    model: str | None
    seed: int | None
    status: RecordStatus
    generation_id: str | None
    video_url: str | None
    usd_spent: float
    clip_sha256: str | None
    clip_size: int | None
    clip_mtime_ns: int | None
    attempts: int
    error: str | None
    idempotency_key: str | None
    created_at: float
    updated_at: float
    shared: str | None = None
    client_request_id: str | None = None
    claimed_at: float | None = None

    @property
    def clip(self) -> FileFacts | None:
        """The facts of the clip this request stored, when it stored one."""
        if self.clip_sha256 is None:
            return None
        return FileFacts(self.clip_sha256, self.clip_size or 0, self.clip_mtime_ns or 0)

    @property
    def outcome_unknown(self) -> bool:
        return self.status in OUTCOME_UNKNOWN


class State:
    """The sqlite database in the project's state folder."""

    def __init__(self, path: Path, *, read_only: bool = False):
        """Open (creating it if needed) the render state; `read_only` for a look that writes
        nothing, as `plan` takes, which works in a read-only project too."""
        self.path = path
        try:
            if read_only:
                self._db = _open_read_only(path)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(path, isolation_level=None, timeout=30.0)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")  # a committed claim survives power loss
                self._db.execute(SCHEMA)
                self._db.execute(FILM_SCHEMA)
                columns = {row[1] for row in self._db.execute("PRAGMA table_info(generations)")}
                if "idempotency_key" not in columns:  # a state written before creates carried a key
                    self._db.execute("ALTER TABLE generations ADD COLUMN idempotency_key TEXT")
                if "shared" not in columns:  # a state written before the shared cache
                    self._db.execute("ALTER TABLE generations ADD COLUMN shared TEXT")
                if "client_request_id" not in columns:  # a state written before creates carried a traceable id
                    self._db.execute("ALTER TABLE generations ADD COLUMN client_request_id TEXT")
                    self._db.execute("ALTER TABLE generations ADD COLUMN claimed_at REAL")
                if "body" not in {row[1] for row in self._db.execute("PRAGMA table_info(in_film)")}:
                    self._db.execute("ALTER TABLE in_film ADD COLUMN body TEXT")
            self._db.row_factory = sqlite3.Row
            self._db.execute("SELECT 1 FROM generations LIMIT 1").fetchall()
        except sqlite3.DatabaseError as error:
            raise StateError(_cannot_open(path, error)) from None

    def close(self) -> None:
        self._db.close()

    def get(self, backend: str, request_hash: str) -> Record | None:
        row = self._db.execute(
            "SELECT * FROM generations WHERE backend = ? AND request_hash = ?", (backend, request_hash)
        ).fetchone()
        return _record(row) if row else None

    def all(self, backend: str | None = None) -> list[Record]:
        if backend is None:
            rows = self._db.execute("SELECT * FROM generations ORDER BY created_at").fetchall()
        else:
            rows = self._db.execute("SELECT * FROM generations WHERE backend = ? ORDER BY created_at", (backend,)).fetchall()
        return [_record(row) for row in rows]

    def in_film(self, storyboard: str, backend: str) -> dict[str, InFilm]:
        """By shot id, the clip each shot of `storyboard` (a file name) had in its last render."""
        # A state written by an older version and opened read-only may lack the body, or the table.
        for columns in ("shot_id, request_hash, body", "shot_id, request_hash, NULL"):
            try:
                rows = self._db.execute(f"SELECT {columns} FROM in_film WHERE storyboard = ? AND backend = ?",
                                        (storyboard, backend)).fetchall()
            except sqlite3.OperationalError:
                continue
            return {row[0]: InFilm(row[1], _json_object(row[2])) for row in rows}
        return {}

    def last_backend(self, storyboard: str) -> str | None:
        """The store name of the backend whose clips the last render of `storyboard` (a file name) put in its film."""
        try:
            row = self._db.execute("SELECT backend FROM in_film WHERE storyboard = ? ORDER BY updated_at DESC LIMIT 1",
                                   (storyboard,)).fetchone()
        except sqlite3.OperationalError:  # a state written by an older version, opened read-only
            return None
        return str(row[0]) if row else None

    def record_film(self, storyboard: str, backend: str, clips: dict[str, InFilm], shots: list[str]) -> None:
        """Remember clips (by shot id) as the ones this render put in the film; shots no longer among
        `shots` (the storyboard's) are forgotten."""
        now = time.time()
        with self._writing(), self._db:
            self._db.execute("BEGIN")
            self._db.execute(f"DELETE FROM in_film WHERE storyboard = ? AND backend = ? AND shot_id NOT IN "
                             f"({', '.join('?' * len(shots))})", (storyboard, backend, *shots))
            self._db.executemany(
                """INSERT INTO in_film (storyboard, backend, shot_id, request_hash, body, updated_at) VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (storyboard, backend, shot_id) DO UPDATE SET
                     request_hash = excluded.request_hash, body = excluded.body, updated_at = excluded.updated_at""",
                [(storyboard, backend, shot_id, clip.request_hash, json.dumps(clip.body) if clip.body is not None else None, now)
                 for shot_id, clip in clips.items()],
            )

    def claim(self, backend: str, request_hash: str, shot_id: str, model: str | None, seed: int | None,
              idempotency_key: str | None = None) -> Claim:
        """Record that a create is about to be sent, committed before this returns.

        The claim carries the create's idempotency key: `idempotency_key` when given (the one the
        shared cache's claim records). A request whose earlier create has an unknown outcome keeps
        its key, so a service that honours keys answers a resubmission with the generation the lost
        create made instead of billing a second one; any other new attempt gets a new key. It also
        carries the create's client request id (`next_client_request_id`) and the time of the claim,
        by which the service's usage log finds the create when its answer is lost."""
        now = time.time()
        previous = self.get(backend, request_hash)
        key = previous.idempotency_key if previous and previous.outcome_unknown and previous.idempotency_key else None
        key = idempotency_key or key or str(uuid.uuid4())
        attempt = (previous.attempts if previous else 0) + 1
        traced = client_request_id(request_hash, attempt)
        status: RecordStatus = "claimed"
        with self._writing():
            self._db.execute(
                """INSERT INTO generations
                     (backend, request_hash, shot_id, model, seed, status, attempts, idempotency_key, client_request_id,
                      claimed_at, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?)
                   ON CONFLICT (backend, request_hash) DO UPDATE SET
                     shot_id = excluded.shot_id, model = excluded.model, seed = excluded.seed, status = excluded.status,
                     generation_id = NULL, video_url = NULL, clip_sha256 = NULL, clip_size = NULL,
                     clip_mtime_ns = NULL, error = NULL, shared = NULL, attempts = attempts + 1,
                     idempotency_key = excluded.idempotency_key, client_request_id = excluded.client_request_id,
                     claimed_at = excluded.claimed_at, updated_at = excluded.updated_at""",
                (backend, request_hash, shot_id, model, seed, status, key, traced, now, now, now),
            )
        return Claim(attempt=attempt, idempotency_key=key, client_request_id=traced, claimed_at=now)

    def next_client_request_id(self, backend: str, request_hash: str) -> str:
        """The client request id the next `claim` of this request gives its create."""
        previous = self.get(backend, request_hash)
        return client_request_id(request_hash, (previous.attempts if previous else 0) + 1)

    def submitted(self, backend: str, request_hash: str, generation_id: str, usd_spent: float | None) -> None:
        self._move(backend, request_hash, "submitted", "generation_id = ?, usd_spent = usd_spent + ?",
                   generation_id, usd_spent or 0.0)

    def completed(self, backend: str, request_hash: str, video_url: str) -> None:
        self._move(backend, request_hash, "completed", "video_url = ?", video_url)

    def stored(self, backend: str, request_hash: str, clip: FileFacts) -> None:
        self._move(backend, request_hash, "stored", "clip_sha256 = ?, clip_size = ?, clip_mtime_ns = ?, error = NULL",
                   clip.sha256, clip.size, clip.mtime_ns)

    def shared_in(self, backend: str, request_hash: str, cache: str) -> None:
        """Record that the shared cache `cache` holds this request's clip (it is not uploaded again)."""
        self._update(backend, request_hash, "shared = ?", cache)

    def failed(self, backend: str, request_hash: str, error: str, refunded: float = 0.0) -> None:
        """The generation ended failed; `refunded`: what its create reported charging, which a failed
        generation is not billed (the service rolls the hold back)."""
        self._move(backend, request_hash, "failed", "error = ?, usd_spent = MAX(usd_spent - ?, 0)", redact(error),
                   refunded)

    def unknown(self, backend: str, request_hash: str, error: str) -> None:
        self._move(backend, request_hash, "unknown", "error = ?", redact(error))

    def adopt(self, backend: str, request_hash: str, shot_id: str, *, model: str | None = None, seed: int | None = None,
              generation_id: str | None = None, video_url: str | None = None, usd_spent: float = 0.0,
              clip: FileFacts | None = None) -> None:
        """Record a clip this state did not produce (found in the store, or from the lock file)."""
        now = time.time()
        status: RecordStatus = "stored" if clip else "completed" if video_url else "submitted"
        with self._writing():
            self._db.execute(
                """INSERT OR REPLACE INTO generations
                   (backend, request_hash, shot_id, model, seed, status, generation_id, video_url, usd_spent,
                    clip_sha256, clip_size, clip_mtime_ns, attempts, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)""",
                (backend, request_hash, shot_id, model, seed, status, generation_id, video_url, usd_spent,
                 clip.sha256 if clip else None, clip.size if clip else None, clip.mtime_ns if clip else None, now, now),
            )

    def _move(self, backend: str, request_hash: str, status: RecordStatus, assignments: str, *values: object) -> None:
        """The row moved to `status`, with `assignments` of its other columns."""
        self._update(backend, request_hash, f"status = ?, {assignments}", status, *values)

    def _update(self, backend: str, request_hash: str, assignments: str, *values: object) -> None:
        with self._writing():
            self._db.execute(
                f"UPDATE generations SET {assignments}, updated_at = ? WHERE backend = ? AND request_hash = ?",
                (*values, time.time(), backend, request_hash),
            )

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A write of the render state; one that fails (a full disk, a file gone read-only, an I/O
        error) raises StateError, said for a person, instead of sqlite's error."""
        try:
            yield
        except (sqlite3.DatabaseError, OSError) as error:  # OperationalError among them
            raise StateError(_cannot_write(self.path, error)) from None


def _record(row: sqlite3.Row) -> Record:
    """A row as a record; an amount spent that is no amount (infinite, NaN, negative: a damaged or edited
    database) is unknown, counted as nothing spent."""
    values = dict(row)
    values["usd_spent"] = known_usd(values["usd_spent"]) or 0.0
    return Record(**values)


def _open_read_only(path: Path) -> sqlite3.Connection:
    uri = path.absolute().as_uri()
    try:
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30.0)
        db.execute("SELECT 1 FROM generations LIMIT 1").fetchall()
        return db
    except sqlite3.OperationalError:
        # A folder nobody may write to: SQLite cannot make the files it shares readers with, so read
        # the file as it is (what a render writes is checkpointed into it when the render ends).
        return sqlite3.connect(f"{uri}?immutable=1", uri=True, timeout=30.0)


def _cannot_open(path: Path, error: sqlite3.DatabaseError) -> str:
    text = str(error)
    if "readonly" in text or "unable to open" in text or "read-only" in text:
        advice = ("storyboard writes it while rendering: make the project folder writable, or render a writable "
                  "copy of the whole project (with its .storyboard/ folder)")
    elif "locked" in text or "busy" in text:
        advice = "another program holds it; wait for it to finish and try again"
    else:
        advice = ("it may be damaged. It records the generations already submitted and paid for: keep the file "
                  "(make a copy before anything else). Paid clips listed in storyboard.lock can still be "
                  "downloaded without it")
    return f"the render state {path} cannot be used ({text}); {advice}"


def _cannot_write(path: Path, error: Exception) -> str:
    text = str(error) or type(error).__name__
    if "full" in text or "No space" in text:
        advice = "free some disk space"
    elif "readonly" in text or "read-only" in text:
        advice = "make the project folder writable"
    elif "locked" in text or "busy" in text:
        advice = "another program holds it; wait for it to finish"
    else:
        advice = "check the disk"
    return f"the render state {path} could not be written ({text}); {advice}"


@dataclass(frozen=True)
class InFilm:
    """A shot's clip in the last render: its request hash, and the request as sent when known."""

    request_hash: str
    body: dict[str, Any] | None = None


def _json_object(text: str | None) -> dict[str, Any] | None:
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


@dataclass(frozen=True)
class Claim:
    attempt: int  # creates sent for this request, this one included
    idempotency_key: str
    client_request_id: str = ""
    claimed_at: float = 0.0
