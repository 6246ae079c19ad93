"""Jinja's sandbox for prompt templates, with limits: a template is someone's input, so it
may build and print only so much, and run only so long.

Jinja's own sandbox keeps templates away from Python's internals (and, immutable, from
changing lists and mappings). On top of it, every operator, call and filter result is checked
(`_checked`), and what could build a huge value from small ones (`'a' * 10**9`, `x.center(10**9)`,
`'%9999999d' % 1`, `2 ** 10**9`, a join of a long list) is checked before it runs (`_check_before`,
`_check_operation`); a template produces at most MAX_TEXT characters in all, whichever buffer
they go to; and each loop step, call, filter and print looks at the clock, so a prompt stops at
its deadline (a loop that produces nothing still steps through the clock).
"""
from __future__ import annotations

import functools
import inspect
import re
import string
import time
from collections import abc, deque
from collections.abc import Callable
from functools import wraps
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.environment import TemplateModule
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace

from ...errors import StoryboardError
from ..yaml_source import MAX_INT_DIGITS

MAX_PROMPT_CHARS = 20_000  # a prompt, and any text a template builds (the service reads far fewer)
MAX_TEXT = 1_000_000  # characters a template may produce in all; items in the lists and mappings it builds
MAX_SECONDS = 2.0  # to expand one prompt
MAX_TOTAL_SECONDS = 20.0  # to expand all the prompts of a storyboard
MAX_RANGE = 100_000  # items range() may give
_INT_BITS = MAX_INT_DIGITS * 332 // 100  # numbers of at most MAX_INT_DIGITS digits, which Python can print
_PRINTF_WIDTHS = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\*|\d+)?(?:\.(\*|\d+))?")


class TemplateProblem(StoryboardError):
    """Raised from inside a template (unknown cast member, unsupported reference kind)."""


class TemplateLimit(TemplateProblem):
    """A template went past a limit: the text or values it builds, or the time it runs."""


def too_long() -> TemplateLimit:
    return TemplateLimit(f"the prompt expands to more than {MAX_PROMPT_CHARS:,} characters; "
                         "look for a loop or a repetition that runs away")


def _too_many() -> TemplateLimit:
    return TemplateLimit(f"the template builds or works on a value of more than {MAX_TEXT:,} items or characters")


def _too_big() -> TemplateLimit:
    return TemplateLimit(f"the template computes a number of more than {MAX_INT_DIGITS:,} digits")


def _size(value: Any, limit: int = MAX_TEXT) -> int:
    """About how many characters `value` prints as, counting every item of its lists and mappings
    as often as it recurs (`[text] * 1000` prints `text` a thousand times); stops past `limit`."""
    total, todo = 0, [value]
    while todo and total <= limit:
        item = todo.pop()
        if isinstance(item, (str, bytes)):
            total += len(item)
        elif isinstance(item, int):
            total += item.bit_length() * 3 // 10 + 1
        elif isinstance(item, Namespace):
            todo.append(getattr(item, "_Namespace__attrs", {}))
        elif isinstance(item, TemplateModule):  # prints the text its template produced
            todo.append(list(getattr(item, "_body_stream", ())))
        elif isinstance(item, (list, tuple, set, frozenset, deque, abc.Mapping, abc.KeysView, abc.ValuesView, abc.ItemsView)):
            total += len(item)
            if total <= limit:
                todo += [*item.keys(), *item.values()] if isinstance(item, abc.Mapping) else list(item)
        else:
            total += 1
    return total


def _inputs_within(values: abc.Iterable[Any]) -> None:
    """What an operation works on (a list repeated through YAML aliases, say) is at most MAX_TEXT."""
    total = 0
    for value in values:
        total += _size(value, MAX_TEXT - total)
        if total > MAX_TEXT:
            raise _too_many()


def _checked(value: Any) -> Any:
    """`value`, if within the limits; every value a template computes passes through here."""
    if isinstance(value, (str, bytes)):
        if len(value) > MAX_PROMPT_CHARS:
            raise too_long()
    elif isinstance(value, int):
        if value.bit_length() > _INT_BITS:
            raise _too_big()
    elif _size(value) > MAX_TEXT:
        raise _too_many()
    return value


