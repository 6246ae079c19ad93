"""storyboard: render a declarative YAML storyboard into a multi-shot AI film.

    import storyboard
    board = storyboard.load("film.yaml")      # read, validate, expand templates
    the_plan = storyboard.plan(board)          # one hashed request per take; sends nothing
    result = storyboard.render(board)          # generate what is missing, assemble the film
    page = storyboard.review(board)            # an offline page of every take
    cut = storyboard.export(board, "cut.otio") # the cut for an editor

A file with `variants:` is a set of storyboards: `load_variants`, `plan_variants`, `render_variants`.

Each function takes a storyboard file or one already loaded. The stages behind them are
imported when first used, so `import storyboard` (and `storyboard validate`) stays light.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .api import RenderResult, Source, Spend, export, load, plan, render, render_async, review
from .campaign import VariantsFailed, VariantsResult, load_variants, plan_variants, render_variants
from .errors import (
    InvalidStoryboard,
    OverBudget,
    Problem,
    RenderError,
    ShotFailed,
    StoryboardError,
    UsageError,
)
from .events import Event
from .lazy import lazy_exports
from .model import Shot, Storyboard

if TYPE_CHECKING:
    from .exporting import Exported
    from .exporting.cut import ClipsMissing
    from .planning.plans import Change, Plan, ShotPlan
    from .planning.variants import VariantsPlan

__version__ = "0.1.0"

__all__ = [
    "Change",
    "ClipsMissing",
    "Event",
    "Exported",
    "InvalidStoryboard",
    "OverBudget",
    "Plan",
    "Problem",
    "RenderError",
    "RenderResult",
    "Shot",
    "ShotFailed",
    "ShotPlan",
    "Source",
    "Spend",
    "Storyboard",
    "StoryboardError",
    "UsageError",
    "VariantsFailed",
    "VariantsPlan",
    "VariantsResult",
    "export",
    "load",
    "load_variants",
    "plan",
    "plan_variants",
    "render",
    "render_async",
    "render_variants",
    "review",
]

# Types from heavier stages, imported when first asked for (PEP 562).
__getattr__ = lazy_exports(__name__, {
    "Change": "planning.plans",
    "ClipsMissing": "exporting.cut",
    "Exported": "exporting",
    "Plan": "planning.plans",
    "ShotPlan": "planning.plans",
    "VariantsPlan": "planning.variants",
})
