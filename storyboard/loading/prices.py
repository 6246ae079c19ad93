"""What a request costs: from the service's live price list where it has one, else the model profile's table.

The service publishes its prices in its model catalogue (`GET /v1/models?include=pricing`), one
`pricing` block per model, read by its `kind`:

- `fixed`: one rate per unit, in `units[]`;
- `variants`: the rate depends on request parameters, which `dimensions` names; `variants[]`
  quotes one rate per combination (`when`);
- `variable`: the rate cannot be quoted ahead of the request.

A rate is always `price` USD for `per` units of `unit` (`per` is 1 for per-second rates, but
1000 or 1000000 elsewhere). This module only reads such blocks (pure: it sends nothing); fetching
and caching the catalogue is the service backend's work (`backends/aimlapi/catalogue.py`).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .profiles import ModelProfile

PriceOrigin = Literal["live", "cached", "built-in"]
SECOND_UNITS = frozenset({"second", "seconds", "sec", "s"})
ONE_PER_REQUEST = frozenset({"video", "videos", "generation", "generations", "request", "requests", "call", "calls",
                             "image", "images", "item", "items", "run", "runs"})


@dataclass(frozen=True)
class PriceList:
    """The service's prices by model id (canonical ids and aliases alike), and where they came from:
    `live` (the catalogue answered now, or said its copy here is current), `cached` (the copy kept in
    the state folder, the catalogue unreachable) or `built-in` (no copy: the model profiles' tables)."""

    origin: PriceOrigin
    pricing: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    where: str = ""  # the catalogue's address
    fetched_at: float | None = None  # when the copy was read from the catalogue (seconds since the epoch)
    why: str = ""  # why the live catalogue was not used, when it was not

    def estimate_usd(self, profile: ModelProfile, setting: Callable[[str], Any]) -> float | None:
        """The price of one request to `profile`'s model whose value of each field is `setting(name)`:
        the catalogue's when it quotes one, else the profile's table. A project's own `pricing:` for
        the model comes first: the user's word on what they pay (a negotiated rate, a test account)."""
        quoted = None if profile.pricing_from else self.quoted_usd(profile.model, setting)
        if quoted is not None:
            return quoted
        return profile.estimate_usd(setting("resolution"), setting("duration"))

    def quoted_usd(self, model: str, setting: Callable[[str], Any]) -> float | None:
        """The catalogue's price of the request, None when it has no price for it that can be computed."""
        block = self.pricing.get(model)
        return None if block is None else price_of(block, setting)

    def source_of(self, profile: ModelProfile) -> str:
        """Where the prices of `profile`'s model come from, said in a few words."""
        model = profile.model
        if profile.pricing_from:
            return f"the project's own table ({profile.pricing_from})"
        if model not in self.pricing:
            return "the built-in table (the catalogue lists no price for it)" if self.origin != "built-in" else \
                "the built-in table"
        if self.pricing[model].get("kind") == "variable":
            return "the built-in table (the catalogue says its price cannot be quoted ahead)"
        if self.origin == "live":
            return f"the service's price list ({self.where})"
        return f"the service's price list as read {_when(self.fetched_at)} (kept in .storyboard/; {self.why})"

    def describe(self, profiles: list[ModelProfile]) -> str:
        """One line saying where the prices of the models of `profiles` come from."""
        if not profiles:
            return "prices: none needed"
        if self.origin == "built-in" and not any(profile.pricing_from for profile in profiles):
            reason = f" ({self.why})" if self.why else ""
            return f"prices: the built-in table of the model profiles{reason}"
        by_source: dict[str, list[str]] = {}
        for profile in profiles:
            by_source.setdefault(self.source_of(profile), []).append(profile.model)
        if len(by_source) == 1:
            return f"prices: {next(iter(by_source))}"
        return "prices: " + "; ".join(f"{', '.join(names)}: {source}" for source, names in by_source.items())

    def to_dict(self) -> dict[str, Any]:
        return {"origin": self.origin, "where": self.where or None, "fetched_at": self.fetched_at, "why": self.why or None}


BUILT_IN = PriceList("built-in")


def catalogue_prices(entries: object) -> dict[str, Mapping[str, Any]]:
    """Each model's `pricing` block in a catalogue answer's `data`, by its id and by each of its
    aliases (a model may be published under a new id while the old name lives on as an alias)."""
    found: dict[str, Mapping[str, Any]] = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("pricing"), dict):
            continue
        aliases = entry.get("aliases")
        for name in [entry.get("id"), *(aliases if isinstance(aliases, list) else [])]:
            if isinstance(name, str) and name:
                found.setdefault(name, entry["pricing"])
    return found


def price_of(block: Mapping[str, Any], setting: Callable[[str], Any]) -> float | None:
    """The price of one request under `block` (a catalogue `pricing` block), or None when the block
    quotes none for it (`variable`, no variant matching the request, a unit it cannot count)."""
    kind = block.get("kind")
    if kind == "fixed":
        units = block.get("units")
        rates = [rate for rate in units if isinstance(rate, dict)] if isinstance(units, list) else []
        priced = [_cost(rate, setting) for rate in rates]
        return None if not priced or any(cost is None for cost in priced) else _rounded(sum(priced))  # type: ignore[arg-type]
    if kind == "variants":
        dimensions = [name for name in block.get("dimensions") or [] if isinstance(name, str)]
        variants = block.get("variants")
        for variant in variants if isinstance(variants, list) else []:
            when = variant.get("when") if isinstance(variant, dict) else None
            # a dimension a variant does not name is one it does not depend on
            if isinstance(when, dict) and all(name not in when or _same(when[name], setting(name)) for name in dimensions):
                cost = _cost(variant, setting)
                return None if cost is None else _rounded(cost)
    return None


def _cost(rate: Mapping[str, Any], setting: Callable[[str], Any]) -> float | None:
    """`price / per` for each `unit` the request uses."""
    price, per, unit = rate.get("price"), rate.get("per", 1), str(rate.get("unit", "")).lower()
    if not isinstance(price, (int, float)) or not isinstance(per, (int, float)) or not (_number(price) and _number(per)):
        return None
    if per <= 0 or price < 0:
        return None
    if unit in SECOND_UNITS:
        duration = setting("duration")
        try:
            count = float(duration)
        except (TypeError, ValueError):
            return None
    elif unit in ONE_PER_REQUEST:
        count = 1.0
    else:  # tokens, characters, megapixels...: not what a video request is counted in
        return None
    return price / per * count


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _same(quoted: object, used: object) -> bool:
    """Whether a variant's `when` value is the request's: `5` and `"5"`, `"720p"` and `"720P"` are one."""
    if quoted is None or used is None:
        return False
    if _number(quoted) or _number(used):
        try:
            return float(quoted) == float(used)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False
    return str(quoted).strip().lower() == str(used).strip().lower()


def _rounded(usd: float) -> float:
    return round(usd, 6)


def _when(stamp: float | None) -> str:
    return "at an unknown time" if stamp is None else time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(stamp))


def differs(estimated: float | None, charged: float | None, tolerance: float = 0.01) -> bool:
    """Whether what was charged differs from the estimate by more than `tolerance` (1 %) of the estimate."""
    if estimated is None or charged is None:
        return False
    return abs(charged - estimated) > tolerance * max(estimated, 1e-9) + 1e-9
