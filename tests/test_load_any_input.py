"""Fuzzing the load pipeline (issue #9): whatever the storyboard file holds, `load` returns a
Storyboard or raises InvalidStoryboard whose every problem has a file, a line and a column,
and `storyboard validate` exits 0 or 2 with FILE:LINE:COL lines: never another exception,
never a hang, never unbounded memory.

Two kinds of input: storyboards generated field by field (plausible structures with values of
every type in every field, random ids, references and templates), and real storyboards mutated
as text (bytes flipped, cut short, control characters and separators inserted, deep nesting).
A few hundred examples here, derandomized so CI is reproducible; `stress/fuzz.py` runs thousands.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from storyboard.cli import main
from storyboard.errors import InvalidStoryboard
from storyboard.loading import load_variants
from storyboard.model import Storyboard

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BASES = [path.read_bytes() for path in sorted(EXAMPLES.glob("*/storyboard.yaml"))]
EXAMPLE_TIMEOUT = 30.0  # seconds one example may take before it counts as a hang
FUZZ = settings(max_examples=250, deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])


# --- the project the storyboards live in -------------------------------------------------------


def make_project(root: Path) -> Path:
    """A project folder with the examples' assets and snippets, and some traps: a named pipe,
    a symbolic link loop, a folder named like a file, a model profile of its own."""
    for example in EXAMPLES.iterdir():
        for folder in ("assets", "snippets"):
            if (example / folder).is_dir():
                shutil.copytree(example / folder, root / folder, dirs_exist_ok=True)
    Image.new("RGB", (64, 48), (200, 40, 40)).save(root / "assets" / "red.png")
    (root / "assets" / "folder.png").mkdir(exist_ok=True)
    (root / "snippets" / "loop.txt").write_text("{% include 'snippets/loop.txt' %}")
    (root / "models").mkdir(exist_ok=True)
    (root / "models" / "acme.yaml").write_text(
        "model: acme/v1\nfields: {prompt: {type: string}, duration: {type: integer, default: 5}}\n"
        "references: {labels: {image: 'Image {n}'}, mention: '{label} ({description})'}\n")
    if hasattr(os, "mkfifo") and not (root / "assets" / "pipe.png").exists():
        os.mkfifo(root / "assets" / "pipe.png")
    with contextlib.suppress(OSError):
        os.symlink(root / "assets" / "loop.png", root / "assets" / "loop.png")
    return root


# --- what a storyboard may be made of ------------------------------------------------------------

GOOD_PATHS = ["assets/red.png", "assets/fairy.png", "assets/bottle.png", "https://example.com/x.png",
              "./assets/../assets/red.png"]
GOOD_VIDEOS = ["assets/raccoon.mp4", "https://example.com/x.mp4"]
BAD_PATHS = ["assets/pipe.png", "assets/loop.png", "assets/folder.png", "assets/missing.png", "assets", "/dev/null",
             "/dev/zero", "a\0b.png", "data:image/png;base64,AAAA", "data:video/mp4,x", "ftp://x", "renders/film.mp4",
             "board.yaml", "storyboard.lock", "models/acme.yaml", "snippets/style.txt", "../outside.png",
             "assets/red.png/x.mp4", ".storyboard/x.mp4", "x.mp4", "assets/theme.m4a", "", "\u2028.png"]
BAD_IDS = ["", " ", "é", "id with space", "-", "a" * 70, "\0", "\u2028", "A", "s0", "s1"]
GOOD_PARTS = [
    "A fox at dawn. ", "{{ look }}", "{{ cast.c0 }}", "{{ cast.c1.label }}", "{{ cast.c0.description }}",
    "{{ shot.duration }}", "{{ shot.id }}", "{{ number }}", "{{ vars.look | upper }}", "{{ title }}",
    "{% for i in range(N) %}{{ i }}{% endfor %}", "{% if look %}yes{% else %}no{% endif %}", "{{ 'ab' * N }}",
    "{{ look ~ look }}", "{{ 2 ** N }}", "{{ N * N }}", "{{ '%0Nd' % 1 }}", "{{ look | center(N) }}",
    "{{ look | indent(N) }}", "{{ look | replace('o', 'oo') }}", "{{ range(N) | join(',') }}", "{{ [look] * N }}",
    "{{ look.ljust(N) }}", "{{ '{:>N}'.format(1) }}", "{{ range(N) | batch(N) | list }}", "{{ look[N] }}",
    "{% include 'snippets/style.txt' %}", "{{ dict(a=N) }}", "{% filter upper %}a{% endfilter %}",
    "{% set x %}{% for i in range(N) %}x{% endfor %}{% endset %}{{ x | length }}", "\n", "\u2028",
    "{% set ns = namespace(s='ab') %}{% for i in range(N) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
    "{% for i in range(N) %}{% for j in range(N) %}{% endfor %}{% endfor %}",
]
BAD_PARTS = [
    "{{ cast.nope }}", "{{ cast }}", "{{ undefined_name }}", "{% for i in range(N) %}", "{% endfor %}",
    "{% include 'snippets/loop.txt' %}", "{% include 'nope.txt' %}", "{% include '../x' %}", "{% include N %}",
    "{{ ''.__class__.__mro__ }}", "{{ cycler.__init__.__globals__ }}", "{{ lipsum() }}", "{{ [1] | random }}",
    "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}", "{% raw %}", "{{", "}}", "{%", "%}", "{#", "#}",
    "{{ 1/0 }}", "{{ look | int }}", "{{ '9' * N | int }}", "\r\n", "\t", "{% extends 'snippets/style.txt' %}",
    "{% import 'snippets/style.txt' as s %}{{ s }}", "{{ self }}", "{{ range(N) | slice(N) | list }}",
]
NUMBERS = [0, 1, 3, 7, 100, 4300, 20001, 100000, 10**9, 10**12, -1]
ANY = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
                   lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                   max_leaves=8)
KEY = st.sampled_from(["c0", "c1", "look", "x", "1bad", "_", "a-b", "<<"]) | st.text(max_size=8) \
    | st.integers(-3, 3) | st.none() | st.booleans()  # mapping keys: anything YAML can write as one
# % of the values that are wrong, and of template parts that are wild, in the storyboard being drawn.
_rates = {"values": 0, "templates": 0}


@st.composite
def choose(draw: st.DrawFn, good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any],
           anything: st.SearchStrategy[Any] = ANY, rate: str = "values") -> Any:
    """A good value, or (as often as this storyboard's rate says) a wrong one, or anything at all."""
    percent = _rates[rate]
    roll = draw(st.integers(0, 99))
    if roll < percent:
        return draw(anything)
    return draw(bad) if roll < 2 * percent else draw(good)


def template() -> st.SearchStrategy[str]:
    def part(pool: list[str]) -> st.SearchStrategy[str]:
        return st.tuples(st.sampled_from(pool), st.sampled_from(NUMBERS)).map(lambda p: p[0].replace("N", str(p[1])))

    small = st.tuples(st.sampled_from(GOOD_PARTS), st.sampled_from([0, 1, 2, 3, 5])).map(lambda p: p[0].replace("N", str(p[1])))
    wrong = part(GOOD_PARTS) | part(BAD_PARTS)
    return st.lists(choose(small, wrong, st.text(max_size=6), "templates"), min_size=1, max_size=6).map("".join)


def optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=fields)


