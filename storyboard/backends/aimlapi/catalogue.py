"""The service's live price list: `GET /v1/models?id=…&include=pricing`, kept in the state folder.

The catalogue needs no key (none is sent). Its answers carry an `ETag`; the copy kept in
`.storyboard/prices.json` (see `backends/pricelist.py`) is asked about again with
`If-None-Match`, and a `304 Not Modified` means the copy is current, so a plan after the first
reads a few hundred bytes of headers, not the list. When the catalogue cannot be reached or
answers something unusable, the kept copy is used (said as such), and without one the model
profiles' built-in tables.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx

from ...errors import StoryboardError
from ...loading.prices import BUILT_IN, PriceList, catalogue_prices
from ..pricelist import catalogue_url, from_copies, kept_key, kept_path, query_for, read_kept, write_kept
from .wire import clean, describe

MAX_ANSWER_BYTES = 8 * 1024 * 1024  # the whole catalogue with every section is a few hundred kB
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def read_prices(models: list[str], project_root: Path, base_url: str,
                transport: httpx.BaseTransport | None = None) -> PriceList:
    """The prices of `models` from the catalogue of the service at `base_url` (asking with the kept
    copy's ETag), else, when it cannot answer, the copy kept in the project's state folder, else
    the built-in tables. Never raises for the catalogue's sake: a plan works offline."""
    if not models:
        return BUILT_IN
    where = catalogue_url(base_url)
    query = query_for(models)
    key = kept_key(where, query)
    kept = read_kept(kept_path(project_root))
    mine = kept.get(key)
    headers = {"Accept": "application/json"}
    if mine is not None and isinstance(mine.get("etag"), str):
        headers["If-None-Match"] = mine["etag"]
    try:
        with httpx.Client(timeout=TIMEOUT, transport=transport, follow_redirects=False) as client, \
                client.stream("GET", where, params=query, headers=headers) as response:
            body = b"" if response.status_code == 304 else _read(response)
    except (httpx.HTTPError, _TooLarge) as error:
        return from_copies(kept, where, models, f"the catalogue could not be read: {clean(describe(error), 160)}")
    now = time.time()
    if response.status_code == 304 and mine is not None:
        return PriceList("live", catalogue_prices(mine.get("data")), where, now)
    data = _catalogue_data(body) if response.status_code == 200 else None
    if data is None:
        why = f"the catalogue answered {response.status_code}" + (" with no usable list" if response.status_code == 200 else "")
        return from_copies(kept, where, models, why)
    kept[key] = {"etag": response.headers.get("etag"), "data": data, "fetched_at": now}
    write_kept(project_root, kept)
    return PriceList("live", catalogue_prices(data), where, now)


class _TooLarge(StoryboardError):
    """The catalogue's answer is larger than any catalogue: not read further."""


def _read(response: httpx.Response) -> bytes:
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > MAX_ANSWER_BYTES:
            raise _TooLarge(f"the answer is larger than {MAX_ANSWER_BYTES} bytes")
    return bytes(body)


def _catalogue_data(body: bytes) -> list[Any] | None:
    try:
        answer = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    data = answer.get("data") if isinstance(answer, dict) else None
    return data if isinstance(data, list) else None
