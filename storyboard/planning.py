"""Stage 4: one concrete request per shot, named by a hash of its content, with its price.

`make_plan` is pure: it looks at the storyboard only. What already exists for each request
(the clip store, the render state, storyboard.lock) is looked up afterwards, by
`inventory.plan`, which is what `storyboard.plan()` gives.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .files import file_sha256
from .model import FrameOf, Reference, Shot, Storyboard
from .profiles import ModelProfile
from .request import request_body, request_hashes

STATUSES = {
    "cached": "the clip is in the local store",
    "resume": "submitted by an earlier render; it is followed, not paid again",
    "download": "generated before; the clip is downloaded again (render state or storyboard.lock)",
    "unknown": "an earlier create may have reached the service; resubmitting needs --resubmit",
    "missing": "to generate",
    "footage": "existing footage (`clip`); nothing to generate",
}


@dataclass
class ShotPlan:
    shot: Shot
    profile: ModelProfile
    body: dict[str, Any]
    depends_on: list[str]
    hash: str
    estimated_usd: float | None
    status: str = "missing"  # see STATUSES
    references: list[Reference] = field(default_factory=list)  # in the order they are sent

    @property
    def cached(self) -> bool:
        return self.status == "cached"

    def __repr__(self) -> str:
        cost = "" if self.estimated_usd is None else f", est. ${self.estimated_usd:.2f}"
        return f"<ShotPlan {self.id!r}: {self.status}, {self.hash[:12]}{cost}>"

    @property
    def footage(self) -> Path | None:
        return self.shot.clip

    @property
    def to_pay(self) -> bool:
        """Rendering this shot needs a new (paid, on a paid backend) generation."""
        return self.status in ("missing", "unknown")

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
            "model": self.shot.model,
            "hash": self.hash,
            "depends_on": self.depends_on,
            "cached": self.cached,
            "status": self.status,
            "estimated_usd": self.estimated_usd,
            "body": self.body,
            "references": [
                {"kind": ref.kind, "source": ref.source, "sha256": file_sha256(ref.path) if ref.path else None}
                for ref in self.references
            ],
        }


@dataclass
class Plan:
    storyboard: Storyboard
    shots: list[ShotPlan]
    backend: str | None = None  # whose clips the statuses describe; None before they are looked up

    def shot(self, shot_id: str) -> ShotPlan:
        return next(item for item in self.shots if item.id == shot_id)

    def __repr__(self) -> str:
        count, to_make = len(self.shots), sum(item.to_pay for item in self.shots)
        backend = f" for {self.backend}" if self.backend else ""
        return (f"<Plan {self.storyboard.display_path!r}{backend}: {count} shot{'' if count == 1 else 's'}, {to_make} to make; "
                f"every shot est. ${self.estimated_usd:.2f} on the service>")

    @property
    def estimated_usd(self) -> float:
        return round(sum(item.estimated_usd or 0 for item in self.shots), 4)

    @property
    def missing_usd(self) -> float:
        """Estimated cost of what is left to generate; identical requests are generated once."""
        missing = {item.hash: item.estimated_usd or 0 for item in self.shots if item.to_pay}
        return round(sum(missing.values()), 4)

    def with_statuses(self, backend: str, statuses: dict[str, str]) -> Plan:
        """This plan with each shot's status (by shot id) as found for `backend`."""
        shots = [replace(item, status=statuses.get(item.id, item.status)) for item in self.shots]
        return Plan(self.storyboard, shots, backend)

    def to_dict(self) -> dict[str, Any]:
        return {
            "storyboard": self.storyboard.display_path,
            "title": self.storyboard.title,
            "backend": self.backend,
            "output": str(self.storyboard.output.path),
            "shots": [item.to_dict() for item in self.shots],
            "estimated_usd": self.estimated_usd,
            "missing_usd": self.missing_usd,
            "missing": [item.id for item in self.shots if item.to_pay],
        }


def make_plan(storyboard: Storyboard) -> Plan:
    """Resolve every shot into its request, hash and estimated cost. Looks at nothing but the
    storyboard and its files; every generated shot starts as `missing`."""
    hashes = request_hashes(storyboard)
    items = []
    for shot in storyboard.shots:
        profile = storyboard.profile(shot)
        if shot.clip is not None:
            items.append(ShotPlan(shot=shot, profile=profile, body={}, depends_on=[], hash=hashes[shot.id],
                                  estimated_usd=None, status="footage"))
            continue
        body = request_body(shot, storyboard.root)
        references = shot.all_references()
        if isinstance(shot.first_frame, Reference):
            references.insert(0, shot.first_frame)
        items.append(
            ShotPlan(
                shot=shot,
                profile=profile,
                body=body,
                depends_on=[shot.first_frame.shot] if isinstance(shot.first_frame, FrameOf) else [],
                hash=hashes[shot.id],
                estimated_usd=profile.estimate_usd(body.get("resolution"), body.get("duration")),
                references=references,
            )
        )
    return Plan(storyboard, items)
