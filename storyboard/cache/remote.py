"""The shared cache's objects in S3-compatible storage, by request hash (boto3, called from threads).

Under `{prefix}v1/{backend}/{request hash}/`:

    clip.json             what the clip is: its sha256 and size, the generation, who stored it, when
    <sha256>.mp4          the clip, named by its content: a second writer never overwrites another's
    claims/000001.json    who claimed the request, when, and the generation id once known (claims.py);
                          each attempt is a new object created with `If-None-Match: *`, so the
                          history stays and only one machine wins each attempt
    frame-<sha256>-<at>.png  a frame taken from the clip (a dependant shot's first frame)

`clip.json` is written only after its clip, and only if absent (`If-None-Match: *`): whoever reads it
finds a clip to download, and the first clip stored for a request stays the one everyone gets.
Every download is checked against the sha256 recorded with it before it enters the local store.

Anything that makes the bucket unusable (no credentials, a wrong endpoint, a missing bucket,
access denied, a timeout) is `Unreachable`; the render goes on with its local store. Every object is
read under the progress deadline of the service's downloads (`Limits`: `progress_bytes` within each
`stall` seconds), so a body that trickles cannot hold a render up for days.
"""
from __future__ import annotations

import contextlib
import email.utils
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StoryboardError
from ..model import SharedStore
from ..redaction import redact

if TYPE_CHECKING:
    from ..backends.aimlapi.policy import Limits

LAYOUT = "v1"
CLIP_META = "clip.json"
CONNECT_TIMEOUT = READ_TIMEOUT = 5.0  # seconds (see client())
ATTEMPTS = 3  # a call's attempts in all, the first one included
PROBES = "probes"  # {prefix}v1/probes/<random>.json: the probe of conditional writes (honours_conditional_writes)
MAX_META_BYTES = 1 << 20  # a record (clip.json, a claim): what is larger is no record
MAX_FRAME_BYTES = 64 << 20  # a first frame (a PNG of the clip's size): what is larger is no frame


class Unreachable(StoryboardError):
    """The bucket cannot be used now (its message says why, without secrets)."""


