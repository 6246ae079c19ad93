"""Claims: pay once per request across every machine that shares a cache.

Before a machine creates a generation it claims the request in the bucket: it writes
`claims/<attempt>.json` with `If-None-Match: *`, which exactly one writer wins. The claim
records who (a random id kept in the project's state folder, user, host, process) and when;
its owner adds the generation id as soon as the service gives it, then `completed` or `failed`.

What another machine does on finding a claim (`decide`):
- it holds a generation id: follow that generation (poll it with this machine's own key),
  or wait for the clip to appear in the cache; nothing is created;
- it ended `failed`: the outcome is known, so the next attempt is claimed and created;
- it has no generation id yet: its owner is between claiming and creating (which lasts while the
  service rate-limits it: the owner then rewrites its claim every HEARTBEAT seconds); wait. If the
  claim goes unwritten (`PATIENCE`), its owner probably stopped, and whether its create reached the service is
  unknown (so too for a claim that cannot be read): it is taken over (a new attempt, sent with
  the old claim's idempotency key) only with the user's consent (`render --resubmit SHOT`) or
  once older than the user's `cache.takeover_after`, never silently; otherwise the shot fails
  saying so.
A machine finding its own claim (a render of this project that stopped) carries on with it: its
render state tells whether a create was sent under it (see generate.shared).
"""
from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import re
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from ..files import atomic_write_bytes
from ..messages import one_line
from ..model import known_usd
from ..redaction import redact
from .settings import MIN_TAKEOVER_SECONDS

# A claim's record in the bucket, as its owner rewrites it: `claimed` (written before the create), then
# `submitted` (the generation id recorded), then `completed` (the clip stored in the cache) or `failed`
# (the generation failed, or the claim was released without creating). `unreadable` is never written: it is
# what a claim that cannot be read is taken for (see Claim.read).
ClaimStatus = Literal["claimed", "submitted", "completed", "failed", "unreadable"]
CLAIMED: Final[ClaimStatus] = "claimed"
SUBMITTED: Final[ClaimStatus] = "submitted"
COMPLETED: Final[ClaimStatus] = "completed"
FAILED: Final[ClaimStatus] = "failed"
UNREADABLE: Final[ClaimStatus] = "unreadable"
WRITTEN: Final[tuple[ClaimStatus, ...]] = (CLAIMED, SUBMITTED, COMPLETED, FAILED)  # what an owner writes
# Seconds between rewrites of a claim whose owner is trying to create (see generating/heartbeat.py): a third
# of the shortest cache.takeover_after allowed, so a live owner's claim never looks abandoned to anyone.
HEARTBEAT = MIN_TAKEOVER_SECONDS / 3
PATIENCE = 600.0  # seconds a claim may go without a generation id before its owner is thought gone
OWNER_FILE = "cache-owner"
CLAIMS_FILE = "cache-claims"  # the ids of the claims renders of this folder wrote (note_claim), one a line
ATTEMPT = re.compile(r"[0-9]{1,9}\.json")  # a claim's file name; ASCII digits only: str.isdigit() takes '²' for one


@dataclass(frozen=True)
class Owner:
    """Who claims: this render (`id`: unique to the run, so two runs that share a project folder, a CI
    cache's restored `.storyboard/` say, are two claimants), of this project folder (`project`), and, to
    tell people, who and where. A render recognises the claims earlier runs of its folder wrote by the
    claim ids they noted in the folder before writing them (`made_here`), not by this id."""

    id: str
    user: str
    host: str
    pid: int
    project: str = ""

    @classmethod
    def of_project(cls, state_dir: Path) -> Owner:
        """A render of this project folder as a claimant. The random id kept in the folder is mixed with
        the host and the folder's path, so a copy of the folder (state and all) elsewhere is another
        project; a random id of the run is mixed in too."""
        path = state_dir / OWNER_FILE
        try:
            found = path.read_text().strip()
        except OSError:
            found = ""
        if not found:
            found = uuid.uuid4().hex
            atomic_write_bytes(path, f"{found}\n".encode())
        user = "someone"
        with contextlib.suppress(Exception):  # no login name in some containers
            user = getpass.getuser()
        host = socket.gethostname()
        project = hashlib.sha256(f"{found}\n{host}\n{state_dir.resolve()}".encode()).hexdigest()[:32]
        run = hashlib.sha256(f"{project}\n{uuid.uuid4().hex}".encode()).hexdigest()[:32]
        return cls(run, user, host, os.getpid(), project)

    def record(self) -> dict[str, Any]:
        return {"id": self.id, "user": self.user, "host": self.host, "pid": self.pid}


