"""Stage 3: expand each shot's prompt template and find the cast members it mentions (`Expansion`;
loading builds the storyboard that has them).

The context of a prompt: its `vars`, `shot` (its fields, id and number, and `shot.dialogue`, the
lines of a shot with `dialogue:`), `cast` and `title`; mentions and dialogue are in `cast.py`. A
prompt that never uses `shot.dialogue` gets the lines appended in their default phrasing, so no
line is dropped silently.

_Templates run in Jinja's sandbox with strict undefined variables: a typo is an error that
names the shot and the line, never an empty string sent to a paid service. `{% include %}`
reads files inside the project folder only. A template is input, so it runs under limits
(`sandbox.py`): a prompt expands to at most MAX_PROMPT_CHARS characters, in MAX_SECONDS.
"""
from __future__ import annotations

import re
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.loaders import split_template_path
from jinja2.sandbox import SecurityError
from jinja2.utils import missing

from ...errors import FileRefused, Problem
from ...files import read_regular_file
from ...messages import suggest
from ...model import CastMember, Shot, Storyboard
from ..profiles import ModelProfile
from ..yaml_source import MAX_FILE_BYTES
from .cast import LINE_FIELDS, MENTION_FIELDS, Cast, CastMention, Dialogue, Mentions, SpokenLine, with_dialogue
from .sandbox import (
    MAX_PROMPT_CHARS,
    MAX_SECONDS,
    MAX_TOTAL_SECONDS,
    Sandbox,
    TemplateProblem,
    late,
    late_in_all,
    too_long,
)
from .undefined import Undefined, UndefinedLookup, undefined_message

_TEMPLATE_FILE = "<template>"  # the file name Jinja gives templates made from strings
_NEWLINE = re.compile(r"\r\n|\r|\n")  # the line breaks Jinja's lexer recognises


class _ProjectLoader(jinja2.BaseLoader):
    """Loads `{% include %}` files from the project folder and refuses anything outside it."""

    def __init__(self, root: Path):
        self.root = root.resolve()
        self.served: dict[str, str] = {}  # file name -> include name, to place errors inside includes

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        path = self.root.joinpath(*split_template_path(template))  # refuses '..'
        try:
            if not path.resolve().is_relative_to(self.root):
                raise jinja2.TemplateNotFound(template)
            raw = read_regular_file(path, MAX_FILE_BYTES)  # never a pipe or a device: those would hang
        except FileRefused as refused:
            raise TemplateProblem(f"include {template!r} {refused}") from None
        except (OSError, ValueError, RuntimeError):  # missing, a NUL in the name, a symbolic link loop
            raise jinja2.TemplateNotFound(template) from None
        try:
            source = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise TemplateProblem(f"include {template!r} is not UTF-8 text; save it as UTF-8") from None
        self.served[str(path)] = template
        return source, str(path), lambda: True


def environment(root: Path) -> Sandbox:
    env = Sandbox(
        undefined=Undefined,
        loader=_ProjectLoader(root),
        autoescape=False,
        keep_trailing_newline=False,
    )
    # A prompt must expand the same way every time, or its request hash (and the bill) changes.
    del env.filters["random"]
    del env.globals["lipsum"]
    return env