def _widths(numbers: abc.Iterable[str]) -> None:
    """Format widths and precisions (`%9999d`, `{:>9999}`; `*` takes one from the values): refused
    before they pad."""
    if sum(int(number) if number.isdigit() and len(number) < 8 else MAX_TEXT for number in numbers) > MAX_PROMPT_CHARS:
        raise too_long()


def _printf_widths(text: str) -> None:
    _widths(number for pair in _PRINTF_WIDTHS.findall(text) for number in pair if number)


def _format_widths(text: str) -> None:
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError:
        return  # malformed: format() says so itself
    _widths(number for _, _, spec, _ in fields if spec for number in (["*"] if "{" in spec else re.findall(r"\d+", spec)))


def _check_before(name: str, arguments: dict[str, Any]) -> None:
    """Refuses, before it is built, what a filter or a method of a string (`.center`) would make
    past the limits. `arguments`: by parameter name, the value (or the string) first."""
    first = next(iter(arguments.values()), "")
    text = first if isinstance(first, str) else ""

    def number(key: str) -> int:
        value = arguments.get(key)
        return value if isinstance(value, int) else 0

    growth = 0
    if name in ("center", ".center", ".ljust", ".rjust", ".zfill"):
        growth = number("width")
    elif name == "indent":
        width = arguments.get("width")
        growth = (text.count("\n") + 1) * (len(width) if isinstance(width, str) else number("width"))
    elif name == ".expandtabs":
        growth = text.count("\t") * number("tabsize")
    elif name == "wordwrap" and isinstance(arguments.get("wrapstring"), str):
        growth = len(text) * len(arguments["wrapstring"])
    elif name in ("replace", ".replace") and isinstance(arguments.get("old"), str) and isinstance(arguments.get("new"), str):
        times = text.count(arguments["old"]) if arguments["old"] else len(text) + 1
        limit = arguments.get("count")
        growth = len(arguments["new"]) * (min(times, limit) if isinstance(limit, int) and limit >= 0 else times)
    elif name in ("join", ".join", "sum"):
        items = arguments.get("value", arguments.get("iterable", ()))
        joint = arguments.get("d", text if name == ".join" else "")
        growth = _size(items) + _size(arguments.get("start", 0)) + len(items) * (len(joint) if isinstance(joint, str) else 0)
    elif name == ".translate" and isinstance(table := arguments.get("table"), (dict, list, tuple, str)):
        growth = len(text) * max((_size(value) for value in (table.values() if isinstance(table, dict) else table)), default=1)
    elif name in ("format", "%"):
        _printf_widths(text)
    elif name in (".format", ".format_map"):
        _format_widths(text)
    elif name in ("batch", "slice") and max(number("linecount"), number("slices")) > MAX_RANGE:
        raise TemplateLimit(f"{name}: more than the {MAX_RANGE:,} parts a template may make")
    if len(text) + growth > MAX_TEXT:
        raise too_long()


def _check_operation(operator: str, left: Any, right: Any) -> None:
    """Refuses, before it runs, an operator whose result would pass the limits."""
    if operator == "*":
        for sequence, count in ((left, right), (right, left)):
            if isinstance(count, int) and count > 0 and not isinstance(sequence, (int, float)):
                limit = MAX_PROMPT_CHARS if isinstance(sequence, (str, bytes)) else MAX_TEXT
                if _size(sequence, limit) * count > limit:
                    raise too_long() if limit == MAX_PROMPT_CHARS else _too_many()
        if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > _INT_BITS + 1:
            raise _too_big()
    elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
        if (left.bit_length() - 1) * right > _INT_BITS:  # at least this many bits
            raise _too_big()
    elif operator == "%" and isinstance(left, str):
        _printf_widths(left)


