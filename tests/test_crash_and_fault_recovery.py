"""Short versions of the stress harness (issue #9): `stress/soak.py` (every fault kind, seeded,
rendered until complete) and `stress/crash.py` (kill -9 and SIGINT across the phases of a
render, then resumed). The long versions, their figures and how to rerun them are in
RELIABILITY.md.

The soak runs in a background thread beside the crash torture (each has its own emulator and
projects; a render mostly waits), so the two take about as long as the longer of them.
"""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import KEY

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "stress"))
import common  # noqa: E402 - the harness lives in stress/, outside the package
import crash  # noqa: E402
import soak  # noqa: E402

SOAK_SHOTS = 12
SOAK_ROUNDS = ["hostile", "hostile"]
SOAK_SEED = 11
CRASH_SEED = 7
CRASH_SHOTS = 3  # the last starts on the first one's last frame
# (phase under way when the signal is sent, the signal): every phase, kill -9 and the interrupts.
CRASH_PLAN = [("create", "SIGKILL"), ("poll", "SIGTERM"), ("download", "SIGKILL"),
              ("store write", "SIGINT (group)"), ("assembly", "SIGKILL"), ("create", "SIGINT (process)")]


@pytest.fixture(scope="module")
def fast_faults() -> Iterator[None]:
    """The emulator's fault knobs are process-wide: set once for everything this module runs."""
    with common.knobs(slow_seconds=0.5, trickle_seconds=0.0):
        yield


@pytest.fixture(scope="module")
def soak_rounds(tmp_path_factory: pytest.TempPathFactory, fast_faults: None) -> Iterator[dict[str, Any]]:
    """The soak's rounds, started at once in the background; `thread` joins them."""
    folder = tmp_path_factory.mktemp("soak")
    found: dict[str, Any] = {}

    def run() -> None:
        try:
            found["rounds"] = soak.soak(SOAK_SHOTS, SOAK_ROUNDS, SOAK_SEED, folder, parallel=True, latency=0.3,
                                        max_renders=15, render_timeout=180.0)
        except BaseException as error:  # noqa: BLE001 - reported by the test that reads it
            found["error"] = error

    thread = threading.Thread(target=run, name="soak", daemon=True)
    thread.start()
    found["thread"] = thread
    yield found
    thread.join(timeout=300)


def test_renders_killed_or_interrupted_in_every_phase_resume_without_paying_twice(
        soak_rounds: dict[str, Any], tmp_path: Path) -> None:
    outcomes = crash.torture(len(CRASH_PLAN), CRASH_SEED, tmp_path, shots=CRASH_SHOTS, latency=0.3, slow_seconds=None,
                             trickle_seconds=None, calibration_renders=1, timeout=120.0, plan=CRASH_PLAN, reach=0.3,
                             workers=2)
    report = crash.table(outcomes, CRASH_SHOTS)
    problems = [f"run {outcome.run} ({outcome.how}, {outcome.target}): {violation}"
                for outcome in outcomes for violation in outcome.violations]
    assert not problems, "\n".join(problems) + "\n" + report
    signalled = [outcome for outcome in outcomes if outcome.signalled]
    assert len(signalled) >= len(CRASH_PLAN) - 1, report  # a render may rarely finish a phase before its threshold
    assert len({outcome.landed for outcome in signalled}) >= 4, report
    assert all(outcome.exit_after_signal == 130 for outcome in signalled if outcome.how in crash.INTERRUPTS), report
    assert sum(outcome.figures["creates"] for outcome in outcomes) == CRASH_SHOTS * len(outcomes) + sum(
        outcome.figures["after_failure"] + outcome.figures["paid_again"] for outcome in outcomes), report


def test_every_fault_kind_seeded_until_the_film_is_complete(soak_rounds: dict[str, Any]) -> None:
    soak_rounds["thread"].join(timeout=300)
    assert "error" not in soak_rounds, soak_rounds.get("error")
    rounds = soak_rounds["rounds"]
    report = soak.table(rounds)
    problems = [f"{result.name} (seed {result.seed}): {violation}" for result in rounds for violation in result.violations]
    assert not problems, "\n".join(problems) + "\n" + report
    for result in rounds:
        assert result.film_ok and result.exits[-1] == 0, report
        figures = result.figures
        # Each request created once; again only after a failed generation or with consent.
        assert figures["creates"] == figures["requests"] + figures["after_failure"] + figures["paid_again"], report
        assert figures["paid_again"] <= figures["consents"], report
    injected = {kind for result in rounds for kind, count in result.faults.items() if count}
    assert len(injected) >= 10 and sum(sum(result.faults.values()) for result in rounds) >= 40, report


def test_ctrl_c_lets_a_create_another_shot_waits_for_answer(project: Any, service: Any) -> None:
    """generate.py: on Ctrl-C "creates already on the wire are allowed to answer so their generation
    id is recorded". Found by stress/crash.py: when another shot waits for this one (its first
    frame, or the same request), the create was cancelled instead, its outcome left unknown."""
    emulator = service(latency=0.5, faults="slow=1")  # every answer 2 s late: the create stays on the wire
    project.write("""
        storyboard: 1
        defaults: {resolution: 720p, duration: 2, aspect_ratio: "1:1"}
        shots:
          - {id: a, prompt: a lighthouse at dusk, seed: 1}
          - {id: b, prompt: the lamp turns on, seed: 2, first_frame: {shot: a, at: end}}
    """)
    with common.knobs(slow_seconds=2.0):
        render = subprocess.Popen([sys.executable, "-m", "storyboard", "render", "board.yaml", "--backend", "aimlapi",
                                   "--yes", "--json"], cwd=project.root, env=dict(os.environ),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert render.stdout is not None
        for line in render.stdout:
            if '"generating"' in line:
                break
        time.sleep(0.5)
        render.send_signal(signal.SIGINT)
        out, err = render.communicate(timeout=60)
    assert render.returncode == 130, err
    time.sleep(2.5)  # the service answers the create
    assert emulator.stats()["creates"] == 1
    with sqlite3.connect(project.root / ".storyboard" / "state.sqlite") as db:
        rows = db.execute("SELECT shot_id, status, generation_id FROM generations").fetchall()
    assert [(shot, status) for shot, status, _ in rows] == [("a", "submitted")], rows
    assert KEY.lower() not in (out + err).lower()