class _Templates:
    """Renders template text for one `expand()` call: each distinct text is compiled once, and
    text without template syntax is not compiled at all (compiling is most of validation's time).
    Compiled templates are shared, never rendered output: every shot renders with its own context."""

    def __init__(self, env: Sandbox):
        self.env = env
        self.compiled: dict[str, jinja2.Template] = {}
        starts = (env.block_start_string, env.variable_start_string, env.comment_start_string)
        prefixes = (env.line_statement_prefix, env.line_comment_prefix)
        self.syntax = [start for start in (*starts, *prefixes) if start]
        self.stop = time.monotonic() + MAX_TOTAL_SECONDS  # for all the prompts together

    def names_dialogue(self, source: str) -> bool:
        """True if the template mentions `shot.dialogue` anywhere, even where it did not run (a branch
        not taken): a prompt that does so has taken charge of the lines."""
        if "dialogue" not in source or not any(start in source for start in self.syntax):
            return False
        try:
            tree = self.env.parse(source)
        except jinja2.TemplateSyntaxError:
            return False
        for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
            key: Any
            if isinstance(node, nodes.Getattr):
                key, owner = node.attr, node.node
            elif isinstance(node, nodes.Getitem):
                key, owner = getattr(node.arg, "value", None), node.node
            else:
                continue
            if key == "dialogue" and isinstance(owner, nodes.Name) and owner.name == "shot":
                return True
        return False

    @property
    def out_of_time(self) -> bool:
        return time.monotonic() > self.stop

    def render(self, source: str, context: dict[str, Any]) -> str:
        if not any(start in source for start in self.syntax):
            # What Jinja makes of plain text: its lexer turns \r\n and \r into \n (and drops
            # one trailing newline, which the strip removes anyway).
            text = _NEWLINE.sub("\n", source).strip()
        else:
            deadline = time.monotonic() + MAX_SECONDS
            self.env.start(min(deadline, self.stop), late(MAX_SECONDS) if deadline <= self.stop else late_in_all())
            template = self.compiled.get(source)
            if template is None:  # a syntax error is not kept: it is raised again, the same, for each use
                template = self.compiled[source] = self.env.from_string(source)
            parts: list[str] = []
            length = 0
            for part in template.generate(context):
                length += len(part)
                if length > MAX_PROMPT_CHARS:
                    raise too_long()
                parts.append(part)
            text = "".join(parts).strip()
        if len(text) > MAX_PROMPT_CHARS:
            raise too_long()
        return text


def template_context(
    storyboard: Storyboard, shot: Shot, profile: ModelProfile, mentions: Mentions, any_cast: bool = False,
    dialogue: Dialogue | None = None,
) -> dict[str, Any]:
    shot_fields = {name: profile.default(name) for name in profile.fields if profile.default(name) is not None}
    shot_fields.update({key: value for key, value in shot.fields.items() if key != "params"})
    shot_fields.update(shot.fields.get("params", {}))
    shot_fields.update({"id": shot.id, "number": shot.index + 1, "model": shot.model})
    variables = {**storyboard.vars, **shot.vars}
    return {
        **shot_fields,
        **variables,
        "vars": variables,
        "shot": shot_fields if dialogue is None else {**shot_fields, "dialogue": dialogue},
        "cast": Cast(mentions, storyboard.cast, any_cast),
        "title": storyboard.title,
        **({"variant": storyboard.variant.context} if storyboard.variant else {}),
    }


@dataclass(frozen=True)
class Prompt:
    """A shot's expanded prompt, and the cast members it mentions, in order of first mention."""

    text: str
    cast: list[CastMember]


@dataclass(frozen=True)
class Expansion:
    """What expanding a storyboard's templates gives; `apply` makes the storyboard that has it."""

    cast: dict[str, CastMember]  # every member, its description expanded (as written where that failed)
    prompts: dict[int, Prompt]  # by shot index: the shots whose prompt expanded
    includes: dict[Path, str]  # files `{% include %}` read (resolved -> as named)
    problems: list[Problem]
    still_prompts: dict[int, Prompt] = field(default_factory=dict)  # by shot index: stills with a prompt of their own

    def apply(self, storyboard: Storyboard) -> Storyboard:
        shots = [shot if shot.index not in self.prompts
                 else replace(shot, prompt=self.prompts[shot.index].text, cast=self.prompts[shot.index].cast)
                 for shot in storyboard.shots]
        shots = [shot if shot.index not in self.still_prompts or shot.still is None
                 else replace(shot, still=replace(shot.still, prompt=self.still_prompts[shot.index].text,
                                                  cast=self.still_prompts[shot.index].cast))
                 for shot in shots]
        return replace(storyboard, cast=self.cast, shots=shots, includes=self.includes)


Templates = _Templates  # what `shared_templates` gives, for type hints outside


def shared_templates(root: Path) -> _Templates:
    """Compiled templates to share between the `expand` calls of one file's variants: their prompts are
    the same texts, rendered in other contexts (each call still has its own time limit)."""
    return _Templates(environment(root))


