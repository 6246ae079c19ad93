"""What a render reports while it works: one `Event` per step, for progress displays."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    """Something the user may want to see while rendering."""

    shot: str | None  # None for film-wide events
    # cached | resuming | downloading | following | waiting | generating | submitted | done | failed | skipped
    # | assembling | segment (of the film's picture, reused or encoded) | film | current | note
    state: str
    message: str = ""
    usd: float | None = None  # what this shot's generation cost
    total_usd: float | None = None  # spent by this render so far
    attempt: int | None = None  # creates sent for this request, this one included
    generation: str | None = None
