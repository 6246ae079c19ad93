"""storyboard: render a declarative YAML storyboard into a multi-shot AI film.

    import storyboard
    board = storyboard.load("film.yaml")     # parse, validate, expand templates
    the_plan = storyboard.plan(board)         # one hashed request per shot; sends nothing
    result = storyboard.render(board)         # generate what is missing, assemble the film

Names are imported on first use, so `storyboard validate` does not load the video and
network libraries that rendering needs.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import InvalidStoryboard, Problem, RenderError, ShotFailed, StoryboardError, UsageError
from .lazy import lazy_exports

if TYPE_CHECKING:
    from .events import Event
    from .export import export
    from .inventory import plan
    from .loading import load
    from .pipeline import RenderResult, render
    from .planning import Plan, ShotPlan
    from .review import write_review

__version__ = "0.1.0"

_LAZY = {
    "Event": "events",
    "export": "export",
    "load": "loading",
    "plan": "inventory",
    "Plan": "planning",
    "ShotPlan": "planning",
    "render": "pipeline",
    "RenderResult": "pipeline",
    "write_review": "review",
}

__all__ = [
    "Event",
    "InvalidStoryboard",
    "Plan",
    "Problem",
    "RenderError",
    "RenderResult",
    "ShotFailed",
    "ShotPlan",
    "StoryboardError",
    "UsageError",
    "export",
    "load",
    "plan",
    "render",
    "write_review",
]


__getattr__ = lazy_exports(__name__, _LAZY)
