"""A local S3-compatible server for trying reference uploads without a cloud account
(`storyboard emulator --s3`): moto's S3 on a local port, with one bucket made.

The aimlapi backend uploads local reference files to S3-compatible storage and sends
presigned GET URLs. `LocalS3.environment()` is what a shell needs for a render to use this
server instead, with no change to the storyboard: the bucket (`STORYBOARD_S3_BUCKET`, read
by `storyboard.publish` when the storyboard has no `publish.s3`), the endpoint
(`AWS_ENDPOINT_URL_S3`, read by boto3 itself) and credentials. The server checks no
signature, but boto3 signs nothing without credentials, so it is given made-up ones; they
are long and odd enough that scrubbing secrets from messages never hides a real word.
"""
from __future__ import annotations

import logging
import socket
import threading
from typing import Any

from ..errors import UsageError

DEFAULT_PORT = 8766
DEFAULT_BUCKET = "storyboard"
ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_S3"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "storyboard-local", "AWS_SECRET_ACCESS_KEY": "storyboard-local-secret"}
INSTALL_HINT = "pip install 'storyboard-render[emulator]'"


class LocalS3:
    """moto's S3 server on `host:port` with `bucket` made. Binds at construction (an OSError
    when the address is taken); `start()` serves in a thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT, bucket: str = DEFAULT_BUCKET):
        try:
            from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
            from werkzeug.serving import make_server
        except ImportError:
            raise UsageError(f"the local S3 server needs moto, which is not installed: {INSTALL_HINT}") from None

        class QuietHandler(MotoRequestHandler):
            def log_request(self, *args: Any) -> None:
                pass  # one line per upload and download is noise in the emulator's terminal

        # Bound here: moto's ThreadedMotoServer waits forever when its port is taken, and werkzeug's
        # make_server exits the process; an OSError lets the command say which port is taken.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.create_server((host, port), family=family) as listening:
            self._server = make_server(host, port, DomainDispatcherApplication(create_backend_app), threaded=True,
                                       request_handler=QuietHandler, fd=listening.fileno())
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.bucket = bucket
        shown = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        self.endpoint = f"http://{f'[{shown}]' if ':' in shown else shown}:{self._server.port}"
        self._thread: threading.Thread | None = None

    def start(self) -> LocalS3:
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-s3", daemon=True)
        self._thread.start()
        self._make_bucket()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def environment(self) -> dict[str, str]:
        """The variables that make a render publish local references to this server."""
        from ..backends.publish import BUCKET_VARIABLE  # not at the top: `storyboard --help` imports this module

        return {BUCKET_VARIABLE: self.bucket, ENDPOINT_VARIABLE: self.endpoint, **CREDENTIALS}

    def __enter__(self) -> LocalS3:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _make_bucket(self) -> None:
        import boto3
        from botocore.exceptions import ClientError

        client = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                              aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                              aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
        try:
            client.create_bucket(Bucket=self.bucket)
        except ClientError as error:  # moto keeps buckets per process: a second server in it finds it made
            if error.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise UsageError(f"cannot make the bucket {self.bucket!r} on the local S3 server: {error}") from None