class _GuardedCode(CodeGenerator):
    """Compiles templates so that loops step through the sandbox's clock (`ticking`), `~` joins
    through its size check, and text written in the template counts toward what it produced."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        node.iter = nodes.Call(nodes.EnvironmentAttribute("ticking"), [node.iter], [], None, None, lineno=node.iter.lineno)
        super().visit_For(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.joined((")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        self.write("))")

    def _output_const_repr(self, group: abc.Iterable[Any]) -> str:
        return f"environment.produced({super()._output_const_repr(group)})"


class Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's sandbox (no Python internals, no changing lists or mappings), with limits: every
    operator, call and filter result is checked (`_checked`) and those that could build a huge
    value from small ones are checked before they run (`_check_before`, `_check_operation`);
    a template produces at most MAX_TEXT characters in all; and each loop step, call, filter
    and print looks at the clock, so no prompt runs past its deadline."""

    code_generator_class = _GuardedCode
    intercepted_binops = frozenset(["+", "-", "*", "/", "//", "%", "**"])

    def __init__(self, **options: Any):
        super().__init__(finalize=self.printable, **options)
        self.globals["range"] = self.bounded_range
        self.filters = {name: self._guard(name, function) for name, function in self.filters.items()}
        self.start(float("inf"), "")

    def start(self, deadline: float, late: str) -> None:
        """Limits for the next expansion: its deadline, and what to say when it passes."""
        self.deadline, self.late, self.text_made = deadline, late, 0

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateLimit(self.late)

    def produced(self, text: str) -> str:
        self.tick()
        self.text_made += len(text)
        if self.text_made > MAX_TEXT:
            raise too_long()
        return text

    def printable(self, value: Any) -> str:
        """`{{ value }}` (Jinja's `finalize`): the text it prints, if within the limits."""
        if _size(value, MAX_PROMPT_CHARS) > MAX_PROMPT_CHARS:
            raise too_long()
        return self.produced(str(value))

    def joined(self, values: tuple[Any, ...]) -> str:
        """`a ~ b`."""
        self.tick()
        if sum(_size(value, MAX_PROMPT_CHARS) for value in values) > MAX_PROMPT_CHARS:
            raise too_long()
        return _checked("".join(map(str, values)))

    def ticking(self, iterable: abc.Iterable[Any]) -> abc.Iterator[Any]:
        for item in iterable:
            self.tick()
            yield item

    def bounded_range(self, *arguments: int) -> range:
        numbers = range(*arguments)
        if len(numbers) > MAX_RANGE:
            raise TemplateLimit(f"range() of {len(numbers):,} numbers; a template may count to {MAX_RANGE:,}")
        return numbers

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        self.tick()
        _inputs_within((left, right))
        _check_operation(operator, left, right)
        return _checked(super().call_binop(context, operator, left, right))

    def call(__self, __context: jinja2.runtime.Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        __self.tick()
        _inputs_within((*args, *kwargs.values()))
        method = getattr(__obj, "__wrapped__", __obj)  # str.format comes wrapped by the sandbox
        owner, name = getattr(method, "__self__", None), getattr(method, "__name__", "")
        if isinstance(owner, (str, bytes)) and name in _GROWING_METHODS:
            if name == "join" and args:
                args = (list(args[0]), *args[1:])
            _check_before(f".{name}", {"self": owner, **_arguments(getattr(type(owner), name), (owner, *args), kwargs)})
        return _checked(super().call(__context, __obj, *args, **kwargs))

    def _guard(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        skip = 1 if hasattr(function, "jinja_pass_arg") else 0  # the environment or context Jinja passes first

        @wraps(function)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            self.tick()
            _inputs_within((*args[skip:], *kwargs.values()))
            if name in _GROWING_FILTERS:
                if name in ("join", "sum") and len(args) > skip:
                    args = (*args[:skip], list(args[skip]), *args[skip + 1:])
                _check_before(name, dict(list(_arguments(function, args, kwargs).items())[skip:]))
            return _checked(function(*args, **kwargs))

        return guarded


# What may build a large result from small arguments, and so is checked before it runs.
_GROWING_FILTERS = frozenset({"center", "indent", "wordwrap", "replace", "join", "sum", "format", "batch", "slice"})
_GROWING_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs", "replace", "join", "translate",
                              "format", "format_map"})


def _arguments(function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The arguments of a call by parameter name (empty if they do not fit: the call will say so)."""
    signature = _signature(function)
    try:
        bound = signature.bind(*args, **kwargs) if signature else None
    except TypeError:
        return {}
    if bound is None:
        return {}
    bound.apply_defaults()
    return dict(bound.arguments)


@functools.lru_cache(maxsize=128)
def _signature(function: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(function)
    except (TypeError, ValueError):  # str.format has none
        return None


def late(seconds: float) -> str:
    return f"the prompt took longer than {seconds:g} s to expand; look for loops that run too long"


def late_in_all() -> str:
    return (f"the prompts took longer than {MAX_TOTAL_SECONDS:g} s in all to expand; "
            "look for loops that run too long, or split the storyboard")
