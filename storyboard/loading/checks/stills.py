"""Each shot's `still:`: an image model that has a profile, a pick among its takes, no other first
frame, and an image request its model accepts; warnings for reference images left out."""
from __future__ import annotations

import jsonschema

from ...errors import Problem
from ...model import Storyboard


def check_stills(storyboard: Storyboard) -> list[Problem]:
    """What is wrong with the shots' stills, each at its line (after templating: the request is checked)."""
    from ..still_request import still_body

    document = storyboard.document
    problems: list[Problem] = []
    for shot in storyboard.shots:
        still = shot.still
        if still is None:
            continue
        raw = document.data["shots"][shot.index]
        if "first_frame" in raw or "first_frame_image" in raw:
            other = "first_frame" if "first_frame" in raw else "first_frame_image"
            problems.append(document.problem(still.where, f"shot {shot.id!r}: a still becomes the shot's first frame, and "
                                             f"the shot already has `{other}`; keep one of them", key=True))
        profile = storyboard.profiles.get(still.model)
        if profile is None:
            known = ", ".join(sorted(model for model, found in storyboard.profiles.items() if found.usd_per_image is not None))
            problems.append(document.problem(still.origins.get("model", still.where),
                                             f"shot {shot.id!r}: no model profile for the still's model {still.model!r} "
                                             f"(image models known: {known or 'none'})"))
            continue
        if still.take is not None and still.take > still.takes:
            problems.append(document.problem(still.origins.get("take", still.where),
                                             f"shot {shot.id!r}: still take {still.take} is picked but the still has "
                                             f"{still.takes} take{'' if still.takes == 1 else 's'}"))
        if not shot.prompt or (still.prompt_template is not None and not still.prompt):
            continue  # its template failed: reported by templating
        body = still_body(storyboard, shot, still.seed)
        body.pop("model")
        for error in jsonschema.Draft202012Validator(profile.request_schema()).iter_errors(body):
            field = str(error.absolute_path[0]) if error.absolute_path else "prompt"
            where = still.origins.get("size" if field == "image_size" else field,
                                      (*still.where, "prompt") if still.prompt_template is not None and field == "prompt"
                                      else shot.origins["prompt"] if field == "prompt" else still.where)
            problems.append(document.problem(where, f"shot {shot.id!r}: still: {field}: {error.message} ({still.model})"))
    return problems


def still_warnings(storyboard: Storyboard) -> list[Problem]:
    """A still takes at most 3 reference images: those left out are named (the video still gets them)."""
    from ..still_request import MAX_REFERENCES, still_references

    warnings = []
    for shot in storyboard.shots:
        if shot.still is None:
            continue
        left_out = still_references(shot).left_out
        if left_out:
            names = ", ".join(repr(ref.source) for ref in left_out)
            warnings.append(storyboard.document.problem(
                shot.still.where,
                f"warning: shot {shot.id!r}: its still takes at most {MAX_REFERENCES} reference images; left out: {names} "
                "(the video still gets them)"))
    return warnings
