"""What a render reports while it works: one `Event` per step, for progress displays."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# What an event says. A shot's: first `queued` (every take of the render, in film order, before any
# work; its message says what it waits for), then `cached` (its clip was there), or, while its clip is brought or made,
# `resuming`, `downloading`, `following`, `waiting`, `generating` then `submitted` (the create answered),
# ending `done`; `failed` or `skipped` end it at any point. The film's (shot None): `assembling`, `segment`
# (of the film's picture, reused or encoded), ending `film`, or `current` alone (it was up to date).
# `note`, for either, at any time.
EventState = Literal["queued", "cached", "resuming", "downloading", "following", "waiting", "generating", "submitted",
                     "done", "failed", "skipped", "assembling", "segment", "film", "current", "note"]


@dataclass(frozen=True)
class Event:
    """Something the user may want to see while rendering."""

    shot: str | None  # None for film-wide events
    state: EventState
    message: str = ""
    usd: float | None = None  # what this shot's generation cost
    # Spent by this render so far, as every budget counts it: creates whose answer never came included,
    # at their estimate (they may be billed), of which `unknown_usd`.
    total_usd: float | None = None
    attempt: int | None = None  # creates sent for this request, this one included
    generation: str | None = None
    unknown_usd: float | None = None  # of total_usd, the estimates of creates of unknown outcome
