"""Stage 4: one concrete request per shot, named by a hash of its content, with its price.

`make_plan` is pure: it looks at the storyboard only. What already exists for each request
(the clip store, the render state, storyboard.lock) is looked up afterwards, by
`inventory.stock`; `storyboard.plan()` gives both.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from ..files import file_sha256
from ..loading.prices import BUILT_IN, PriceList, differs
from ..loading.profiles import ModelProfile
from ..model import FrameOf, Reference, Shot, Storyboard, request_body
from .request import TakeRequest, request_hashes
from .stills import awaiting_pick, picked_hashes, still_body, still_references, still_requests

# A take's status, for one backend's store. Nothing moves a take from one to another: make_plan starts every
# generated take `missing` (footage `footage`), and inventory.take_stock finds each afresh from the store,
# the render state and storyboard.lock.
TakeStatus = Literal["cached", "resume", "download", "unknown", "missing", "footage"]
STATUSES: dict[TakeStatus, str] = {
    "cached": "the clip is in the local store",
    "resume": "submitted by an earlier render; it is followed, not paid again",
    "download": "generated before; the clip is downloaded again (render state or storyboard.lock)",
    "unknown": "an earlier create may have reached the service; resubmitting needs --resubmit",
    "missing": "to generate",
    "footage": "existing footage (`clip`); nothing to generate",
}
TO_PAY: tuple[TakeStatus, ...] = ("missing", "unknown")  # a new (paid, on a paid backend) generation makes the clip


@dataclass(frozen=True)
class ShotPlan:
    shot: Shot
    profile: ModelProfile
    body: dict[str, Any]
    depends_on: list[str]
    hash: str
    estimated_usd: float | None
    status: TakeStatus = "missing"  # see STATUSES
    references: list[Reference] = field(default_factory=list)  # in the order they are sent
    take: int = 1  # which of the shot's takes this request is
    takes: int = 1  # how many the shot has
    held: bool = False  # `hold: true` keeps this clip though the shot's request has changed since
    charged_usd: float | None = None  # what the service charged for this request, once known (its records)
    still: bool = False  # this request is a take of the shot's still (an image), not of its video
    first_still: str | None = None  # a video's first frame: the request hash of its shot's picked still

    @property
    def charge_differs(self) -> bool:
        """What was charged differs from the estimate by more than 1 %."""
        return differs(self.estimated_usd, self.charged_usd)

    @property
    def cached(self) -> bool:
        return self.status == "cached"

    @property
    def key(self) -> str:
        """Names this request in progress, results and errors: the shot id, with `#take` when it has
        several; a still's with `:still` after the id."""
        name = f"{self.id}:still" if self.still else self.id
        return name if self.takes == 1 else f"{name}#{self.take}"

    @property
    def awaiting_pick(self) -> bool:
        """A video whose shot's still has several takes and none picked: it is not paid for until one is."""
        return not self.still and awaiting_pick(self.shot.still)

    def __repr__(self) -> str:
        cost = "" if self.estimated_usd is None else f", est. ${self.estimated_usd:.2f}"
        return f"<ShotPlan {self.key!r}: {self.status}, {self.hash[:12]}{cost}>"

    @property
    def footage(self) -> Path | None:
        return self.shot.clip

    @property
    def to_pay(self) -> bool:
        """Rendering this shot needs a new (paid, on a paid backend) generation."""
        return self.status in TO_PAY

    @property
    def id(self) -> str:
        return self.shot.id

    def setting(self, name: str) -> Any:
        """The value the service will use: what is sent, else the model's default."""
        return self.body.get(name, self.profile.default(name))

    @property
    def duration(self) -> float:
        return float(self.setting("duration") or 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "take": self.take,
            "held": self.held,
            "model": self.shot.model,
            "hash": self.hash,
            "depends_on": self.depends_on,
            "cached": self.cached,
            "status": self.status,
            "estimated_usd": self.estimated_usd,
            "charged_usd": self.charged_usd,
            "body": self.body,
            "references": [
                {"kind": ref.kind, "source": ref.source, "sha256": file_sha256(ref.path) if ref.path else None}
                for ref in self.references
            ],
        }