def expand(storyboard: Storyboard, any_cast: bool = False, templates: _Templates | None = None) -> Expansion:
    """Render every shot's prompt (and every cast member's description); what they expand to, and the
    problems of those that fail. `any_cast`: the cast section is refused, so a mention of any name is
    taken as a member without references. `templates`: see `shared_templates`."""
    if templates is None:
        templates = _Templates(environment(storyboard.root))
    else:
        templates.stop = time.monotonic() + MAX_TOTAL_SECONDS
    env = templates.env
    cast, problems = _expand_cast(storyboard, templates)
    storyboard = replace(storyboard, cast=cast)  # a mention says the description expanded
    prompts: dict[int, Prompt] = {}
    expanding = [shot for shot in storyboard.shots  # footage has no prompt; a missing profile is reported elsewhere
                 if shot.clip is None and shot.model in storyboard.profiles]
    for number, shot in enumerate(expanding):
        profile = storyboard.profiles[shot.model]
        if templates.out_of_time:  # one problem for all those left, not one each
            left = f", nor the {len(expanding) - number - 1} after it" if number + 1 < len(expanding) else ""
            message = f"shot {shot.id!r} was not expanded{left}: {late_in_all()}"
            problems.append(storyboard.document.problem(shot.origins["prompt"], message))
            break
        found, prompt = _expand_shot(storyboard, shot, profile, templates, any_cast)
        problems += found
        if prompt is not None:
            prompts[shot.index] = prompt
            if not prompt.text:
                empty = f"shot {shot.id!r}: the prompt is empty once expanded"
                problems.append(storyboard.document.problem(shot.origins["prompt"], empty))
    still_prompts: dict[int, Prompt] = {}
    for shot in expanding:
        if shot.still is None or shot.still.prompt_template is None or templates.out_of_time:
            continue
        # The still's own prompt, templated as the shot's is (its lines of dialogue are the video's, not the still's).
        as_still = replace(shot, prompt_template=shot.still.prompt_template, dialogue=[],
                           origins={**shot.origins, "prompt": (*shot.still.where, "prompt")})
        found, prompt = _expand_shot(storyboard, as_still, storyboard.profiles[shot.model], templates, any_cast)
        problems += found
        if prompt is not None:
            still_prompts[shot.index] = prompt
    includes = {Path(name).resolve(): include for name, include in env.loader.served.items()}  # type: ignore[union-attr]
    return Expansion(cast, prompts, includes, problems, still_prompts)


def _expand_cast(storyboard: Storyboard, templates: _Templates) -> tuple[dict[str, CastMember], list[Problem]]:
    """The cast with each description that holds a template expanded; the problems of those that fail."""
    cast: dict[str, CastMember] = {}
    problems: list[Problem] = []
    for name, member in storyboard.cast.items():
        cast[name] = member
        if member.description and ("{" in member.description):
            try:
                context = {**storyboard.vars, **({"variant": storyboard.variant.context} if storyboard.variant else {})}
                cast[name] = replace(member, description=templates.render(member.description, context))
            except Exception as error:  # noqa: BLE001
                where = (*member.where, "description")
                problems.append(storyboard.document.problem(where, f"cast {member.name!r}: description template: {error}"))
    return cast, problems


MAX_PROBLEMS_PER_PROMPT = 10


def _expand_shot(storyboard: Storyboard, shot: Shot, profile: ModelProfile, templates: _Templates,
                 any_cast: bool) -> tuple[list[Problem], Prompt | None]:
    """Expand one prompt: its problems, else the prompt. Past an undefined name the prompt is expanded
    again with a stand-in for it (an empty value), so the other undefined names show in the same run."""
    found: list[Problem] = []
    stand_ins: list[tuple[str, str]] = []  # (the mapping it is missing from: "", "shot" or "vars"; the name)
    while True:
        mentions = Mentions(shot, profile)
        dialogue = Dialogue(mentions, storyboard.cast, shot.dialogue) if shot.dialogue else None
        context = template_context(storyboard, shot, profile, mentions, any_cast, dialogue)
        for scope, name in stand_ins:
            (context[scope] if scope else context)[name] = jinja2.ChainableUndefined(name=name)
        try:
            prompt = templates.render(shot.prompt_template, context)
            if dialogue is not None and not dialogue.used and not templates.names_dialogue(shot.prompt_template):
                prompt = with_dialogue(prompt, str(dialogue))  # as if `{{ shot.dialogue }}` ended the template
                if len(prompt) > MAX_PROMPT_CHARS:
                    raise too_long()
        except Exception as error:  # noqa: BLE001 - any failure inside a user's template is reported, not raised
            if found and not isinstance(error, UndefinedLookup):
                break  # past a stand-in, only another undefined name is surely the template's own problem
            found.append(_problem(storyboard, shot, error, context, templates.env.loader.served))  # type: ignore[union-attr]
            stand_in = _stand_in(error, context)
            if stand_in is None or stand_in in stand_ins or len(found) >= MAX_PROBLEMS_PER_PROMPT:
                break
            stand_ins.append(stand_in)
            continue
        return found, (None if found else Prompt(prompt, mentions.order))
    return found, None


