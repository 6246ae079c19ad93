"""The copy of the service's price list kept in the state folder (`.storyboard/prices.json`), and
where the list is. Light on purpose (no HTTP client): a plan for a free backend reads the kept copy
and asks nothing; `aimlapi/catalogue.py` asks the service itself.
"""
from __future__ import annotations

import json
import math
import urllib.parse
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..files import atomic_write_bytes
from ..loading.prices import PriceList, catalogue_prices
from ..project.store import ClipStore

PRICES_FILE = "prices.json"  # in the state folder
KEY_VARIABLE = "AIMLAPI_KEY"  # as backends/aimlapi/policy.py reads it; said here without loading the HTTP client
Kept = dict[str, dict[str, Any]]  # the catalogue's address with its query -> {etag, data, fetched_at}


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


def kept_key(where: str, query: dict[str, str]) -> str:
    return f"{where}?{urllib.parse.urlencode(query)}"


def kept_path(project_root: Path) -> Path:
    return ClipStore(project_root).root / PRICES_FILE


def kept_prices(models: list[str], project_root: Path, base_url: str, why: str) -> PriceList:
    """The prices of `models` from the copy kept in the project's state folder, else the built-in
    tables; `why` says why the service was not asked."""
    return from_copies(read_kept(kept_path(project_root)), catalogue_url(base_url), models, why)


def from_copies(kept: Kept, where: str, models: list[str], why: str) -> PriceList:
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


def read_kept(path: Path) -> Kept:
    try:
        kept = json.loads(path.read_bytes())
    except (OSError, ValueError, UnicodeDecodeError):
        return {}  # none yet, or damaged: the catalogue is asked afresh
    entries = kept.get("catalogue") if isinstance(kept, dict) else None
    return {key: value for key, value in entries.items() if isinstance(value, dict)} if isinstance(entries, dict) else {}


def write_kept(project_root: Path, kept: Kept) -> None:
    try:
        ClipStore(project_root).ensure()  # the state folder, with the .gitignore that keeps it out of version control
        atomic_write_bytes(kept_path(project_root), json.dumps({"catalogue": kept}, indent=1, sort_keys=True).encode())
    except OSError:
        pass  # a read-only project: the prices are used all the same, and asked for in full next time