def note_claim(state_dir: Path, claim_id: str) -> None:
    """Note in the project folder a claim this render is about to write (before it is written: a render
    killed right after can tell its claim from another's)."""
    with open(state_dir / CLAIMS_FILE, "a", encoding="ascii") as file:
        file.write(f"{claim_id}\n")
        file.flush()
        os.fsync(file.fileno())


def made_here(state_dir: Path, claim_id: str | None) -> bool:
    """Whether a claim with `claim_id` was written (or about to be) by a render of this project folder."""
    if not claim_id:
        return False
    try:
        with open(state_dir / CLAIMS_FILE, encoding="ascii", errors="replace") as file:
            return any(line.strip() == claim_id for line in file)
    except OSError:
        return False


@dataclass(frozen=True)
class Claim:
    """A claim as read from the bucket; `age`: seconds since it was last written, by the bucket's clock."""

    attempt: int
    age: float
    status: ClaimStatus
    owner: str | None = None
    who: str = "an unreadable claim"
    claimed_at: str | None = None
    generation: str | None = None
    idempotency_key: str | None = None
    client_request_id: str | None = None  # the create's X-Client-Request-Id: the usage log finds it by this
    claim_id: str | None = None
    usd: float | None = None
    error: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, attempt: int, record: dict[str, Any] | None, age: float) -> Claim:
        """A claim from its record; anything that is not one (garbage, a wrong shape) is `unreadable`:
        it still stands (the attempt is taken) but tells nothing, so it is treated as a claim without
        a generation id whose owner is unknown."""
        if record is None or record.get("status") not in WRITTEN:
            return cls(attempt, age, UNREADABLE)
        owner: dict[str, Any] = record["owner"] if isinstance(record.get("owner"), dict) else {}
        user, host, pid = (record_text(owner.get(name)) for name in ("user", "host", "pid"))
        usd = record.get("usd")
        return cls(
            attempt=attempt, age=age, status=record["status"],
            owner=record_text(owner.get("id")),
            who=f"{user or 'someone'}@{host or '?'} (pid {pid or '?'})",
            claimed_at=record_text(record.get("claimed_at")),
            generation=record_text(record.get("generation")),
            idempotency_key=record_text(record.get("idempotency_key")),
            client_request_id=record_text(record.get("client_request_id")),
            claim_id=record_text(record.get("claim_id")),
            usd=known_usd(usd),
            error=record_text(record.get("error")),
            raw=record,
        )

    def describe(self) -> str:
        if self.status == UNREADABLE:
            return f"claim {self.attempt} (unreadable, written {_ago(self.age)} ago)"
        return f"{self.who}, claim {self.attempt} of {self.claimed_at or '?'}"


def new_claim(owner: Owner, attempt: int, *, backend: str, request: str, shot: str, idempotency_key: str,
              taken_over: Claim | None = None, client_request_id: str | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "request": request, "backend": backend, "attempt": attempt, "shot": shot, "status": CLAIMED,
        "owner": owner.record(), "claimed_at": _now(), "updated_at": _now(), "idempotency_key": idempotency_key,
        "claim_id": uuid.uuid4().hex, "client_request_id": client_request_id,
    }
    if taken_over is not None:
        record["takes_over"] = {"attempt": taken_over.attempt, "who": taken_over.who, "status": taken_over.status}
    return record


