"""`storyboard review`: one offline HTML page for a director to look at the takes of every shot.

    page = storyboard.review("film.yaml")              # review.html next to the film
    page = storyboard.review(board, backend="aimlapi", output="notes/review.html")

The page shows, in film order, each shot's place in the film, every take (playable, with its
first, middle and last frame), the prompt exactly as sent, the references as the prompt names
them, seed, cost and status, which take is in the film and the line to change to pick another;
at the top the film with a strip of its shots, what its takes cost, what the project has spent
(every take ever paid for, in the storyboard or not) and what is left to pay.
Media are linked by relative paths and thumbnails embedded: the page needs no network.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..model import Storyboard

__all__ = ["write_review"]


def write_review(storyboard: Storyboard | str | os.PathLike[str], backend: str = "preview",
                 output: str | os.PathLike[str] | None = None) -> Path:
    """Write the review page of `storyboard` (a loaded one, or its file) showing `backend`'s clips, to
    `output` (default: `review.html` next to the film), atomically; return where it was written.
    Raises InvalidStoryboard for a storyboard with problems, UsageError for an `output` it may not
    be written to (one of the storyboard's inputs, the film, storyboard's own state)."""
    from ..backends import plan_for
    from ..loading import load
    from .data import gather
    from .page import page_path, write_page

    board = storyboard if isinstance(storyboard, Storyboard) else load(storyboard)
    page = page_path(board, None if output is None else Path(output))
    review = gather(plan_for(board, backend), page, backend)
    write_page(review)
    return page
