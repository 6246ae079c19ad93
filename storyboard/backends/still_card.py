"""Still cards: a storyboard panel drawn offline, standing in for the picture the image model makes.

A background tinted by the seed (by the request when it has none), the cast's reference images
composed into the picture side by side, as a staging of who is in the shot, and a caption plate
with the shot's id, the take and seed, and the prompt. Drawn by the preview backend and by the
service emulator's image endpoint; deterministic for a given card.
"""
from __future__ import annotations

import colorsys
import hashlib
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

PLATE = (10, 10, 14)
WHITE = (255, 255, 255)
GREY = (190, 190, 198)


@dataclass(frozen=True)
class StillCard:
    width: int
    height: int
    title: str  # the shot's id and the take: "forest · still 2"
    prompt: str
    seed: int | None
    tint: int  # the colours when there is no seed
    references: list[Path] = field(default_factory=list)  # images composed in, in the order they are sent


def draw_still(card: StillCard, destination: Path) -> None:
    """Write the card as a PNG to `destination`."""
    picture = Image.new("RGB", (card.width, card.height), _colour(card))
    _gradient(picture)
    _compose(picture, card.references)
    _caption(picture, card)
    picture.save(destination, format="PNG")


def _colour(card: StillCard) -> tuple[int, int, int]:
    key = card.seed if card.seed is not None else card.tint
    hue = (int(hashlib.sha256(str(key).encode()).hexdigest()[:8], 16) % 360) / 360
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.45, 0.55)
    return round(red * 255), round(green * 255), round(blue * 255)


def _gradient(picture: Image.Image) -> None:
    """A horizon: the lower part darker, so the panel reads as a scene, not a flat card."""
    width, height = picture.size
    shade = Image.linear_gradient("L").resize((width, height)).point(lambda value: value * 0.55)
    black = Image.new("RGB", (width, height), (0, 0, 0))
    picture.paste(Image.composite(black, picture, shade))


def _compose(picture: Image.Image, references: list[Path]) -> None:
    """The references side by side in the upper two thirds, each fitted to its slot, framed."""
    images = []
    for path in references:
        try:
            with Image.open(path) as opened:
                images.append(opened.convert("RGB"))
        except (OSError, ValueError, Image.DecompressionBombError):
            continue
    if not images:
        return
    width, height = picture.size
    margin = max(8, width // 40)
    slot_width = (width - margin * (len(images) + 1)) // len(images)
    slot_height = int(height * 0.6)
    for number, image in enumerate(images):
        fitted = ImageOps.contain(image, (slot_width, slot_height))
        left = margin + number * (slot_width + margin) + (slot_width - fitted.width) // 2
        top = margin + (slot_height - fitted.height) // 2
        ImageDraw.Draw(picture).rectangle((left - 3, top - 3, left + fitted.width + 2, top + fitted.height + 2), fill=WHITE)
        picture.paste(fitted, (left, top))


def _caption(picture: Image.Image, card: StillCard) -> None:
    width, height = picture.size
    size = max(12, height // 30)
    font = ImageFont.load_default(size=size)
    small = ImageFont.load_default(size=max(10, int(size * 0.8)))
    margin = max(8, width // 40)
    columns = max(20, int((width - 2 * margin) / (size * 0.55)))
    lines = textwrap.wrap(card.prompt, columns)[:3]
    plate_height = int(size * 1.5) + len(lines) * int(size * 1.15) + margin
    top = height - plate_height - margin // 2
    draw = ImageDraw.Draw(picture)
    draw.rectangle((margin // 2, top, width - margin // 2, height - margin // 2), fill=PLATE)
    seed = "seed: random" if card.seed is None else f"seed: {card.seed}"
    draw.text((margin, top + margin // 2), f"{card.title}  ·  {seed}", font=font, fill=WHITE)
    for row, line in enumerate(lines):
        draw.text((margin, top + margin // 2 + int(size * 1.5) + row * int(size * 1.15)), line, font=small, fill=GREY)
