"""The hash that names the request a shot makes (`model.request_body`), and its takes' seeds.

Pure functions of the loaded storyboard: they read local reference files (to hash their
content) but no render state.

The hash covers everything that changes the generated clip: the model, the exact body, the
content (not the name) of every local reference, and for a first frame taken from another
shot, that shot's own hash. It leaves out what does not: the shot's id, its transition, the
output settings. Same hash, same clip: that is what makes re-renders free.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from ..files import file_sha256
from ..model import FrameOf, Reference, Shot, Storyboard, request_body

HASH_VERSION = 1
SEED_LIMIT = 2**31  # the service's seeds are 0 … 2147483647


@dataclass(frozen=True)
class TakeRequest:
    """One take of a shot: its number, the seed it sends (None: the request as written sets none)
    and its request hash."""

    take: int
    seed: int | None
    hash: str
    held: bool = False  # an earlier clip kept by `hold: true` in place of the shot's current request


def take_seeds(shot: Shot, first_hash: str) -> list[int | None]:
    """The seed of each of the shot's takes. Take 1 is the request as written, so asking for more
    takes never replaces a clip already made. With a `seed`, the others count up from it; without
    one they are drawn from the first take's request hash: random-looking, the same on every machine."""
    written = shot.fields.get("seed")
    seeds: list[int | None] = [written]
    for take in range(2, shot.takes + 1):
        if written is not None:
            seeds.append((int(written) + take - 1) % SEED_LIMIT)
        else:
            drawn = hashlib.sha256(f"{first_hash}:take:{take}".encode()).digest()
            seeds.append(int.from_bytes(drawn[:8], "big") % SEED_LIMIT)
    return seeds


def frame_time(upstream: Shot, at: str | float) -> str | float:
    """Where in `upstream`'s clip the frame `at` (start, end or seconds into the shot) is, given its trim."""
    start, end = upstream.trim
    if at == "start":
        return start if start else "start"
    if at == "end":
        return "end" if end is None else round(end - 1e-3, 6)  # the last frame before the trim's end
    return start + float(at) if start else at


def request_hashes(storyboard: Storyboard, kept: dict[str, str] | None = None,
                   stills: dict[str, str | None] | None = None) -> dict[str, list[TakeRequest]]:
    """Every take of every shot, by shot id (a first frame's shot is hashed first). `kept`: shots
    whose clip is held (shot id -> the request hash of that clip); they have that one take only, and
    the shots that take a first frame from them are hashed against it. `stills`: the request hash of
    each shot's picked still (None: not picked yet), its first frame (see stills.py)."""
    kept = kept or {}
    stills = stills or {}
    takes: dict[str, list[TakeRequest]] = {}

    def chosen_hash(shot: Shot) -> str:
        if shot.id not in takes:
            takes[shot.id] = _takes(shot, storyboard, chosen_hash, kept.get(shot.id), stills.get(shot.id))
        found = takes[shot.id]
        return found[0].hash if len(found) == 1 else found[shot.take - 1].hash

    for shot in storyboard.shots:
        chosen_hash(shot)
    return takes


def _takes(shot: Shot, storyboard: Storyboard, hash_of: Callable[[Shot], str], kept: str | None,
           still: str | None) -> list[TakeRequest]:
    first = _request_hash(shot, storyboard, hash_of, None, still)
    if shot.takes == 1:
        takes = [TakeRequest(1, shot.fields.get("seed"), first)]
    else:
        seeds = take_seeds(shot, first)
        takes = [TakeRequest(1, seeds[0], first)] + [
            TakeRequest(number, seed, _request_hash(shot, storyboard, hash_of, seed, still))
            for number, seed in enumerate(seeds[1:], start=2)
        ]
    if kept is not None and kept != takes[shot.take - 1].hash:
        return [TakeRequest(shot.take, None, kept, held=True)]
    return takes


def _request_hash(shot: Shot, storyboard: Storyboard, hash_of: Callable[[Shot], str], seed: int | None,
                  still: str | None = None) -> str:
    if shot.clip is not None:  # footage: its content is what a dependant's first frame comes from
        return hashlib.sha256(f"footage:{file_sha256(shot.clip)}".encode()).hexdigest()

    def content(ref: Reference) -> str:
        return f"sha256:{file_sha256(ref.path)}" if ref.path else ref.source

    body = request_body(shot, storyboard.root, seed)
    refs = shot.all_references()
    for name, kind in (("image_urls", "image"), ("video_urls", "video")):
        if name in body:
            body[name] = [content(ref) for ref in refs if ref.kind == kind]
    if isinstance(shot.first_frame, FrameOf):
        upstream = storyboard.shot(shot.first_frame.shot)
        body["first_frame_image"] = {"shot": hash_of(upstream), "at": frame_time(upstream, shot.first_frame.at)}
    elif isinstance(shot.first_frame, Reference):
        body["first_frame_image"] = content(shot.first_frame)
    elif shot.still is not None:
        body["first_frame_image"] = {"still": still}
    # What the model assumes for fields left out shapes the clip too (and the preview uses it).
    profile = storyboard.profile(shot)
    assumed = {name: profile.default(name) for name in profile.fields if name not in body and profile.default(name) is not None}
    facts = {"v": HASH_VERSION, "body": body, "assumed": assumed}
    canonical = json.dumps(facts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
