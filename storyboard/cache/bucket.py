"""The shared cache's bucket as `cache status` and `cache gc --remote` see it: its objects grouped by
request, which of them the folder's storyboards reference, and the claims still in flight."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from .claims import CLAIMED, COMPLETED, FAILED, SUBMITTED, Claim, attempt_of
from .remote import CLIP_META, LAYOUT, RemoteStore, StoredObject


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
