"""What probing a bucket found out (does it honour `If-None-Match: *`?), remembered per bucket in the
project's state folder for a day, so a render does not probe on every run."""
from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

from ..files import atomic_write_bytes

PROBED_FILE = "cache-conditional-writes.json"  # in the state folder: what the probe of each bucket found, and when
PROBE_KEPT = 24 * 3600.0  # seconds a probe's finding is trusted before the bucket is probed again


def remembered(state_dir: Path | None, where: str) -> bool | None:
    """What the last probe of the bucket `where` found, if it is recent; None: probe it."""
    if state_dir is None:
        return None
    try:
        found = json.loads((state_dir / PROBED_FILE).read_text()).get(where)
        honours, when = found["honours"], float(found["probed_at"])
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    if not isinstance(honours, bool) or not 0 <= time.time() - when < PROBE_KEPT:
        return None
    return honours


def remember(state_dir: Path | None, where: str, honours: bool) -> None:
    if state_dir is None:
        return
    path = state_dir / PROBED_FILE
    known: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        loaded = json.loads(path.read_text())
        known = loaded if isinstance(loaded, dict) else {}
    known[where] = {"honours": honours, "probed_at": time.time()}
    with contextlib.suppress(OSError):  # not remembered: probed again next time
        atomic_write_bytes(path, json.dumps(known, indent=1).encode())
