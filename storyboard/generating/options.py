"""What a generation run is asked to do (`GenerateOptions`) and what it did (`Outcome`)."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..project.lockfile import Entry


@dataclass(frozen=True)
class GenerateOptions:
    jobs: int  # generations at once
    keep_going: bool = False  # after a failure, still submit the other shots
    # Consent to pay again, by shot id: where an earlier create's outcome is unknown, or where a
    # clip that was paid for can no longer be fetched.
    resubmit: frozenset[str] = frozenset()
    max_cost: float | None = None  # USD this render may spend (paid backends)


@dataclass
class Outcome:
    generated: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    usd_spent: float = 0.0  # what the creates answered cost (their estimate when the answer gives no figure)
    # Estimates of creates whose answer never came (lost, or the render stopped while they were on the wire):
    # they may be billed, so every budget counts them as spent until an answer says otherwise.
    usd_unknown: float = 0.0
    interrupted: bool = False
    locked: dict[str, Entry] = field(default_factory=dict)  # request hash -> what storyboard.lock is to say of it

    @property
    def usd_counted(self) -> float:
        """What counts against a budget: the spend, and the estimates of creates of unknown outcome."""
        return self.usd_spent + self.usd_unknown

    def joined(self, later: Outcome) -> Outcome:
        """This outcome and a later one of the same render (its stills, then its videos) as one."""
        return Outcome(self.generated + later.generated, self.reused + later.reused, self.failed | later.failed,
                       self.skipped | later.skipped, self.usd_spent + later.usd_spent, self.usd_unknown + later.usd_unknown,
                       self.interrupted or later.interrupted, self.locked | later.locked)
