"""Loading's normalising step: the schema-checked YAML as the model, built once. Every default is applied,
every path resolved against the storyboard's folder, and every value keeps the YAML path it was
written at, for messages. One function per part of the file: cast, shots, output, publish, render
and cache settings. Prompts are left unexpanded (`prompt` empty): that is templating's part."""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..model import (
    REFERENCE_FIELDS,
    SERVICE_FIELDS,
    STILL_MODEL,
    CacheSettings,
    CastMember,
    FirstFrame,
    FrameOf,
    Line,
    Music,
    Output,
    PublishSettings,
    Reference,
    RenderSettings,
    S3Settings,
    SharedStore,
    Shot,
    ShotSound,
    Still,
    Storyboard,
    Transition,
)
from .profiles import ModelProfile
from .yaml_source import Document, Path_

DEFAULT_MODEL = "alibaba/wan-2-7-r2v"
STILL_FIELDS = ("negative_prompt", "enhance_prompt")  # image-model fields a still sets besides prompt, seed and size
DEFAULT_FPS = 24
DEFAULT_TRANSITION_SECONDS = 0.5
URL_PATTERN = re.compile(r"^(?:https?://|data:)", re.IGNORECASE)

# A value as written, and the YAML path it was written at; (None, None) when not written at all.
Picked = tuple[Any, Path_ | None]


def normalise(document: Document, file: Path, profiles: dict[str, ModelProfile], skip: set[int]) -> Storyboard:
    """The storyboard `document` (read from `file`) says, without the shots numbered in `skip`."""
    data: dict[str, Any] = document.data
    root = file.parent
    return Storyboard(
        file=file,
        document=document,
        title=data.get("title", file.stem),
        vars=data.get("vars", {}),
        cast=_cast(data.get("cast", {}), root),
        shots=[_shot(raw, index, data.get("defaults", {}), root)
               for index, raw in enumerate(data["shots"]) if index not in skip],
        output=_output(data.get("output", {}), file),
        profiles=profiles,
        publish=_publish(data.get("publish", {})),
        render=RenderSettings(**{name: whole_number(value) for name, value in data.get("render", {}).items()}),
        cache=_cache(data.get("cache", {})),
    )


