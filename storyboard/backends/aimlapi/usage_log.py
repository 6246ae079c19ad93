"""A lost create looked up in the service's usage log (`GET /v2/logs`) by its `X-Client-Request-Id`.

The log lists one row per request, newest first, each with the `client_request_id` the request
carried and its `inference_id` (the generation id). Its rows come from an analytics pipeline, so
a request may show up minutes late. The look-up:

- asks for the lost create's model over a short window around its claim (`start`/`end`), page by
  page (`limit` 100, `offset`, `pagination.has_more`);
- waits and asks again while the row is missing, backing off, until `LogPolicy.lag_bound` seconds
  after the create settled (nothing of it could still be on its way);
- honours 429 (over 200 requests a minute): waits `Retry-After`, else backs off;
- says `created` (follow the generation: nothing paid again), `failed` (it reached the service and
  failed: billed nothing), `absent` (the bound passed without its row, while the log lists the other
  creates this project made about then: it never arrived) or `unknown` (the log cannot answer:
  unreachable, refused, rate limited throughout, or lagging more than the bound: a create this
  project knows was made about then is not listed yet either).
"""
from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import httpx

from ...errors import StoryboardError, UsageError
from ..base import LostCreate, Traced
from .wire import Answer, Stalled, clean, describe

# Seconds the usage log is waited for a lost create's row (LogPolicy.lag_bound), when set.
LAG_VARIABLE = "STORYBOARD_LOG_LAG"
PAGE = 100  # the most rows a page may hold
WINDOW = 600.0  # seconds before the claim (and after now) the window reaches: the service's clock may differ
LONGEST_WINDOW = 91 * 86400.0  # the log answers for at most 92 days


@dataclass(frozen=True)
class LogPolicy:
    """How long and how often the usage log is asked about one lost create."""

    lag_bound: float = 180.0  # seconds after the create settled that a missing row is waited for
    first_wait: float = 2.0  # before asking again, doubling up to `longest_wait`
    longest_wait: float = 30.0
    rate_limited: float = 15.0  # wait after a 429 without Retry-After (the limit is per minute)
    tries: int = 6  # 429s, 5xx or failed connections in a row before the log counts as unable to answer
    pages: int = 50  # of 100 rows: beyond that the window is too crowded to search
    scale: float = 1.0  # every wait times this (STORYBOARD_RETRY_SCALE), the bound included

    def scaled(self, factor: float) -> LogPolicy:
        return replace(self, scale=self.scale * factor)

    def from_environment(self, environ: Mapping[str, str]) -> LogPolicy:
        """This policy with LAG_VARIABLE's bound (seconds, unscaled), when it is set."""
        text = environ.get(LAG_VARIABLE, "").strip()
        if not text:
            return self
        try:
            bound = float(text)
        except ValueError:
            bound = math.nan
        if not (math.isfinite(bound) and bound >= 0):
            raise UsageError(f"{LAG_VARIABLE}={text!r} must be a number of seconds (how long the service's usage "
                             "log is waited for a lost create's row), or unset")
        return replace(self, lag_bound=bound / self.scale)


Fetch = Callable[[dict[str, Any]], Awaitable[Answer]]  # one GET /v2/logs with these query parameters


class Unanswerable(StoryboardError):
    """The log cannot answer (the reason, said for a person)."""


@dataclass
class Page:
    rows: list[dict[str, Any]]
    has_more: bool