@dataclass
class Change:
    """An edit since the last render and what it regenerates: `shot` changed itself; `regenerates`
    are the shots (itself and those taking a first frame from it, in storyboard order) with a take to
    make, for `usd` on the service."""

    shot: str
    changed: list[str]
    regenerates: list[str]
    usd: float
    picked: int | None = None  # the edit is a pick of this take (`take: K`)
    still_picked: int | None = None  # the edit is a pick of this take of the shot's still (`still: {take: K}`)

    def __str__(self) -> str:
        edit = f"picking take {self.picked} of {self.shot!r}" if self.picked else f"editing {self.shot!r}"
        if self.still_picked:
            edit = f"picking still take {self.still_picked} of {self.shot!r}"
        if not self.regenerates:
            return f"{edit} changes {', '.join(map(repr, self.changed))} in the film; every clip needed exists"
        count = len(self.regenerates)
        return (f"{edit} regenerates {', '.join(map(repr, self.regenerates))}: {count} shot{'' if count == 1 else 's'}, "
                f"est. {self.usd:.2f} USD on the service (hold: true on a shot keeps its clip)")


@dataclass
class Plan:
    storyboard: Storyboard
    shots: list[ShotPlan]  # one per shot, in film order: the take in the film
    backend: str | None = None  # whose clips the statuses describe; None before they are looked up
    paid: bool = False  # whether that backend's clips are paid for
    others: list[ShotPlan] = field(default_factory=list)  # the takes not in the film
    previous: dict[str, str] = field(default_factory=dict)  # shot id -> request hash of its clip in the last film
    prices: PriceList = BUILT_IN  # where the estimates' prices came from
    stills: list[ShotPlan] = field(default_factory=list)  # every take of every shot's still, in storyboard order

    def still_takes(self, shot_id: str) -> list[ShotPlan]:
        """Every take of the shot's still, by take number (none without `still:`)."""
        return [item for item in self.stills if item.id == shot_id]

    @property
    def stills_usd(self) -> float:
        """Every still take, identical requests once."""
        return round(sum({item.hash: item.estimated_usd or 0 for item in self.stills}.values()), 4)

    @property
    def stills_missing_usd(self) -> float:
        """The stills left to draw."""
        return round(sum({item.hash: item.estimated_usd or 0 for item in self.stills if item.to_pay}.values()), 4)

    def shot(self, shot_id: str) -> ShotPlan:
        """The take in the film of the shot `shot_id`. Raises KeyError naming the shots there are."""
        for item in self.shots:
            if item.id == shot_id:
                return item
        raise KeyError(f"no shot {shot_id!r} in {self.storyboard.display_path} "
                       f"(its shots: {', '.join(item.id for item in self.shots) or 'none'})")

    def takes(self, shot_id: str) -> list[ShotPlan]:
        """Every take of the shot, by take number, the one in the film included."""
        return list(self._takes.get(shot_id, []))

    @property
    def requests(self) -> list[ShotPlan]:
        """Every take of every shot, in storyboard order, then by take number."""
        return [take for takes in self._takes.values() for take in takes]

    @cached_property
    def _takes(self) -> dict[str, list[ShotPlan]]:
        found: dict[str, list[ShotPlan]] = {item.id: [] for item in self.shots}
        for item in self.shots + self.others:
            found[item.id].append(item)
        return {shot_id: sorted(takes, key=lambda item: item.take) for shot_id, takes in found.items()}

    def __repr__(self) -> str:
        count, to_make = len(self.shots), sum(item.to_pay for item in self.requests)
        backend = f" for {self.backend}" if self.backend else ""
        return (f"<Plan {self.storyboard.display_path!r}{backend}: {count} shot{'' if count == 1 else 's'}, {to_make} to make; "
                f"every take est. ${self.estimated_usd:.2f} on the service>")

    @property
    def estimated_usd(self) -> float:
        """Every take of every shot, identical requests once."""
        return round(sum({item.hash: item.estimated_usd or 0 for item in self.requests}.values()), 4)

    @property
    def missing_usd(self) -> float:
        """Estimated cost of what is left to generate; identical requests are generated once."""
        missing = {item.hash: item.estimated_usd or 0 for item in self.requests if item.to_pay}
        return round(sum(missing.values()), 4)

    @property
    def charged_usd(self) -> float:
        """What the service charged for the takes whose charge is known, identical requests once."""
        return round(sum({item.hash: item.charged_usd for item in self.requests if item.charged_usd is not None}.values()), 6)

    def charge_warnings(self) -> list[str]:
        """One line per take whose charge differs from its estimate by more than 1 %."""
        lines = []
        for item in {take.hash: take for take in self.requests if take.charge_differs}.values():
            estimated, charged = item.estimated_usd or 0.0, item.charged_usd or 0.0
            change = (charged - estimated) / estimated * 100 if estimated else math.inf
            lines.append(f"warning: shot {item.key!r} was charged {charged:.4f} USD, estimated {estimated:.4f} USD "
                         f"({change:+.1f} %); the prices may have changed since (see `prices:` above)")
        return lines

    def with_statuses(self, backend: str, statuses: dict[str, TakeStatus], *, paid: bool,
                      charged: dict[str, float] | None = None) -> Plan:
        """This plan with each take's status (by key) as found for `backend`, and what it charged (by request hash)."""
        charges = charged or {}

        def found(items: list[ShotPlan]) -> list[ShotPlan]:
            return [replace(item, status=statuses.get(item.key, item.status), charged_usd=charges.get(item.hash))
                    for item in items]
        return replace(self, shots=found(self.shots), others=found(self.others), stills=found(self.stills),
                       backend=backend, paid=paid)

    @property
    def profiles(self) -> list[ModelProfile]:
        """The profiles of the models the generated takes use, in storyboard order."""
        return list({item.profile.model: item.profile for item in self.requests + self.stills
                     if item.footage is None}.values())

    def changes(self) -> list[Change]:
        """What was edited since the last render, and what each edit regenerates: a shot whose clip in
        the film would change, grouped under the edit it follows from (an upstream shot's first frame)."""
        changed = {item.id for item in self.shots if self.previous.get(item.id, item.hash) != item.hash}
        dependants: dict[str, list[str]] = {}
        for item in self.shots:
            for upstream in item.depends_on:
                dependants.setdefault(upstream, []).append(item.id)
        found = []
        for item in self.shots:
            if item.id not in changed or any(upstream in changed for upstream in item.depends_on):
                continue
            reach, queue = {item.id}, [item.id]
            while queue:
                for follower in dependants.get(queue.pop(), []):
                    if follower in changed and follower not in reach:
                        reach.add(follower)
                        queue.append(follower)
            to_make = {take.hash: take for take in self.requests if take.id in reach and take.to_pay}
            ordered = [shot.id for shot in self.shots if shot.id in reach]
            picked = item.take if any(take.hash == self.previous[item.id] for take in self.takes(item.id)) else None
            found.append(Change(item.id, ordered, [shot for shot in ordered if any(t.id == shot for t in to_make.values())],
                                round(sum(take.estimated_usd or 0 for take in to_make.values()), 4), picked,
                                still_picked=self._still_pick(item)))
        return found

    def _still_pick(self, item: ShotPlan) -> int | None:
        """The still take newly picked, if that alone is what changed `item`'s request since the last film."""
        takes = self.still_takes(item.id)
        if len(takes) < 2 or item.shot.still is None or item.shot.still.picked is None:
            return None
        requests = {shot_id: [TakeRequest(t.take, None, t.hash) for t in self.still_takes(shot_id)]
                    for shot_id in {t.id for t in self.stills}}
        chosen = picked_hashes(self.storyboard, requests)
        for other in takes:
            if other.take != item.shot.still.picked:
                hashes = request_hashes(self.storyboard, None, chosen | {item.id: other.hash})[item.id]
                if any(take.hash == self.previous.get(item.id) for take in hashes):
                    return item.shot.still.picked
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "storyboard": self.storyboard.display_path,
            "title": self.storyboard.title,
            "backend": self.backend,
            "output": str(self.storyboard.output.path),
            "shots": [item.to_dict() | {"takes": [take.to_dict() for take in self.takes(item.id)]} for item in self.shots],
            "estimated_usd": self.estimated_usd,
            "missing_usd": self.missing_usd,
            "charged_usd": self.charged_usd,
            "prices": self.prices.to_dict() | {"said": self.prices.describe(self.profiles)},
            "missing": [item.key for item in self.requests if item.to_pay],
            "changes": [vars(change) | {"message": str(change)} for change in self.changes()],
            "stills": [item.to_dict() | {"key": item.key, "picked": item.take == (item.shot.still.picked if item.shot.still
                                                                                 else None)} for item in self.stills],
            "stills_estimated_usd": self.stills_usd,
            "stills_missing_usd": self.stills_missing_usd,
            "awaiting_pick": [item.id for item in self.shots if item.awaiting_pick],
        }


