"""Each shot's request against its model profile: fields, enums, ranges, counts."""
from __future__ import annotations

import jsonschema

from ...errors import Problem
from ...model import Shot, Storyboard, request_body
from ..yaml_source import Document
from .origin import origin_limit_problems
from .sound import check_sound
from .timing import check_frame_time, check_transitions


def check_requests(storyboard: Storyboard) -> list[Problem]:
    """Each shot's resolved request against its model profile: fields, enums, ranges, counts."""
    problems: list[Problem] = []
    validators: dict[str, jsonschema.Draft202012Validator] = {}
    by_id: dict[str, Shot] = {}
    for shot in storyboard.shots:
        by_id.setdefault(shot.id, shot)
    for shot in storyboard.shots:
        profile = storyboard.profiles.get(shot.model)
        if profile is None or shot.clip is not None:
            continue
        if profile.model not in validators:
            validators[profile.model] = jsonschema.Draft202012Validator(profile.request_schema())
        body = request_body(shot, storyboard.root)
        body.pop("model")
        expanded = bool(shot.prompt)
        if not expanded:  # its template failed (reported); check the rest of the request anyway
            body["prompt"] = shot.prompt_template
        for error in validators[profile.model].iter_errors(body):
            field = str(error.absolute_path[0]) if error.absolute_path else ""
            if not expanded and field in ("prompt", "image_urls", "video_urls"):
                continue
            problems += _request_problems(storyboard.document, shot, error)
        problems += check_frame_time(storyboard, shot, by_id)
    problems += check_transitions(storyboard)
    problems += origin_limit_problems(storyboard, enforced=True)
    problems += check_sound(storyboard)
    return problems


def _request_problems(document: Document, shot: Shot, error: jsonschema.ValidationError) -> list[Problem]:
    if error.validator == "additionalProperties":
        allowed = error.schema.get("properties", {})
        return [
            document.problem(
                shot.origins.get(field, shot.where),
                f"model {shot.model} does not accept the field {field!r} (it takes: {', '.join(allowed)})",
                key=True,
            )
            for field in error.instance
            if field not in allowed
        ]
    return [_request_problem(document, shot, error)]


def _request_problem(document: Document, shot: Shot, error: jsonschema.ValidationError) -> Problem:
    model = shot.model
    field = str(error.absolute_path[0]) if error.absolute_path else "prompt"
    where = shot.origins.get(field, shot.origins["prompt"])
    if field in ("image_urls", "video_urls") and error.validator == "maxItems":
        kind = "images" if field == "image_urls" else "videos"
        return document.problem(
            where,
            f"shot {shot.id!r} sends {len(error.instance)} reference {kind} (explicit and from cast mentions); "
            f"{model} takes at most {error.validator_value}",
        )
    if error.validator == "enum":
        choices = ", ".join(repr(choice) for choice in error.validator_value)
        message = f"{field}: {error.instance!r} is not offered by {model} (choose {choices})"
    elif error.validator in ("minimum", "maximum"):
        low, high = error.schema.get("minimum"), error.schema.get("maximum")
        message = f"{field}: {error.instance!r} is out of range for {model} ({low} to {high})"
    elif error.validator == "maxLength":
        message = f"{field} is {len(error.instance)} characters long; {model} takes at most {error.validator_value}"
    else:
        message = f"{field}: {error.message} ({model})"
    if where[0] == "defaults":
        return document.problem(where, message)
    return document.problem(where, f"shot {shot.id!r}: {message}")


def prompt_warnings(storyboard: Storyboard) -> list[Problem]:
    """Expanded prompts longer than their model reads: not an error (the service takes them), but
    the end, where cast mentions often go, may be dropped without a word. And requests passing a
    limit the model's maker documents but the service does not (see `origin`)."""
    warnings = []
    for shot in storyboard.shots:
        profile = storyboard.profiles.get(shot.model)
        limit = profile.prompt_characters if profile else None
        if limit and shot.clip is None and len(shot.prompt) > limit:
            warnings.append(storyboard.document.problem(
                shot.origins["prompt"],
                f"warning: shot {shot.id!r}: the expanded prompt is {len(shot.prompt)} characters and {shot.model} reads "
                f"about {limit}: what comes after \u201c\u2026{shot.prompt[limit - 24:limit]}\u201d may be ignored. "
                "Shorten it, or put what matters (cast mentions) first"))
    return warnings + origin_limit_problems(storyboard, enforced=False)
