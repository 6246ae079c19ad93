"""What a prompt template says about people: `cast.NAME` mentions, and the shot's dialogue.

A mention renders the way the model names references (for Wan 2.7 the n-th image is `Image n`, the
n-th video `Video n`), with the member's description the first time, and attaches the member's
references to the shot in order of first mention. A dialogue line's speaker renders exactly like
a mention, and so attaches the same references: a prompt that says `Image 1 says: "…"` must send
Image 1, and a model that voices a line with lip sync needs to see who speaks it.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from ...messages import MAX_SUGGESTIONS, suggest
from ...model import CastMember, Line, Shot
from ..profiles import ModelProfile
from .sandbox import TemplateProblem

MAX_NAMES_SHOWN = 20  # cast members listed in a message
SAYS = '{who} says: "{say}"'  # the default phrasing of a line of dialogue in a prompt
MENTION_FIELDS = ("label", "description", "name")  # what `{{ cast.NAME.x }}` may ask of a CastMention
LINE_FIELDS = ("who", "say", "at")  # what `{{ line.x }}` may ask of a line of `shot.dialogue`


class Mentions:
    """Numbers the references of cast members in order of first mention within one prompt."""

    def __init__(self, shot: Shot, profile: ModelProfile):
        self.shot = shot
        self.profile = profile
        self.counters = {"image": 0, "video": 0}
        for ref in shot.references:
            self.counters[ref.kind] += 1
        self.labels: dict[str, str] = {}
        self.order: list[CastMember] = []

    def say(self, member: CastMember, with_description: bool) -> str:
        first = member.name not in self.labels
        if first:
            labels = []
            for ref in sorted(member.references, key=lambda r: r.kind != "image"):
                if ref.kind not in self.profile.labels:
                    raise TemplateProblem(
                        f"cast member {member.name!r} has a reference {ref.kind}, "
                        f"but model {self.profile.model} takes no reference {ref.kind}s"
                    )
                self.counters[ref.kind] += 1
                labels.append(self.profile.label(ref.kind, self.counters[ref.kind]))
            self.labels[member.name] = " and ".join(labels)
            self.order.append(member)
        label = self.labels[member.name]
        if not label:  # a cast member without references is just its description
            return member.description or member.name
        if first and with_description and member.description:
            return self.profile.mention.format(label=label, description=member.description)
        return label


class CastMention:
    """`{{ cast.fairy }}` in a template: renders the mention and attaches the references."""

    def __init__(self, mentions: Mentions, member: CastMember):
        self._mentions = mentions
        self._member = member

    def __str__(self) -> str:
        return self._mentions.say(self._member, with_description=True)

    @property
    def label(self) -> str:
        return self._mentions.say(self._member, with_description=False)

    @property
    def description(self) -> str:
        return self._member.description or ""

    @property
    def name(self) -> str:
        return self._member.name


class Cast:
    def __init__(self, mentions: Mentions, cast: dict[str, CastMember], any_name: bool = False):
        self._mentions = mentions
        self._cast = cast
        self._any_name = any_name  # the cast itself is refused: any member might have been there

    def __str__(self) -> str:
        raise TemplateProblem("mention a cast member as cast.NAME; `cast` itself cannot be printed")

    def __iter__(self) -> Any:
        raise TemplateProblem("the cast cannot be looped over; mention members as cast.NAME")

    def __getattr__(self, name: str) -> CastMention:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> CastMention:
        if self._any_name and isinstance(name, str) and name not in self._cast:
            return CastMention(self._mentions, CastMember(name, [], None, ("cast",)))
        if not isinstance(name, str) or name not in self._cast:
            names = list(self._cast) if len(self._cast) <= MAX_SUGGESTIONS else []
            known = ", ".join(itertools.islice(self._cast, MAX_NAMES_SHOWN))
            known += f" and {len(self._cast) - MAX_NAMES_SHOWN} more" if len(self._cast) > MAX_NAMES_SHOWN else ""
            raise TemplateProblem(f"unknown cast member {name!r}{suggest(str(name), names)}; cast: {known or 'none'}")
        return CastMention(self._mentions, self._cast[name])


class SpokenLine:
    """One line of `shot.dialogue` in a template: `who` (renders as a mention of the speaker), `say`
    (the text as written), `at` (seconds into the clip, or None); printed whole, the default phrasing."""

    def __init__(self, mentions: Mentions, speaker: CastMember, line: Line):
        self.who = CastMention(mentions, speaker)
        self.say = line.say
        self.at = line.at

    def __str__(self) -> str:
        return SAYS.format(who=self.who, say=" ".join(self.say.split()))

    __repr__ = __str__  # printed inside a list or a mapping: the same text, never an address


class Dialogue:
    """`shot.dialogue`: printed, every line in the default phrasing; looped over, the lines. It
    remembers being used in any way (printed, looped over, counted, tested), so that a prompt that
    leaves it out gets it appended instead of dropping it."""

    def __init__(self, mentions: Mentions, cast: dict[str, CastMember], lines: list[Line]):
        # A speaker who is not in the cast is reported by the checks; here it is a name without references.
        self._lines = [SpokenLine(mentions, cast.get(line.who) or CastMember(line.who, [], None, line.where), line)
                       for line in lines]
        self.used = False

    def __str__(self) -> str:
        self.used = True
        return " ".join(str(line) for line in self._lines)

    __repr__ = __str__  # `{{ shot }}` prints it too: the same text, never an address

    def __iter__(self) -> Iterator[SpokenLine]:
        self.used = True
        return iter(self._lines)

    def __len__(self) -> int:
        self.used = True
        return len(self._lines)

    def __bool__(self) -> bool:
        self.used = True
        return bool(self._lines)

    def __getitem__(self, index: int) -> SpokenLine:
        self.used = True
        return self._lines[index]


def with_dialogue(prompt: str, dialogue: str) -> str:
    """`prompt` with the dialogue's default phrasing appended as sentences of their own: on a line
    of its own after a prompt of several lines, after a full stop otherwise."""
    if not prompt:
        return dialogue
    if "\n" in prompt:
        return f"{prompt}\n{dialogue}"
    ended = prompt.rstrip("\"'\u201d\u2019)]\u00bb")[-1:] in (".", "!", "?", "\u2026")
    return f"{prompt}{'' if ended else '.'} {dialogue}"
