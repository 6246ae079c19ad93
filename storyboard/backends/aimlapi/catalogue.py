"""The service's live price list: `GET /v1/models?id=…&include=pricing`, kept in the state folder.

The catalogue needs no key (none is sent). Its answers carry an `ETag`; the copy kept in
`.storyboard/prices.json` is asked about again with `If-None-Match`, and a `304 Not Modified`
means the copy is current, so a plan after the first reads a few hundred bytes of headers, not
the list. When the catalogue cannot be reached or answers something unusable, the kept copy is
used (said as such), and without one the model profiles' built-in tables.
"""
from __future__ import annotations

import json
import math
import time
import urllib.parse
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

from ...files import atomic_write_bytes
from ...loading.prices import BUILT_IN, PriceList, catalogue_prices
from .wire import clean, describe

PRICES_FILE = "prices.json"
MAX_ANSWER_BYTES = 8 * 1024 * 1024  # the whole catalogue with every section is a few hundred kB
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def catalogue_url(base_url: str) -> str:
    """The catalogue of the service at `base_url` (`https://api.aimlapi.com/v2` → `…/v1/models`): the
    version segment the generation routes end in is not part of the catalogue's address."""
    parts = urllib.parse.urlsplit(base_url.rstrip("/"))
    segments = [segment for segment in parts.path.split("/") if segment]
    if segments and segments[-1].lower() in {"v1", "v2", "v3"}:
        segments.pop()
    path = "/".join([*segments, "v1", "models"])
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/" + path, "", ""))


def query_for(models: Iterable[str]) -> dict[str, str]:
    """Only the models a plan uses, with their prices (`id` values are OR'd: one request for them all)."""
    return {"id": ",".join(sorted(set(models))), "include": "pricing"}


def read_prices(models: list[str], state_folder: Path, base_url: str, *, live: bool,
                transport: httpx.BaseTransport | None = None) -> PriceList:
    """The prices of `models`: from the catalogue at `base_url` when `live` (asking with the kept
    copy's ETag), else, or when it cannot answer, the copy kept in `state_folder`, else the built-in
    tables. Never raises for the catalogue's sake: a plan works offline."""
    if not models:
        return BUILT_IN
    where = catalogue_url(base_url)
    query = query_for(models)
    key = f"{where}?{urllib.parse.urlencode(query)}"
    kept = _read_kept(state_folder / PRICES_FILE)
    mine = kept.get(key)
    if not live:
        return _from_copies(kept, where, models, "the plan is not for the paid backend, so the catalogue was not asked")
    headers = {"Accept": "application/json"}
    if mine is not None and isinstance(mine.get("etag"), str):
        headers["If-None-Match"] = mine["etag"]
    try:
        with httpx.Client(timeout=TIMEOUT, transport=transport, follow_redirects=False) as client, \
                client.stream("GET", where, params=query, headers=headers) as response:
            body = b"" if response.status_code == 304 else _read(response)
    except (httpx.HTTPError, _TooLarge) as error:
        return _from_copies(kept, where, models, f"the catalogue could not be read: {clean(describe(error), 160)}")
    now = time.time()
    if response.status_code == 304 and mine is not None:
        return PriceList("live", catalogue_prices(mine.get("data")), where, now)
    data = _catalogue_data(body) if response.status_code == 200 else None
    if data is None:
        why = f"the catalogue answered {response.status_code}" + (" with no usable list" if response.status_code == 200 else "")
        return _from_copies(kept, where, models, why)
    etag = response.headers.get("etag")
    kept[key] = {"etag": etag, "data": data, "fetched_at": now}
    _write_kept(state_folder / PRICES_FILE, kept)
    return PriceList("live", catalogue_prices(data), where, now)


class _TooLarge(Exception):
    pass


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


def _from_copies(kept: dict[str, dict[str, Any]], where: str, models: list[str], why: str) -> PriceList:
    """The kept copies of this catalogue (the newest first for a model listed in several), else the built-in tables."""
    copies = sorted((copy for key, copy in kept.items() if key.startswith(f"{where}?")),
                    key=lambda copy: -_stamp(copy.get("fetched_at")))
    pricing: dict[str, Any] = {}
    for copy in copies:
        for model, block in catalogue_prices(copy.get("data")).items():
            pricing.setdefault(model, block)
    if not any(model in pricing for model in models):
        return PriceList("built-in", where=where, why=f"{why}, and no copy of it is kept")
    fetched = max((_stamp(copy.get("fetched_at")) for copy in copies), default=0.0) or None
    return PriceList("cached", pricing, where, fetched, why)


def _stamp(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else 0.0


def _read_kept(path: Path) -> dict[str, dict[str, Any]]:
    try:
        kept = json.loads(path.read_bytes())
    except (OSError, ValueError, UnicodeDecodeError):
        return {}  # none yet, or damaged: the catalogue is asked afresh
    entries = kept.get("catalogue") if isinstance(kept, dict) else None
    return {key: value for key, value in entries.items() if isinstance(value, dict)} if isinstance(entries, dict) else {}


def _write_kept(path: Path, kept: dict[str, dict[str, Any]]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, json.dumps({"catalogue": kept}, indent=1, sort_keys=True).encode())
    except OSError:
        pass  # a read-only project: the prices are used all the same, and asked for in full next time
