"""A shot's still as the image model receives it: the prompt, the reference images (at most
MAX_REFERENCES, the image model's limit), the size (the film's shape unless the still gives one).
What the still's request *is*; its hash, seeds and picks are planning's (planning/stills.py)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model import Reference, Shot, Storyboard, reference_text

MAX_REFERENCES = 3  # the image model takes 1 to 3 reference images
# The still's `image_size` for the film's aspect ratio (the image model's named shapes).
SIZE_OF_ASPECT = {"16:9": "landscape_16_9", "9:16": "portrait_16_9", "4:3": "landscape_4_3", "3:4": "portrait_4_3",
                  "1:1": "square_hd"}
# Pixels of each named shape, as the emulator and the preview draw them.
NAMED_SIZES = {"landscape_16_9": (1024, 576), "portrait_16_9": (576, 1024), "landscape_4_3": (1024, 768),
               "portrait_4_3": (768, 1024), "square_hd": (1024, 1024), "square": (512, 512)}


@dataclass(frozen=True)
class StillReferences:
    """The images a still sends, and those left out past the image model's limit."""

    sent: list[Reference]
    left_out: list[Reference]


def still_references(shot: Shot) -> StillReferences:
    """The still's reference images: the shot's own images, then its cast's (or, with a prompt of its
    own, those of the cast that prompt mentions), in the order the video sends them."""
    assert shot.still is not None
    still = shot.still
    if still.prompt_template is not None:
        found = [ref for ref in shot.references if ref.kind == "image"] + \
                [ref for member in still.cast for ref in member.references if ref.kind == "image"]
    else:
        found = [ref for ref in shot.all_references() if ref.kind == "image"]
    return StillReferences(found[:MAX_REFERENCES], found[MAX_REFERENCES:])


def film_aspect(storyboard: Storyboard, shot: Shot) -> str:
    """The film's aspect ratio as this shot's video has it: the output's, else the shot's, else its model's."""
    if storyboard.output.aspect_ratio:
        return storyboard.output.aspect_ratio
    if "aspect_ratio" in shot.fields:
        return str(shot.fields["aspect_ratio"])
    profile = storyboard.profiles.get(shot.model)
    return str((profile.default("aspect_ratio") if profile else None) or "16:9")


def still_size(storyboard: Storyboard, shot: Shot) -> str | dict[str, int]:
    assert shot.still is not None
    if shot.still.size is not None:
        return shot.still.size
    return SIZE_OF_ASPECT.get(film_aspect(storyboard, shot), "landscape_16_9")


def pixels(size: str | dict[str, int] | Any) -> tuple[int, int]:
    """A still's size in pixels (width, height)."""
    if isinstance(size, dict):
        return int(size["width"]), int(size["height"])
    return NAMED_SIZES.get(str(size), NAMED_SIZES["landscape_16_9"])


def still_prompt(shot: Shot) -> str:
    assert shot.still is not None
    return shot.still.prompt if shot.still.prompt_template is not None else shot.prompt


def still_body(storyboard: Storyboard, shot: Shot, seed: int | None) -> dict[str, Any]:
    """The image request of one take of the shot's still (local files still as paths)."""
    assert shot.still is not None
    body: dict[str, Any] = {"model": shot.still.model, "prompt": still_prompt(shot)}
    references = still_references(shot).sent
    if references:
        body["image_urls"] = [reference_text(ref, storyboard.root) for ref in references]
    body["image_size"] = still_size(storyboard, shot)
    body.update(shot.still.fields)
    if seed is not None:
        body["seed"] = seed
    return body
