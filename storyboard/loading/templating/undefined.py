"""Undefined names in prompt templates. A lookup that finds nothing is an error that knows what was
looked up and in what, so its message lists what does exist: `{{ shot.durration }}` names the
shot's fields and asks "did you mean 'duration'?", not "'dict object' has no attribute"."""
from __future__ import annotations

import functools
from collections import deque
from collections.abc import Mapping
from typing import Any

import jinja2
from jinja2.utils import missing

from ...errors import StoryboardError
from ...messages import MAX_SUGGESTIONS, suggest, type_of

MAX_NAMES_SHOWN = 20  # names listed in a message
_MAX_LOOKED_AT = 10_000  # values looked through to name the mapping a lookup failed in


class UndefinedLookup(jinja2.UndefinedError, StoryboardError):
    """`name` looked up in `owner` (`missing`: among the template's variables) found nothing."""

    def __init__(self, message: str | None = None, *, owner: Any = missing, name: Any = None):
        super().__init__(message)
        self.owner = owner
        self.name = name


class Undefined(jinja2.StrictUndefined):
    """Jinja's strict undefined, whose error says what was looked up, and in what."""

    __slots__ = ()

    def __init__(self, hint: str | None = None, obj: Any = missing, name: str | None = None,
                 exc: type[jinja2.TemplateRuntimeError] = jinja2.UndefinedError):
        if exc is jinja2.UndefinedError:  # the sandbox passes its own (SecurityError): kept
            exc = functools.partial(UndefinedLookup, owner=obj, name=name)  # type: ignore[assignment]
        super().__init__(hint, obj, name, exc)


def undefined_message(error: UndefinedLookup, context: Mapping[str, Any]) -> tuple[str, str]:
    """(what was not found, with the closest name that exists; the names that do)."""
    name, owner = error.name, error.owner
    if owner is missing:
        usable = ", ".join([*_first(list(context.get("vars", {}))), "title", "shot.<field>", "cast.<name>"])
        return (f"{name!r} is undefined{_closest(name, [key for key in context if not key.startswith('_')])}",
                f"a prompt can use {usable}; define new variables under vars")
    label = _name_of(owner, context)
    if isinstance(owner, Mapping):
        keys = sorted(str(key) for key in owner)
        held = ", ".join(_first(keys)) or "nothing"
        hint = _closest(name, keys)
        if label == "shot":
            return f"{_ref('shot', name)} is undefined{hint}", f"the shot's fields are {held}"
        if label is not None:
            return f"{_ref(label, name)} is undefined{hint}", f"{label} holds {held}"
        return f"no key {name!r} in this mapping{hint}", f"it holds {held}"
    return f"{label or 'the value'} has no attribute {name!r}", f"it is {type_of(owner)}"


def _closest(name: Any, names: list[str]) -> str:
    return suggest(str(name), names if len(names) <= MAX_SUGGESTIONS else [])


def _first(names: list[str]) -> list[str]:
    more = len(names) - MAX_NAMES_SHOWN
    return names[:MAX_NAMES_SHOWN] + ([f"{more} more"] if more > 0 else [])


def _ref(label: str, key: Any) -> str:
    return f"{label}.{key}" if isinstance(key, str) and key.isidentifier() else f"{label}[{key!r}]"


def _name_of(owner: Any, context: Mapping[str, Any]) -> str | None:
    """How a template names `owner`: shot, vars, or the variable (and keys) that hold it; None if unknown."""
    for scope in ("shot", "vars", "variant"):
        if context.get(scope) is owner:
            return scope
    todo = deque(context["vars"].items() if isinstance(context.get("vars"), Mapping) else ())
    for _ in range(_MAX_LOOKED_AT):
        if not todo:
            break
        label, value = todo.popleft()
        if value is owner:
            return str(label)
        if isinstance(value, Mapping):
            todo.extend((_ref(str(label), key), item) for key, item in value.items())
    return None
