"""The emulator's HTTP layer: `Emulator` (the service on a local port), a threading server and
the handler of the endpoints, which honours `Idempotency-Key` on creates, applies the
drawn faults (see `faults`, and `hostile` for the hostile answers) and turns `Refusal`s into
JSON error answers."""
from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import json
import os
import socket
import socketserver
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from . import faults, hostile
from .catalogue import PricesByModel
from .faults import canonical_json
from .images import IMAGES_PATH, create_image
from .logs import client_request_id, correlation_headers, error_body, model_of
from .service import Service
from .validation import Refusal, refuse_constant

API_PREFIX = "/v2"
GENERATIONS_PATH = f"{API_PREFIX}/video/generations"
FILES_PREFIX = "/files/"
STATS_PATH = "/_emulator/stats"
CATALOGUE_PATH = "/v1/models"
LOGS_PATH = "/v2/logs"
MAX_BODY_BYTES = 32 * 1024 * 1024  # a 7 MB first frame as a data: URI fits

EXPIRED_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Request has expired</Message><X-Amz-Expires>3600</X-Amz-Expires></Error>\n"
)
HTML_ERROR_BODY = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>502 Bad Gateway</h1><p>The upstream server returned an invalid response.</p></body></html>\n"
)


class Emulator(Service):
    """The generation service's API on a local port. Binds at construction; `start()` serves in a thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        latency: float = 2.0,
        faults: str = "",
        seed: int = 0,
        work_dir: str | os.PathLike[str] | None = None,
        profiles_from: str | os.PathLike[str] | None = None,
        prices: PricesByModel | None = None,
    ):
        super().__init__(api_key=api_key, latency=latency, faults=faults, seed=seed, work_dir=work_dir,
                         profiles_from=profiles_from, prices=prices)
        try:
            self._server = bind_server(host, port, self)
        except OSError:
            self.close()
            raise
        self._thread: threading.Thread | None = None
        bound_host, self.port = self._server.host_and_port
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
        self.close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def bind_server(host: str, port: int, emulator: Emulator) -> EmulatorServer:
    """Bind (IPv4 or IPv6, as `host` is) a server answering for `emulator`; it serves once
    `serve_forever` runs. Raises OSError when the address cannot be bound."""
    server_class = IPv6EmulatorServer if ":" in host else EmulatorServer
    server = server_class((host, port), RequestHandler)
    server.emulator = emulator
    return server


class EmulatorServer(ThreadingHTTPServer):
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
        self.server_name, self.server_port = self.host_and_port
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    @property
    def host_and_port(self) -> tuple[str, int]:
        """The address bound (port 0 becomes the port the system chose)."""
        host, port = self.server_address[:2]
        return str(host), int(port)

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
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)


class IPv6EmulatorServer(EmulatorServer):
    address_family = socket.AF_INET6


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "storyboard-emulator"
    sys_version = ""
    timeout = 120  # seconds a connection may sit idle or stall mid-request
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stall
    server: EmulatorServer

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
        if method == "GET" and path.rstrip("/") == CATALOGUE_PATH:  # public, free, and counted apart
            status, body, etag = self.emulator.catalogue.answer(urllib.parse.parse_qs(query), self.headers.get("If-None-Match"))
            self._send(status, body, "application/json", {"ETag": etag})
            return
        if not path.startswith("/_emulator/"):
            self.emulator.count("requests")
        try:
            body = self._read_body() if method == "POST" else b""
            if method == "POST" and path == GENERATIONS_PATH:
                self._create(body)
            elif method == "POST" and path == IMAGES_PATH:
                create_image(self, body)
            elif method == "GET" and path == GENERATIONS_PATH:
                self._poll(urllib.parse.parse_qs(query))
            elif method == "GET" and path.startswith(FILES_PREFIX):
                self._download(path[len(FILES_PREFIX):])
            elif method == "GET" and path == LOGS_PATH:
                self.emulator.check_key(self.headers.get("Authorization"))
                status, answer, headers = self.emulator.usage.answer(self._token(), urllib.parse.parse_qs(query))
                self._send_json(status, answer, headers)
            elif method == "GET" and path == STATS_PATH:
                self._send_json(200, self.emulator.stats())
            elif path in (GENERATIONS_PATH, IMAGES_PATH, STATS_PATH) or path.startswith(FILES_PREFIX):
                raise Refusal(405, f"{method} is not allowed here")
            else:
                raise Refusal(404, f"no such endpoint: {path}")
        except Refusal as refusal:
            error = error_body(refusal.status, refusal.message, path) | ({"field": refusal.field} if refusal.field else {})
            self._send_json(refusal.status, error, refusal.headers)
        except OSError:  # the client went away (or stop() hung up): nobody to answer
            self.close_connection = True
        except Exception as error:  # noqa: BLE001 - a bug here must still answer, not hang the client
            self.close_connection = True
            self._send_json(500, {"error": {"message": f"emulator error: {type(error).__name__}: {error}"}})

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise Refusal(411, "send the body with a Content-Length")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            raise Refusal(400, "malformed Content-Length") from None
        if length > MAX_BODY_BYTES:
            self.close_connection = True  # the unread body must not be taken for the next request
            raise Refusal(413, f"the request body is larger than {MAX_BODY_BYTES} bytes")
        return self.rfile.read(length) if length > 0 else b""

    def _create(self, raw: bytes) -> None:
        emulator = self.emulator
        emulator.check_key(self.headers.get("Authorization"))
        try:
            body = json.loads(raw, parse_constant=refuse_constant)
        except (ValueError, UnicodeDecodeError):
            body = None
            subject = hashlib.sha256(raw).hexdigest()
        else:
            subject = hashlib.sha256(canonical_json(body)).hexdigest()
        hits = emulator.faults.draw("create", subject)
        if next((hit for hit in ("drop", "429", "500") if hit in hits), None) == "500":  # it failed: listed, unbilled
            emulator.usage.record(self._token(), status="failed", model=model_of(body), usd=0.0,
                                  inference_id=str(uuid.uuid4()), client_id=client_request_id(
                                      self.headers.get("X-Client-Request-Id")))
        if self._disrupt(hits, ("drop", "429", "500", "echo_key")):
            return
        client_id = client_request_id(self.headers.get("X-Client-Request-Id"))  # kept only when well formed
        model = model_of(body)
        try:
            if body is None:
                raise Refusal(400, "the request body is not valid JSON")
            profile, request = emulator.validate(body)
        except Refusal:  # a refused request is listed too, failed and billed nothing
            emulator.usage.record(self._token(), status="failed", model=model, usd=0.0,
                                  inference_id=str(uuid.uuid4()), client_id=client_id)
            raise
        key = self.headers.get("Idempotency-Key")
        idempotency = (self._token(), key.strip()) if key and key.strip() else None
        generation, replayed = emulator.create_generation(profile, request, subject, "fail" in hits, idempotency)
        emulator.usage.record(self._token(), status="succeeded", model=model,
                              usd=0.0 if replayed else generation.usd_spent, inference_id=generation.id, client_id=client_id)
        if "fail" in hits and not replayed:
            emulator.faults.record("fail")
        if "lost" in hits:  # made and billed, but the answer never arrives
            emulator.faults.record("lost")
            self._hang_up()
            return
        answer = {"id": generation.id, "status": "queued", "meta": {"usage": generation.usage()}}
        headers = correlation_headers(generation.id, client_id) | {"x-aimlapi-usd-spent": f"{generation.usd_spent:.9f}"}
        self._send_json(201, answer, headers | ({"Idempotent-Replayed": "true"} if replayed else {}))

    def _poll(self, query: dict[str, list[str]]) -> None:
        emulator = self.emulator
        emulator.count("polls")
        emulator.check_key(self.headers.get("Authorization"))
        generation_id = (query.get("generation_id") or [""])[0]
        generation, _ = emulator._lookup(generation_id)
        subject = generation.fault_key if generation else f"unknown:{generation_id}"
        hits = emulator.faults.draw("poll", subject)
        if self._disrupt(hits, ("drop", "429", "500", "not_json", "giant")):
            return
        if not generation_id:
            raise Refusal(400, "generation_id: this query parameter is required", "generation_id")
        if generation is None:
            raise Refusal(404, f"generation {generation_id!r} not found")
        _, status = emulator._lookup(generation_id)  # a slow answer reports the state it is sent in
        answer: dict[str, Any] = {"id": generation.id, "status": status}
        if "odd_status" in hits:
            emulator.faults.record("odd_status")
            answer["status"] = hostile.ODD_STATUS
        elif status == "completed":
            url = f"{self._origin()}{FILES_PREFIX}{generation.id}.mp4"
            if "odd_scheme" in hits:
                emulator.faults.record("odd_scheme")
                url = hostile.odd_url(emulator.clip_path(generation.id), self._origin())
            elif "echo_key" in hits:
                emulator.faults.record("echo_key")
                url += f"?token={self._token().lower()}"
            answer["video"] = {"url": url}
        elif status == "error":
            answer["error"] = {"name": generation.failure_name, "message": generation.failure}
        self._send_json(200, answer, correlation_headers(generation.id, client_request_id(
            self.headers.get("X-Client-Request-Id"))), trickle=self._trickles(hits))

    def _download(self, name: str) -> None:
        emulator = self.emulator
        emulator.count("downloads")
        if self.headers.get("Authorization"):
            emulator.count("downloads_with_authorization")
        if name.endswith(".png"):  # a picture of the image endpoint
            image = emulator.image(name.removesuffix(".png"))
            if image is None:
                raise Refusal(404, f"no such file: {name}")
            self._send(200, image.path.read_bytes(), "image/png")
            return
        generation_id = name.removesuffix(".mp4")
        generation, _ = emulator._lookup(generation_id) if name.endswith(".mp4") else (None, None)
        subject = generation.fault_key if generation else f"unknown:{name}"
        hits = emulator.faults.draw("download", subject)
        if self._disrupt(hits, ("drop", "expired", "html", "redirect")):
            return
        _, status = emulator._lookup(generation_id)
        if generation is None or status != "completed":
            raise Refusal(404, f"no such file: {name}")
        if "damaged" in hits:
            emulator.faults.record("damaged")
            data = hostile.damaged_clip(emulator.clip_path(generation.id))
        else:
            data = emulator.clip_path(generation.id).read_bytes()
        headers = {}
        if "gzip" in hits:
            emulator.faults.record("gzip")
            data = gzip.compress(data)
            headers["Content-Encoding"] = "gzip"
        if "truncate" in hits:
            emulator.faults.record("truncate")
            self._send(200, data, "video/mp4", headers, cut=len(data) // 2)
            return
        self._send(200, data, "video/mp4", headers, trickle=self._trickles(hits))

    def _disrupt(self, hits: set[str], in_order: tuple[str, ...]) -> bool:
        """Apply `slow`, then the first of `in_order` that hit; True when that answered the request."""
        if "slow" in hits:
            self.emulator.faults.record("slow")
            time.sleep(faults.SLOW_SECONDS)
        hit = next((fault for fault in in_order if fault in hits), None)
        if hit is None:
            return False
        self.emulator.faults.record(hit)
        if hit == "drop":
            self._hang_up()
        elif hit == "429":
            self._send_json(429, error_body(429, "Too Many Requests", self.path.partition("?")[0]),
                            {"Retry-After": str(faults.RETRY_AFTER_SECONDS)})
        elif hit == "500":
            self._send_json(500, error_body(500, "Internal server error (emulated)", self.path.partition("?")[0]))
        elif hit == "expired":
            self._send(403, EXPIRED_BODY, "application/xml")
        elif hit in ("html", "not_json"):
            self._send(200, HTML_ERROR_BODY, "text/html; charset=utf-8")
        elif hit == "echo_key":
            self._send_json(401, {"error": {"name": "Unauthorized", "message": f"invalid API key {self._token().lower()}"}})
        elif hit == "giant":
            self._send_chunks(200, hostile.giant_json(hostile.GIANT_BYTES), hostile.GIANT_BYTES, "application/json")
        elif hit == "redirect":
            path, _, query = self.path.partition("?")
            hop = int(urllib.parse.parse_qs(query).get("hop", ["0"])[0] or 0) + 1
            self.send_response(hostile.REDIRECT_STATUS)
            self.send_header("Location", f"{self._origin()}{path}?hop={hop}")
            self.send_header("Content-Length", "0")
            self.end_headers()
        return True

    def _token(self) -> str:
        """The bearer token of this request (checked by then)."""
        return (self.headers.get("Authorization") or "").partition(" ")[2].strip()

    def _trickles(self, hits: set[str]) -> bool:
        if "trickle" in hits:
            self.emulator.faults.record("trickle")
        return "trickle" in hits

    def _hang_up(self) -> None:
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _origin(self) -> str:
        host = self.headers.get("Host")
        return f"http://{host}" if host else self.emulator.origin

    def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None,
                   trickle: bool = False) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers, trickle=trickle)

    def _send(self, status: int, payload: bytes, content_type: str, headers: dict[str, str] | None = None, *,
              trickle: bool = False, cut: int | None = None) -> None:
        """Answer with `payload`: whole, a byte at a time (`trickle`), or only its first `cut`
        bytes before the connection closes (the Content-Length still says the whole)."""
        if trickle:
            chunks = (payload[index:index + 1] for index in range(len(payload)))
            self._send_chunks(status, chunks, len(payload), content_type, headers, pause=hostile.TRICKLE_SECONDS)
        elif cut is not None:
            self._send_chunks(status, iter([payload[:cut]]), len(payload), content_type, headers)
            self.close_connection = True
        else:
            self._send_chunks(status, iter([payload]), len(payload), content_type, headers)

    def _send_chunks(self, status: int, chunks: Iterator[bytes], length: int, content_type: str,
                     headers: dict[str, str] | None = None, pause: float = 0.0) -> None:
        if status >= 400:
            self.emulator.count("rejected")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        for chunk in chunks:  # a client that gives up makes this write fail: the handler lets it go
            self.wfile.write(chunk)
            if pause:
                self.wfile.flush()
                time.sleep(pause)
