"""Stage 1 of the pipeline: a storyboard file in, a checked and expanded `Storyboard` out.

read YAML (with positions) -> JSON Schema -> normalise (defaults, paths) -> meaning checks
-> template expansion -> checks of the resolved requests against the model profiles.
Every problem of the last three steps is reported together.
"""
from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import checks, schema, templating
from .errors import InvalidStoryboard
from .model import (
    REFERENCE_FIELDS,
    SERVICE_FIELDS,
    CastMember,
    FirstFrame,
    FrameOf,
    Music,
    Output,
    PublishSettings,
    Reference,
    RenderSettings,
    S3Settings,
    Shot,
    Storyboard,
    Transition,
)
from .profiles import load_profiles
from .yaml_source import Document, Path_, read_yaml

DEFAULT_MODEL = "alibaba/wan-2-7-r2v"
DEFAULT_FPS = 24
DEFAULT_TRANSITION_SECONDS = 0.5
URL_PATTERN = re.compile(r"^(?:https?://|data:)", re.IGNORECASE)
MAX_MESSAGE = 1000  # characters of one problem's message; what it quotes from the file is cut in the middle


def load(path: str | os.PathLike[str]) -> Storyboard:
    """Load, check and expand a storyboard file. Raises InvalidStoryboard listing every problem."""
    try:
        return _load(path)
    except InvalidStoryboard as error:  # one line each, whatever characters a message quotes from the file
        raise InvalidStoryboard([replace(problem, message=_one_line(problem.message)) for problem in error.problems]) \
            from None


def _one_line(text: str) -> str:
    """`text` with line breaks and other invisible characters written as escapes (\\n, \\x1e, \\u2028),
    and at most MAX_MESSAGE characters long."""
    text = text if len(text) <= MAX_MESSAGE else f"{text[:MAX_MESSAGE - 50]}...{text[-40:]}"
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _load(path: str | os.PathLike[str]) -> Storyboard:
    display = str(path)
    file = Path(path).absolute()
    document = read_yaml(file, display)
    if document.data is None:
        raise InvalidStoryboard([document.problem((), "the storyboard is empty")])
    if not isinstance(document.data, dict):
        kind = "a list" if isinstance(document.data, list) else "a single value"
        raise InvalidStoryboard([document.problem((), f"a storyboard is a mapping of fields; this file is {kind}")])
    version = document.data.get("storyboard")
    if version != 1:
        if "storyboard" not in document.data:
            message = "missing 'storyboard: 1' (the format version) at the top of the file"
        else:
            message = f"unsupported format version {version!r}; this storyboard reads version 1"
        raise InvalidStoryboard([document.problem(("storyboard",), message)])
    problems, broken_shots = schema.check(document)
    if problems and not broken_shots:
        raise InvalidStoryboard(problems)
    # Schema errors confined to some shots: check the others too, so every problem shows at once.
    profiles = load_profiles(file.parent, os.path.dirname(display))
    storyboard = _normalise(document, file, profiles, skip=broken_shots)
    unchecked_ids = {  # ids of the shots left out; only a string can be named by first_frame
        raw["id"] for index, raw in enumerate(document.data["shots"])
        if index in broken_shots and isinstance(raw, dict) and isinstance(raw.get("id"), str)
    }
    problems += checks.check_meaning(storyboard, unchecked_ids)
    problems += templating.expand(storyboard)
    problems += checks.check_output(storyboard)  # after expansion: included snippets are inputs too
    problems += checks.check_requests(storyboard)
    if problems:
        raise InvalidStoryboard(problems)
    return storyboard


