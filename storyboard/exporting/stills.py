"""The approved stills travel with the cut: each shot's picked still (the exact first frame of its
clip) is named in its clip's metadata and marked on the clip's first visible frame, and collected
beside the clips (`NN-shot-still.png`) when the cut collects its media."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import opentimelineio as otio

from ..files import atomic_link_or_copy
from ..project.store import ClipStore

if TYPE_CHECKING:
    from ..planning.plans import Plan, ShotPlan

STILL_MARKER_COLOR = otio.schema.MarkerColor.GREEN


def approved_stills(the_plan: Plan, backend: str) -> dict[str, Path]:
    """Shot id -> the file of its picked still, for the shots that have one drawn."""
    store = ClipStore(the_plan.storyboard.root)
    found = {}
    for item in the_plan.shots:
        if item.first_still is not None:
            path = store.clip_path(backend, item.first_still, still=True)
            if path.is_file():
                found[item.id] = path
    return found


def collect_stills(shots: list[ShotPlan], stills: dict[str, Path], folder: Path, clip_names: list[str]) -> dict[str, Path]:
    """Each approved still (`stills`, by shot id) beside its clip in the media folder, named after the
    clip; shot id -> file."""
    collected = {}
    for item, clip in zip(shots, clip_names, strict=True):
        source = stills.get(item.id)
        if source is None:
            continue
        target = folder / f"{Path(clip).stem}-still.png"
        atomic_link_or_copy(source, target)
        collected[item.id] = target
    return collected


def still_metadata(the_plan: Plan, item: ShotPlan, url: str) -> dict[str, Any]:
    """What the clip's metadata says of its approved still."""
    still = item.shot.still
    drawn = next(take for take in the_plan.still_takes(item.id) if take.hash == item.first_still)
    return {"take": still.picked if still else None, "takes": still.takes if still else None, "request": drawn.hash,
            "url": url, "prompt": drawn.body.get("prompt"), "seed": drawn.body.get("seed"), "model": drawn.body.get("model")}


def still_marker(about: dict[str, Any], at: otio.opentime.RationalTime) -> otio.schema.Marker:
    """A one-frame marker on the clip's first visible frame: the approved still it opens on."""
    take = f" (take {about['take']} of {about['takes']})" if about.get("takes", 1) and about["takes"] > 1 else ""
    return otio.schema.Marker(name="still", comment=f"opens on the approved still{take}: {about['url']}",
                              color=STILL_MARKER_COLOR,
                              marked_range=otio.opentime.TimeRange(at, otio.opentime.RationalTime(1, at.rate)),
                              metadata={"storyboard": {"still": about}})
