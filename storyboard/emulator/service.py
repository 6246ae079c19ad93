"""The emulated service's model: generations, their statuses and billing, the render worker.

`Service` knows nothing of HTTP (`http.Emulator` serves it on a port). Each accepted
generation is made by a worker thread: its references are fetched (see `references`), then
the animatic is drawn by the preview renderer, with its sync markers, into the clip that
`GET /files/<id>.mp4` serves.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ..errors import UsageError
from ..loading.profiles import ModelProfile, load_profiles
from ..media import frame_size
from .catalogue import Catalogue, PricesByModel
from .faults import FaultDraws, canonical_json, parse_faults
from .images import MadeImage
from .logs import UsageLog
from .references import Reference, UnusableReference, gather_references
from .validation import Refusal, validate_request

QUEUED_SHARE = 0.1  # of the latency, spent `queued` before `generating`
CREDITS_PER_USD = 2_000_000  # the provider's example: 1.95 USD = 3,900,000 credits
MAX_SEED = 2_147_483_647


@dataclass
class Generation:
    id: str
    body: dict[str, Any]
    profile: ModelProfile
    fault_key: str  # stands for this generation in fault draws, the same on every run
    usd_spent: float
    doomed: bool  # the `fail` fault hit: it ends failed instead of completed
    created: float = field(default_factory=time.monotonic)
    finished: bool = False  # the worker is done: clip written, or failure known
    failure: str | None = None
    failure_name: str = "GenerationError"  # `error.name` of the `error` status
    fails_at_once: bool = False  # a reference problem shows as soon as found
    create_answer: bytes = b""  # the canonical body it was created from, for idempotent replays

    def usage(self) -> dict[str, Any]:
        """What the create answer reports as billed (`meta.usage`)."""
        return {"credits_used": round(self.usd_spent * CREDITS_PER_USD), "usd_spent": self.usd_spent}


class Service:
    """The generation service's behaviour: accounts, generations, statuses, clips, faults."""

    def __init__(
        self,
        api_key: str | None = None,
        latency: float = 2.0,
        faults: str = "",
        seed: int = 0,
        work_dir: str | os.PathLike[str] | None = None,
        profiles_from: str | os.PathLike[str] | None = None,
        prices: PricesByModel | None = None,
    ):
        """`profiles_from`: a project folder whose `models/` profiles the service also honours, standing
        for an account whose models accept more than the published contract (e.g. 2 s clips).
        `prices`: USD per second by model and resolution, quoted by its catalogue and charged instead of
        the profiles' tables."""
        if latency < 0:
            raise UsageError("latency must not be negative")
        self.latency = float(latency)
        self.seed = seed
        self.faults = FaultDraws(seed, parse_faults(faults))
        self._api_key = api_key
        self._profiles = load_profiles(Path(profiles_from) if profiles_from is not None else None)
        self.catalogue = Catalogue(self._profiles, prices)
        self._owns_work_dir = work_dir is None
        self.work_dir = Path(tempfile.mkdtemp(prefix="storyboard-emulator-") if work_dir is None else work_dir)
        (self.work_dir / "clips").mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._generations: dict[str, Generation] = {}
        self._creations_by_subject: dict[str, int] = {}
        self._by_idempotency_key: dict[tuple[str, str], Generation] = {}  # (account, key) -> its generation
        self._counts = {"requests": 0, "creates": 0, "polls": 0, "downloads": 0, "rejected": 0,
                        "downloads_with_authorization": 0, "idempotent_replays": 0, "images": 0}
        self.usage = UsageLog()  # GET /v2/logs: its `lag` and `outage` are for tests to set
        self._workers = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="emulator-render")
        self.images: list[MadeImage] = []  # every image made (and billed) at /v1/images/generations, in order
        self.images_inline = False  # answer images as `b64_json` instead of by URL
        self._http: httpx.Client | None = None

    def image_profiles(self) -> dict[str, ModelProfile]:
        """The models the image endpoint serves: those priced per image."""
        return {model: profile for model, profile in self._profiles.items() if profile.usd_per_image is not None}

    def http_client(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(timeout=30.0, follow_redirects=True)
        return self._http

    def made_image(self, image: MadeImage) -> None:
        with self._lock:
            self.images.append(image)
            self._counts["images"] += 1

    def image(self, image_id: str) -> MadeImage | None:
        with self._lock:
            return next((image for image in self.images if image.id == image_id), None)

    def close(self) -> None:
        """Finish the clips being drawn, then remove the work folder if it was a temporary one."""
        self._workers.shutdown(wait=True, cancel_futures=True)
        if self._http is not None:
            self._http.close()
        self._discard_work_dir()

    def set_faults(self, spec: str) -> None:
        """Change the fault probabilities of the running emulator (attempt counts carry on)."""
        self.faults.set_probabilities(parse_faults(spec))

    def stats(self) -> dict[str, Any]:
        """Counts so far; `requests` covers every request except those to `/_emulator/`. `creates`
        counts generations made (and billed); `idempotent_replays` the creates answered with the
        generation an earlier create of the same `Idempotency-Key` made; `failed` the generations
        that ended in the `error` status; `usd_spent` what the account is billed (failed generations
        are not), `usd_charged` of it what is recorded (the completed generations);
        `catalogue_requests` the price list's requests, of which `catalogue_answers` were answered in
        full and `catalogue_not_modified` with 304 (none counts among `requests`)."""
        now = time.monotonic()
        with self._lock:
            states = [self._status(generation, now) for generation in self._generations.values()]
            return {
                **self._counts,
                "completed": states.count("completed"),
                "failed": states.count("error"),
                "in_progress": states.count("queued") + states.count("generating"),
                # failed generations are billed nothing; the others' charge is held from the create on,
                # and recorded (`usd_charged`) once the generation completed; an image is billed when made
                "usd_spent": round(sum(g.usd_spent for g, state in zip(self._generations.values(), states, strict=True)
                                       if state != "error") + sum(image.usd_spent for image in self.images), 6),
                "usd_charged": round(sum(g.usd_spent for g, state in zip(self._generations.values(), states, strict=True)
                                         if state == "completed") + sum(image.usd_spent for image in self.images), 6),
                **self.catalogue.counts,
                "faults": self.faults.injected(),
            }

    def created(self) -> list[dict[str, Any]]:
        """The body of every generation made (and billed), in the order they were created."""
        with self._lock:
            return [generation.body for generation in self._generations.values()]

    # Bookkeeping for the request handler.

    def count(self, name: str) -> None:
        """Add one to a request counter of `stats()`."""
        with self._lock:
            self._counts[name] += 1

    def check_key(self, authorization: str | None) -> None:
        """Refuse (401) a missing or malformed Authorization header, or a key other than the one set."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Refusal(401, "missing or malformed Authorization header (expected 'Bearer <key>')")
        if self._api_key is not None and not _same_secret(token.strip(), self._api_key):
            raise Refusal(401, "invalid API key")

    def validate(self, body: Any) -> tuple[ModelProfile, dict[str, Any]]:
        """The profile and the request as the service takes it; refuses (400) what it would refuse."""
        return validate_request(self._profiles, body)

    def create_generation(self, profile: ModelProfile, body: dict[str, Any], fault_subject: str,
                          doomed: bool, idempotency: tuple[str, str] | None = None) -> tuple[Generation, bool]:
        """Accept and bill a validated request, and set a worker on making its clip: (the generation,
        False). With `idempotency` (account, key) seen before: (that earlier generation, True),
        nothing made or billed; the same key with another request body is refused (422)."""
        usd = self.catalogue.charge(profile, body)
        canonical = canonical_json(body)
        with self._lock:
            earlier = self._by_idempotency_key.get(idempotency) if idempotency else None
            if earlier is not None:
                if earlier.create_answer != canonical:
                    raise Refusal(422, "this Idempotency-Key was used with a different request")
                self._counts["idempotent_replays"] += 1
                return earlier, True
            number = self._creations_by_subject.get(fault_subject, 0)
            self._creations_by_subject[fault_subject] = number + 1
            generation = Generation(
                id=str(uuid.uuid4()), body=body, profile=profile, fault_key=f"{fault_subject}#{number}",
                usd_spent=usd, doomed=doomed, create_answer=canonical,
            )
            self._generations[generation.id] = generation
            if idempotency:
                self._by_idempotency_key[idempotency] = generation
            self._counts["creates"] += 1
        try:
            self._workers.submit(self._produce, generation)
        except RuntimeError:  # stop() has begun
            self._fail(generation, "ServiceUnavailable", "the emulator stopped")
        return generation, False

    def _lookup(self, generation_id: str) -> tuple[Generation | None, str | None]:
        """The generation and its status now, or (None, None). Keeps its underscore: it is the hook
        benchmarks/service.py overrides to time when a completion is first noticed."""
        with self._lock:
            generation = self._generations.get(generation_id)
            return generation, (self._status(generation, time.monotonic()) if generation else None)

    def clip_path(self, generation_id: str) -> Path:
        return self.work_dir / "clips" / f"{generation_id}.mp4"

    def _status(self, generation: Generation, now: float) -> str:
        """The published status: `queued`, `generating`, `completed` or `error`."""
        elapsed = now - generation.created
        if generation.failure is not None and (generation.fails_at_once or elapsed >= self.latency):
            return "error"
        if elapsed < QUEUED_SHARE * self.latency:
            return "queued"
        if elapsed < self.latency or not generation.finished:
            return "generating"
        return "completed"

    # The worker: references, then the animatic.

    def _produce(self, generation: Generation) -> None:
        try:
            references, first_frame = gather_references(
                generation.body, generation.profile, self.work_dir / "references" / generation.id
            )
        except UnusableReference as problem:
            self._fail(generation, "InvalidReference", str(problem))
            return
        except Exception as error:  # noqa: BLE001 - a worker must always settle its generation
            self._fail(generation, "InvalidReference", f"reading the references failed: {error}")
            return
        if generation.doomed:
            self._finish(generation, failure="the model could not generate this video (emulated failure)")
            return
        try:
            self._render(generation, references, first_frame)
        except Exception as error:  # noqa: BLE001
            self._fail(generation, "InternalError", f"rendering the clip failed: {type(error).__name__}: {error}")
            return
        self._finish(generation)

    def _fail(self, generation: Generation, name: str, failure: str) -> None:
        """End `generation` in the `error` status at once, with `error: {name, message}`."""
        generation.failure_name = name  # read only once `_finish` has set the failure
        self._finish(generation, failure=failure, at_once=True)

    def _finish(self, generation: Generation, failure: str | None = None, at_once: bool = False) -> None:
        # benchmarks/service.py overrides this too, to time when each clip is done.
        with self._lock:
            generation.failure = failure
            generation.fails_at_once = at_once
            generation.finished = True

    def _render(self, generation: Generation, references: list[Reference], first_frame: Path | None) -> None:
        from ..backends.animatic import Animatic, render_animatic  # numpy, Pillow, moviepy: only once a clip is drawn

        body, profile = generation.body, generation.profile
        resolution = body.get("resolution") or profile.default("resolution") or "720p"
        aspect_ratio = body.get("aspect_ratio") or profile.default("aspect_ratio") or "16:9"
        duration = body.get("duration") or profile.default("duration") or 5
        seed = body.get("seed")
        if seed is None:  # the service would pick one at random; the emulator stays reproducible
            seed = int(hashlib.sha256(canonical_json(body)).hexdigest()[:8], 16) % (MAX_SEED + 1)
        width, height = frame_size(resolution, aspect_ratio)
        spec = Animatic(
            width=width, height=height, duration=float(duration), seed=int(seed), shot_id=generation.id[:8],
            prompt=body["prompt"], references=references, first_frame=first_frame,
            markers=True,  # flash + beep: sync can be measured on films made over the service path
        )
        clip = self.clip_path(generation.id)
        partial = clip.with_name(f"{generation.id}.partial.mp4")
        render_animatic(spec, partial)
        os.replace(partial, clip)

    def _discard_work_dir(self) -> None:
        if self._owns_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)


def _same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