def _whole(value: Any) -> Any:
    """7.0 means 7: send (and hash) whole numbers as integers."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _normalise(document: Document, file: Path, profiles: dict[str, Any], skip: set[int]) -> Storyboard:
    data: dict[str, Any] = document.data
    root = file.parent
    defaults: dict[str, Any] = data.get("defaults", {})

    def reference(kind: str, source: str, where: Path_) -> Reference:
        local = None if URL_PATTERN.match(source) or "://" in source else root / source
        return Reference(kind, source, where, local)  # type: ignore[arg-type]

    def references(container: dict[str, Any], where: Path_, single: str, plural: str, kind: str) -> list[Reference]:
        found = []
        if single in container:
            found.append(reference(kind, container[single], (*where, single)))
        for index, source in enumerate(container.get(plural, [])):
            found.append(reference(kind, source, (*where, plural, index)))
        return found

    cast = {
        name: CastMember(
            name=name,
            references=references(member, ("cast", name), "image", "images", "image")
            + references(member, ("cast", name), "video", "videos", "video"),
            description=member.get("description"),
            where=("cast", name),
        )
        for name, member in data.get("cast", {}).items()
    }

    def pick(raw: dict[str, Any], here: Path_, name: str) -> tuple[Any, Path_ | None]:
        """The shot's own `name` (the shot `raw`, found at `here`), else the defaults', with where it was written."""
        if name in raw:
            return raw[name], (*here, name)
        if name in defaults:
            return defaults[name], ("defaults", name)
        return None, None

    shots = []
    for index, raw in enumerate(data["shots"]):
        if index in skip:
            continue
        here: Path_ = ("shots", index)

        fields: dict[str, Any] = {}
        origins: dict[str, Path_] = {"prompt": (*here, "prompt")}
        model, model_origin = pick(raw, here, "model")
        if model is None or model_origin is None:
            model, model_origin = DEFAULT_MODEL, (*here, "id")
        origins["model"] = model_origin
        for name in SERVICE_FIELDS:
            value, origin = pick(raw, here, name)
            if origin is not None:
                fields[name], origins[name] = _whole(value), origin
        params: dict[str, Any] = {}
        for source, where in ((defaults, ("defaults", "params")), (raw, (*here, "params"))):
            for key, value in source.get("params", {}).items():
                params[key], origins[key] = value, (*where, key)
        if params:
            fields["params"] = params

        explicit: list[Reference] = []
        for name, kind in REFERENCE_FIELDS.items():
            sources, origin = pick(raw, here, name)
            if origin is not None:
                origins[name] = origin
                explicit += [reference(kind, source, (*origin, i)) for i, source in enumerate(sources)]

        first_frame: FirstFrame = None
        if "first_frame" in raw:
            spec = raw["first_frame"]
            at = spec.get("at", "end")
            first_frame = FrameOf(spec["shot"], at if isinstance(at, str) else float(at), (*here, "first_frame"))
            origins["first_frame_image"] = (*here, "first_frame")
        else:
            source, origin = pick(raw, here, "first_frame_image")
            if origin is not None:
                first_frame = reference("image", source, origin)
                origins["first_frame_image"] = origin

        transition_spec, _ = pick(raw, here, "transition")
        transition = Transition()
        if transition_spec:
            kind = transition_spec["type"]
            seconds = transition_spec.get("duration", 0.0 if kind == "cut" else DEFAULT_TRANSITION_SECONDS)
            transition = Transition(kind, float(seconds))

        shots.append(
            Shot(
                id=raw["id"],
                index=index,
                model=model,
                prompt_template=raw.get("prompt", ""),
                fields=fields,
                origins=origins,
                references=explicit,
                first_frame=first_frame,
                transition=transition,
                vars=raw.get("vars", {}),
                clip=root / raw["clip"] if "clip" in raw else None,
                trim=(float(raw.get("trim", {}).get("start", 0.0)), _optional_float(raw.get("trim", {}).get("end"))),
                fit=raw.get("fit"),
            )
        )

    output_spec: dict[str, Any] = data.get("output", {})
    music_spec = output_spec.get("audio", {}).get("music")
    music = None
    if music_spec:
        music = Music(
            root / music_spec["path"], float(music_spec.get("volume", 1.0)), ("output", "audio", "music", "path"),
            fade_in=float(music_spec.get("fade_in", 0)), fade_out=float(music_spec.get("fade_out", 0)),
            loop=music_spec.get("loop", True), duck=music_spec.get("duck"),
        )
    output = Output(
        path=root / output_spec.get("path", f"renders/{file.stem}.mp4"),
        fps=float(output_spec.get("fps", DEFAULT_FPS)),
        music=music,
        resolution=output_spec.get("resolution"),
        aspect_ratio=output_spec.get("aspect_ratio"),
        fit=output_spec.get("fit", "contain"),
        crf=output_spec.get("quality", {}).get("crf", 20),
        preset=output_spec.get("quality", {}).get("preset", "veryfast"),
        normalize=output_spec.get("audio", {}).get("normalize", False),
    )
    publish_spec: dict[str, Any] = data.get("publish", {})
    s3_spec = publish_spec.get("s3")
    publish = PublishSettings(
        data_uri=publish_spec.get("data_uri", True),
        s3=S3Settings(**s3_spec) if s3_spec else None,
    )
    return Storyboard(
        file=file,
        document=document,
        title=data.get("title", file.stem),
        vars=data.get("vars", {}),
        cast=cast,
        shots=shots,
        output=output,
        profiles=profiles,
        publish=publish,
        render=RenderSettings(**data.get("render", {})),
    )


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)
