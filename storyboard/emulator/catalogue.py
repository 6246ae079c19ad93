"""The emulator's model catalogue: `GET /v1/models`, with prices, as the provider documents it.

- no key needed; `id` keeps the models with that id or alias (comma-separated or repeated
  values are OR'd, case-insensitive), `include=pricing` (or `all`, or `details=true`) adds each
  model's `pricing` block; unknown `include` values are ignored;
- `pricing` is `{"kind": "variants", "dimensions": ["resolution"], "variants": [{"when":
  {"resolution": "720p"}, "price": P, "unit": "second", "per": 1}, …]}` from the model's
  profile, unless the emulator was given prices of its own (`prices`), which is how a test shows
  that the live price list, not the built-in table, decides the estimate;
- every answer carries an `ETag` over its whole body; `If-None-Match` with it answers 304 and
  no body.

What a generation is charged is the catalogue's price for it (`charge`), so the estimate a
client computes from this list equals the charge to the cent.
"""
from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Mapping
from typing import Any

from ..loading.prices import price_of
from ..loading.profiles import ModelProfile

MODEL_ALIASES = {"alibaba/wan2.7-image": "alibaba/wan-2-7-image"}  # the alias the provider's samples send

PricesByModel = Mapping[str, Mapping[str, float]]  # model -> resolution -> USD per second ("image": USD per image)


class Catalogue:
    def __init__(self, profiles: Mapping[str, ModelProfile], prices: PricesByModel | None = None):
        self._profiles = profiles
        self._lock = threading.Lock()
        self._prices: dict[str, dict[str, float]] = {}
        self.set_prices(prices or {})
        self.counts = {"catalogue_requests": 0, "catalogue_answers": 0, "catalogue_not_modified": 0}

    def set_prices(self, prices: PricesByModel) -> None:
        """Quote these per-second prices (by model, by resolution) instead of the profiles' tables."""
        with self._lock:
            self._prices = {model: dict(rates) for model, rates in prices.items()}

    def pricing(self, profile: ModelProfile) -> dict[str, Any] | None:
        """The `pricing` block of `profile`'s model; None when nothing prices it."""
        with self._lock:
            rates = self._prices.get(profile.model)
        if profile.usd_per_image is not None:
            price = (rates or {}).get("image", profile.usd_per_image)
            return {"kind": "fixed", "units": [{"price": price, "unit": "image", "per": 1}]}
        rates = rates or profile.usd_per_second
        if not rates:
            return {"kind": "variable"}
        return {"kind": "variants", "dimensions": ["resolution"],
                "variants": [{"when": {"resolution": resolution}, "price": price, "unit": "second", "per": 1}
                             for resolution, price in sorted(rates.items())]}

    def charge(self, profile: ModelProfile, body: dict[str, Any]) -> float:
        """What a generation of `body` costs: the catalogue's price for it."""
        block = self.pricing(profile)
        price = price_of(block, lambda name: body.get(name, profile.default(name))) if block else None
        return round(price or 0.0, 6)

    def answer(self, query: Mapping[str, list[str]], if_none_match: str | None) -> tuple[int, bytes, str]:
        """(status, body, ETag) of `GET /v1/models` for this query."""
        wanted = {value.strip().lower() for values in query.get("id", []) for value in values.split(",") if value.strip()}
        include = {value.strip().lower() for values in query.get("include", []) for value in values.split(",")}
        with_pricing = bool(include & {"pricing", "all"}) or "true" in [value.lower() for value in query.get("details", [])]
        data = []
        for model, profile in sorted(self._profiles.items()):
            names = {model.lower(), *(alias.lower() for alias, name in MODEL_ALIASES.items() if name == model)}
            if wanted and not names & wanted:
                continue
            kind = "image" if profile.usd_per_image is not None else "video"
            entry: dict[str, Any] = {"id": model, "type": kind,
                                     "aliases": [alias for alias, name in MODEL_ALIASES.items() if name == model],
                                     "info": {"name": profile.title, "developer": model.split("/")[0]},
                                     "tags": [f"playground:{kind}"]}
            if with_pricing:
                entry["pricing"] = self.pricing(profile)
            data.append(entry)
        body = json.dumps({"object": "list", "data": data}, sort_keys=True).encode()
        etag = f'W/"{len(body):x}-{base64.b64encode(hashlib.sha256(body).digest()).decode()[:27]}"'
        with self._lock:
            self.counts["catalogue_requests"] += 1
            if if_none_match is not None and etag in [tag.strip() for tag in if_none_match.split(",")]:
                self.counts["catalogue_not_modified"] += 1
                return 304, b"", etag
            self.counts["catalogue_answers"] += 1
        return 200, body, etag