def whole_number(value: Any) -> Any:
    """7.0 means 7: send (and hash) whole numbers as integers."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# References


def _reference(root: Path, kind: str, source: str, where: Path_) -> Reference:
    """A reference as written at `where`: a URL, or a file relative to `root`."""
    local = None if URL_PATTERN.match(source) or "://" in source else root / source
    return Reference(kind, source, where, local)  # type: ignore[arg-type]


def _references(root: Path, container: dict[str, Any], where: Path_, single: str, plural: str, kind: str) -> list[Reference]:
    """The references of `kind` a mapping (at `where`) names, under `single` and then under `plural`."""
    found = []
    if single in container:
        found.append(_reference(root, kind, container[single], (*where, single)))
    for index, source in enumerate(container.get(plural, [])):
        found.append(_reference(root, kind, source, (*where, plural, index)))
    return found


# Cast


def _cast(spec: dict[str, Any], root: Path) -> dict[str, CastMember]:
    return {name: _member(name, member, root) for name, member in spec.items()}


def _member(name: str, spec: dict[str, Any], root: Path) -> CastMember:
    where: Path_ = ("cast", name)
    return CastMember(
        name=name,
        references=_references(root, spec, where, "image", "images", "image")
        + _references(root, spec, where, "video", "videos", "video"),
        description=spec.get("description"),
        where=where,
    )


# Shots


def _picker(raw: dict[str, Any], here: Path_, defaults: dict[str, Any]) -> Callable[[str], Picked]:
    """`pick(name)`: the shot's own `name` (the shot `raw`, found at `here`), else the defaults', with
    where it was written."""
    def pick(name: str) -> Picked:
        if name in raw:
            return raw[name], (*here, name)
        if name in defaults:
            return defaults[name], ("defaults", name)
        return None, None

    return pick


def _shot(raw: dict[str, Any], index: int, defaults: dict[str, Any], root: Path) -> Shot:
    here: Path_ = ("shots", index)
    pick = _picker(raw, here, defaults)
    model, model_origin = pick("model")
    if model is None or model_origin is None:
        model, model_origin = DEFAULT_MODEL, (*here, "id")
    fields, field_origins = _service_fields(raw, here, defaults, pick)
    references, reference_origins = _explicit_references(root, pick)
    first_frame, frame_origins = _first_frame(raw, here, root, pick)
    takes, takes_origin = pick("takes")
    return Shot(
        id=raw["id"],
        index=index,
        model=model,
        prompt_template=raw.get("prompt", ""),
        fields=fields,
        origins={"prompt": (*here, "prompt"), "model": model_origin, **field_origins, **reference_origins,
                 **frame_origins, **_take_origins(raw, here, takes_origin)},
        references=references,
        first_frame=first_frame,
        transition=_transition(pick("transition")[0]),
        vars=raw.get("vars", {}),
        clip=root / raw["clip"] if "clip" in raw else None,
        trim=(float(raw.get("trim", {}).get("start", 0.0)), _optional_float(raw.get("trim", {}).get("end"))),
        fit=raw.get("fit"),
        sound=_shot_sound(raw.get("sound", {})),
        takes=1 if takes is None or "clip" in raw else whole_number(takes),
        take=whole_number(raw.get("take", 1)),
        hold=raw.get("hold", False),
        dialogue=_dialogue(raw, here),
        still=_still(raw, here, defaults),
    )


def _still(raw: dict[str, Any], here: Path_, defaults: dict[str, Any]) -> Still | None:
    """The shot's `still:` (true, or its settings) over the defaults' `still:`, which alone gives every
    shot without a first frame of its own a still; None without one (or with `still: false`)."""
    spec = raw.get("still")
    if spec is None and "still" in defaults and not {"first_frame", "first_frame_image"} & (raw.keys() | defaults.keys()):
        spec = True  # `defaults: {still: …}` gives every generated shot a still, as every default is inherited
    if spec is None or spec is False or "clip" in raw:
        return None
    own: dict[str, Any] = spec if isinstance(spec, dict) else {}
    inherited: dict[str, Any] = defaults.get("still", {})
    where: Path_ = (*here, "still")
    origins: dict[str, Path_] = {}

    def pick(name: str) -> Any:
        if name in own:
            origins[name] = (*where, name)
            return own[name]
        if name in inherited:
            origins[name] = ("defaults", "still", name)
            return inherited[name]
        return None

    model = pick("model") or STILL_MODEL
    takes, take, seed, size = pick("takes"), pick("take"), pick("seed"), pick("size")
    fields = {name: value for name in STILL_FIELDS if (value := pick(name)) is not None}
    return Still(model=model, where=where, takes=1 if takes is None else whole_number(takes),
                 take=None if take is None else whole_number(take), prompt_template=own.get("prompt"),
                 seed=None if seed is None else whole_number(seed), size=size, fields=fields, origins=origins)


def _service_fields(raw: dict[str, Any], here: Path_, defaults: dict[str, Any],
                    pick: Callable[[str], Picked]) -> tuple[dict[str, Any], dict[str, Path_]]:
    """The service fields the shot (or the defaults) sets, then `params` (the defaults' under the
    shot's own); and where each was written."""
    fields: dict[str, Any] = {}
    origins: dict[str, Path_] = {}
    for name in SERVICE_FIELDS:
        value, origin = pick(name)
        if origin is not None:
            fields[name], origins[name] = whole_number(value), origin
    params: dict[str, Any] = {}
    for source, where in ((defaults, ("defaults", "params")), (raw, (*here, "params"))):
        for key, value in source.get("params", {}).items():
            params[key], origins[key] = value, (*where, key)
    if params:
        fields["params"] = params
    return fields, origins


def _explicit_references(root: Path, pick: Callable[[str], Picked]) -> tuple[list[Reference], dict[str, Path_]]:
    """`image_urls`, then `video_urls`, of the shot or the defaults; and where each list was written."""
    references: list[Reference] = []
    origins: dict[str, Path_] = {}
    for name, kind in REFERENCE_FIELDS.items():
        sources, origin = pick(name)
        if origin is not None:
            origins[name] = origin
            references += [_reference(root, kind, source, (*origin, i)) for i, source in enumerate(sources)]
    return references, origins


def _first_frame(raw: dict[str, Any], here: Path_, root: Path,
                 pick: Callable[[str], Picked]) -> tuple[FirstFrame, dict[str, Path_]]:
    """The shot's `first_frame` (a frame of another shot), else its or the defaults' `first_frame_image`."""
    if "first_frame" in raw:
        spec = raw["first_frame"]
        at = spec.get("at", "end")
        where: Path_ = (*here, "first_frame")
        return FrameOf(spec["shot"], at if isinstance(at, str) else float(at), where), {"first_frame_image": where}
    source, origin = pick("first_frame_image")
    if origin is None:
        return None, {}
    return _reference(root, "image", source, origin), {"first_frame_image": origin}


def _take_origins(raw: dict[str, Any], here: Path_, takes_origin: Path_ | None) -> dict[str, Path_]:
    """Where `takes` (the shot's or the defaults'), `take` and `hold` were written, of those that were."""
    written = (("takes", takes_origin), ("take", (*here, "take") if "take" in raw else None),
               ("hold", (*here, "hold") if "hold" in raw else None))
    return {name: origin for name, origin in written if origin is not None}


def _transition(spec: dict[str, Any] | None) -> Transition:
    if not spec:
        return Transition()
    kind = spec["type"]
    seconds = spec.get("duration", 0.0 if kind == "cut" else DEFAULT_TRANSITION_SECONDS)
    return Transition(kind, float(seconds))


def _shot_sound(spec: dict[str, Any]) -> ShotSound:
    return ShotSound(lead=float(spec.get("lead", 0.0)), tail=float(spec.get("tail", 0.0)),
                     volume=float(spec.get("volume", 1.0)), mute=bool(spec.get("mute", False)))


def _dialogue(raw: dict[str, Any], here: Path_) -> list[Line]:
    return [Line(line["who"], line["say"], _optional_float(line.get("at")), (*here, "dialogue", number))
            for number, line in enumerate(raw.get("dialogue", []))]


# Output, publishing, rendering and the shared cache


def _output(spec: dict[str, Any], file: Path) -> Output:
    root = file.parent
    quality: dict[str, Any] = spec.get("quality", {})
    audio: dict[str, Any] = spec.get("audio", {})
    return Output(
        path=root / spec.get("path", f"renders/{file.stem}.mp4"),
        fps=float(spec.get("fps", DEFAULT_FPS)),
        music=_music(audio.get("music"), root),
        resolution=spec.get("resolution"),
        aspect_ratio=spec.get("aspect_ratio"),
        fit=spec.get("fit", "contain"),
        crf=whole_number(quality.get("crf", 20)),
        preset=quality.get("preset", "veryfast"),
        normalize=audio.get("normalize", False),
        subtitles=spec.get("subtitles", "none"),
        keyframe_interval=float(spec.get("keyframe_interval", 2.0)),
    )


def _music(spec: dict[str, Any] | None, root: Path) -> Music | None:
    if not spec:
        return None
    return Music(
        root / spec["path"], float(spec.get("volume", 1.0)), ("output", "audio", "music", "path"),
        fade_in=float(spec.get("fade_in", 0)), fade_out=float(spec.get("fade_out", 0)),
        loop=spec.get("loop", True), duck=spec.get("duck"),
    )


def _publish(spec: dict[str, Any]) -> PublishSettings:
    s3 = spec.get("s3")
    return PublishSettings(data_uri=spec.get("data_uri", True), s3=S3Settings(**s3) if s3 else None)


def _cache(spec: dict[str, Any]) -> CacheSettings:
    s3 = spec.get("s3")
    takeover = spec.get("takeover_after")
    return CacheSettings(s3=SharedStore(**s3) if s3 else None, takeover_after=None if takeover is None else float(takeover))


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)
