"""The plan of several variants of one file: each variant's own plan, and the requests they share.

A request is its content hash, so a shot that does not depend on the variant is one request
whichever variants use it: generated once, paid once. Pure: sends nothing, reads nothing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .plans import Plan, ShotPlan


@dataclass(frozen=True)
class VariantsPlan:
    plans: list[Plan]  # one per variant, in the file's order

    @property
    def names(self) -> list[str]:
        return [_name(the_plan) for the_plan in self.plans]

    @property
    def users(self) -> dict[str, list[str]]:
        """Each generated request's hash -> the variants whose film uses it (or that make it as another take)."""
        found: dict[str, list[str]] = {}
        for the_plan in self.plans:
            for item in the_plan.requests:
                if item.footage is None and _name(the_plan) not in found.setdefault(item.hash, []):
                    found[item.hash].append(_name(the_plan))
        return found

    @property
    def distinct(self) -> list[ShotPlan]:
        """Every generated request once (the first variant's take of it), in the variants' order."""
        seen: dict[str, ShotPlan] = {}
        for the_plan in self.plans:
            for item in the_plan.requests:
                if item.footage is None:
                    seen.setdefault(item.hash, item)
        return list(seen.values())

    @property
    def estimated_usd(self) -> float:
        """What every distinct request costs on the real service (each once)."""
        return _sum(item.estimated_usd for item in self.distinct)

    @property
    def alone_usd(self) -> float:
        """What rendering each variant alone, sharing nothing, would cost."""
        return _sum(item.estimated_usd for the_plan in self.plans for item in the_plan.requests if item.footage is None)

    @property
    def alone_requests(self) -> int:
        return sum(1 for the_plan in self.plans for item in the_plan.requests if item.footage is None)

    @property
    def missing(self) -> list[ShotPlan]:
        """The distinct requests a render would still have to make."""
        return [item for item in self.distinct if item.to_pay]

    @property
    def missing_usd(self) -> float:
        return _sum(item.estimated_usd for item in self.missing)

    def to_dict(self) -> dict[str, Any]:
        users = self.users
        return {
            "variants": [{"name": _name(the_plan), "values": the_plan.storyboard.variant.values
                          if the_plan.storyboard.variant else {},
                          "film": str(the_plan.storyboard.output.path), "estimated_usd": _rounded(the_plan.estimated_usd),
                          "requests": len([item for item in the_plan.requests if item.footage is None]),
                          "plan": the_plan.to_dict()} for the_plan in self.plans],
            "distinct_requests": len(self.distinct),
            "requests_alone": self.alone_requests,
            "estimated_usd": _rounded(self.estimated_usd),
            "alone_usd": _rounded(self.alone_usd),
            "saved_usd": _rounded(self.alone_usd - self.estimated_usd),
            "missing_requests": len(self.missing),
            "missing_usd": _rounded(self.missing_usd),
            "shared": [{"hash": item.hash, "shot": item.key, "variants": users[item.hash]}
                       for item in self.distinct if len(users[item.hash]) > 1],
        }


def _name(the_plan: Plan) -> str:
    variant = the_plan.storyboard.variant
    return variant.name if variant else the_plan.storyboard.file.name


def _sum(amounts: Any) -> float:
    values = list(amounts)
    return math.inf if any(amount is None for amount in values) else float(sum(values))


def _rounded(amount: float) -> float | None:
    return None if math.isinf(amount) else round(amount, 4)
