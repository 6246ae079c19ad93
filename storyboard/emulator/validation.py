"""Checking a create request against its model profile, as the service does, and the error
answers (`Refusal`) that name the field at fault."""
from __future__ import annotations

import re
from typing import Any

import jsonschema

from ..errors import StoryboardError
from ..loading.profiles import ModelProfile


class Refusal(StoryboardError):
    """An HTTP error answer for the request being handled."""

    def __init__(self, status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.headers = headers or {}


def refuse_constant(name: str) -> Any:
    """json.loads' hook for NaN and Infinity, which JSON does not have: the body is refused."""
    raise ValueError(f"{name} is not JSON")


def validate_request(profiles: dict[str, ModelProfile], body: Any) -> tuple[ModelProfile, dict[str, Any]]:
    """The profile of the requested model and the request as the service takes it (a numeric
    string `duration` made a number); a body the service would refuse raises a 400 Refusal."""
    if not isinstance(body, dict):
        raise Refusal(400, "the request body must be a JSON object")
    model = body.get("model")
    if model is None:
        raise Refusal(400, "model: this field is required", "model")
    if not isinstance(model, str) or model not in profiles:
        raise Refusal(400, f"model: unknown model {model!r} (known: {', '.join(sorted(profiles))})", "model")
    profile = profiles[model]
    rest = {key: value for key, value in body.items() if key != "model"}
    duration = rest.get("duration")
    if isinstance(duration, str) and re.fullmatch(r"\s*\d+\s*", duration):
        rest["duration"] = int(duration)  # the provider's own sample sends "5"
    schema = profile.request_schema()
    validator = jsonschema.Draft202012Validator(schema)
    errors = [(_field_of(error, schema), error) for error in validator.iter_errors(rest)]
    if errors:
        name, error = min(errors, key=lambda pair: (pair[0] or "", pair[1].message))
        raise Refusal(400, _explain(name, error, model), name)
    return profile, {"model": model, **rest}


def _field_of(error: jsonschema.ValidationError, schema: dict[str, Any]) -> str | None:
    if error.path:
        return str(error.path[0])
    if error.validator == "required" and isinstance(error.instance, dict):
        return next((name for name in error.validator_value if name not in error.instance), None)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        return min(set(error.instance) - set(schema.get("properties", {})), default=None)
    return None


def _explain(name: str | None, error: jsonschema.ValidationError, model: str) -> str:
    if error.validator == "additionalProperties" and name:
        return f"{name}: unknown field, {model} does not accept it"
    if error.validator == "required" and name:
        return f"{name}: this field is required"
    where = "".join(f"[{step}]" if isinstance(step, int) else str(step) for step in error.path) or name
    if error.validator in ("maxLength", "maxItems") and isinstance(error.instance, (str, list)):
        unit = "characters" if error.validator == "maxLength" else "items"
        return f"{where}: at most {error.validator_value} {unit} allowed, got {len(error.instance)}"
    return f"{where}: {shorten(error.message, 200)}" if where else shorten(error.message, 200)


def shorten(text: str, limit: int = 120) -> str:
    """Data URIs (and wild messages) can be megabytes long; keep their start only."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
