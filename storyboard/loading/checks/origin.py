"""Limits a model's maker documents that the service's own schema does not state (`origin_limits`
in a model profile): reference images and videos combined, and the durations allowed once a
reference video is sent. Each is a warning naming where the limit comes from, since the service
may accept more; a profile with `enforce: true` makes them errors."""
from __future__ import annotations

from ...errors import Problem
from ...model import Shot, Storyboard, request_body
from ..profiles import OriginLimits


def origin_limit_problems(storyboard: Storyboard, *, enforced: bool) -> list[Problem]:
    """The shots passing their model's `origin_limits`: those of profiles that enforce them when
    `enforced` (errors), the others' otherwise (warnings, worded as such)."""
    problems = []
    for shot in storyboard.shots:
        profile = storyboard.profiles.get(shot.model)
        limits = profile.origin_limits if profile is not None else None
        if limits is None or shot.clip is not None or limits.enforce != enforced:
            continue
        body = request_body(shot, storyboard.root)
        images, videos = len(body.get("image_urls") or []), len(body.get("video_urls") or [])
        duration = body.get("duration", profile.default("duration") if profile else None)
        for where, passed, limit in _passed(shot, limits, images, videos, duration):
            prefix = "" if enforced else "warning: "
            advice = ("" if enforced else "; the service's own schema allows it and may take it, but the model may "
                      "ignore or refuse it (`origin_limits: {enforce: true}` in the model's profile makes this an error)")
            problems.append(storyboard.document.problem(
                where, f"{prefix}shot {shot.id!r}: {passed}, and {shot.model}'s maker documents {limit} "
                       f"(source: {limits.source}){advice}"))
    return problems


def _passed(shot: Shot, limits: OriginLimits, images: int, videos: int,
            duration: object) -> list[tuple[tuple[str | int, ...], str, str]]:
    """(where in the file, what the shot does, the limit it passes) for each limit passed."""
    found: list[tuple[tuple[str | int, ...], str, str]] = []
    references = shot.origins.get("video_urls") or shot.origins.get("image_urls") or shot.origins["prompt"]
    if limits.references is not None and images + videos > limits.references:
        found.append((references, f"it sends {images} reference image{'' if images == 1 else 's'} and {videos} "
                                  f"reference video{'' if videos == 1 else 's'} ({images + videos} combined)",
                      f"at most {limits.references} reference images and videos combined"))
    low, high = limits.durations_with_video
    if videos and isinstance(duration, (int, float)) and not isinstance(duration, bool) and (
            (low is not None and duration < low) or (high is not None and duration > high)):
        found.append((shot.origins.get("duration", references),
                      f"it is {duration:g} s long with a reference video", _durations(low, high)))
    return found


def _durations(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"{low:g}–{high:g} s when a reference video is present"
    return f"at most {high:g} s when a reference video is present" if high is not None else \
        f"at least {low:g} s when a reference video is present"
