"""What the review page shows, gathered from the plan, the clip store and the render state.

Nothing here writes HTML: `Review` is plain data the template lays out (see `page.py`).
"""
from __future__ import annotations

import base64
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from ..assembling.film import film_path
from ..backends import PAID_BACKEND, on_the_service, store_name
from ..backends.preview import DEFAULT_DURATION, LabelledReference, labelled_references, source_name
from ..errors import MediaError
from ..loading.checks.timing import clip_length
from ..loading.prices import differs
from ..model import FrameOf, Reference, Shot, Storyboard, sidecar_paths
from ..planning.plans import STATUSES, Plan, ShotPlan, TakeStatus
from ..project.state import State
from ..project.store import ClipStore
from .storyboard import PanelView, panels
from .thumbnails import ClipFacts, Thumbnails

WORKERS = max(1, min(8, os.cpu_count() or 1))  # clips decoded at once (PyAV decodes outside the GIL)


@dataclass
class ReferenceView:
    label: str  # as the prompt names it: "Image 1", "Video 1"
    name: str  # whose it is: the cast member's name, else the file's name
    kind: str
    source: str  # as written in the storyboard
    thumbnail: str | None  # data URI; None for a URL or a file that cannot be read


@dataclass(frozen=True)
class Pick:
    """The edit that puts a take in the film: change the shot's `take:` line, or add one to the shot."""

    take: int
    line: int  # of the `take:` key, or of the shot when it has none
    shot: str
    add: bool

    def __str__(self) -> str:
        if self.add:
            return f"add `take: {self.take}` to shot '{self.shot}' (line {self.line})"
        return f"line {self.line}: take: {self.take}"


@dataclass
class TakeView:
    number: int
    key: str
    in_film: bool
    held: bool
    status: TakeStatus  # see planning.STATUSES
    explained: str
    clip: Path | None  # the file to play: the store's clip or the footage; None until rendered
    src: str | None  # `clip` as a URL relative to the page
    facts: ClipFacts | None  # None: not rendered yet, or unreadable (see `problem`)
    problem: str | None
    seed: int | None
    estimated_usd: float | None
    spent_usd: float
    charge_note: str | None  # what was charged differs from the estimate by more than 1 %
    prompt: str | None  # exactly as sent; None for footage
    pick: Pick | None  # how to put this take in the film; None for the one there
    hash: str

    @property
    def rendered(self) -> bool:
        return self.facts is not None


@dataclass
class ShotView:
    number: int
    id: str
    line: int
    start: float | None  # seconds into the film; None: not known (unreadable footage before it)
    end: float | None
    footage: str | None  # the file, as written, for a `clip:` shot
    takes: list[TakeView]
    references: list[ReferenceView]
    first_frame: str | None  # what the shot starts from, in words
    prompt: str | None  # shared by every take (they differ by seed only); None: see each take's
    aspect: str = "16 / 9"  # of its picture, as CSS says it
    notes: list[str] = field(default_factory=list)  # transition, trim, model, hold

    @property
    def chosen(self) -> TakeView:
        return next(take for take in self.takes if take.in_film)


@dataclass
class Review:
    title: str
    storyboard: str  # display path of the storyboard file
    backend: str  # whose clips are shown, as `--backend` names it
    page: Path
    film_src: str | None  # the film as a URL relative to the page; None: not rendered yet
    film_poster: str | None  # data URI: a frame of the film, shown before it plays
    film_subtitles: str | None  # data URI of its WebVTT sidecar (`output.subtitles: sidecar`); None: none
    film_note: str | None
    shots: list[ShotView]
    in_film_usd: float  # what the service was paid for the takes in the film
    project_usd: float  # everything it was paid for in this project: every take ever made, in the storyboard or not
    estimated_usd: float
    to_pay_usd: float
    prices: str  # where the estimates' prices come from
    decoded: int  # clips and images decoded this time (the rest came from the cache)
    panels: list[PanelView] = field(default_factory=list)  # the storyboard, when shots have stills (storyboard.py)

    @property
    def length(self) -> float | None:
        ends = [shot.end for shot in self.shots]
        return None if not ends or any(end is None for end in ends) else max(end for end in ends if end is not None)

    @property
    def takes(self) -> int:
        return sum(len(shot.takes) for shot in self.shots)

    @property
    def rendered(self) -> int:
        return sum(take.rendered for shot in self.shots for take in shot.takes)


