"""Backends generate one clip per request. Each lives in its own module behind `Backend`
(see `base.py`), and is imported only when it is used.

The contract mirrors a two-step generation service: `submit` a request (this is the moment
money is spent), `wait` until it reaches a terminal state, then `fetch` the clip. Nothing
above this package knows which backend runs.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import GenerationFailed, LinkExpired, SubmissionUnknown, UsageError
from .base import Backend, Job, Submission

if TYPE_CHECKING:
    from ..model import Storyboard

__all__ = ["BACKENDS", "PAID_BACKEND", "Backend", "GenerationFailed", "Job", "LinkExpired", "Submission", "SubmissionUnknown",
           "backend_class", "get_backend", "store_name"]

BACKENDS = ("preview", "preview-sync", "aimlapi")
PAID_BACKEND = "aimlapi"  # the real service: whose records say what was spent, and whose store what is left to pay


def store_name(name: str) -> str:
    """The name backend `name`'s clips, render state and lock entries are kept under here (see
    `addresses`): the service's includes its address when that is not the real one."""
    from .addresses import SERVICE, service_name

    return service_name() if name == SERVICE else name


def backend_class(name: str) -> type[Backend]:
    """The class of a backend by name; its `name`, `paid` and `default_jobs` are class attributes."""
    if name == "preview":
        from .preview import PreviewBackend

        return PreviewBackend
    if name == "preview-sync":
        from .preview import PreviewSyncBackend

        return PreviewSyncBackend
    if name == "aimlapi":
        from .aimlapi import AimlApiBackend

        return AimlApiBackend
    raise UsageError(f"unknown backend {name!r} (available: {', '.join(BACKENDS)})")


def get_backend(name: str, storyboard: Storyboard) -> Backend:
    """A backend ready to render `storyboard` (a paid one reads its key from the environment)."""
    return backend_class(name).for_storyboard(storyboard)
