"""The storyboard after loading: every default applied, every path resolved, every position known.

Built once and never changed: the dataclasses are frozen, and the dicts and lists they hold are not
changed after they are made either. A changed storyboard is a new one (`dataclasses.replace`)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # the model is what loading makes: its types come from there, its code does not
    from .loading.profiles import ModelProfile
    from .loading.yaml_source import Document, Path_

MediaKind = Literal["image", "video"]

STATE_DIR = ".storyboard"  # storyboard's own state next to the storyboard file: clips, render state
MAX_TAKES = 16  # takes of one shot (the schema says so too)
LOCK_FILE = "storyboard.lock"  # next to the storyboard file: what each shot was generated from (see lockfile.py)

# Service fields a storyboard may set directly (docs/service.md); `prompt` and references are handled apart.
SERVICE_FIELDS = (
    "aspect_ratio",
    "resolution",
    "duration",
    "enhance_prompt",
    "negative_prompt",
    "seed",
    "watermark",
)
REFERENCE_FIELDS = {"image_urls": "image", "video_urls": "video"}


@dataclass(frozen=True)
class Reference:
    """A reference image or video: a local file or a URL, and where the storyboard names it."""

    kind: MediaKind
    source: str  # as written in the file
    where: Path_  # YAML path of the value, for error messages
    path: Path | None = None  # resolved local file; None for URLs


@dataclass(frozen=True)
class FrameOf:
    """A frame of another shot's clip, used as this shot's first frame."""

    shot: str
    at: str | float  # "start", "end" or seconds
    where: Path_


FirstFrame = Reference | FrameOf | None


@dataclass(frozen=True)
class CastMember:
    name: str
    references: list[Reference]
    description: str | None
    where: Path_


@dataclass(frozen=True)
class Line:
    """A line of dialogue: who says it (a cast member's name), what is said, and optionally when, in
    seconds into the shot's clip as generated (before its trim). The prompt gets it (see templating);
    subtitles are timed by it (see subtitles.py)."""

    who: str
    say: str
    at: float | None
    where: Path_  # YAML path of the line, for error messages


@dataclass(frozen=True)
class Transition:
    type: Literal["cut", "crossfade", "fade"] = "cut"
    duration: float = 0.0


STILL_MODEL = "alibaba/wan-2-7-image"  # the image model of the video model's family (see stills in docs/format.md)


@dataclass(frozen=True)
class Still:
    """A shot's still: a storyboard panel drawn by the image model, approved before any video is paid
    for; the picked take becomes the video's first frame (see planning/stills.py)."""

    model: str
    where: Path_  # the shot's `still:`
    takes: int = 1
    take: int | None = None  # the pick; None: not picked (a single take is picked by itself)
    prompt_template: str | None = None  # None: the shot's prompt
    seed: int | None = None  # None: the shot's seed
    size: str | dict[str, int] | None = None  # None: the shape of the film's aspect ratio
    fields: dict[str, Any] = field(default_factory=dict)  # negative_prompt, enhance_prompt
    origins: dict[str, Path_] = field(default_factory=dict)  # YAML path each setting came from
    # Set by templating when the still has a prompt of its own:
    prompt: str = ""
    cast: list[CastMember] = field(default_factory=list)

    @property
    def picked(self) -> int | None:
        """The take the video starts from: the one picked, else the only one; None while a pick is due."""
        return self.take if self.take is not None else (1 if self.takes == 1 else None)


@dataclass(frozen=True)
class ShotSound:
    """What the film does with a shot's own sound: `lead` seconds of it before its picture (a J-cut, under
    the previous shot), `tail` seconds after (an L-cut, under the next), in sync with the picture (taken
    from the clip beyond the part its picture uses); its gain, linear; or none of it."""

    lead: float = 0.0
    tail: float = 0.0
    volume: float = 1.0
    mute: bool = False


@dataclass(frozen=True)
class Shot:
    id: str
    index: int
    model: str
    prompt_template: str
    fields: dict[str, Any]  # service fields set by defaults or the shot, plus `params`
    origins: dict[str, Path_]  # YAML path each field (and 'model', 'prompt') came from
    references: list[Reference]  # explicit image_urls / video_urls, images first
    first_frame: FirstFrame
    transition: Transition
    vars: dict[str, Any]
    clip: Path | None = None  # existing footage: nothing is generated for this shot
    trim: tuple[float, float | None] = (0.0, None)  # (start, end) seconds into the clip
    fit: str | None = None  # contain | cover; None: the film's
    sound: ShotSound = field(default_factory=ShotSound)
    takes: int = 1  # variants generated, each its own request (see request.take_seeds)
    take: int = 1  # the one in the film
    hold: bool = False  # keep the clip in the film even when the request changes
    dialogue: list[Line] = field(default_factory=list)  # what the cast says in this shot, in order
    # Set by templating (loading builds the shot with them, see templating.Expansion):
    prompt: str = ""
    cast: list[CastMember] = field(default_factory=list)  # in order of first mention
    still: Still | None = None  # a panel drawn first; its pick is the video's first frame

    @property
    def where(self) -> Path_:
        return ("shots", self.index)

    def all_references(self) -> list[Reference]:
        """Explicit references first, then those of mentioned cast members, images before videos."""
        refs = list(self.references) + [ref for member in self.cast for ref in member.references]
        return [ref for ref in refs if ref.kind == "image"] + [ref for ref in refs if ref.kind == "video"]


@dataclass(frozen=True)
class Music:
    path: Path
    volume: float
    where: Path_
    fade_in: float = 0.0
    fade_out: float = 0.0
    loop: bool = True
    duck: float | None = None


@dataclass(frozen=True)
class Output:
    path: Path
    fps: float
    music: Music | None
    resolution: str | None = None  # None: the first shot's
    aspect_ratio: str | None = None
    fit: str = "contain"
    crf: int = 20
    preset: str = "veryfast"
    normalize: bool = False
    keyframe_interval: float = 2.0  # seconds between the film's keyframes, at most
    subtitles: Literal["none", "sidecar", "burn"] = "none"  # the dialogue as .srt/.vtt next to the film, or drawn in


SIDECARS = (".srt", ".vtt")  # the subtitle files written for `output.subtitles: sidecar`, by file suffix


def sidecar_paths(film: Path) -> list[Path]:
    """The subtitle files of a film: its path with each of SIDECARS for a suffix."""
    return [film.with_suffix(suffix) for suffix in SIDECARS]


@dataclass(frozen=True)
class S3Settings:
    bucket: str
    endpoint: str | None = None
    region: str | None = None
    prefix: str = ""
    expires: int = 3600


@dataclass(frozen=True)
class PublishSettings:
    """How local files become URLs the real service can fetch."""

    data_uri: bool = True
    s3: S3Settings | None = None


@dataclass(frozen=True)
class SharedStore:
    """An S3-compatible bucket (and key prefix) where clips are shared by every machine that renders."""

    bucket: str
    prefix: str = ""
    endpoint: str | None = None  # None: boto3's own (AWS_ENDPOINT_URL_S3, else AWS)
    region: str | None = None

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass(frozen=True)
class CacheSettings:
    """The shared clip cache as the storyboard's `cache:` block sets it (the environment may override it,
    see cache.settings)."""

    s3: SharedStore | None = None
    takeover_after: float | None = None  # seconds after which a claim with no generation id is taken over


@dataclass(frozen=True)
class RenderSettings:
    max_cost: float | None = None
    jobs: int | None = None
    backend: str | None = None  # whose clips the commands use when none is named on the command line


@dataclass(frozen=True)
class Variant:
    """One of the file's variants (`variants:`): its name and its values, `variant.<key>` in templates."""

    name: str
    values: dict[str, str | int | float | bool]
    index: int  # its place among the file's variants (what `--shard` slices by)

    @property
    def context(self) -> dict[str, Any]:
        return {**self.values, "name": self.name}


@dataclass(frozen=True)
class Storyboard:
    file: Path  # absolute path of the storyboard file
    document: Document  # the parsed YAML, for positions in error messages
    title: str
    vars: dict[str, Any]
    cast: dict[str, CastMember]
    shots: list[Shot]
    output: Output
    profiles: dict[str, ModelProfile]  # by model id
    publish: PublishSettings = field(default_factory=PublishSettings)
    render: RenderSettings = field(default_factory=RenderSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    includes: dict[Path, str] = field(default_factory=dict)  # files `{% include %}` read (resolved -> as named); templating
    variant: Variant | None = None  # which of the file's variants this is, if it has `variants:`

    @property
    def root(self) -> Path:
        """Folder the storyboard's relative paths are resolved against."""
        return self.file.parent

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def display_path(self) -> str:
        return self.document.display_path

    @property
    def records_name(self) -> str:
        """What the render state and storyboard.lock file this storyboard's film under: the file's name,
        and the variant's (`ad.yaml#shoes-en`)."""
        return self.file.name if self.variant is None else f"{self.file.name}#{self.variant.name}"

    def profile(self, shot: Shot) -> ModelProfile:
        return self.profiles[shot.model]

    def __repr__(self) -> str:
        variant = f" variant {self.variant.name!r}" if self.variant else ""
        return f"<Storyboard {self.display_path!r}{variant}: {len(self.shots)} shot{'' if len(self.shots) == 1 else 's'}>"

    def with_takes(self, takes: int) -> Storyboard:
        """This storyboard with at least `takes` takes of every generated shot (`render --takes`)."""
        shots = [shot if shot.clip is not None else replace(shot, takes=max(shot.takes, takes)) for shot in self.shots]
        return replace(self, shots=shots)

    def shot(self, shot_id: str) -> Shot:
        for shot in self.shots:
            if shot.id == shot_id:
                return shot
        raise KeyError(shot_id)


def reference_text(ref: Reference, root: Path) -> str:
    """A reference as the plan shows it: URLs as they are, local files relative to the project."""
    if ref.path is None:
        return ref.source
    try:
        return ref.path.relative_to(root).as_posix()
    except ValueError:
        return str(ref.path)


def frame_text(frame: FrameOf) -> str:
    """Placeholder for a frame that exists only once the other shot is generated."""
    return f"frame:{frame.shot}@{frame.at}"


def still_text(shot_id: str, take: int | None) -> str:
    """Placeholder for a shot's still, which exists only once it is drawn (and, of several, picked)."""
    return f"still:{shot_id}#{take}" if take is not None else f"still:{shot_id} (not picked yet)"


def request_body(shot: Shot, root: Path, seed: int | None = None) -> dict[str, Any]:
    """The JSON body the service receives for this shot (local files still as paths); `seed`: a
    take's seed, in place of the shot's."""
    body: dict[str, Any] = {"model": shot.model, "prompt": shot.prompt}
    if isinstance(shot.first_frame, FrameOf):
        body["first_frame_image"] = frame_text(shot.first_frame)
    elif isinstance(shot.first_frame, Reference):
        body["first_frame_image"] = reference_text(shot.first_frame, root)
    elif shot.still is not None:
        body["first_frame_image"] = still_text(shot.id, shot.still.picked)
    refs = shot.all_references()
    for name, kind in (("image_urls", "image"), ("video_urls", "video")):
        chosen = [reference_text(ref, root) for ref in refs if ref.kind == kind]
        if chosen or name in shot.origins:
            body[name] = chosen
    for name in SERVICE_FIELDS:
        if name in shot.fields:
            body[name] = shot.fields[name]
    if seed is not None:
        body["seed"] = seed
    body.update(shot.fields.get("params", {}))
    return body


def known_usd(value: Any) -> float | None:
    """An amount of US dollars read from outside (a clip's record in the shared cache, a claim,
    storyboard.lock, the render state): a finite, non-negative number, else None (unknown)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    amount = float(value)
    return amount if math.isfinite(amount) and amount >= 0 else None