def make_plan(storyboard: Storyboard, kept: dict[str, str] | None = None, prices: PriceList = BUILT_IN) -> Plan:
    """Resolve every take of every shot into its request, hash and estimated cost (at `prices`, the
    service's price list, else each profile's table). Looks at nothing but the storyboard and its files
    (and `kept`: held shots' clips, by shot id, see request.request_hashes); every generated take
    starts as `missing`."""
    stills = still_requests(storyboard)
    picked = picked_hashes(storyboard, stills)
    takes = request_hashes(storyboard, kept, picked)
    chosen: list[ShotPlan] = []
    others: list[ShotPlan] = []
    drawn: list[ShotPlan] = []
    for shot in storyboard.shots:
        profile = storyboard.profile(shot)
        if shot.clip is not None:
            chosen.append(ShotPlan(shot=shot, profile=profile, body={}, depends_on=[], hash=takes[shot.id][0].hash,
                                   estimated_usd=None, status="footage"))
            continue
        references = shot.all_references()
        if isinstance(shot.first_frame, Reference):
            references.insert(0, shot.first_frame)
        for request in takes[shot.id]:
            body = request_body(shot, storyboard.root, request.seed)
            item = ShotPlan(
                shot=shot,
                profile=profile,
                body=body,
                depends_on=[shot.first_frame.shot] if isinstance(shot.first_frame, FrameOf) else [],
                hash=request.hash,
                estimated_usd=prices.estimate_usd(profile, functools.partial(_setting, body, profile)),
                references=references,
                take=request.take,
                takes=len(takes[shot.id]),
                held=request.held,
                first_still=picked.get(shot.id),
            )
            (chosen if request.held or request.take == shot.take else others).append(item)
        if shot.id in stills:
            still_profile = storyboard.profiles[shot.still.model]  # type: ignore[union-attr]  # loading checks it exists
            for request in stills[shot.id]:
                body = still_body(storyboard, shot, request.seed)
                drawn.append(ShotPlan(shot=shot, profile=still_profile, body=body, depends_on=[], hash=request.hash,
                                      estimated_usd=prices.estimate_usd(still_profile,
                                                                        functools.partial(_setting, body, still_profile)),
                                      references=still_references(shot).sent, take=request.take,
                                      takes=len(stills[shot.id]), still=True))
    return Plan(storyboard, chosen, others=others, stills=drawn, prices=prices)


def _setting(body: dict[str, Any], profile: ModelProfile, name: str) -> Any:
    """The value the service uses for `name`: what is sent, else the model's default."""
    return body.get(name, profile.default(name))