def number(good: list[Any]) -> st.SearchStrategy[Any]:
    return choose(st.sampled_from(good), st.sampled_from(NUMBERS) | st.floats())


def of(good: list[Any], bad: list[Any] | None = None) -> st.SearchStrategy[Any]:
    return choose(st.sampled_from(good), st.sampled_from(bad or [None]))


IMAGE, VIDEO = of(GOOD_PATHS, BAD_PATHS), of(GOOD_VIDEOS, BAD_PATHS)
SERVICE = dict(model=of(["alibaba/wan-2-7-r2v"] * 3 + ["acme/v1"], ["nope/x"]), duration=number([2, 5, 15]),
               seed=number([0, 7, 2147483647]), resolution=of(["720p", "1080p"], ["9p"]),
               aspect_ratio=of(["16:9", "9:16"], ["21:9"]), enhance_prompt=of([True, False]),
               negative_prompt=choose(st.just("blurry"), template()), watermark=of([False]),
               image_urls=choose(st.lists(IMAGE, max_size=2), st.lists(IMAGE, max_size=7)),
               video_urls=choose(st.lists(VIDEO, max_size=1), st.lists(VIDEO, max_size=6)), first_frame_image=IMAGE,
               params=choose(st.just({}), st.dictionaries(st.sampled_from(["seed", "camera", "model"]), ANY, max_size=2)))