def updated(claim: Claim, status: ClaimStatus, **changes: Any) -> dict[str, Any]:
    """The claim's record moved to `status`, with `changes` (an error is scrubbed of secrets)."""
    record = dict(claim.raw) | {"status": status, "updated_at": _now()}
    for name, value in changes.items():
        record[name] = redact(value)[:500] if name == "error" and isinstance(value, str) else value
    return record


@dataclass(frozen=True)
class Decision:
    """What to do about a request given its current claim:
    `create`: claim `attempt` (a new one) and create; `hold`: the claim is this project's, carry on with it;
    `follow`: follow `claim`'s generation; `wait`: look again soon; `refuse`: fail the shot, saying why."""

    action: str
    attempt: int
    claim: Claim | None = None
    takeover: bool = False  # creating over a claim whose outcome is unknown (consent or takeover_after)
    reclaim: bool = False  # a new attempt over this folder's earlier claim, with its idempotency key


def decide(current: Claim | None, me: str, *, consent: bool, takeover_after: float | None,
           patience: float | None = None, earlier: bool = False, cannot_follow: str | None = None) -> Decision:
    """`me`: this render's owner id; `earlier`: the claim was written by an earlier render of this
    project folder (made_here). Such a claim still `claimed` is claimed again as a new attempt with its
    idempotency key, never just held: two runs sharing a restored folder would both hold it.
    `cannot_follow`: a generation this machine's key was refused when it polled it (made with another
    key or account): a claim naming it is like one without a generation id."""
    patience = PATIENCE if patience is None else patience
    if current is None:
        return Decision("create", 1)
    following = (current.generation is not None and current.status in (SUBMITTED, COMPLETED)
                 and current.generation != cannot_follow)
    if current.owner == me or earlier:
        if following:
            return Decision("follow", current.attempt, current)
        if current.status == CLAIMED:
            if current.owner == me:
                return Decision("hold", current.attempt, current)
            return Decision("create", current.attempt + 1, current, reclaim=True)
        return Decision("create", current.attempt + 1, current)
    if current.status == FAILED:
        return Decision("create", current.attempt + 1, current)
    if following:
        return Decision("follow", current.attempt, current)
    if consent or (takeover_after is not None and current.age >= takeover_after):
        return Decision("create", current.attempt + 1, current, takeover=True)
    if current.age >= patience or current.status == UNREADABLE:  # an unreadable claim will never say more
        return Decision("refuse", current.attempt, current)
    return Decision("wait", current.attempt, current)


def stalled_message(shot: str, claim: Claim, takeover_after: float | None) -> str:
    later = (f"it is taken over automatically once {takeover_after:.0f} s old (cache.takeover_after)" if takeover_after
             else "`cache: {takeover_after: SECONDS}` lets renders take such claims over automatically")
    if claim.status == UNREADABLE:
        what = (f"the shared cache holds a claim on this request that cannot be read ({claim.describe()}): whoever "
                "wrote it may have created the request, and paid for it")
    else:
        what = (f"another machine claimed this request ({claim.describe()}) {_ago(claim.age)} ago and has recorded no "
                "generation id since: it probably stopped between claiming and creating, and its create may have "
                "been paid for")
    return f"{what}. If it is not coming back, render with --resubmit {shot} to take the claim over; {later}"


def attempt_of(name: str) -> int | None:
    """The attempt a claim's file name (`000001.json`, in `claims/`) numbers; None for any other name."""
    return int(name.removesuffix(".json")) if ATTEMPT.fullmatch(name) else None


def record_text(value: Any, limit: int = 200) -> str | None:
    """A text field of a record someone else wrote: None for what is no text, cut to `limit` characters,
    printable (control characters, escapes and line breaks written visibly, as messages.one_line does):
    it is shown on terminals."""
    return None if value is None or isinstance(value, (dict, list)) else one_line(str(value)[:limit])


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _ago(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"
