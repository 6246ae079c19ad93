"""`storyboard init`: a new project a newcomer can render at once, offline, with the preview backend.

Every file is checked first and written only if none exists yet: an init never overwrites anything,
and a refused one writes nothing.
"""
from __future__ import annotations

import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..loading.schema import SCHEMA_NAME, schema_text
from ..model import STATE_DIR

STORYBOARD_FILE = "storyboard.yaml"
SCHEMA_FILE = f"schemas/{SCHEMA_NAME}"  # a copy in the project: editors find it offline, wherever storyboard is installed
HERO_IMAGE = "assets/hero.png"
FILM = "renders/film.mp4"


@dataclass(frozen=True)
class Scaffold:
    """What `init` wrote: the project folder and each file in it, in the order written."""

    root: Path
    files: list[Path]


def init(folder: str | os.PathLike[str] = ".") -> Scaffold:
    """Write a small project into `folder` (created if needed): a commented storyboard with a cast
    member and two shots joined by continuity, its reference image, a copy of the JSON Schema for the
    editor, a .gitignore and a README. Raises UsageError, having written nothing, if any of those
    files exists already or the folder cannot be one."""
    root = Path(folder)
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root} is a file, not a folder; name a folder for the new project (storyboard init my-film)")
    title = _title(root)
    contents: dict[str, bytes] = {
        STORYBOARD_FILE: _storyboard(title).encode(),
        HERO_IMAGE: _hero_png(),
        SCHEMA_FILE: schema_text().encode(),
        ".gitignore": _GITIGNORE.encode(),
        "README.md": _readme(title).encode(),
    }
    taken = [name for name in contents if os.path.lexists(root / name)]
    if taken:
        raise UsageError(
            f"{_listing(taken)} already exist{'s' if len(taken) == 1 else ''} in {_shown(root)}; nothing was written. "
            f"storyboard init never overwrites a file: give it a new folder{_example(root)}"
        )
    written: list[Path] = []
    try:
        for name, data in contents.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "xb") as file:  # "x": a file that appeared since the check is not overwritten either
                written.append(path)
                file.write(data)
    except OSError:
        for path in written:  # all or nothing: a half-written project would only confuse
            path.unlink(missing_ok=True)
        raise
    return Scaffold(root, written)


def _title(root: Path) -> str:
    """A title from the folder's name: `my-first_film` -> `My first film`."""
    name = re.sub(r"[-_.\s]+", " ", root.absolute().name).strip()
    return name[:1].upper() + name[1:] if name and name.isprintable() else "My film"


def _shown(root: Path) -> str:
    return "the current folder" if root.absolute() == Path.cwd() else str(root)


def _example(root: Path) -> str:
    return " (storyboard init my-film)" if root.absolute() == Path.cwd() else ""


