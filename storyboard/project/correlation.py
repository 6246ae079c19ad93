"""The id a create carries in `X-Client-Request-Id`, by which the service's usage log finds it again.

The service keeps the header only when it is 1-128 characters of `A-Z a-z 0-9 . _ : -` and drops
it silently otherwise, so the id is built from those characters alone: the request's content hash
(hex) and the attempt number. A retry of the same attempt sends the same id; a new attempt (after
a failure, or a consented resubmission) another one."""
from __future__ import annotations

import re

VALID_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
HASH_CHARACTERS = 48  # of the request hash: far past any collision, well inside the 128 allowed


def client_request_id(request_hash: str, attempt: int) -> str:
    """`storyboard:<hash>:<attempt>`, with any character the service would not keep left out of the hash."""
    digest = re.sub(r"[^A-Za-z0-9]", "", request_hash)[:HASH_CHARACTERS] or "request"
    return f"storyboard:{digest}:{max(1, int(attempt))}"


def is_valid(value: str) -> bool:
    return VALID_CLIENT_REQUEST_ID.fullmatch(value) is not None
