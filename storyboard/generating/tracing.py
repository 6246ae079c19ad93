"""A create whose answer was lost (a dropped connection, a timeout, a 5xx after sending, a render
killed inside the round trip), found in the service's records before anyone is asked to pay again.

The backend looks its client request id up (`Traceable.trace`; the aimlapi backend reads the usage
log). What it finds decides, instead of the user:

- `created`: the generation it names is followed; nothing is created or paid again;
- `failed`: it reached the service and failed, billed nothing: it is created again;
- `absent`: it never reached the service: it is created again (with the same idempotency key);
- `unknown`: the records cannot tell: paying again needs consent (`--resubmit`), as without them.
"""
from __future__ import annotations

import calendar
import time
from collections.abc import Awaitable, Callable

from ..backends import LostCreate, Traceable, Traced
from ..cache.claims import Claim
from ..events import Event
from ..planning.plans import ShotPlan
from .fetching import Run

KNOWN_WINDOW = 600.0  # seconds before the lost create's claim whose other creates the log must already list


async def look_up(run: Run, item: ShotPlan, client_request_id: str | None, claimed_at: float | None) -> Traced:
    """What became of `item`'s create of `client_request_id`, claimed at `claimed_at` (wall clock)."""
    engine = run.engine
    if not isinstance(engine, Traceable):
        return Traced("unknown", f"the {engine.name} backend keeps no records to look the create up in")
    if not client_request_id or claimed_at is None:
        return Traced("unknown", "it was sent without a client request id (by an older version), so the service's "
                                 "records cannot find it")

    def report(message: str) -> None:
        run.emit(Event(item.key, "note", message))

    now = time.time()
    try:  # this project's other creates made about then: the log must list them for its silence to count
        known = tuple(record.generation_id for record in run.state.all(engine.name)
                      if record.generation_id and record.request_hash != item.hash and record.model == item.shot.model
                      and record.claimed_at is not None and claimed_at - KNOWN_WINDOW <= record.claimed_at <= now)
    except Exception:  # noqa: BLE001 - a render state that cannot be read: none known
        known = ()
    lost = LostCreate(client_request_id, item.shot.model, claimed_at, settled_at=now, known=known)
    try:
        return await engine.trace(lost, report)
    except Exception as error:  # noqa: BLE001 - a look-up that breaks knows nothing: consent decides, as before
        return Traced("unknown", f"looking it up failed ({type(error).__name__}: {error})")


def said(traced: Traced) -> str:
    """What a found create means for the user, in a note."""
    if traced.verdict == "created":
        return (f"the create's answer was lost, but the service's usage log names its generation "
                f"{traced.generation_id}: following it (nothing is paid again)")
    if traced.verdict == "failed":
        return f"the create whose answer was lost failed on the service ({traced.reason}): creating it again"
    return f"the create whose answer was lost never reached the service ({traced.reason}): creating it again"


def claim_tracer(run: Run) -> Callable[[ShotPlan, Claim], Awaitable[str | None]]:
    """For the shared cache: the generation the service's records name for another machine's claim that
    has no generation id (its claimant may have died inside the create), or None. The same key sees it."""

    async def trace(item: ShotPlan, claim: Claim) -> str | None:
        try:
            claimed = calendar.timegm(time.strptime(claim.claimed_at or "", "%Y-%m-%dT%H:%M:%SZ"))
        except ValueError:
            return None
        traced = await look_up(run, item, claim.client_request_id, float(claimed))
        if traced.verdict == "created":
            run.emit(Event(item.key, "note", f"the claim of {claim.describe()} has no generation id, but the service's "
                                             f"usage log names generation {traced.generation_id} for its create"))
            return traced.generation_id
        return None

    return trace