def _stand_in(error: Exception, context: dict[str, Any]) -> tuple[str, str] | None:
    """Where a stand-in for the name an error found undefined can go, if anywhere."""
    if not isinstance(error, UndefinedLookup) or not isinstance(error.name, str):
        return None
    if error.owner is missing:
        return "", error.name
    return next(((scope, error.name) for scope in ("shot", "vars") if error.owner is context[scope]), None)


def _problem(
    storyboard: Storyboard, shot: Shot, error: Exception, context: dict[str, Any], included_files: dict[str, str]
) -> Problem:
    document = storyboard.document
    where = shot.origins["prompt"]
    included, line = _template_line(error, included_files)
    mark = document.mark(where)
    row, column = mark.line, mark.column
    if not included and where in document.literal_blocks and mark.line + (line or 1) <= len(document.lines):
        row = mark.line + (line or 1)
        text = document.lines[row - 1]
        column = len(text) - len(text.lstrip()) + 1
    advice = ""  # how to fix it, said after where in the template it is
    if isinstance(error, jinja2.TemplateSyntaxError):
        message = f"template syntax error: {error.message}"
    elif isinstance(error, UndefinedLookup) and isinstance(error.owner, CastMention):
        message = f"cast.{error.owner.name}.{error.name} is undefined{suggest(str(error.name), list(MENTION_FIELDS))}"
        advice = f"a cast member gives {', '.join(MENTION_FIELDS)}"
    elif isinstance(error, UndefinedLookup) and isinstance(error.owner, SpokenLine):
        message = f"a dialogue line has no {error.name!r}{suggest(str(error.name), list(LINE_FIELDS))}"
        advice = f"a line gives {', '.join(LINE_FIELDS)}"
    elif isinstance(error, UndefinedLookup) and isinstance(error.owner, Dialogue):
        message = f"shot.dialogue has no {error.name!r}"
        advice = "loop over its lines ({% for line in shot.dialogue %}), each gives " + ", ".join(LINE_FIELDS)
    elif isinstance(error, UndefinedLookup) and error.name == "dialogue" and error.owner is context.get("shot"):
        message = f"shot.dialogue is undefined: shot {shot.id!r} has no dialogue"
        advice = "give it `dialogue:` lines, or test `{% if shot.dialogue is defined %}`"
    elif isinstance(error, UndefinedLookup):
        message, advice = undefined_message(error, context)
    elif isinstance(error, jinja2.UndefinedError):
        message = error.message or "undefined value"
    elif isinstance(error, SecurityError):
        message = f"not allowed in a template: {error}"
    elif isinstance(error, jinja2.TemplateNotFound):
        message = f"include: no file {error.name!r} inside the project folder"
    elif isinstance(error, TemplateProblem):
        message = str(error)
    elif isinstance(error, RecursionError):
        message = "the template calls itself without end (a macro or an include that never stops)"
    else:
        message = f"template error: {type(error).__name__}: {error}"
    where_in_template = f" (template line {line})" if line and line > 1 and where not in document.literal_blocks else ""
    if included:
        where_in_template = f" (in {included}, line {line})"
    advice = f": {advice}" if advice else ""
    return Problem(document.display_path, row, column, f"shot {shot.id!r}: {message}{where_in_template}{advice}")


def _template_line(error: Exception, included_files: dict[str, str]) -> tuple[str | None, int | None]:
    """(included file or None, line) where a template failed; the file is None for the prompt itself."""
    if isinstance(error, jinja2.TemplateSyntaxError):
        return error.name, error.lineno
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if frame.filename == _TEMPLATE_FILE or frame.filename in included_files
    ]
    if not frames:
        return None, None
    return included_files.get(frames[-1].filename), frames[-1].lineno
