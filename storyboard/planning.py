"""Stage 4: one concrete request per shot, named by a hash of its content, with its price.

The hash covers everything that changes the generated clip: the model, the exact body, the
content (not the name) of every local reference, and for a first frame taken from another
shot, that shot's own hash. It leaves out what does not: the shot's id, its transition, the
output settings. Same hash, same clip: that is what makes re-renders free.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .files import file_sha256
from .model import SERVICE_FIELDS, FrameOf, Reference, Shot, Storyboard
from .profiles import ModelProfile

HASH_VERSION = 1


def reference_text(ref: Reference, root: Path) -> str:
    """A reference as the plan shows it: URLs as they are, local files relative to the project."""
    if ref.path is None:
        return ref.source
    try:
        return ref.path.relative_to(root).as_posix()
    except ValueError:
        return str(ref.path)


def frame_text(frame: FrameOf) -> str:
    """Placeholder for a frame that exists only once the other shot is generated."""
    return f"frame:{frame.shot}@{frame.at}"


def request_body(shot: Shot, root: Path) -> dict[str, Any]:
    """The JSON body the service receives for this shot (local files still as paths)."""
    body: dict[str, Any] = {"model": shot.model, "prompt": shot.prompt}
    if isinstance(shot.first_frame, FrameOf):
        body["first_frame_image"] = frame_text(shot.first_frame)
    elif isinstance(shot.first_frame, Reference):
        body["first_frame_image"] = reference_text(shot.first_frame, root)
    refs = shot.all_references()
    for name, kind in (("image_urls", "image"), ("video_urls", "video")):
        chosen = [reference_text(ref, root) for ref in refs if ref.kind == kind]
        if chosen or name in shot.origins:
            body[name] = chosen
    for name in SERVICE_FIELDS:
        if name in shot.fields:
            body[name] = shot.fields[name]
    body.update(shot.fields.get("params", {}))
    return body


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
    backend: str
    shots: list[ShotPlan]

    def shot(self, shot_id: str) -> ShotPlan:
        return next(item for item in self.shots if item.id == shot_id)

    @property
    def estimated_usd(self) -> float:
        return round(sum(item.estimated_usd or 0 for item in self.shots), 4)

    @property
    def missing_usd(self) -> float:
        """Estimated cost of what is left to generate; identical requests are generated once."""
        missing = {item.hash: item.estimated_usd or 0 for item in self.shots if item.to_pay}
        return round(sum(missing.values()), 4)

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


STATUSES = {
    "cached": "the clip is in the local store",
    "resume": "submitted by an earlier render; it is followed, not paid again",
    "download": "generated before; the clip is downloaded again (render state or storyboard.lock)",
    "unknown": "an earlier create may have reached the service; resubmitting needs --resubmit",
    "missing": "to generate",
    "footage": "existing footage (`clip`); nothing to generate",
}


def plan(storyboard: Storyboard, backend: str = "preview") -> Plan:
    """Resolve every shot into its request. Sends nothing; looks only at what exists locally:
    the clip store, the render state and storyboard.lock."""
    from .backends import PAID_BACKENDS
    from .lockfile import LockFile
    from .state import State, clip_is_intact
    from .store import ClipStore

    store = ClipStore(storyboard.root)
    state = State(store.state_path) if store.state_path.exists() else None
    locked = LockFile(storyboard.root, storyboard.file.name).entries()
    free = backend not in PAID_BACKENDS

    def status(shot_id: str, digest: str) -> str:
        record = state.get(backend, digest) if state else None
        if clip_is_intact(store.clip_path(backend, digest), record) is not False:
            return "cached"
        if free:
            return "missing"
        if record and record.status == "submitted":
            return "resume"
        entry = locked.get(shot_id)
        if (record and record.video_url) or (
            entry and entry.request == digest and entry.backend == backend and (entry.video_url or entry.generation)
        ):
            return "download"
        return "unknown" if record and record.outcome_unknown else "missing"

    hashes: dict[str, str] = {}

    def shot_hash(shot: Shot) -> str:
        if shot.id not in hashes:
            hashes[shot.id] = _request_hash(shot, storyboard, shot_hash)
        return hashes[shot.id]

    items = []
    for shot in storyboard.shots:
        profile = storyboard.profile(shot)
        if shot.clip is not None:
            items.append(ShotPlan(shot=shot, profile=profile, body={}, depends_on=[], hash=shot_hash(shot),
                                  estimated_usd=None, status="footage"))
            continue
        body = request_body(shot, storyboard.root)
        digest = shot_hash(shot)
        references = shot.all_references()
        if isinstance(shot.first_frame, Reference):
            references.insert(0, shot.first_frame)
        items.append(
            ShotPlan(
                shot=shot,
                profile=profile,
                body=body,
                depends_on=[shot.first_frame.shot] if isinstance(shot.first_frame, FrameOf) else [],
                hash=digest,
                estimated_usd=profile.estimate_usd(body.get("resolution"), body.get("duration")),
                status=status(shot.id, digest),
                references=references,
            )
        )
    if state:
        state.close()
    return Plan(storyboard, backend, items)


def frame_time(upstream: Shot, at: str | float) -> str | float:
    """Where in `upstream`'s clip the frame `at` (start, end or seconds into the shot) is, given its trim."""
    start, end = upstream.trim
    if at == "start":
        return start if start else "start"
    if at == "end":
        return "end" if end is None else round(end - 1e-3, 6)  # the last frame before the trim's end
    return start + float(at) if start else at


def _request_hash(shot: Shot, storyboard: Storyboard, shot_hash: Any) -> str:
    if shot.clip is not None:  # footage: its content is what a dependant's first frame comes from
        return hashlib.sha256(f"footage:{file_sha256(shot.clip)}".encode()).hexdigest()
    def content(ref: Reference) -> str:
        return f"sha256:{file_sha256(ref.path)}" if ref.path else ref.source

    body = request_body(shot, storyboard.root)
    refs = shot.all_references()
    for name, kind in (("image_urls", "image"), ("video_urls", "video")):
        if name in body:
            body[name] = [content(ref) for ref in refs if ref.kind == kind]
    if isinstance(shot.first_frame, FrameOf):
        upstream = storyboard.shot(shot.first_frame.shot)
        body["first_frame_image"] = {"shot": shot_hash(upstream), "at": frame_time(upstream, shot.first_frame.at)}
    elif isinstance(shot.first_frame, Reference):
        body["first_frame_image"] = content(shot.first_frame)
    # What the model assumes for fields left out shapes the clip too (and the preview uses it).
    profile = storyboard.profile(shot)
    assumed = {name: profile.default(name) for name in profile.fields if name not in body and profile.default(name) is not None}
    facts = {"v": HASH_VERSION, "body": body, "assumed": assumed}
    canonical = json.dumps(facts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