def gather(the_plan: Plan, page: Path, backend_name: str | None = None) -> Review:
    """Everything the page shows for `the_plan` (its statuses looked up for the backend whose clips to show,
    `backend_name` as `--backend` names it)."""
    board = the_plan.storyboard
    store = ClipStore(board.root)
    backend = the_plan.backend or "preview"  # the name its clips are stored under
    cache = store.root / "review" if _writable(board.root) else None
    thumbnails = Thumbnails(cache)
    if cache is not None:
        store.ensure()  # its .gitignore keeps the thumbnails out of version control
    takes = {item.id: the_plan.takes(item.id) for item in the_plan.shots}
    every = [take for items in takes.values() for take in items]
    clips = {take.key: _clip(store, backend, take) for take in every}
    with ThreadPoolExecutor(WORKERS) as pool:
        read = dict(zip(clips, pool.map(lambda take: _read(thumbnails, clips[take.key], take.shot.trim), every), strict=True))
    spent = _spent(board, every)
    sharing = _variants_using(board)
    lengths = {item.id: _length(board, item.shot, read[item.key][0]) for item in the_plan.shots}
    places = _places(board, lengths)
    shots = []
    for number, item in enumerate(the_plan.shots, start=1):
        views = [_take_view(board, take, item, clips[take.key], read[take.key], spent.get(take.hash, 0.0), page)
                 for take in takes[item.id]]
        prompts = {take.prompt for take in views}
        shots.append(ShotView(
            number=number,
            id=item.id,
            line=board.document.mark(item.shot.where).line,
            start=places[item.id][0],
            end=places[item.id][1],
            footage=_written(board, item.shot) if item.footage is not None else None,
            takes=views,
            references=[_reference_view(thumbnails, named) for named in labelled_references(item)],
            first_frame=_first_frame(item.shot),
            prompt=prompts.pop() if len(prompts) == 1 else None,
            aspect=_aspect(item, views),
            notes=_notes(board, item) + _shared_note(board, item, sharing),
        ))
    paid = on_the_service(the_plan)
    film = film_path(board, store, paid=the_plan.paid)
    rendered = film.is_file()
    return Review(
        title=board.title,
        storyboard=board.display_path,
        backend=backend_name or backend,
        page=page,
        film_src=_relative_url(film, page) if rendered else None,
        film_poster=thumbnails.poster(film, _poster_time(shots)) if rendered else None,
        film_subtitles=_subtitles(board, film) if rendered else None,
        film_note=_film_note(the_plan) if rendered else None,
        shots=shots,
        in_film_usd=round(sum(spent.get(request, 0.0) for request in {item.hash for item in the_plan.shots
                                                                     if item.footage is None}), 4),
        project_usd=_spent_on_project(board),
        estimated_usd=round(the_plan.estimated_usd + the_plan.stills_usd, 4),  # stills (if any) included
        to_pay_usd=round(paid.missing_usd + paid.stills_missing_usd, 4),
        prices=the_plan.prices.describe(the_plan.profiles),
        decoded=thumbnails.decoded,
        panels=panels(the_plan, page, places),
    )


def _reference_view(thumbnails: Thumbnails, named: LabelledReference) -> ReferenceView:
    ref = named.ref
    return ReferenceView(named.label, named.cast if named.cast is not None else source_name(ref.source), ref.kind, ref.source,
                         thumbnails.image(ref.path, ref.kind) if ref.path else None)


def _clip(store: ClipStore, backend: str, take: ShotPlan) -> Path | None:
    if take.footage is not None:
        return take.footage if take.footage.is_file() else None
    return store.clip_path(backend, take.hash) if take.status == "cached" else None


def _read(thumbnails: Thumbnails, clip: Path | None, trim: tuple[float, float | None]) -> tuple[ClipFacts | None, str | None]:
    if clip is None:
        return None, None
    try:
        return thumbnails.clip(clip, trim), None
    except (MediaError, OSError) as error:
        return None, str(error)


