"""A misbehaving S3 endpoint for tests and the stress harness: a small threaded HTTP proxy on
127.0.0.1 in front of a real S3-compatible server (moto's), doing, at the odds it is given, what
some stores, proxies and networks do:

- `strip`: drops `If-None-Match` and `If-Match` from writes, so conditional writes are ignored;
- `lose`: forwards the request, then closes the connection without an answer (the write happened);
- `deny`: answers reads (GET, HEAD; listings too) 403 AccessDenied without forwarding them;
- `trickle`: forwards, then sends the answer's body a few bytes at a time (`TRICKLE_BYTES` every
  `TRICKLE_SECONDS`);
- `stall`: never answers (holds the connection for `STALL_SECONDS`), without forwarding.

`misbehave(**odds)` sets the odds (0 to 1 each) from then on; `counts` says how often each was
done. Draws come from one seeded `random.Random`. Usable from stress/ (it has no test imports).
"""
from __future__ import annotations

import contextlib
import http.client
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MISBEHAVIOURS = ("strip", "lose", "deny", "trickle", "stall")
TRICKLE_BYTES, TRICKLE_SECONDS = 64, 0.2
STALL_SECONDS = 60.0
DENIED = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
          b"<Message>Access Denied</Message></Error>")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te", "trailer"}


class MotoDidNotStart(RuntimeError):
    pass


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    """moto's S3 server (the `moto[server]` extra) in a process of its own on 127.0.0.1: (process, endpoint)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, f"http://127.0.0.1:{port}"
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise MotoDidNotStart("moto_server did not start (pip install 'moto[server]')") from None
            time.sleep(0.1)


class S3Proxy:
    def __init__(self, upstream: str, seed: int = 0, **odds: float):
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.counts = {name: 0 for name in MISBEHAVIOURS}
        self.requests = 0
        self._odds: dict[str, float] = {}
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.misbehave(**odds)
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> S3Proxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> S3Proxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def misbehave(self, **odds: float) -> None:
        unknown = set(odds) - set(MISBEHAVIOURS)
        if unknown:
            raise ValueError(f"unknown misbehaviour(s) {sorted(unknown)} (known: {', '.join(MISBEHAVIOURS)})")
        with self._lock:
            self._odds = dict(odds)

    def draw(self, method: str) -> set[str]:
        """The misbehaviours for one request (those that cannot apply to `method` left out)."""
        with self._lock:
            self.requests += 1
            hits = {name for name in MISBEHAVIOURS if self._random.random() < self._odds.get(name, 0.0)}
        if method not in ("GET", "HEAD"):
            hits.discard("deny")
        if method not in ("PUT", "POST"):
            hits.discard("strip")
        return hits

    def counted(self, name: str) -> None:
        with self._lock:
            self.counts[name] += 1


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up (a render killed) is no news


class _Handler(BaseHTTPRequestHandler):
    owner: S3Proxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._relay()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_GET

    def _relay(self) -> None:
        proxy = self.owner
        body = self._body()
        hits = proxy.draw(self.command)
        if "stall" in hits:
            proxy.counted("stall")
            time.sleep(STALL_SECONDS)
            self.close_connection = True
            return
        if "deny" in hits:
            proxy.counted("deny")
            self._answer(403, {"Content-Type": "application/xml"}, DENIED)
            return
        headers = [(name, value) for name, value in self.headers.items() if name.lower() not in HOP_BY_HOP]
        if "strip" in hits and any(name.lower() in ("if-none-match", "if-match") for name, _ in headers):
            proxy.counted("strip")
            headers = [(name, value) for name, value in headers if name.lower() not in ("if-none-match", "if-match")]
        connection = http.client.HTTPConnection(*proxy.upstream, timeout=30)
        try:
            connection.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                connection.putheader(name, value)
            if body and not any(name.lower() == "content-length" for name, _ in headers):
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body or None)
            answer = connection.getresponse()
            data = answer.read()
            answered = [(name, value) for name, value in answer.getheaders() if name.lower() not in HOP_BY_HOP]
            status = answer.status
        except OSError:
            self.close_connection = True
            return
        finally:
            connection.close()
        if "lose" in hits:
            proxy.counted("lose")
            self._hang_up()
            return
        self._answer(status, dict(answered), data, trickle="trickle" in hits and len(data) > TRICKLE_BYTES)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self, status: int, headers: dict[str, str], data: bytes, trickle: bool = False) -> None:
        self.send_response_only(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "date", "server"):
                self.send_header(name, value)
        self.send_header("Date", self.date_time_string())
        length = headers.get("Content-Length") or headers.get("content-length")
        self.send_header("Content-Length", length if self.command == "HEAD" and length else str(len(data)))
        self.end_headers()
        if self.command == "HEAD":
            return
        try:
            if not trickle:
                self.wfile.write(data)
                return
            self.owner.counted("trickle")
            for start in range(0, len(data), TRICKLE_BYTES):
                self.wfile.write(data[start:start + TRICKLE_BYTES])
                self.wfile.flush()
                time.sleep(TRICKLE_SECONDS)
        except OSError:
            self.close_connection = True

    def _hang_up(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
