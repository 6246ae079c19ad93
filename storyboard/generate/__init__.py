"""Stage 5: bring every selected shot's clip into the store — concurrently, durably, within budget.

For each shot, the cheapest way that is still correct, in this order:
1. the clip is in the store and matches its checksum: nothing to do;
2. an earlier render submitted it (render state): follow that generation, do not pay again;
3. the shared cache (`cache:`, paid backends) has it: download it, checksum verified;
4. it was generated before (render state or storyboard.lock): download it again, asking the
   service for a fresh URL if the recorded one expired;
5. otherwise claim it in the shared cache (see cache/claims.py: another machine's generation is
   followed instead of paying twice), then submit a new generation. On a paid backend this needs
   the user's consent (`resubmit`) when an earlier create may have reached the service, or when
   a clip that was paid for can no longer be fetched.
Clips made or downloaded are stored in the shared cache afterwards.

Independent shots run concurrently, at most `jobs` generations at once; a shot whose first
frame comes from another waits for it. After a failure no new generation is submitted
unless `keep_going`, but what is in flight is finished. On Ctrl-C (SIGINT/SIGTERM) nothing
new is submitted, creates already on the wire are allowed to answer so their generation id
is recorded, and everything else stops; the next render resumes from the render state.
"""
from __future__ import annotations

from ..events import Event
from .generator import Generator
from .options import GenerateOptions, Outcome
from .shared import SharedCache, open_shared_cache

__all__ = ["Event", "GenerateOptions", "Generator", "Outcome", "SharedCache", "open_shared_cache"]
