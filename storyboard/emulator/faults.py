"""The faults the emulator can inject, and the seeded draws that decide when.

Faults (`faults="429=0.1,drop=0.05,…"`, each a probability from 0 to 1) and the requests
they apply to; the others are never disturbed:

- `slow`: any of the three answers only after SLOW_SECONDS (combines with the others).
- `drop`: create, poll, download: the connection closes without an answer (a create that
  drops has created nothing).
- `429`: create, poll: 429 with `Retry-After: RETRY_AFTER_SECONDS` (a create that gets it created nothing).
- `500`: create, poll: 500 with a JSON error (a create that gets it created nothing).
- `fail`: create: accepted and billed, but it ends `error` when it would have completed.
- `expired`: download: 403 with an S3-style XML "Request has expired" body.
- `html`: download: 200 with `text/html`, an error page instead of the video.
- `truncate`: download: the full Content-Length, half the body, then the connection closes.

Hostile answers (what a careless or broken service might send; see `hostile` for the knobs):

- `lost`: create: accepted and billed, then the connection closes without an answer.
- `echo_key`: create: 401 whose message echoes the caller's key in lower case; poll of a
  completed generation: the video URL carries the key (lower case) in its query.
- `odd_status`: poll: a status outside the published ones (`hostile.ODD_STATUS`).
- `not_json`: poll: 200 with an HTML page.
- `giant`: poll: 200 with a JSON body of `hostile.GIANT_BYTES`.
- `trickle`: poll, download: the body dripped a byte every `hostile.TRICKLE_SECONDS`.
- `odd_scheme`: poll of a completed generation: `video.url` is `hostile.ODD_URL` (a `file:`
  URL of the clip by default).
- `redirect`: download: 302 to the same file (drawn again, so `redirect=1` loops forever).
- `gzip`: download: the clip sent with `Content-Encoding: gzip`.
- `damaged`: download: a whole answer (its Content-Length right) carrying a clip cut short inside:
  its index says 2 s, its streams stop sooner (`hostile.damaged_clip`).

Faults are drawn after authentication and before the body is validated or the generation
looked up; when several disrupt one request, the first in the order of `FAULTS` wins. Each
draw comes from `random.Random` seeded with (seed, request kind, subject, attempt number),
the subject being the canonical request body (create) or the generation's body and creation
number (poll, download): the same client behaviour meets the same faults on every run with
the same seed, however its concurrent requests interleave.
"""
from __future__ import annotations

import json
import random
import threading
from typing import Any

from ..errors import UsageError

# New faults go at the end: each fault takes one draw in this order, so the faults a seed gave
# before stay the same.
FAULTS = ("slow", "drop", "429", "500", "fail", "expired", "html", "truncate",
          "lost", "echo_key", "odd_status", "not_json", "giant", "trickle", "odd_scheme", "redirect", "gzip", "damaged")
FAULTS_BY_REQUEST = {
    "create": ("slow", "drop", "429", "500", "fail", "lost", "echo_key"),
    "poll": ("slow", "drop", "429", "500", "echo_key", "odd_status", "not_json", "giant", "trickle", "odd_scheme"),
    "download": ("slow", "drop", "expired", "html", "truncate", "trickle", "redirect", "gzip", "damaged"),
}
SLOW_SECONDS = 2.0  # read at each `slow` answer, so tests may shorten it
RETRY_AFTER_SECONDS = 1  # read at each `429` answer, so tests may lengthen it


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
