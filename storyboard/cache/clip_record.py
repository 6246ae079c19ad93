"""A clip's record in the shared cache (`clip.json` beside the clip), as read from the bucket."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..model import known_usd
from .claims import record_text

SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class CachedClip:
    """A clip's record in the shared cache."""

    sha256: str
    size: int
    generation: str | None
    usd: float
    video_url: str | None
    stored_by: str

    @classmethod
    def read(cls, record: dict[str, Any] | None) -> CachedClip | None:
        if record is None or not isinstance(record.get("sha256"), str) or not SHA256.match(record["sha256"]):
            return None
        size, usd, by = record.get("size"), record.get("usd"), record.get("stored_by")
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            return None
        who = (f"{record_text(by.get('user')) or 'someone'}@{record_text(by.get('host')) or '?'}" if isinstance(by, dict)
               else "someone")
        return cls(record["sha256"], size, record_text(record.get("generation"), 2000),
                   known_usd(usd) or 0.0,
                   record_text(record.get("video_url"), 2000), who)