def _listing(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _storyboard(title: str) -> str:
    # json.dumps: a double-quoted YAML string, whatever characters the folder's name has.
    return _STORYBOARD.replace("@TITLE@", json.dumps(title, ensure_ascii=False))


_STORYBOARD = f"""\
# yaml-language-server: $schema={SCHEMA_FILE}
# The line above gives editors with a YAML language server (VS Code's YAML extension, Neovim,
# JetBrains) completion and hover docs; after upgrading storyboard, refresh the copy with
#   storyboard schema > {SCHEMA_FILE}
#
# Render:   storyboard render {STORYBOARD_FILE}        (offline animatics; add --watch to re-render on save)
# Check:    storyboard validate {STORYBOARD_FILE}
storyboard: 1                   # the format version
title: @TITLE@
vars:                           # template variables: write {{{{ look }}}} in any prompt
  look: soft morning light, 35mm film, shallow depth of field
defaults:                       # every shot inherits these; a shot may override any of them
  resolution: 720p
  aspect_ratio: "16:9"
  duration: 5                   # seconds; the model makes 5, 10 or 15 s clips
cast:                           # named references: mentioning one in a prompt attaches its image
  robot:
    image: {HERO_IMAGE}
    description: a small orange robot with round blue eyes
shots:
  - id: arrival
    prompt: "{{{{ cast.robot }}}} rolls into a quiet greenhouse at dawn. {{{{ look }}}}"
    seed: 1                     # same seed, same request: the clip is reused, never paid twice
    # takes: 2                  # tip: two variants (seeds 1 and 2); `storyboard review {STORYBOARD_FILE}`
    #                           # shows them side by side, and `take: 2` puts the second in the film
  - id: discovery
    prompt: "{{{{ cast.robot }}}} stops and looks up at a single red flower. {{{{ look }}}}"
    seed: 5
    first_frame: {{shot: arrival, at: end}}   # continuity: starts on the last frame of `arrival`
output:
  path: {FILM}
"""

_GITIGNORE = f"""\
# storyboard's own state on this machine: clips, the render state, working files
{STATE_DIR}/
# rendered films and review pages
renders/
# storyboard.lock records what each shot was generated from, and what it cost: commit it
"""


def _readme(title: str) -> str:
    return _README.replace("@TITLE@", title)


_README = """\
# @TITLE@

A film made with storyboard: `storyboard.yaml` lists its shots (prompts, a cast of reference
images, durations, seeds), and `storyboard render` turns them into `renders/film.mp4`.

## Render

```sh
storyboard render storyboard.yaml
```

The preview backend (the default) draws each shot as an animatic card, offline and free: its
prompt, its references, its seed and timecode. Edit a prompt and render again: only the shots you
changed are redrawn (`discovery` too when `arrival` changes, since it starts on its last frame).

```sh
storyboard render storyboard.yaml --watch   # render again on every save; Ctrl-C to stop
storyboard validate storyboard.yaml         # every problem at once, as FILE:LINE:COL: message
storyboard plan storyboard.yaml             # the exact requests, and what the real service would charge
```

## Review

```sh
storyboard review storyboard.yaml
```

writes a page next to the film with every shot and every take: frames, the prompt as sent, the
seed and the cost. Uncomment `takes: 2` in `storyboard.yaml` for two variants of `arrival`, then
set `take: 2` on it to put the second in the film: nothing is generated for it again (`discovery`
is, since it starts on its last frame; `storyboard plan` says so before you render).

## The real service (paid)

The service fetches reference images by URL: publish `assets/hero.png` through S3-compatible
storage (a `publish: {s3: {bucket: ...}}` section, or the `STORYBOARD_S3_BUCKET` variable), or
write an `https://` URL instead. Then:

```sh
export AIMLAPI_KEY=...                                          # never written to any file
storyboard validate storyboard.yaml --backend aimlapi             # what the service would refuse; sends nothing
storyboard plan storyboard.yaml --backend aimlapi                 # every request and its cost; sends nothing
storyboard render storyboard.yaml --backend aimlapi --max-cost 2  # spends at most 2 USD
```

Commit `storyboard.yaml`, `assets/`, `schemas/` and `storyboard.lock` (the record of every
generation, so a teammate's render downloads what was paid for instead of paying again);
`.storyboard/` and `renders/` are ignored.
"""


def _hero_png() -> bytes:
    """The cast's reference image: a small orange robot, drawn here (a few KB)."""
    from PIL import Image, ImageDraw  # imported only when a project is made

    image = Image.new("RGB", (256, 256), (24, 34, 48))
    draw = ImageDraw.Draw(image)
    draw.ellipse((40, 214, 216, 240), fill=(16, 22, 32))  # shadow
    draw.line((128, 58, 128, 30), fill=(200, 200, 210), width=4)  # antenna
    draw.ellipse((120, 22, 136, 38), fill=(240, 70, 60))
    draw.rounded_rectangle((76, 58, 180, 126), radius=18, fill=(240, 140, 40))  # head
    for x in (98, 158):  # eyes
        draw.ellipse((x - 16, 76, x + 16, 108), fill=(250, 250, 250))
        draw.ellipse((x - 9, 83, x + 9, 101), fill=(40, 120, 230))
    draw.rounded_rectangle((84, 132, 172, 200), radius=12, fill=(230, 120, 30))  # body
    draw.rectangle((110, 148, 146, 170), fill=(250, 210, 120))  # panel
    draw.rounded_rectangle((56, 140, 80, 186), radius=10, fill=(220, 110, 30))  # arms
    draw.rounded_rectangle((176, 140, 200, 186), radius=10, fill=(220, 110, 30))
    for x in (100, 156):  # wheels
        draw.ellipse((x - 20, 194, x + 20, 230), fill=(60, 60, 70))
        draw.ellipse((x - 8, 204, x + 8, 220), fill=(150, 150, 160))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
