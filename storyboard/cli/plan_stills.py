"""What `plan` says of stills: their takes in the table, their cost apart from the videos', what
iterating on stills instead of videos saves, and the shots waiting for a pick."""
from __future__ import annotations

from ..backends import on_the_service
from ..planning.plans import Plan, ShotPlan


def still_rows(the_plan: Plan, item: ShotPlan) -> list[list[str]]:
    """The table's rows of `item`'s shot's still takes (# · shot · status · length · est. · notes)."""
    rows = []
    for take in the_plan.still_takes(item.id):
        still = take.shot.still
        notes = "still" if take.takes == 1 else "still, picked: the video's first frame" \
            if still is not None and still.picked == take.take else "still"
        cost = "?" if take.estimated_usd is None else f"${take.estimated_usd:.2f}"
        rows.append(["", take.key, take.status, "image", cost, notes])
    return rows


def still_summary(the_plan: Plan) -> list[str]:
    """The stills' cost on the service apart from the videos', what a round of composition changes
    costs in stills rather than videos, and who waits for a pick."""
    if not the_plan.stills:
        return []
    paid = on_the_service(the_plan)
    to_draw = [item for item in paid.stills if item.to_pay]
    videos = [item for item in paid.requests if item.to_pay]
    lines = [f"stills: {len(to_draw)} take{'' if len(to_draw) == 1 else 's'} to draw, estimated "
             f"${paid.stills_missing_usd:.2f} on the service; videos: estimated ${paid.missing_usd:.2f} "
             f"({len(videos)} to pay)"]
    with_still = [item for item in paid.shots if item.shot.still is not None]
    one_still = sum((paid.still_takes(item.id)[0].estimated_usd or 0) for item in with_still)
    one_video = sum(item.estimated_usd or 0 for item in with_still)
    if one_still and one_video:
        lines.append(f"a round of changes to every shot's composition costs ${one_still:.2f} in stills instead of "
                     f"${one_video:.2f} in videos ({one_video / one_still:.1f}x less): pick the stills "
                     "(`still: {take: K}`), then render the videos once")
    for item in the_plan.shots:
        if item.awaiting_pick and item.shot.still is not None:
            lines.append(f"{item.id!r} waits for a pick of its still ({item.shot.still.takes} takes): add `take: K` "
                         "under its `still:`; no video is paid for it until then")
    return lines
