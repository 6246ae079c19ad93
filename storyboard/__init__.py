"""storyboard: render a declarative YAML storyboard into a multi-shot AI film.

    import storyboard
    board = storyboard.load("film.yaml")     # parse, validate, expand templates
    the_plan = storyboard.plan(board)         # one hashed request per shot; sends nothing
    result = storyboard.render(board)         # generate what is missing, assemble the film
"""
from __future__ import annotations

from .errors import InvalidStoryboard, Problem, RenderError, ShotFailed, StoryboardError, UsageError
from .loading import load
from .planning import Plan, ShotPlan, plan
from .render import Event, RenderResult, render

__version__ = "0.1.0"

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
    "load",
    "plan",
    "render",
]
