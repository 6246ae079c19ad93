"""A local stand-in for the generation service of SPEC §2, over real HTTP.

`Emulator` serves the two-step contract at `{url}` (e.g. `http://127.0.0.1:8765/v2`):

- `POST {url}/video/generations` checks `Authorization: Bearer <key>` (401), validates the
  body against the model profile as the service would (400 naming the field; `duration`
  may be a numeric string like "5"), and answers 201 with
  `{"id", "status": "queued", "meta": {"usage": {"credits_used", "usd_spent"}}}`.
- `GET {url}/video/generations?generation_id=ID` (same auth) reports `queued` for the first
  tenth of `latency`, then `generating`, then `completed` with `video.url` once `latency`
  has passed *and* the clip exists (a slow render keeps it `generating`), or `failed` with
  `error.message`. Unknown ids get 404.
- `GET /files/<id>.mp4` (no auth, like a CDN URL) serves the finished clip.
- `GET /_emulator/stats` answers `stats()` as JSON.

Each accepted generation is made in a worker thread: its references (`image_urls`,
`video_urls`, `first_frame_image`) are fetched over HTTP(S) or decoded from `data:` URIs,
checked to be an image / a video, and composed into an animatic by the preview renderer.
A reference that cannot be fetched or decoded fails the generation at once, naming it.

Faults (`faults="429=0.1,drop=0.05,…"`, each a probability from 0 to 1) and the requests
they apply to; the others are never disturbed:

- `slow`: any of the three answers only after SLOW_SECONDS (combines with the others).
- `drop`: create, poll, download: the connection closes without an answer (a create that
  drops has created nothing).
- `429`: create, poll: 429 with `Retry-After: 1` (a create that gets it created nothing).
- `500`: create, poll: 500 with a JSON error (a create that gets it created nothing).
- `fail`: create: accepted and billed, but it ends `failed` when it would have completed.
- `expired`: download: 403 with an S3-style XML "Request has expired" body.
- `html`: download: 200 with `text/html`, an error page instead of the video.
- `truncate`: download: the full Content-Length, half the body, then the connection closes.

Faults are drawn after authentication and before the body is validated or the generation
looked up; when several hit one request, the first in the order above wins. Each draw comes
from `random.Random` seeded with (seed, request kind, subject, attempt number), the subject
being the canonical request body (create) or the generation's body and creation number
(poll, download): the same client behaviour meets the same faults on every run with the same
seed, however its concurrent requests interleave.
"""
from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import os
import random
import re
import shutil
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jsonschema

from .profiles import ModelProfile, load_profiles

API_PREFIX = "/v2"
GENERATIONS_PATH = f"{API_PREFIX}/video/generations"
FILES_PREFIX = "/files/"
STATS_PATH = "/_emulator/stats"

FAULTS = ("slow", "drop", "429", "500", "fail", "expired", "html", "truncate")
FAULTS_BY_REQUEST = {
    "create": ("slow", "drop", "429", "500", "fail"),
    "poll": ("slow", "drop", "429", "500"),
    "download": ("slow", "drop", "expired", "html", "truncate"),
}
SLOW_SECONDS = 2.0
QUEUED_SHARE = 0.1  # of the latency, spent `queued` before `generating`
CREDITS_PER_USD = 2_000_000  # the provider's example: 1.95 USD = 3,900,000 credits
MAX_BODY_BYTES = 32 * 1024 * 1024  # a 7 MB first frame as a data: URI fits
MAX_REFERENCE_BYTES = 256 * 1024 * 1024
FETCH_TIMEOUT = 30.0
MAX_SEED = 2_147_483_647

Reference = tuple[str, "Path | None", str]  # as the animatic takes it: (label, file, source)

_EXPIRED_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Request has expired</Message><X-Amz-Expires>3600</X-Amz-Expires></Error>\n"
)
_HTML_BODY = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>502 Bad Gateway</h1><p>The upstream server returned an invalid response.</p></body></html>\n"
)