TRANSITION = st.fixed_dictionaries({"type": of(["cut", "crossfade", "fade"], ["wipe"])}, optional={"duration": number([0, 0.5])})
CAST_MEMBER = optional(image=IMAGE, images=st.lists(IMAGE, max_size=2), video=VIDEO, videos=st.lists(VIDEO, max_size=2),
                       description=choose(st.just("a small fox"), template()))
OUTPUT = optional(
    path=of(["renders/film.mp4", "film.mp4", "out/a b.mp4"], [*BAD_PATHS, "assets/raccoon.mp4", "snippets/x.mp4"]),
    fps=number([24, 30]), resolution=of(["720p"], ["4k"]), aspect_ratio=of(["16:9"]), fit=of(["contain", "cover"]),
    quality=optional(crf=number([18]), preset=of(["fast"], ["slowest"])),
    audio=optional(music=st.fixed_dictionaries({"path": of(["assets/theme.m4a"], BAD_PATHS)},
                                               optional={"volume": number([0.5]), "duck": number([0.3])}),
                   normalize=of([True])))


@st.composite
def shot(draw: st.DrawFn, index: int) -> Any:
    fields = draw(optional(trim=optional(start=number([0, 0.5]), end=number([1, 3])), fit=of(["contain", "cover"]),
                           vars=st.dictionaries(KEY, ANY, max_size=3), transition=TRANSITION, **SERVICE))
    fields["id"] = draw(choose(st.just(f"s{index}"), st.sampled_from(BAD_IDS) | st.text(max_size=10)))
    if draw(st.integers(0, 9)) == 0:
        fields["clip"] = draw(of(GOOD_VIDEOS[:1], BAD_PATHS))
    else:
        fields["prompt"] = draw(choose(template(), template()))
    if index and draw(st.integers(0, 3)) == 0:
        frame = {"shot": draw(choose(st.just(f"s{draw(st.integers(0, index))}"), st.sampled_from(BAD_IDS)))}
        frame.update(draw(optional(at=choose(st.sampled_from(["start", "end", 0.5]), st.sampled_from([-1, 99, "mid"])))))
        fields["first_frame"] = frame
    return draw(choose(st.just(fields), ANY))


@st.composite
def generated_storyboards(draw: st.DrawFn, wild_templates_only: bool = False) -> bytes:
    """A storyboard built field by field; `wild_templates_only`: every other field right, so that the
    prompts are expanded."""
    _rates["values"] = 0 if wild_templates_only else draw(st.sampled_from([0, 0, 2, 5, 20]))
    _rates["templates"] = draw(st.sampled_from([30, 60, 90] if wild_templates_only else [0, 10, 30, 60]))
    board: dict[Any, Any] = {"storyboard": draw(choose(st.just(1), st.sampled_from([2, "1", None])))}
    board.update(draw(optional(
        title=choose(st.just("A film"), st.text(max_size=20)), vars=st.dictionaries(KEY, ANY, max_size=3),
        defaults=optional(transition=TRANSITION, **SERVICE),
        cast=choose(st.fixed_dictionaries({"c0": CAST_MEMBER, "c1": CAST_MEMBER}), st.dictionaries(KEY, CAST_MEMBER, max_size=3)),
        output=OUTPUT, render=optional(max_cost=number([5]), jobs=number([2])),
        publish=optional(data_uri=of([True]), s3=choose(st.just({"bucket": "b"}), ANY)))))
    board.setdefault("vars", {"look": "golden hour"})
    count = draw(choose(st.integers(1, 4), st.integers(0, 8), st.integers(0, 8)))
    board["shots"] = draw(choose(st.just([draw(shot(index)) for index in range(count)]), ANY))
    flow = draw(st.sampled_from([None, False, True]))
    return yaml.safe_dump(board, allow_unicode=draw(st.booleans()), default_flow_style=flow, sort_keys=False,
                          width=draw(st.sampled_from([80, 10**6]))).encode("utf-8")


INSERTS = [b"\0", b"\x01", b"\x1b", b"\x7f", b"\t", b"\r", b"\n", b"\xc2\x85", b"\xe2\x80\xa8", b"\xe2\x80\xa9",
           b"\xef\xbb\xbf", b"\xff", b"\xc3", b"&a ", b"*a ", b"<<: *a\n", b"!!python/object:os.system ", b"!!int ",
           b"? ", b"- ", b": ", b"'", b'"', b"{", b"[", b"#", b"|\n", b"---\n", b"...\n", b"%YAML 1.1\n", b"\\u2028",
           b"9" * 4301, b"0x" + b"f" * 5000, b"{{ ", b" }}", b"{% for i in range(100000) %}"]


