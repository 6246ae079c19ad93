"""Backends generate one clip per request. Each lives in its own module behind `Backend`
(see `base.py`), and is imported only when it is used.

The contract mirrors a two-step generation service: `submit` a request (this is the moment
money is spent), `wait` until it reaches a terminal state, then `fetch` the clip. Nothing
above this package knows which backend runs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import GenerationFailed, InvalidStoryboard, LinkExpired, SubmissionUnknown, UsageError
from ..planning.inventory import stock as _stock
from ..planning.inventory import take_stock as _take_stock
from .base import Backend, Job, LostCreate, Submission, Traceable, Traced

if TYPE_CHECKING:
    from ..loading.prices import PriceList
    from ..model import Storyboard
    from ..planning.plans import Plan, ShotPlan

__all__ = [
    "BACKENDS",
    "PAID_BACKEND",
    "Backend",
    "Choice",
    "GenerationFailed",
    "Job",
    "LinkExpired",
    "LostCreate",
    "Submission",
    "SubmissionUnknown",
    "Traceable",
    "Traced",
    "backend_class",
    "check_backend",
    "choose_backend",
    "generating_models",
    "get_backend",
    "on_the_service",
    "plan_for",
    "prices_for",
    "store_name",
]

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


def plan_for(storyboard: Storyboard, backend: str | Backend = "preview", prices: PriceList | None = None) -> Plan:
    """Every take's request, hash and cost, what `backend` already has of it, and what changed since
    the last render (held shots keep their clip). For the paid backend the prices are the service's
    live price list (see `prices_for`); for any other, its copy kept here, else the built-in tables.
    `prices`: the list to use instead (one already read for another variant of the file)."""
    prices = prices if prices is not None else prices_for(storyboard, backend)
    if isinstance(backend, str):
        return _stock(storyboard, store_name(backend), paid=backend_class(backend).paid, prices=prices)
    return _stock(storyboard, backend.name, paid=backend.paid, prices=prices)


def generating_models(storyboard: Storyboard) -> list[str]:
    """The models `storyboard` generates with (videos, then stills), each once: those it needs prices of."""
    return list(dict.fromkeys([*(shot.model for shot in storyboard.shots if shot.clip is None),
                               *(shot.still.model for shot in storyboard.shots if shot.still is not None)]))


def prices_for(storyboard: Storyboard, backend: str | Backend) -> PriceList:
    """The prices of the models `storyboard` generates with: the service's catalogue, asked (with the
    ETag of the copy kept in the state folder) when `backend` is the service, or the environment says
    the service is used (its key or address is set: every plan shows what the service would charge);
    otherwise the kept copy, else the model profiles' built-in tables. A render asks only for its
    own backend."""
    from .addresses import BASE_URL_VARIABLE, DEFAULT_BASE_URL
    from .pricelist import KEY_VARIABLE, kept_prices

    models = generating_models(storyboard)
    if isinstance(backend, str):
        configured = any(os.environ.get(name, "").strip() for name in (BASE_URL_VARIABLE, KEY_VARIABLE))
        live, base_url = backend == PAID_BACKEND or configured, os.environ.get(BASE_URL_VARIABLE) or DEFAULT_BASE_URL
    else:
        base_url = getattr(backend, "base_url", None) or ""  # a backend of the caller's own has no catalogue
        live = backend.paid and bool(base_url)
        base_url = base_url or os.environ.get(BASE_URL_VARIABLE) or DEFAULT_BASE_URL
    if not live:
        why = f"the plan is not for the paid backend and neither {KEY_VARIABLE} nor {BASE_URL_VARIABLE} is set, " \
              "so the catalogue was not asked"
        return kept_prices(models, storyboard.root, base_url, why)
    from .aimlapi.catalogue import read_prices  # the HTTP client, only when the service is asked

    return read_prices(models, storyboard.root, base_url)


def check_backend(the_plan: Plan, backend: str | Backend | type[Backend], only: list[ShotPlan] | None = None) -> None:
    """Raise InvalidStoryboard with what `backend` would refuse of the shots a render must generate
    (all, or `only` these): the checks `render` runs before paying, which `validate --backend`
    and `plan --backend` run too."""
    engine = backend_class(backend) if isinstance(backend, str) else backend
    items = [item for item in (the_plan.requests if only is None else only) if item.footage is None and not item.cached]
    problems = engine.check(items, the_plan.storyboard)
    if problems:
        raise InvalidStoryboard(problems)


def on_the_service(the_plan: Plan) -> Plan:
    """`the_plan` with the real service's statuses, whichever backend it was made for: what paying
    would still cost (a preview clip saves nothing there)."""
    service = store_name(PAID_BACKEND)
    return the_plan if the_plan.backend == service else _take_stock(the_plan, service, paid=True)


BACKEND_VARIABLE = "STORYBOARD_BACKEND"


@dataclass(frozen=True)
class Choice:
    """The backend a command uses, and why: said to the user in one line unless they named it."""

    name: str
    reason: str | None  # None: named on the command line (or the default, with nothing to say)


def choose_backend(storyboard: Storyboard | None, named: str | None, *, may_pay: bool) -> Choice:
    """The backend a command uses: the one `named` (the command line), else the environment's
    STORYBOARD_BACKEND, else the file's `render.backend`. Else, for a command that pays nothing
    (`may_pay` false: plan, review, export), the backend of the project's last render; a render is
    never sent to a paid backend by history alone, and falls back to the free preview. Without a
    `storyboard` (one that does not load yet), only the name and the environment count."""
    if named is not None:
        return Choice(_known(named, "the backend"), None)
    variable = os.environ.get(BACKEND_VARIABLE, "").strip()
    if variable:
        return Choice(_known(variable, BACKEND_VARIABLE), f"{BACKEND_VARIABLE}={variable}")
    if storyboard is None:
        return Choice("preview", None)
    if storyboard.render.backend is not None:
        return Choice(storyboard.render.backend, f"render.backend in {storyboard.display_path}")
    last = _last_backend(storyboard)
    if last is not None and last != "preview" and not may_pay:
        return Choice(last, "the backend of this project's last render")
    if last is not None and backend_class(last).paid and may_pay:
        return Choice("preview", f"the last render used {last}; to pay for this one, name that backend "
                                 f"(`backend`, {BACKEND_VARIABLE} or render.backend)")
    return Choice("preview", None)


def _known(name: str, where: str) -> str:
    if name not in BACKENDS:
        raise UsageError(f"{where}: unknown backend {name!r} (available: {', '.join(BACKENDS)})", option="backend")
    return name


def _last_backend(storyboard: Storyboard) -> str | None:
    """The backend (by its command-line name) whose clips this project's last render put in its film."""
    from ..project.state import State
    from ..project.store import ClipStore

    path = ClipStore(storyboard.root).state_path
    if not path.exists():
        return None
    state = State(path, read_only=True)
    try:
        stored = state.last_backend(storyboard.records_name)
    finally:
        state.close()
    if stored is None:
        return None
    name = stored.split("@", 1)[0]  # the service's store name carries its address when it is not the real one
    return name if name in BACKENDS else None
