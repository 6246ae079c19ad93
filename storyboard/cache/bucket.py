"""The shared cache's bucket as `cache status` and `cache gc --remote` see it: its objects grouped by
request, which of them the folder's storyboards reference, the claims still in flight, and the objects
that poison it (`poisoned`)."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from .claims import CLAIMED, COMPLETED, FAILED, SUBMITTED, UNREADABLE, Claim, attempt_of, record_text
from .remote import CLIP_META, LAYOUT, Damaged, RemoteStore, StoredObject

SHA256 = re.compile(r"^[0-9a-f]{64}$")
VIDEO_HEAD = 12  # bytes read of a clip to tell a video: an MP4 (ISO media) file opens with an `ftyp` box


@dataclass
class CachedRequest:
    backend: str
    request: str
    objects: list[StoredObject] = field(default_factory=list)

    @property
    def has_clip(self) -> bool:
        return any(item.key.endswith(f"/{CLIP_META}") for item in self.objects)

    @property
    def size(self) -> int:
        return sum(item.size for item in self.objects)

    @property
    def newest(self) -> float:
        return max(item.modified for item in self.objects)

    @property
    def claims(self) -> list[int]:
        numbers = (attempt_of(item.key.rsplit("/", 1)[1]) for item in self.objects if "/claims/" in item.key)
        return sorted(number for number in numbers if number is not None)

    @property
    def strays(self) -> list[str]:
        """The keys under `claims/` that name no claim (someone else's objects, or damage): left alone."""
        return [item.key for item in self.objects if "/claims/" in item.key and attempt_of(item.key.rsplit("/", 1)[1]) is None]


def survey_bucket(remote: RemoteStore) -> list[CachedRequest]:
    """Every request the cache holds something of, from one listing of its prefix."""
    prefix = f"{remote.store.prefix}{LAYOUT}/"
    found: dict[tuple[str, str], CachedRequest] = {}
    for item in remote.listing(prefix):
        parts = item.key[len(prefix):].split("/")
        if len(parts) >= 3:
            found.setdefault((parts[0], parts[1]), CachedRequest(parts[0], parts[1])).objects.append(item)
    return sorted(found.values(), key=lambda entry: entry.newest)


def in_flight(remote: RemoteStore, requests: list[CachedRequest]) -> list[tuple[CachedRequest, Claim]]:
    """The requests without a clip whose latest claim is still claimed or submitted: being made somewhere
    (or left so by a machine that stopped)."""
    found = []
    for entry in requests:
        if entry.has_clip or not entry.claims:
            continue
        attempt = entry.claims[-1]
        read = remote.get_json(remote.claim_key(entry.backend, entry.request, attempt))
        if read is None:
            continue
        claim = Claim.read(attempt, read[0], read[1])
        if claim.status in (CLAIMED, SUBMITTED) or claim.owner is None:
            found.append((entry, claim))
    return found


def stale(requests: list[CachedRequest], referenced: set[str], older_than: float,
          now: float | None = None) -> list[CachedRequest]:
    """The requests no storyboard of the folder references whose newest object is older than
    `older_than` seconds: what `cache gc --remote` removes, oldest first."""
    moment = time.time() if now is None else now
    return [entry for entry in requests if entry.request not in referenced and moment - entry.newest >= older_than]


def unfinished(remote: RemoteStore, requests: list[CachedRequest]) -> list[CachedRequest]:
    """The requests whose latest claim does not say its generation is finished (`completed`, or `failed`:
    nothing more will come of it): someone may be paying for it or following it, so `cache gc --remote`
    never deletes them, however old (a claimant waiting out a long generation, or one that stopped and
    needs `--resubmit`). A claim that cannot be read counts as unfinished."""
    found = []
    for entry in requests:
        if not entry.claims:
            continue
        attempt = entry.claims[-1]
        read = remote.get_json(remote.claim_key(entry.backend, entry.request, attempt))
        if read is None:  # gone since the listing
            continue
        if Claim.read(attempt, read[0], read[1]).status not in (COMPLETED, FAILED):
            found.append(entry)
    return found


def remove_requests(remote: RemoteStore, requests: list[CachedRequest]) -> int:
    """Delete every object of the requests; the bytes freed."""
    remote.delete([item.key for entry in requests for item in entry.objects])
    return sum(entry.size for entry in requests)


@dataclass(frozen=True)
class Poisoned:
    """Objects of a request that no render will use, and why: `removable` ones block the request (a record
    naming a clip that is no video, say: renders refuse it, and nobody can store a good one over it), so
    `cache gc --remote` removes them; a claim that cannot be read is only shown: whoever wrote it may be
    paying for its request, so it is never removed (`render --resubmit SHOT` takes it over)."""

    request: CachedRequest
    keys: list[str]
    why: str
    removable: bool = True


def poisoned(remote: RemoteStore, requests: list[CachedRequest]) -> list[Poisoned]:
    """What poisons the cache: a clip record that cannot be read, or whose clip is missing, another size
    or no video (its first bytes read, nothing more); objects among the claims that are no claim; claims
    that cannot be read."""
    found: list[Poisoned] = []
    for entry in requests:
        if entry.strays:
            found.append(Poisoned(entry, entry.strays, "no claim, among the request's claims"))
        found += _poisoned_claims(remote, entry)
        meta = next((item for item in entry.objects if item.key.endswith(f"/{CLIP_META}")), None)
        if meta is not None and (why := _clip_problem(remote, entry, meta.key)) is not None:
            keys, problem = why
            found.append(Poisoned(entry, keys, problem))
    return found


def _poisoned_claims(remote: RemoteStore, entry: CachedRequest) -> list[Poisoned]:
    found = []
    for attempt in entry.claims:
        key = remote.claim_key(entry.backend, entry.request, attempt)
        read = remote.get_json(key)
        if read is not None and Claim.read(attempt, read[0], read[1]).status == UNREADABLE:
            found.append(Poisoned(entry, [key], "a claim that cannot be read (kept: its writer may be paying for "
                                                "the request; `render --resubmit SHOT` takes it over)", removable=False))
    return found


def _clip_problem(remote: RemoteStore, entry: CachedRequest, meta_key: str) -> tuple[list[str], str] | None:
    """(the keys to remove, why) when the request's clip record or its clip is poison; None when sound."""
    read = remote.get_json(meta_key)
    if read is None:  # gone since the listing
        return None
    record: dict[str, Any] | None = read[0]
    sha256, size = (record or {}).get("sha256"), (record or {}).get("size")
    if (not isinstance(sha256, str) or not SHA256.match(sha256) or not isinstance(size, int) or isinstance(size, bool)
            or size <= 0):
        return [meta_key], f"{CLIP_META} cannot be read (no JSON record of a clip's sha256 and size)"
    clip_key = remote.clip_key(entry.backend, entry.request, sha256)
    stored = next((item for item in entry.objects if item.key == clip_key), None)
    if stored is None:
        return [meta_key], f"{CLIP_META} names a clip that is not there ({record_text(sha256[:12])}…)"
    if stored.size != size:
        return [meta_key, clip_key], f"the clip is {stored.size:,} bytes, {CLIP_META} says {size:,}"
    try:
        head = remote.head_bytes(clip_key, VIDEO_HEAD)
    except Damaged:
        head = b""
    if head is not None and head[4:8] != b"ftyp":
        return [meta_key, clip_key], "the clip is no video (it does not open as an MP4 file does)"
    return None


def remove_poisoned(remote: RemoteStore, found: list[Poisoned]) -> int:
    """Delete the removable poisoned objects; how many."""
    keys = [key for item in found if item.removable for key in item.keys]
    remote.delete(keys)
    return len(keys)