@st.composite
def mutated_storyboards(draw: st.DrawFn) -> bytes:
    text = bytearray(draw(st.sampled_from(BASES) | generated_storyboards()))
    for _ in range(draw(st.integers(1, 5))):
        where = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["flip", "cut", "insert", "repeat", "nest", "delete"]))
        if kind == "flip" and where < len(text):
            text[where] = draw(st.integers(0, 255))
        elif kind == "cut":
            del text[where:]
        elif kind == "insert":
            text[where:where] = draw(st.sampled_from(INSERTS) | st.binary(max_size=4))
        elif kind == "repeat":
            end = draw(st.integers(where, min(len(text), where + 200)))
            text[where:where] = bytes(text[where:end]) * draw(st.integers(1, 50))
        elif kind == "nest":
            depth = draw(st.integers(1, 80))
            opening, closing = draw(st.sampled_from([(b"[", b"]"), (b"{a: ", b"}"), (b"- ", b"")]))
            text[where:where] = opening * depth + b"x" + closing * depth
        elif kind == "delete":
            del text[where:where + draw(st.integers(1, 40))]
    return bytes(text)


# --- what must hold ---------------------------------------------------------------------------------


class Hang(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise Hang in the main thread once `seconds` have passed (a loop, not a blocked system call)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise Hang(f"no outcome after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_load(file: Path, messages: list[str] | None = None) -> str:
    """'ok' or 'invalid' (its messages added to `messages`); anything else fails (AssertionError, Hang...)."""
    try:
        with time_limit(EXAMPLE_TIMEOUT):
            boards = load_variants(file)  # a file with variants: each of them
    except InvalidStoryboard as error:
        assert error.problems, "InvalidStoryboard without problems"
        for problem in error.problems:
            assert problem.file and problem.line >= 1 and problem.column >= 1, problem
            assert "MemoryError" not in problem.message and problem.message.isprintable(), problem
        if messages is not None:
            messages += [problem.message for problem in error.problems]
        return "invalid"
    assert boards and all(isinstance(board, Storyboard) for board in boards)
    return "ok"


LINE = re.compile(r"^\S.*:\d+:\d+: \S")


def check_validate(file: Path) -> int:
    """The exit code of `storyboard validate FILE`: 0 with one 'ok' line, or 2 with FILE:LINE:COL lines."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), time_limit(EXAMPLE_TIMEOUT):
        code = main(["validate", str(file)])
    assert code in (0, 2), (code, err.getvalue())
    if code == 2:
        lines = err.getvalue().splitlines()
        assert lines and all(LINE.match(line) for line in lines), err.getvalue()
    else:
        assert err.getvalue() == "" and out.getvalue().endswith((" ok (1 shot)\n", " shots)\n", " shot)\n")), out.getvalue()
    return code


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("fuzz"))


@pytest.fixture(scope="module", autouse=True)
def quick_deadlines() -> Iterator[None]:
    """A prompt's time limit is what is checked here, not its length: 0.2 s instead of 2 s keeps CI quick."""
    from storyboard.loading import templating
    from storyboard.loading.templating import sandbox

    with pytest.MonkeyPatch.context() as patch:
        for module in (sandbox, templating):
            patch.setattr(module, "MAX_SECONDS", 0.2)
            patch.setattr(module, "MAX_TOTAL_SECONDS", 1.0)
        yield


def write(folder: Path, raw: bytes) -> Path:
    file = folder / "board.yaml"
    file.write_bytes(raw)
    return file


@FUZZ
@given(raw=generated_storyboards())
def test_generated_storyboards_load_or_explain(folder, raw):
    check_load(write(folder, raw))


@FUZZ
@given(raw=generated_storyboards(wild_templates_only=True))
def test_wild_templates_expand_or_explain(folder, raw):
    check_load(write(folder, raw))


@FUZZ
@given(raw=mutated_storyboards())
def test_mutated_storyboards_load_or_explain(folder, raw):
    check_load(write(folder, raw))


@settings(FUZZ, max_examples=80)
@given(raw=generated_storyboards() | mutated_storyboards())
def test_validate_exits_0_or_2_with_located_lines(folder, raw):
    check_validate(write(folder, raw))


def test_the_examples_pass_the_same_checks(folder):
    for base in BASES:
        file = write(folder, base)
        assert check_load(file) == "ok"
        assert check_validate(file) == 0
