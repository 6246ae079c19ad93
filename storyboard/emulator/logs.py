"""The emulated usage log, `GET /v2/logs`, and the correlation headers every inference answer carries.

As the provider documents it: one row per request (failed ones too, at zero cost), newest first;
`period` (`24h`, `7d`) or `start` + `end` (ISO-8601, UTC unless an offset is given), never both,
at most 92 days; `model` and `status` repeatable (OR), never split on commas; `limit` 1-100
(default 50) and `offset`; `pagination.{limit, offset, total, has_more}`; 429 above 200 requests
in 60 seconds. `X-Client-Request-Id` is kept when it is 1-128 characters of `A-Z a-z 0-9 . _ : -`
and silently dropped otherwise (`client_request_id` null).

Rows reach the log `lag` seconds after their request (an analytics pipeline); `outage` makes the
log answer that HTTP status instead (a log that cannot answer); `rate_limit` and `rate_window`
(200 in 60 s) the 429. All are plain attributes a test may set on `Service.usage`.
"""
from __future__ import annotations

import datetime as dt
import math
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

from .validation import Refusal

CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
PERIOD = re.compile(r"([1-9][0-9]*)([hd])")
LONGEST_WINDOW = dt.timedelta(days=92)
RATE_LIMIT, RATE_WINDOW = 200, 60.0
STATUSES = ("succeeded", "failed")


def client_request_id(header: str | None) -> str | None:
    """The header's value as the service keeps it: None when absent or outside the documented alphabet."""
    return header if header is not None and CLIENT_REQUEST_ID.fullmatch(header) else None


def correlation_headers(inference_id: str | None, client_id: str | None) -> dict[str, str]:
    headers = {"x-inference-id": inference_id} if inference_id else {}
    if client_id:
        headers["x-client-request-id"] = client_id
    return headers


@dataclass(frozen=True)
class Row:
    account: str
    created: dt.datetime
    visible_at: float  # time.monotonic() from which the pipeline has delivered it
    status: str
    model: str
    usd: float
    inference_id: str
    client_request_id: str | None
    request_id: str

    def public(self) -> dict[str, Any]:
        credits = round(self.usd * 2_000_000)
        return {
            "created": self.created.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", "status": self.status,
            "origin": "api", "model": self.model, "cost": {"usd": self.usd, "credits": credits},
            "tokens": {"input": 0, "output": 0, "total": 0}, "request_id": self.request_id,
            "inference_id": self.inference_id, "client_request_id": self.client_request_id,
        }


class UsageLog:
    def __init__(self, lag: float = 0.0):
        self.lag = lag
        self.outage: int | None = None  # answer this status instead of the log
        self.rate_limit, self.rate_window = RATE_LIMIT, RATE_WINDOW  # requests per seconds, per key
        self.requests = 0  # GET /v2/logs answered, 429s included
        self.rate_limited = 0
        self._rows: list[Row] = []
        self._asked: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def record(self, account: str, *, status: str, model: str, usd: float, inference_id: str,
               client_id: str | None) -> None:
        row = Row(account, dt.datetime.now(dt.timezone.utc), time.monotonic() + self.lag, status, model,
                  usd if status == "succeeded" else 0.0, inference_id, client_id, f"req-{uuid.uuid4().hex[:16]}")
        with self._lock:
            self._rows.append(row)

    def rows(self) -> list[dict[str, Any]]:
        """Every row recorded, delivered or not (for tests), oldest first."""
        with self._lock:
            return [row.public() for row in self._rows]

    def answer(self, account: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any], dict[str, str]]:
        """(status, body, headers) of `GET /v2/logs?query` for `account`; raises Refusal for 400s."""
        with self._lock:
            self.requests += 1
            asked = self._asked.setdefault(account, deque())
            now = time.monotonic()
            while asked and asked[0] <= now - self.rate_window:
                asked.popleft()
            if len(asked) >= self.rate_limit:
                self.rate_limited += 1
                retry = max(1, math.ceil(asked[0] + self.rate_window - now))
                raise Refusal(429, "Too Many Requests", headers={"Retry-After": str(retry)})
            asked.append(now)
        if self.outage is not None:
            raise Refusal(self.outage, "the usage log is unavailable (emulated outage)")
        start, end = _window(query)
        models = query.get("model", [])
        if len(models) > 50:
            raise Refusal(400, "model: at most 50 values")
        statuses = query.get("status", [])
        if any(status not in STATUSES for status in statuses):
            raise Refusal(400, "status: must be succeeded or failed (repeat the parameter for both)", "status")
        limit = _integer(query, "limit", 50, 1, 100)
        offset = _integer(query, "offset", 0, 0, None)
        prefix = _first(query, "key_prefix")
        if prefix is not None and not account.startswith(prefix):
            raise Refusal(403, "a regular key cannot list the requests of another key")
        with self._lock:
            matching = [row for row in self._rows if row.account == account and row.visible_at <= now
                        and start <= row.created <= end
                        and (not models or any(row.model == m or row.model.split("/", 1)[-1] == m for m in models))
                        and (not statuses or row.status in statuses)]
        matching.sort(key=lambda row: row.created, reverse=True)
        page = matching[offset:offset + limit]
        body = {"data": [row.public() for row in page],
                "pagination": {"limit": limit, "offset": offset, "total": len(matching),
                               "has_more": offset + len(page) < len(matching)}}
        return 200, body, {}


def _window(query: dict[str, list[str]]) -> tuple[dt.datetime, dt.datetime]:
    period, start, end = (_first(query, name) for name in ("period", "start", "end"))
    now = dt.datetime.now(dt.timezone.utc)
    if period is not None and (start is not None or end is not None):
        raise Refusal(400, "pass either period or both start and end, not both")
    if period is not None:
        found = PERIOD.fullmatch(period)
        if not found:
            raise Refusal(400, f"period: {period!r} is not a period such as 24h or 7d", "period")
        span = dt.timedelta(hours=int(found[1])) if found[2] == "h" else dt.timedelta(days=int(found[1]))
        if span > LONGEST_WINDOW:
            raise Refusal(400, "the window cannot exceed 92 days", "period")
        return now - span, now
    if start is None or end is None:
        raise Refusal(400, "pass either period or both start and end")
    first, last = _moment(start, "start"), _moment(end, "end")
    if last < first:
        raise Refusal(400, "end is earlier than start", "end")
    if last - first > LONGEST_WINDOW:
        raise Refusal(400, "the window cannot exceed 92 days")
    return first, last


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _moment(text: str, name: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Refusal(400, f"{name}: {text!r} is not an ISO-8601 date", name) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def _integer(query: dict[str, list[str]], name: str, default: int, least: int, most: int | None) -> int:
    text = _first(query, name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise Refusal(400, f"{name}: {text!r} is not an integer", name) from None
    if value < least or (most is not None and value > most):
        raise Refusal(400, f"{name}: must be from {least}" + (f" to {most}" if most is not None else ""), name)
    return value


def error_body(status: int, message: str, path: str) -> dict[str, Any]:
    """The documented shape of an HTTP error: {message, path, requestId, statusCode, timestamp}."""
    return {"message": message, "path": path, "requestId": str(uuid.uuid4()), "statusCode": status,
            "timestamp": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"}


def model_of(body: Any) -> str:
    """The model a create's body names, as its row in the log says it."""
    return str(body.get("model")) if isinstance(body, dict) else "unknown"
