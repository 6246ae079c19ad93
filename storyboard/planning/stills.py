"""Stills: one image request per take of a shot's `still:` (its body: loading/still_request.py), hashed
like the videos' requests. The picked take is the shot's video's first frame: the video's
request hash covers the still's (see request.py), so a new pick is a new video request.
Pure functions of the loaded storyboard, like request.py.
"""
from __future__ import annotations

import hashlib
import json

from ..files import file_sha256
from ..loading.still_request import MAX_REFERENCES, pixels, still_body, still_references, still_size
from ..model import Shot, Still, Storyboard
from .request import HASH_VERSION, SEED_LIMIT, TakeRequest

__all__ = ["MAX_REFERENCES", "awaiting_pick", "picked_hashes", "pixels", "still_body", "still_references", "still_requests",
           "still_seeds", "still_size"]


def still_seeds(shot: Shot, first_hash: str) -> list[int | None]:
    """Each still take's seed: the still's (else the shot's) seed and upwards; without one, take 1 sends
    none and the others are drawn from the first take's hash (as the videos' takes are)."""
    assert shot.still is not None
    written = shot.still.seed if shot.still.seed is not None else shot.fields.get("seed")
    seeds: list[int | None] = [written]
    for take in range(2, shot.still.takes + 1):
        if written is not None:
            seeds.append((int(written) + take - 1) % SEED_LIMIT)
        else:
            drawn = hashlib.sha256(f"{first_hash}:still:{take}".encode()).digest()
            seeds.append(int.from_bytes(drawn[:8], "big") % SEED_LIMIT)
    return seeds


def still_requests(storyboard: Storyboard) -> dict[str, list[TakeRequest]]:
    """Every take of every shot's still, by shot id (shots without `still:` are left out)."""
    found: dict[str, list[TakeRequest]] = {}
    for shot in storyboard.shots:
        if shot.still is None or shot.clip is not None:
            continue
        first = _still_hash(storyboard, shot, still_seeds(shot, "")[0])
        seeds = still_seeds(shot, first)
        found[shot.id] = [TakeRequest(1, seeds[0], first)] + [
            TakeRequest(number, seed, _still_hash(storyboard, shot, seed)) for number, seed in enumerate(seeds[1:], start=2)
        ]
    return found


def picked_hashes(storyboard: Storyboard, requests: dict[str, list[TakeRequest]]) -> dict[str, str | None]:
    """The request hash of each shot's picked still (None while a pick is due), by shot id."""
    picked: dict[str, str | None] = {}
    for shot in storyboard.shots:
        if shot.id in requests and shot.still is not None:
            take = shot.still.picked
            picked[shot.id] = requests[shot.id][take - 1].hash if take is not None and take <= len(requests[shot.id]) \
                else None
    return picked


def awaiting_pick(still: Still | None) -> bool:
    """The still has several takes and none is picked: no video is paid for until one is."""
    return still is not None and still.picked is None


def _still_hash(storyboard: Storyboard, shot: Shot, seed: int | None) -> str:
    body = still_body(storyboard, shot, seed)
    references = still_references(shot).sent
    if "image_urls" in body:
        body["image_urls"] = [f"sha256:{file_sha256(ref.path)}" if ref.path else ref.source for ref in references]
    profile = storyboard.profiles.get(body["model"])
    assumed = {name: profile.default(name) for name in profile.fields
               if name not in body and profile.default(name) is not None} if profile else {}
    facts = {"v": HASH_VERSION, "still": body, "assumed": assumed}
    canonical = json.dumps(facts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def pick_advice(storyboard: Storyboard, waiting: list[str]) -> str:
    """What the render says of the shots whose still waits for a pick, and how to pick (the line to edit)."""
    edits = []
    for shot_id in waiting:
        still = storyboard.shot(shot_id).still
        assert still is not None
        line = storyboard.document.mark(still.where).line
        edits.append(f"line {line}: still: {{takes: {still.takes}, take: K}} for {shot_id!r}")
    shots = ", ".join(repr(shot_id) for shot_id in waiting)
    return (f"no video was made for {shots}: {'its' if len(waiting) == 1 else 'each'} still has several takes and none is "
            f"picked; look at them (`storyboard review {storyboard.display_path}`: the storyboard's panels), then pick "
            f"one with `take: K` ({'; '.join(edits)}) and render again")
