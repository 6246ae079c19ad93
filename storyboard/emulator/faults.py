"""The faults the emulator can inject, and the seeded draws that decide when.

Faults (`faults="429=0.1,drop=0.05,…"`, each a probability from 0 to 1) and the requests
they apply to; the others are never disturbed:

- `slow`: any of the three answers only after SLOW_SECONDS (combines with the others).
- `drop`: create, poll, download: the connection closes without an answer (a create that
  drops has created nothing).
- `429`: create, poll: 429 with `Retry-After: 1` (a create that gets it created nothing).
- `500`: create, poll: 500 with a JSON error (a create that gets it created nothing).
- `fail`: create: accepted and billed, but it ends `failed` when it would have completed.
- `expired`: download: 403 with an S3-style XML "Request has expired" body.
- `html`: download: 200 with `text/html`, an error page instead of the video.
- `truncate`: download: the full Content-Length, half the body, then the connection closes.

Faults are drawn after authentication and before the body is validated or the generation
looked up; when several hit one request, the first in the order above wins. Each draw comes
from `random.Random` seeded with (seed, request kind, subject, attempt number), the subject
being the canonical request body (create) or the generation's body and creation number
(poll, download): the same client behaviour meets the same faults on every run with the same
seed, however its concurrent requests interleave.
"""
from __future__ import annotations

import json
import random
import threading
from typing import Any

from ..errors import UsageError

FAULTS = ("slow", "drop", "429", "500", "fail", "expired", "html", "truncate")
FAULTS_BY_REQUEST = {
    "create": ("slow", "drop", "429", "500", "fail"),
    "poll": ("slow", "drop", "429", "500"),
    "download": ("slow", "drop", "expired", "html", "truncate"),
}
SLOW_SECONDS = 2.0  # read at each `slow` answer, so tests may shorten it


def parse_faults(spec: str) -> dict[str, float]:
    """`"429=0.1,drop"` → `{"429": 0.1, "drop": 1.0}`; unknown names or bad numbers raise UsageError."""
    faults: dict[str, float] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        name, equals, value = (text.strip() for text in item.partition("="))
        if name not in FAULTS:
            raise UsageError(f"unknown fault {name!r} (known: {', '.join(FAULTS)})")
        try:
            probability = float(value) if equals else 1.0
        except ValueError:
            raise UsageError(f"fault {name!r}: {value!r} is not a probability") from None
        if not 0.0 <= probability <= 1.0:
            raise UsageError(f"fault {name!r}: probability {value} is not between 0 and 1")
        faults[name] = probability
    return faults


def canonical_json(value: Any) -> bytes:
    """The same bytes for the same JSON value, whatever its key order or spacing."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class FaultDraws:
    """Seeded fault draws per (request kind, subject, attempt), and the count of faults injected."""

    def __init__(self, seed: int, probabilities: dict[str, float]):
        self.seed = seed
        self._probabilities = dict(probabilities)
        self._attempts: dict[tuple[str, str], int] = {}
        self._injected = {name: 0 for name in FAULTS}
        self._lock = threading.Lock()

    def set_probabilities(self, probabilities: dict[str, float]) -> None:
        """New odds from now on; attempt counts carry on."""
        with self._lock:
            self._probabilities = dict(probabilities)

    def draw(self, request: str, subject: str) -> set[str]:
        """The faults that hit this attempt of `request` ("create", "poll" or "download") on `subject`."""
        with self._lock:
            attempt = self._attempts.get((request, subject), 0)
            self._attempts[(request, subject)] = attempt + 1
            probabilities = dict(self._probabilities)
        draws = random.Random(f"{self.seed}:{request}:{subject}:{attempt}")
        # One draw per known fault, always: each fault's outcome is independent of the others' odds.
        hits = {name for name in FAULTS if draws.random() < probabilities.get(name, 0.0)}
        return hits & set(FAULTS_BY_REQUEST[request])

    def record(self, fault: str) -> None:
        """Count a fault that was actually applied to an answer."""
        with self._lock:
            self._injected[fault] += 1

    def injected(self) -> dict[str, int]:
        """The faults applied so far, by name; those never applied are left out."""
        with self._lock:
            return {name: count for name, count in self._injected.items() if count}