def _take_view(board: Storyboard, take: ShotPlan, chosen: ShotPlan, clip: Path | None,
               read: tuple[ClipFacts | None, str | None], spent: float, page: Path) -> TakeView:
    facts, problem = read
    in_film = take.take == chosen.take
    seed = take.setting("seed") if take.footage is None else None
    return TakeView(
        number=take.take,
        key=take.key,
        in_film=in_film,
        held=take.held,
        status=take.status,
        explained=STATUSES.get(take.status, take.status),
        clip=clip,
        src=_relative_url(clip, page) if clip is not None and facts is not None else None,
        facts=facts,
        problem=problem,
        seed=None if seed is None else int(seed),
        estimated_usd=take.estimated_usd,
        spent_usd=spent,
        charge_note=f"charged {(spent - take.estimated_usd) / take.estimated_usd:+.1%} against the estimate"
        if take.estimated_usd and differs(take.estimated_usd, spent or None) else None,
        prompt=take.body.get("prompt") if take.footage is None else None,
        pick=None if in_film else _pick(board, take),
        hash=take.hash,
    )


def _pick(board: Storyboard, take: ShotPlan) -> Pick:
    """The edit that puts `take` in the film: the line to change, else the line to add to."""
    shot = take.shot
    if "take" in shot.origins:
        return Pick(take.take, board.document.mark(shot.origins["take"]).line, shot.id, add=False)
    return Pick(take.take, board.document.mark(shot.where).line, shot.id, add=True)


def _spent(board: Storyboard, takes: list[ShotPlan]) -> dict[str, float]:
    """USD the service's records say each request (by hash) cost, summed over its creates."""
    store = ClipStore(board.root)
    if not store.state_path.exists():
        return {}
    state = State(store.state_path, read_only=True)
    try:
        records = {take.hash: state.get(store_name(PAID_BACKEND), take.hash) for take in takes if take.footage is None}
    finally:
        state.close()
    return {request: record.usd_spent for request, record in records.items() if record is not None and record.usd_spent}


def _spent_on_project(board: Storyboard) -> float:
    """USD the service's records say this project paid: every request ever made there, whether or not the
    storyboard still asks for it."""
    store = ClipStore(board.root)
    if not store.state_path.exists():
        return 0.0
    state = State(store.state_path, read_only=True)
    try:
        records = state.all(store_name(PAID_BACKEND))
    finally:
        state.close()
    return round(sum(record.usd_spent for record in records), 4)


def _length(board: Storyboard, shot: Shot, facts: ClipFacts | None) -> float | None:
    """Seconds of the shot's clip: the rendered clip's own, else what the storyboard asks for."""
    if facts is not None:
        return facts.length
    length = clip_length(board, shot)
    return DEFAULT_DURATION if length is None and shot.clip is None else length


def _places(board: Storyboard, lengths: dict[str, float | None]) -> dict[str, tuple[float | None, float | None]]:
    """(start, end) of every shot in the film, laid as the assembly lays them (`assemble.timeline.Timeline`):
    each as long as its clip after its trim, a crossfade overlapping the shot before it."""
    places: dict[str, tuple[float | None, float | None]] = {}
    at: float | None = 0.0
    for number, shot in enumerate(board.shots):
        length = lengths[shot.id]
        if at is None or length is None:
            at = None
            places[shot.id] = (None, None)
            continue
        trim_start, trim_end = shot.trim
        if number and shot.transition.type == "crossfade":
            at -= shot.transition.duration
        kept = (length if trim_end is None else min(trim_end, length)) - trim_start
        places[shot.id] = (at, at + kept)
        at += kept
    return places


def _written(board: Storyboard, shot: Shot) -> str:
    raw = board.document.data["shots"][shot.index]
    return str(raw.get("clip", shot.clip))


def _first_frame(shot: Shot) -> str | None:
    frame = shot.first_frame
    if isinstance(frame, FrameOf):
        at = {"start": "first frame", "end": "last frame"}.get(str(frame.at), f"frame at {frame.at} s")
        return f"starts on the {at} of shot '{frame.shot}'"
    if isinstance(frame, Reference):
        return f"starts on the image {frame.source}"
    return None