class Damaged(StoryboardError):
    """An object of the cache is not what its record says (checksum, size, or unreadable record)."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    modified: float  # Unix time, by the bucket's clock


@dataclass(frozen=True)
class Found:
    """An object's content, and how old it is by the bucket's own clock (no skew between machines)."""

    body: bytes
    age: float
    metadata: dict[str, str]


class RemoteStore:
    def __init__(self, store: SharedStore, client: Any = None, limits: Limits | None = None):
        self.store = store
        self._client = client
        self._limits = limits

    @property
    def limits(self) -> Limits:
        """The progress deadline of reads: the service's downloads' own (aimlapi's `Limits`), unless given."""
        if self._limits is None:
            from ..backends.aimlapi.policy import Limits  # httpx with it: only once the bucket is read

            self._limits = Limits()
        return self._limits

    @property
    def where(self) -> str:
        return self.store.url + (f" at {self.store.endpoint}" if self.store.endpoint else "")

    # -- keys ---------------------------------------------------------------------------------

    def base(self, backend: str, request: str) -> str:
        return f"{self.store.prefix}{LAYOUT}/{backend}/{request}/"

    def meta_key(self, backend: str, request: str) -> str:
        return self.base(backend, request) + CLIP_META

    def clip_key(self, backend: str, request: str, sha256: str) -> str:
        return self.base(backend, request) + f"{sha256}.mp4"

    def claim_key(self, backend: str, request: str, attempt: int) -> str:
        return self.base(backend, request) + f"claims/{attempt:06d}.json"

    def frame_key(self, backend: str, request: str, clip_sha256: str, at: str | float) -> str:
        return self.base(backend, request) + f"frame-{clip_sha256}-{at}.png"

    # -- records ------------------------------------------------------------------------------

    def get(self, key: str, limit: int = MAX_META_BYTES, what: str = "a record") -> Found | None:
        """An object's content, or None if there is none. Damaged, and nothing of it read, when the bucket
        says it is larger than `limit` bytes; Damaged too, and no more than `limit` + 1 bytes read, when
        its body turns out larger than that."""
        answer = self._call("get_object", missing_ok=True, Bucket=self.store.bucket, Key=key)
        if answer is None:
            return None
        length = _length(answer)
        if length is not None and length > limit:
            answer["Body"].close()
            raise Damaged(f"s3://{self.store.bucket}/{key} is {length:,} bytes, too large for {what}")
        body = self._read(answer["Body"], limit + 1)
        if len(body) > limit:
            raise Damaged(f"s3://{self.store.bucket}/{key} is more than {limit:,} bytes, too large for {what}")
        return Found(body, _age(answer), {k.lower(): v for k, v in (answer.get("Metadata") or {}).items()})

    def get_json(self, key: str) -> tuple[dict[str, Any] | None, float] | None:
        """(the record, its age), the record None when it is not a JSON object (or too large to be a
        record: its size is known before it is read); None when absent."""
        try:
            found = self.get(key)
        except Damaged:
            return None, 0.0
        if found is None:
            return None
        try:
            value = json.loads(found.body)
        except (ValueError, RecursionError):
            return None, found.age
        return (value if isinstance(value, dict) else None), found.age

    def put_json(self, key: str, record: dict[str, Any], *, only_if_absent: bool = False) -> bool:
        """Write a record; with `only_if_absent`, False (and nothing written) when the key exists."""
        body = json.dumps(record, indent=1, sort_keys=True).encode()
        extra: dict[str, Any] = {"IfNoneMatch": "*"} if only_if_absent else {}
        answer = self._call("put_object", taken_ok=only_if_absent, Bucket=self.store.bucket, Key=key, Body=body,
                            ContentType="application/json", **extra)
        return answer is not None

    def honours_conditional_writes(self) -> bool:
        """Whether the bucket refuses a second `If-None-Match: *` write of a key (412), as claims need:
        some S3-compatible stores and proxies ignore the header and overwrite. The probe object is removed
        after (where deleting is not allowed it stays: a few hundred bytes under `probes/`)."""
        key = f"{self.store.prefix}{LAYOUT}/{PROBES}/{uuid.uuid4().hex}.json"
        record = {"probe": "If-None-Match: *", "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        # the first write's answer proves nothing: when it is lost, the client's retry finds the object there;
        # when it never comes (a bucket that does not answer), there is nothing to clean up after
        self.put_json(key, record, only_if_absent=True)
        try:
            second = self.put_json(key, record, only_if_absent=True)
        finally:
            with contextlib.suppress(Unreachable):
                self.delete([key])
        return not second

    # -- files --------------------------------------------------------------------------------

    def head_bytes(self, key: str, count: int) -> bytes | None:
        """The object's first `count` bytes (a ranged read: the rest is never sent); None when absent."""
        answer = self._call("get_object", missing_ok=True, Bucket=self.store.bucket, Key=key, Range=f"bytes=0-{count - 1}")
        return None if answer is None else self._read(answer["Body"], count)

    def exists(self, key: str) -> bool:
        return self._call("head_object", missing_ok=True, Bucket=self.store.bucket, Key=key) is not None

    def upload(self, path: Path, key: str, sha256: str, content_type: str) -> None:
        with open(path, "rb") as body:
            self._call("put_object", Bucket=self.store.bucket, Key=key, Body=body, ContentType=content_type,
                       Metadata={"sha256": sha256})

    def download(self, key: str, destination: Path, sha256: str, size: int | None = None) -> bool:
        """Write the object to `destination` (a temporary path the caller renames) and check it is the
        file `sha256` names: False when absent, Damaged when it is not that file."""
        answer = self._call("get_object", missing_ok=True, Bucket=self.store.bucket, Key=key)
        if answer is None:
            return False
        length = _length(answer)
        if size is not None and length is not None and length != size:  # said before a byte of it is read
            answer["Body"].close()
            raise Damaged(f"s3://{self.store.bucket}/{key} is {length:,} bytes, its record says {size:,}")
        digest = hashlib.sha256()
        written = 0
        with open(destination, "wb") as file:
            for block in self._chunks(answer["Body"], None if size is None else size + 1):
                digest.update(block)
                file.write(block)
                written += len(block)
        if size is not None and written != size:
            raise Damaged(f"s3://{self.store.bucket}/{key} is {'more than ' if written > size else ''}{written:,} bytes, "
                          f"its record says {size:,}")
        if digest.hexdigest() != sha256:
            raise Damaged(f"s3://{self.store.bucket}/{key} fails its checksum (sha256 {digest.hexdigest()[:12]}…, "
                          f"its record says {sha256[:12]}…)")
        return True

    # -- listing (claims, housekeeping) ----------------------------------------------------------

    def listing(self, prefix: str) -> Iterator[StoredObject]:
        token: str | None = None
        while True:
            extra: dict[str, Any] = {"ContinuationToken": token} if token else {}
            page = self._call("list_objects_v2", Bucket=self.store.bucket, Prefix=prefix, **extra)
            for item in page.get("Contents", []):
                yield StoredObject(item["Key"], int(item.get("Size") or 0), item["LastModified"].timestamp())
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start:start + 1000]]
            self._call("delete_objects", Bucket=self.store.bucket, Delete={"Objects": batch, "Quiet": True})

    # -- the client ------------------------------------------------------------------------------

    def _call(self, operation: str, *, missing_ok: bool = False, taken_ok: bool = False, **params: Any) -> Any:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
        )

        try:
            return getattr(self.client(), operation)(**params)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if missing_ok and (code in ("404", "NoSuchKey", "NotFound") or (status == 404 and code != "NoSuchBucket")):
                return None
            if taken_ok and (code == "PreconditionFailed" or status == 412):
                return None
            raise Unreachable(self._explain(code, error)) from None
        except NoCredentialsError:
            raise Unreachable("no AWS credentials on this machine (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                              "AWS_PROFILE, ~/.aws/credentials or an instance role)") from None
        except (EndpointConnectionError, ConnectTimeoutError) as error:
            endpoint = self.store.endpoint or "the S3 endpoint"
            raise Unreachable(f"cannot connect to {endpoint} ({type(error).__name__})") from None
        except BotoCoreError as error:
            raise Unreachable(redact(f"{type(error).__name__}: {error}")) from None
        except OSError as error:  # a connection dropped while a body streamed
            raise Unreachable(redact(f"{type(error).__name__}: {error}")) from None

    def _explain(self, code: str, error: Exception) -> str:
        if code == "NoSuchBucket":
            return f"the bucket {self.store.bucket!r} does not exist"
        if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"):
            return f"access denied ({code}): check the AWS credentials of this machine"
        return redact(str(error))

    def _read(self, body: Any, limit: int | None = None) -> bytes:
        return b"".join(self._chunks(body, limit))

    def _chunks(self, body: Any, limit: int | None = None) -> Iterator[bytes]:
        """The body's bytes as they arrive, at most `limit` of them in all (the rest is never read);
        Unreachable when fewer than `limits.progress_bytes` come within `limits.stall` seconds (each read
        returns what one read of the socket brings, so a trickle is seen)."""
        from botocore.exceptions import BotoCoreError
        from botocore.response import URLLib3ProtocolError, URLLib3ReadTimeoutError  # what its raw stream raises

        limits = self.limits
        raw = getattr(body, "_raw_stream", body)  # botocore's StreamingBody reads until its whole amount has come
        read = getattr(raw, "read1", None) or body.read
        total = window_bytes = 0
        window_end = time.monotonic() + limits.stall
        left = limit
        try:
            while left is None or left > 0:
                block = read(1 << 20 if left is None else min(1 << 20, left))
                if not block:
                    return
                if left is not None:
                    left -= len(block)
                total += len(block)
                window_bytes += len(block)
                if window_bytes >= limits.progress_bytes:
                    window_bytes, window_end = 0, time.monotonic() + limits.stall
                elif time.monotonic() > window_end:
                    raise Unreachable(f"reading from the bucket stalled: {total:,} bytes arrived, then fewer than "
                                      f"{limits.progress_bytes:,} in {limits.stall:g} s")
                yield block
        except (BotoCoreError, URLLib3ProtocolError, URLLib3ReadTimeoutError, OSError) as error:
            raise Unreachable(redact(f"reading from the bucket failed: {type(error).__name__}: {error}")) from None
        finally:
            body.close()

    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            # a session of its own: credentials are looked up now, not taken from an earlier render in this process
            self._client = boto3.session.Session().client(
                "s3", endpoint_url=self.store.endpoint, region_name=self.store.region,
                # an unreachable bucket must not hold a render up for minutes: it goes on without it. As the docs
                # say: 5 s to connect and 5 s for each answer (or each read of a body: `_chunks` holds bodies to the
                # downloads' progress deadline too), three attempts in all
                config=Config(signature_version="s3v4", connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT,
                              retries={"total_max_attempts": ATTEMPTS, "mode": "standard"}),
            )
        return self._client


def _length(answer: dict[str, Any]) -> int | None:
    """The object's size as the bucket says it, None when it does not."""
    try:
        return int(answer["ContentLength"])
    except (KeyError, TypeError, ValueError):
        return None


def _age(answer: dict[str, Any]) -> float:
    """Seconds since the object was last written, by the bucket's clock where it says the time."""
    modified = answer.get("LastModified")
    if modified is None:
        return 0.0
    headers = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    now = time.time()
    if date := headers.get("date"):
        with contextlib.suppress(TypeError, ValueError):
            now = email.utils.parsedate_to_datetime(date).timestamp()
    return max(0.0, now - modified.timestamp())