class UsageLog:
    def __init__(self, fetch: Fetch, policy: LogPolicy, *, sleep: Callable[[float], Awaitable[None]],
                 now: Callable[[], float]):
        self._fetch = fetch
        self.policy = policy
        self._sleep = sleep
        self._now = now
        self.requests = 0

    async def trace(self, lost: LostCreate, report: Callable[[str], None] | None = None) -> Traced:
        policy = self.policy
        bound = policy.lag_bound * policy.scale
        deadline = lost.settled_at + bound
        if self._now() - lost.claimed_at > LONGEST_WINDOW:
            return Traced("unknown", "it was sent too long ago for the service's usage log to list it")
        wait = policy.first_wait
        said = False
        while True:
            try:
                found, listed = await self._search(lost)
            except Unanswerable as reason:
                return Traced("unknown", f"the service's usage log cannot answer ({reason})")
            if found is not None:
                return _verdict(found)
            if self._now() >= deadline and lost.model:  # before saying absent: the model's name may be listed otherwise
                try:
                    found, listed = await self._search(replace(lost, model=None))
                except Unanswerable as reason:
                    return Traced("unknown", f"the service's usage log cannot answer ({reason})")
                if found is not None:
                    return _verdict(found)
            if self._now() >= deadline:
                missing = [generation for generation in lost.known if generation not in listed]
                if missing:
                    return Traced("unknown", f"the service's usage log has no row for it {bound:.0f} s after it was "
                                             f"sent, but it does not list {len(missing)} other create(s) of this "
                                             "project made about then either: it lags more than that")
                return Traced("absent", f"the service's usage log has no row for it {bound:.0f} s after it was sent"
                                        + (", and lists the other creates of this project made about then"
                                           if lost.known else ""))
            if not said and report is not None:
                said = True
                report(f"its create's answer was lost; looking for request {lost.client_request_id} in the service's "
                       f"usage log, which may lag (for up to {bound:.0f} s)")
            await self._sleep(max(0.0, min(wait * policy.scale, deadline - self._now())))
            wait = min(policy.longest_wait, wait * 2)

    async def _search(self, lost: LostCreate) -> tuple[dict[str, Any] | None, set[str]]:
        """The lost create's row, if listed; and the inference ids of every row in the window."""
        now = self._now()
        query: dict[str, Any] = {"start": _iso(lost.claimed_at - WINDOW), "end": _iso(now + WINDOW), "limit": PAGE}
        if lost.model:
            query["model"] = lost.model
        listed: set[str] = set()
        matches: list[dict[str, Any]] = []
        offset = 0
        for _ in range(self.policy.pages):
            page = await self._page({**query, "offset": offset})
            for row in page.rows:
                if row.get("client_request_id") == lost.client_request_id:  # null is never a match
                    matches.append(row)
                if isinstance(row.get("inference_id"), str):
                    listed.add(row["inference_id"])
            if not page.has_more or not page.rows:
                break
            offset += len(page.rows)
        else:
            if not matches:
                raise Unanswerable(f"more than {self.policy.pages * PAGE} requests in the window around the claim")
        succeeded = [row for row in matches if row.get("status") != "failed"]
        return ((succeeded or matches)[0] if matches else None), listed

    async def _page(self, query: dict[str, Any]) -> Page:
        troubles = 0
        while True:
            self.requests += 1
            try:
                answer = await self._fetch(query)
            except (httpx.HTTPError, Stalled) as error:
                problem, retry_after = f"cannot reach it: {describe(error)}", None
            else:
                if answer.status == 200:
                    return _page(answer)
                if answer.status != 429 and answer.status < 500:  # 400, 401, 403, 404: asking again will not help
                    raise Unanswerable(f"HTTP {answer.status}: {answer.message()}")
                problem = f"HTTP {answer.status}: {answer.message()}"
                retry_after = answer.retry_after()
                if answer.status == 429 and retry_after is None:
                    retry_after = self.policy.rate_limited
            troubles += 1
            if troubles >= self.policy.tries:
                raise Unanswerable(problem)
            backoff = min(self.policy.longest_wait, self.policy.first_wait * 2**troubles) * random.uniform(0.5, 1.0)
            await self._sleep(max(retry_after or 0.0, backoff) * self.policy.scale)


def _page(answer: Answer) -> Page:
    data = answer.json_object()
    rows = data.get("data") if data else None
    pagination = data.get("pagination") if data else None
    if not isinstance(rows, list) or not isinstance(pagination, dict):
        raise Unanswerable(f"its answer is {answer.what_is_wrong() if data is None else 'not a page of rows'}")
    return Page([row for row in rows if isinstance(row, dict)], pagination.get("has_more") is True)


def _verdict(row: dict[str, Any]) -> Traced:
    generation_id = row.get("inference_id")
    if row.get("status") == "failed":
        return Traced("failed", "the service's usage log says it failed (a failed request is billed nothing)")
    if not isinstance(generation_id, str) or not generation_id.strip() or clean(generation_id, 200) != generation_id:
        return Traced("unknown", "the service's usage log lists it without a usable inference id")
    cost = row.get("cost")
    usd = cost.get("usd") if isinstance(cost, dict) else None
    known = float(usd) if isinstance(usd, (int, float)) and not isinstance(usd, bool) and math.isfinite(usd) \
        and usd >= 0 else None
    return Traced("created", "found in the service's usage log", generation_id, known)


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(max(0.0, seconds), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