def _aspect(item: ShotPlan, views: list[TakeView]) -> str:
    """The picture's shape: a rendered take's, else what the request asks for."""
    facts = next((view.facts for view in views if view.facts is not None), None)
    if facts is not None:
        return f"{facts.width} / {facts.height}"
    ratio = str(item.setting("aspect_ratio") or "16:9") if item.footage is None else "16:9"
    across, _, down = ratio.partition(":")
    return f"{across} / {down}" if across.isdigit() and down.isdigit() else "16 / 9"


def _notes(board: Storyboard, item: ShotPlan) -> list[str]:
    shot = item.shot
    notes = []
    if item.footage is None:
        notes.append(f"{shot.model} · {item.setting('resolution') or '?'} · {item.setting('aspect_ratio') or '?'}")
    if shot.index and shot.transition.type != "cut":
        notes.append(f"{shot.transition.type} {shot.transition.duration:g} s from the shot before")
    start, end = shot.trim
    if start or end is not None:
        notes.append(f"trimmed to {start:g}–{'end' if end is None else f'{end:g} s'}")
    if item.held:
        line = board.document.mark(shot.origins.get("hold", shot.where)).line
        notes.append(f"hold: true (line {line}) keeps the clip of an earlier render; its request has changed since")
    return notes


def _variants_using(board: Storyboard) -> dict[str, list[str]]:
    """For a variant of a file with `variants:`: each request hash -> the file's variants that use it."""
    if board.variant is None:
        return {}
    from ..loading import load_variants
    from ..planning.plans import make_plan

    users: dict[str, list[str]] = {}
    for other in load_variants(board.file):
        assert other.variant is not None
        for take in make_plan(other).requests:
            users.setdefault(take.hash, []).append(other.variant.name)
    return users


def _shared_note(board: Storyboard, item: ShotPlan, sharing: dict[str, list[str]]) -> list[str]:
    others = [name for name in sharing.get(item.hash, []) if board.variant is None or name != board.variant.name]
    if item.footage is not None or not others:
        return []
    shown = ", ".join(others[:6]) + (f" and {len(others) - 6} more" if len(others) > 6 else "")
    return [f"the same request in variant{'' if len(others) == 1 else 's'} {shown}: made once"]


def _poster_time(shots: list[ShotView]) -> float:
    """Where the film's poster is taken: the middle of its first shot (its start may be a fade from black)."""
    first = shots[0] if shots else None
    if first is None or first.start is None or first.end is None:
        return 0.0
    return (first.start + first.end) / 2


def _subtitles(board: Storyboard, film: Path) -> str | None:
    """The film's WebVTT subtitles as a data URI: a page opened from a file may not load a track from
    another file (browsers treat every file: URL as an origin of its own), so the track is embedded."""
    if board.output.subtitles != "sidecar":
        return None
    vtt = next(path for path in sidecar_paths(film) if path.suffix == ".vtt")
    try:
        text = vtt.read_bytes()
    except OSError:
        return None
    return "data:text/vtt;charset=utf-8;base64," + base64.b64encode(text).decode("ascii")


def _film_note(the_plan: Plan) -> str | None:
    """What the film file lacks of what the storyboard now asks for (from the last render's record)."""
    changed = [item.id for item in the_plan.shots if the_plan.previous.get(item.id, item.hash) != item.hash]
    if not changed:
        return None
    names = ", ".join(f"'{shot}'" for shot in changed)
    return (f"The film was assembled before the latest changes to {names}: "
            f"`storyboard render {the_plan.storyboard.display_path}` to update it.")


def _relative_url(path: Path, page: Path) -> str:
    try:
        relative = os.path.relpath(path.absolute(), page.absolute().parent)
    except ValueError:  # another drive (Windows): only an absolute URL reaches it
        return path.absolute().as_uri()
    return quote(Path(relative).as_posix())


def _writable(root: Path) -> bool:
    return os.access(root, os.W_OK) and (not (root / ".storyboard").exists() or os.access(root / ".storyboard", os.W_OK))
