"""The emulated image endpoint: `POST /v1/images/generations`, synchronous, as the provider documents it.

The body is checked against the image model's profile (the documented fields and limits: `prompt`
at most 2000 characters, 1 to 3 `image_urls`, `image_size` a named shape or 512-1440 pixels in
multiples of 32, `seed`, …; the docs' own alias `alibaba/wan2.7-image` is taken too); the picture
is drawn at once (a still card with the references composed in, see backends/still_card.py) and
the answer is `{data: [{url}], meta: {usage: {credits_used, usd_spent}}}`, or `b64_json` in place
of the URL when the emulator is set to answer inline. `GET /files/<id>.png` serves the picture.
"""
from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from ..loading.profiles import ModelProfile
from .catalogue import MODEL_ALIASES, Catalogue
from .faults import canonical_json
from .logs import UsageLog, client_request_id, model_of
from .references import UnusableReference, fetch_reference
from .validation import Refusal, refuse_constant, validate_request

IMAGES_PATH = "/v1/images/generations"
CREDITS_PER_USD = 2_000_000


@dataclass(frozen=True)
class MadeImage:
    id: str
    body: dict[str, Any]  # as received (the model as sent)
    usd_spent: float
    path: Path


class Host(Protocol):
    """What of the emulated service (`service.Service`) the image endpoint uses."""

    work_dir: Path
    images_inline: bool
    faults: Any
    catalogue: Catalogue
    usage: UsageLog

    def image_profiles(self) -> dict[str, ModelProfile]: ...
    def http_client(self) -> httpx.Client: ...
    def check_key(self, authorization: str | None) -> None: ...
    def made_image(self, image: MadeImage) -> None: ...


class Handler(Protocol):
    """What of the request handler (`http.RequestHandler`) answering the endpoint is used."""

    headers: Any

    @property
    def emulator(self) -> Host: ...
    def _disrupt(self, hits: set[str], in_order: tuple[str, ...]) -> bool: ...
    def _hang_up(self) -> None: ...
    def _token(self) -> str: ...
    def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None,
                   trickle: bool = False) -> None: ...
    def _origin(self) -> str: ...


def make_image(service: Host, body: Any) -> MadeImage:
    """Validate the request, draw (and bill) its picture. Raises Refusal for what the service refuses."""
    from ..backends.still_card import StillCard, draw_still
    from ..loading.still_request import pixels

    if isinstance(body, dict) and body.get("model") in MODEL_ALIASES:
        checked_body = {**body, "model": MODEL_ALIASES[body["model"]]}
    else:
        checked_body = body
    profile, request = validate_request(service.image_profiles(), checked_body)
    image_id = str(uuid.uuid4())
    folder = service.work_dir / "images"
    folder.mkdir(parents=True, exist_ok=True)
    references = []
    for number, url in enumerate(request.get("image_urls", [])):
        try:
            references.append(fetch_reference(service.http_client(), url, f"image_urls[{number}]",
                                              folder / f"{image_id}-ref{number}", "image"))
        except UnusableReference as problem:
            raise Refusal(400, str(problem), "image_urls") from None
    width, height = pixels(request.get("image_size", profile.default("image_size")))
    seed = request.get("seed")
    digest = int(hashlib.sha256(canonical_json(request)).hexdigest()[:8], 16)
    path = folder / f"{image_id}.png"
    draw_still(StillCard(width, height, f"image {image_id[:8]}", str(request["prompt"]), seed, digest, references), path)
    usd = service.catalogue.charge(profile, request)
    return MadeImage(image_id, dict(body), usd, path)


def answer(image: MadeImage, origin: str, inline: bool) -> dict[str, Any]:
    """The documented answer: the picture by URL (or inline), and what it cost."""
    data = {"url": None, "b64_json": base64.b64encode(image.path.read_bytes()).decode("ascii")} if inline \
        else {"url": f"{origin}/files/{image.id}.png", "b64_json": None}
    usage = {"credits_used": round(image.usd_spent * CREDITS_PER_USD), "usd_spent": image.usd_spent}
    return {"data": [data], "meta": {"usage": usage}}


def create_image(handler: Handler, raw: bytes) -> None:
    """Answer a request to the image endpoint on `handler`: drawn, billed and answered in one request;
    the faults of a create apply (drop, 429, 500 before anything is made; `lost` after)."""
    emulator = handler.emulator
    emulator.check_key(handler.headers.get("Authorization"))
    try:
        body = json.loads(raw, parse_constant=refuse_constant)
    except (ValueError, UnicodeDecodeError):
        body, subject = None, hashlib.sha256(raw).hexdigest()
    else:
        subject = hashlib.sha256(canonical_json(body)).hexdigest()
    hits = emulator.faults.draw("create", subject)
    client_id = client_request_id(handler.headers.get("X-Client-Request-Id"))
    if next((hit for hit in ("drop", "429", "500") if hit in hits), None) == "500":  # it failed: listed, unbilled
        emulator.usage.record(handler._token(), status="failed", model=model_of(body), usd=0.0,
                              inference_id=str(uuid.uuid4()), client_id=client_id)
    if handler._disrupt(hits, ("drop", "429", "500")):
        return
    try:
        if body is None:
            raise Refusal(400, "the request body is not valid JSON")
        image = make_image(emulator, body)
    except Refusal:  # a refused request is listed too, failed and billed nothing
        emulator.usage.record(handler._token(), status="failed", model=model_of(body), usd=0.0,
                              inference_id=str(uuid.uuid4()), client_id=client_id)
        raise
    emulator.made_image(image)
    emulator.usage.record(handler._token(), status="succeeded", model=str(image.body.get("model")),
                          usd=image.usd_spent, inference_id=image.id, client_id=client_id)
    if "lost" in hits:  # made and billed, but the answer never arrives
        emulator.faults.record("lost")
        handler._hang_up()
        return
    handler._send_json(200, answer(image, handler._origin(), emulator.images_inline))