def parse_faults(spec: str) -> dict[str, float]:
    """`"429=0.1,drop"` → `{"429": 0.1, "drop": 1.0}`; unknown names or bad numbers raise ValueError."""
    faults: dict[str, float] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        name, equals, value = (text.strip() for text in item.partition("="))
        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r} (known: {', '.join(FAULTS)})")
        try:
            probability = float(value) if equals else 1.0
        except ValueError:
            raise ValueError(f"fault {name!r}: {value!r} is not a probability") from None
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"fault {name!r}: probability {value} is not between 0 and 1")
        faults[name] = probability
    return faults


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
    fails_at_once: bool = False  # a reference problem shows as soon as found


class _Refusal(Exception):
    """An HTTP error answer for the request being handled."""

    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


class _Unusable(Exception):
    """A reference the worker could not fetch or decode; the message names it."""


class Emulator:
    """The §2 service on a local port. Binds at construction; `start()` serves in a thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        latency: float = 2.0,
        faults: str = "",
        seed: int = 0,
        work_dir: str | os.PathLike[str] | None = None,
    ):
        if latency < 0:
            raise ValueError("latency must not be negative")
        self.latency = float(latency)
        self.seed = seed
        self._faults = parse_faults(faults)
        self._api_key = api_key
        self._profiles = load_profiles()
        self._owns_work_dir = work_dir is None
        self.work_dir = Path(tempfile.mkdtemp(prefix="storyboard-emulator-") if work_dir is None else work_dir)
        (self.work_dir / "clips").mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._generations: dict[str, Generation] = {}
        self._attempts: dict[tuple[str, str], int] = {}
        self._counts = {"requests": 0, "creates": 0, "polls": 0, "downloads": 0, "rejected": 0,
                        "downloads_with_authorization": 0}
        self._faults_injected = {name: 0 for name in FAULTS}
        self._workers = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="emulator-render")
        server_class = _Server6 if ":" in host else _Server
        try:
            self._server = server_class((host, port), _Handler)
        except OSError:
            self._discard_work_dir()
            raise
        self._server.emulator = self
        self._thread: threading.Thread | None = None
        bound_host, self.port = self._server.server_address[:2]
        shown = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(bound_host, bound_host)
        self.origin = f"http://[{shown}]:{self.port}" if ":" in shown else f"http://{shown}:{self.port}"
        self.url = self.origin + API_PREFIX

    def start(self) -> Emulator:
        if self._thread is not None:
            raise RuntimeError("the emulator is already running")
        serve = functools.partial(self._server.serve_forever, poll_interval=0.1)  # stop() returns quickly
        self._thread = threading.Thread(target=serve, name="emulator-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()
        self._server.hang_up()
        self._workers.shutdown(wait=True, cancel_futures=True)
        self._discard_work_dir()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def set_faults(self, spec: str) -> None:
        """Change the fault probabilities of the running emulator (attempt counts carry on)."""
        faults = parse_faults(spec)
        with self._lock:
            self._faults = faults

    def stats(self) -> dict[str, Any]:
        """Counts so far; `requests` covers every request except those to `/_emulator/`."""
        now = time.monotonic()
        with self._lock:
            states = [self._status(generation, now) for generation in self._generations.values()]
            return {
                **self._counts,
                "completed": states.count("completed"),
                "failed": states.count("failed"),
                "in_progress": states.count("queued") + states.count("generating"),
                "usd_spent": round(sum(g.usd_spent for g in self._generations.values()), 4),
                "faults": {name: count for name, count in self._faults_injected.items() if count},
            }

    # Bookkeeping shared with the request handler.

    def _count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def _draw_faults(self, request: str, subject: str) -> set[str]:
        with self._lock:
            attempt = self._attempts.get((request, subject), 0)
            self._attempts[(request, subject)] = attempt + 1
            faults = dict(self._faults)
        draws = random.Random(f"{self.seed}:{request}:{subject}:{attempt}")
        # One draw per known fault, always: each fault's outcome is independent of the others' odds.
        hits = {name for name in FAULTS if draws.random() < faults.get(name, 0.0)}
        return hits & set(FAULTS_BY_REQUEST[request])

    def _injected(self, fault: str) -> None:
        with self._lock:
            self._faults_injected[fault] += 1

    def _check_key(self, authorization: str | None) -> None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _Refusal(401, "missing or malformed Authorization header (expected 'Bearer <key>')")
        if self._api_key is not None and not _same_secret(token.strip(), self._api_key):
            raise _Refusal(401, "invalid API key")

    def _validate(self, body: Any) -> tuple[ModelProfile, dict[str, Any]]:
        if not isinstance(body, dict):
            raise _Refusal(400, "the request body must be a JSON object")
        model = body.get("model")
        if model is None:
            raise _Refusal(400, "model: this field is required", "model")
        if not isinstance(model, str) or model not in self._profiles:
            raise _Refusal(400, f"model: unknown model {model!r} (known: {', '.join(sorted(self._profiles))})", "model")
        profile = self._profiles[model]
        rest = {key: value for key, value in body.items() if key != "model"}
        duration = rest.get("duration")
        if isinstance(duration, str) and re.fullmatch(r"\s*\d+\s*", duration):
            rest["duration"] = int(duration)  # the provider's own sample sends "5"
        schema = profile.request_schema()
        validator = jsonschema.Draft202012Validator(schema)
        errors = [(_field_of(error, schema), error) for error in validator.iter_errors(rest)]
        if errors:
            name, error = min(errors, key=lambda pair: (pair[0] or "", pair[1].message))
            raise _Refusal(400, _explain(name, error, model), name)
        return profile, {"model": model, **rest}

    def _create(self, profile: ModelProfile, body: dict[str, Any], fault_subject: str, doomed: bool) -> Generation:
        usd = profile.estimate_usd(body.get("resolution"), body.get("duration")) or 0.0
        with self._lock:
            number = self._attempts.get(("accepted", fault_subject), 0)
            self._attempts[("accepted", fault_subject)] = number + 1
            generation = Generation(
                id=str(uuid.uuid4()), body=body, profile=profile, fault_key=f"{fault_subject}#{number}",
                usd_spent=usd, doomed=doomed,
            )
            self._generations[generation.id] = generation
            self._counts["creates"] += 1
        try:
            self._workers.submit(self._produce, generation)
        except RuntimeError:  # stop() has begun
            self._finish(generation, failure="the emulator stopped", at_once=True)
        return generation

    def _lookup(self, generation_id: str) -> tuple[Generation | None, str | None]:
        with self._lock:
            generation = self._generations.get(generation_id)
            return generation, (self._status(generation, time.monotonic()) if generation else None)

    def _status(self, generation: Generation, now: float) -> str:
        elapsed = now - generation.created
        if generation.failure is not None and (generation.fails_at_once or elapsed >= self.latency):
            return "failed"
        if elapsed < QUEUED_SHARE * self.latency:
            return "queued"
        if elapsed < self.latency or not generation.finished:
            return "generating"
        return "completed"

    def _clip_path(self, generation_id: str) -> Path:
        return self.work_dir / "clips" / f"{generation_id}.mp4"

    # The worker: references, then the animatic.

    def _produce(self, generation: Generation) -> None:
        try:
            references, first_frame = self._gather_references(generation)
        except _Unusable as problem:
            self._finish(generation, failure=str(problem), at_once=True)
            return
        except Exception as error:  # noqa: BLE001 - a worker must always settle its generation
            self._finish(generation, failure=f"reading the references failed: {error}", at_once=True)
            return
        if generation.doomed:
            self._finish(generation, failure="the model could not generate this video (emulated failure)")
            return
        try:
            self._render(generation, references, first_frame)
        except Exception as error:  # noqa: BLE001
            self._finish(generation, failure=f"rendering the clip failed: {type(error).__name__}: {error}", at_once=True)
            return
        self._finish(generation)

    def _finish(self, generation: Generation, failure: str | None = None, at_once: bool = False) -> None:
        with self._lock:
            generation.failure = failure
            generation.fails_at_once = at_once
            generation.finished = True

    def _gather_references(self, generation: Generation) -> tuple[list[Reference], Path | None]:
        body, profile = generation.body, generation.profile
        folder = self.work_dir / "references" / generation.id
        folder.mkdir(parents=True, exist_ok=True)
        references: list[Reference] = []
        with httpx.Client(follow_redirects=True, timeout=FETCH_TIMEOUT) as client:
            first_frame = None
            if body.get("first_frame_image"):
                first_frame = _fetch(client, body["first_frame_image"], "first_frame_image", folder / "first_frame", "image")
            for field_name, kind in (("image_urls", "image"), ("video_urls", "video")):
                for index, url in enumerate(body.get(field_name) or []):
                    path = _fetch(client, url, f"{field_name}[{index}]", folder / f"{kind}-{index + 1}", kind)
                    label = profile.label(kind, index + 1) if kind in profile.labels else kind
                    references.append((label, path, _name_url(url)))
        return references, first_frame

    def _render(self, generation: Generation, references: list[Reference], first_frame: Path | None) -> None:
        from .animatic import Animatic, render_animatic
        from .media import frame_size

        body, profile = generation.body, generation.profile
        resolution = body.get("resolution") or profile.default("resolution") or "720p"
        aspect_ratio = body.get("aspect_ratio") or profile.default("aspect_ratio") or "16:9"
        duration = body.get("duration") or profile.default("duration") or 5
        seed = body.get("seed")
        if seed is None:  # the service would pick one at random; the emulator stays reproducible
            seed = int(hashlib.sha256(_canonical(body)).hexdigest()[:8], 16) % (MAX_SEED + 1)
        width, height = frame_size(resolution, aspect_ratio)
        spec = Animatic(
            width=width, height=height, duration=float(duration), seed=int(seed), shot_id=generation.id[:8],
            prompt=body["prompt"], references=references, first_frame=first_frame,
        )
        clip = self._clip_path(generation.id)
        partial = clip.with_name(f"{generation.id}.partial.mp4")
        render_animatic(spec, partial)
        os.replace(partial, clip)

    def _discard_work_dir(self) -> None:
        if self._owns_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # a render at --jobs 100 connects all at once; the default 5 resets some
    emulator: Emulator

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client went away mid-answer (a killed render, a cut download): not the server's fault
        super().handle_error(request, client_address)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up (getfqdn), which can hang without DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def hang_up(self) -> None:
        """End kept-alive connections too: after `stop()` no request is answered."""
        with self.connections_lock:
            for connection in self.connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "storyboard-emulator"
    sys_version = ""
    timeout = 120  # seconds a connection may sit idle or stall mid-request
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stall
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # silent: request lines are no one's business, and headers carry the key

    @property
    def emulator(self) -> Emulator:
        return self.server.emulator

    def do_POST(self) -> None:
        self._serve("POST")

    def do_GET(self) -> None:
        self._serve("GET")

    def _serve(self, method: str) -> None:
        path, _, query = self.path.partition("?")
        if not path.startswith("/_emulator/"):
            self.emulator._count("requests")
        try:
            body = self._read_body() if method == "POST" else b""
            if method == "POST" and path == GENERATIONS_PATH:
                self._create(body)
            elif method == "GET" and path == GENERATIONS_PATH:
                self._poll(urllib.parse.parse_qs(query))
            elif method == "GET" and path.startswith(FILES_PREFIX):
                self._download(path[len(FILES_PREFIX):])
            elif method == "GET" and path == STATS_PATH:
                self._send_json(200, self.emulator.stats())
            elif path in (GENERATIONS_PATH, STATS_PATH) or path.startswith(FILES_PREFIX):
                raise _Refusal(405, f"{method} is not allowed here")
            else:
                raise _Refusal(404, f"no such endpoint: {path}")
        except _Refusal as refusal:
            error = {"message": refusal.message, **({"field": refusal.field} if refusal.field else {})}
            self._send_json(refusal.status, {"error": error})
        except OSError:  # the client went away (or stop() hung up): nobody to answer
            self.close_connection = True
        except Exception as error:  # noqa: BLE001 - a bug here must still answer, not hang the client
            self.close_connection = True
            self._send_json(500, {"error": {"message": f"emulator error: {type(error).__name__}: {error}"}})

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise _Refusal(411, "send the body with a Content-Length")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            raise _Refusal(400, "malformed Content-Length") from None
        if length > MAX_BODY_BYTES:
            self.close_connection = True  # the unread body must not be taken for the next request
            raise _Refusal(413, f"the request body is larger than {MAX_BODY_BYTES} bytes")
        return self.rfile.read(length) if length > 0 else b""

    def _create(self, raw: bytes) -> None:
        emulator = self.emulator
        emulator._check_key(self.headers.get("Authorization"))
        try:
            body = json.loads(raw, parse_constant=_refuse_constant)
        except (ValueError, UnicodeDecodeError):
            body = None
            subject = hashlib.sha256(raw).hexdigest()
        else:
            subject = hashlib.sha256(_canonical(body)).hexdigest()
        faults = emulator._draw_faults("create", subject)
        if self._disrupt(faults, ("drop", "429", "500")):
            return
        if body is None:
            raise _Refusal(400, "the request body is not valid JSON")
        profile, request = emulator._validate(body)
        doomed = "fail" in faults
        if doomed:
            emulator._injected("fail")
        generation = emulator._create(profile, request, subject, doomed)
        usage = {"credits_used": round(generation.usd_spent * CREDITS_PER_USD), "usd_spent": generation.usd_spent}
        self._send_json(201, {"id": generation.id, "status": "queued", "meta": {"usage": usage}})

    def _poll(self, query: dict[str, list[str]]) -> None:
        emulator = self.emulator
        emulator._count("polls")
        emulator._check_key(self.headers.get("Authorization"))
        generation_id = (query.get("generation_id") or [""])[0]
        generation, _ = emulator._lookup(generation_id)
        subject = generation.fault_key if generation else f"unknown:{generation_id}"
        if self._disrupt(emulator._draw_faults("poll", subject), ("drop", "429", "500")):
            return
        if not generation_id:
            raise _Refusal(400, "generation_id: this query parameter is required", "generation_id")
        if generation is None:
            raise _Refusal(404, f"generation {generation_id!r} not found")
        _, status = emulator._lookup(generation_id)  # a slow answer reports the state it is sent in
        answer: dict[str, Any] = {"id": generation.id, "status": status}
        if status == "completed":
            answer["video"] = {"url": f"{self._origin()}{FILES_PREFIX}{generation.id}.mp4"}
        elif status == "failed":
            answer["error"] = {"message": generation.failure}
        self._send_json(200, answer)

    def _download(self, name: str) -> None:
        emulator = self.emulator
        emulator._count("downloads")
        if self.headers.get("Authorization"):
            emulator._count("downloads_with_authorization")
        generation_id = name.removesuffix(".mp4")
        generation, _ = emulator._lookup(generation_id) if name.endswith(".mp4") else (None, None)
        subject = generation.fault_key if generation else f"unknown:{name}"
        faults = emulator._draw_faults("download", subject)
        if self._disrupt(faults, ("drop", "expired", "html")):
            return
        _, status = emulator._lookup(generation_id)
        if generation is None or status != "completed":
            raise _Refusal(404, f"no such file: {name}")
        clip = emulator._clip_path(generation.id)
        size = clip.stat().st_size
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        with clip.open("rb") as source:
            if "truncate" in faults:
                emulator._injected("truncate")
                self.wfile.write(source.read(size // 2))
                self.close_connection = True
                return
            shutil.copyfileobj(source, self.wfile)

    def _disrupt(self, faults: set[str], in_order: tuple[str, ...]) -> bool:
        """Apply `slow`, then the first of `in_order` that hit; True when that answered the request."""
        if "slow" in faults:
            self.emulator._injected("slow")
            time.sleep(SLOW_SECONDS)
        hit = next((fault for fault in in_order if fault in faults), None)
        if hit is None:
            return False
        self.emulator._injected(hit)
        if hit == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif hit == "429":
            self._send_json(429, {"error": {"message": "rate limit exceeded, retry later"}}, {"Retry-After": "1"})
        elif hit == "500":
            self._send_json(500, {"error": {"message": "internal server error (emulated)"}})
        elif hit == "expired":
            self._send(403, _EXPIRED_BODY, "application/xml")
        elif hit == "html":
            self._send(200, _HTML_BODY, "text/html; charset=utf-8")
        return True

    def _origin(self) -> str:
        host = self.headers.get("Host")
        return f"http://{host}" if host else self.emulator.origin

    def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _send(self, status: int, payload: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        if status >= 400:
            self.emulator._count("rejected")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


def _fetch(client: httpx.Client, url: Any, where: str, stem: Path, kind: str) -> Path:
    """Download (or decode) one reference to `stem`, and check it is an image or a video."""
    shown = _name_url(str(url))
    if not isinstance(url, str):
        raise _Unusable(f"{where}: not a URL")
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    path = stem.with_suffix(".bin")
    if scheme == "data":
        try:
            path.write_bytes(_decode_data_uri(url))
        except ValueError as error:
            raise _Unusable(f"{where}: cannot decode {shown}: {error}") from None
    elif scheme in ("http", "https"):
        try:
            with client.stream("GET", url) as response:
                if not response.is_success:
                    raise _Unusable(f"{where}: cannot fetch {shown}: HTTP {response.status_code}")
                received = 0
                with path.open("wb") as out:
                    for chunk in response.iter_bytes():
                        received += len(chunk)
                        if received > MAX_REFERENCE_BYTES:
                            raise _Unusable(f"{where}: {shown} is larger than {MAX_REFERENCE_BYTES} bytes")
                        out.write(chunk)
        except httpx.HTTPError as error:
            raise _Unusable(f"{where}: cannot fetch {shown}: {type(error).__name__}: {error}") from None
    else:
        raise _Unusable(f"{where}: cannot fetch {shown}: only http, https and data: URLs are supported")
    if kind == "image" and not _is_image(path):
        raise _Unusable(f"{where}: {shown} is not an image")
    if kind == "video" and not _is_video(path):
        raise _Unusable(f"{where}: {shown} is not a video")
    return path


def _decode_data_uri(uri: str) -> bytes:
    header, comma, data = uri[len("data:"):].partition(",")
    if not comma:
        raise ValueError("no comma separates the media type from the data")
    if header.lower().endswith(";base64"):
        try:
            return base64.b64decode("".join(data.split()), validate=True)
        except binascii.Error as error:
            raise ValueError(f"bad base64: {error}") from None
    return urllib.parse.unquote_to_bytes(data)


def _is_image(path: Path) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as picture:
            picture.verify()
        return True
    except Exception:  # noqa: BLE001 - Pillow raises many kinds for undecodable input
        return False


def _is_video(path: Path) -> bool:
    import imageio_ffmpeg

    try:
        probe = subprocess.run(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
            capture_output=True, text=True, errors="replace", timeout=FETCH_TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return re.search(r"Stream #\S+.*Video: ", probe.stderr) is not None


def _field_of(error: jsonschema.ValidationError, schema: dict[str, Any]) -> str | None:
    if error.path:
        return str(error.path[0])
    if error.validator == "required" and isinstance(error.instance, dict):
        return next((name for name in error.validator_value if name not in error.instance), None)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        return min(set(error.instance) - set(schema.get("properties", {})), default=None)
    return None


def _explain(name: str | None, error: jsonschema.ValidationError, model: str) -> str:
    if error.validator == "additionalProperties" and name:
        return f"{name}: unknown field, {model} does not accept it"
    if error.validator == "required" and name:
        return f"{name}: this field is required"
    where = "".join(f"[{step}]" if isinstance(step, int) else str(step) for step in error.path) or name
    if error.validator in ("maxLength", "maxItems") and isinstance(error.instance, (str, list)):
        unit = "characters" if error.validator == "maxLength" else "items"
        return f"{where}: at most {error.validator_value} {unit} allowed, got {len(error.instance)}"
    return f"{where}: {_shorten(error.message, 200)}" if where else _shorten(error.message, 200)


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _name_url(url: str) -> str:
    """A URL as messages show it: a data: URI by its start, a URL without its (signed) query."""
    if url[:5].lower() == "data:":
        return _shorten(url, 48)
    base, question, _ = url.partition("?")
    return _shorten(base, 300) + ("?…" if question else "")


def _shorten(text: str, limit: int = 120) -> str:
    """Data URIs (and wild messages) can be megabytes long; keep their start only."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
