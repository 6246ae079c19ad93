"""Where the real service is, and the name what it made is kept under.

Clips, the render state and `storyboard.lock` are kept by backend name. The real service is
`aimlapi`; the same backend pointed elsewhere (the local emulator, a test server) is named
with that address too, so a clip one of them made is never taken for the other's. Light on
purpose: `plan` asks for the name without loading the HTTP client.
"""
from __future__ import annotations

import os
import re
import urllib.parse

DEFAULT_BASE_URL = "https://api.aimlapi.com/v2"
BASE_URL_VARIABLE = "AIMLAPI_BASE_URL"
SERVICE = "aimlapi"


def service_where(base_url: str | None = None) -> str:
    """Where generations go, said so that a stand-in never looks like the real service."""
    url = (base_url if base_url is not None else os.environ.get(BASE_URL_VARIABLE) or DEFAULT_BASE_URL).rstrip("/")
    if url == DEFAULT_BASE_URL:
        return f"the real service at {url}"
    return f"a stand-in at {url} ({BASE_URL_VARIABLE}; not the real service)"


def service_name(base_url: str | None = None) -> str:
    """`aimlapi` at the real service's address (default: `AIMLAPI_BASE_URL`, else the real one);
    `aimlapi@HOST-PORT` anywhere else."""
    url = (base_url if base_url is not None else os.environ.get(BASE_URL_VARIABLE) or DEFAULT_BASE_URL).rstrip("/")
    if url == DEFAULT_BASE_URL:
        return SERVICE
    where = urllib.parse.urlsplit(url).netloc or url
    return f"{SERVICE}@{re.sub(r'[^A-Za-z0-9.]+', '-', where).strip('-')}"
