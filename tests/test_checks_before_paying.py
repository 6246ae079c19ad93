"""A new user's first hour (issue #11): mistakes caught by `validate` before anything is paid,
the service's published durations, long prompts, `plan` that does not mislead, results that print short."""
from __future__ import annotations

import storyboard

LONG_PROMPT = "A raccoon walks through a misty sequoia forest at dawn, light in shafts. " * 14  # over 800 characters


def test_trims_are_checked_at_validate_against_the_shot_or_the_clip_all_at_once(project, run_cli):
    project.write("""
        storyboard: 1
        shots:
          - id: backwards
            prompt: a lighthouse
            duration: 5
            trim: {start: 3, end: 2}
          - id: too-long
            prompt: a cliff
            duration: 5
            trim: {start: 1, end: 9}
          - id: late-start
            clip: assets/walk.mp4
            trim: {start: 60}
          - id: fine
            clip: assets/walk.mp4
            trim: {start: 0.5, end: 1.5}
    """)
    code, out, err = run_cli("validate", "board.yaml")
    assert code == 2, out
    lines = err.splitlines()
    assert "board.yaml:6:27: shot 'backwards': trim: end (2 s) must be after start (3 s)" in lines
    assert ("board.yaml:10:27: shot 'too-long': trim: end (9 s) is past the end of the 5 s shot; use at most 5, or "
            "leave `end` out to keep the rest") in lines
    assert any(line.startswith("board.yaml:13:19: shot 'late-start': trim: start (60 s) is at or past the end of the clip (")
               for line in lines)
    assert len(lines) == 3  # the fine trim is fine
    code, out, _ = run_cli("render", "board.yaml")
    assert code == 2 and not (project.root / ".storyboard" / "clips").exists()  # nothing generated


def test_the_built_in_profile_offers_the_published_durations_and_a_project_may_widen_them(project, run_cli):
    (project.root / "models" / "short-clips.yaml").unlink()
    project.write("storyboard: 1\nshots:\n  - id: quick\n    prompt: a wave\n    duration: 3\n")
    code, _, err = run_cli("validate", "board.yaml")
    assert code == 2 and "board.yaml:5:15: shot 'quick': duration: 3 is not offered by alibaba/wan-2-7-r2v" in err
    assert "5, 10, 15" in err
    # One field of the built-in profile, overridden in models/: the rest of the profile stays as it was.
    (project.root / "models" / "account.yaml").write_text(
        "model: alibaba/wan-2-7-r2v\nfields:\n  duration: {type: integer, minimum: 2, maximum: 15}\n")
    code, _, err = run_cli("validate", "board.yaml")
    assert code == 0, err
    the_plan = storyboard.plan(storyboard.load(project.root / "board.yaml"))
    assert the_plan.shots[0].body["duration"] == 3 and the_plan.shots[0].profile.default("resolution") == "1080p"


def test_a_prompt_longer_than_the_model_reads_is_a_warning_naming_its_line(project, run_cli):
    project.write(f"storyboard: 1\nshots:\n  - id: wordy\n    prompt: {LONG_PROMPT.strip()}\n    duration: 5\n"
                  "  - id: short\n    prompt: a wave\n    duration: 5\n")
    code, out, err = run_cli("validate", "board.yaml")
    assert code == 0 and "ok (2 shots)" in out
    [warning] = err.splitlines()
    assert warning.startswith(f"board.yaml:4:13: warning: shot 'wordy': the expanded prompt is {len(LONG_PROMPT.strip())} "
                              "characters and alibaba/wan-2-7-r2v reads about 800: what comes after")
    code, _, err = run_cli("plan", "board.yaml")
    assert code == 0 and "warning: shot 'wordy'" in err


PUBLISHES_NOTHING = """
    storyboard: 1
    cast:
      walker: {video: assets/walk.mp4, description: a raccoon}
    shots:
      - id: walk
        prompt: "{{ cast.walker }} walks"
        duration: 5
"""


def test_validate_and_plan_with_a_backend_refuse_what_render_would_refuse(project, run_cli, monkeypatch):
    monkeypatch.delenv("STORYBOARD_S3_BUCKET", raising=False)
    project.write(PUBLISHES_NOTHING)
    assert run_cli("validate", "board.yaml")[0] == 0  # fine for the preview
    code, _, validate_err = run_cli("validate", "board.yaml", "--backend", "aimlapi")
    assert code == 2 and "board.yaml:3:19: 'assets/walk.mp4' is a local file and the service fetches" in validate_err
    code, out, plan_err = run_cli("plan", "board.yaml", "--backend", "aimlapi")
    assert code == 2 and plan_err == validate_err and out == ""
    monkeypatch.setenv("AIMLAPI_KEY", "sk-test-not-used")
    monkeypatch.setenv("AIMLAPI_BASE_URL", "http://127.0.0.1:9")  # never reached
    code, _, render_err = run_cli("render", "board.yaml", "--backend", "aimlapi", "--yes")
    assert code == 2 and render_err == validate_err
    code, out, _ = run_cli("validate", "board.yaml", "--backend", "preview")
    assert code == 0 and "ready for the preview backend" in out


def test_plan_without_a_backend_says_what_the_real_service_would_cost(project, run_cli, service, monkeypatch):
    project.write("storyboard: 1\nshots:\n  - id: a\n    prompt: a wave\n    duration: 2\n    resolution: 720p\n"
                  "  - id: b\n    prompt: a cliff\n    duration: 2\n    resolution: 720p\n")
    assert run_cli("render", "board.yaml")[0] == 0  # preview clips: they save nothing on the service
    out = said(run_cli("plan", "board.yaml")[1])
    assert "0 of 2 generated shots to make with the preview backend (free)" in out
    assert ("with --backend aimlapi, on the real service at https://api.aimlapi.com/v2: 2 to pay, estimated $0.52 "
            "(every shot $0.52); 0 already there") in out
    emulator = service(latency=0.2)
    assert run_cli("render", "board.yaml", "--backend", "aimlapi", "--yes")[0] == 0
    out = said(run_cli("plan", "board.yaml", "--backend", "preview")[1])
    assert (f"with --backend aimlapi, on a stand-in at {emulator.url} (AIMLAPI_BASE_URL; not the real service): 0 to pay, "
            "estimated $0.00 (every shot $0.52); 2 already there") in out
    # The emulator's clips are its own: pointed at the real service, nothing is there yet.
    monkeypatch.delenv("AIMLAPI_BASE_URL")
    out = said(run_cli("plan", "board.yaml", "--backend", "preview")[1])
    assert ("with --backend aimlapi, on the real service at https://api.aimlapi.com/v2: 2 to pay, estimated $0.52 "
            "(every shot $0.52); 0 already there") in out
    assert run_cli("plan", "board.yaml", "--backend", "aimlapi")[1].count(" missing ") == 2


def test_results_print_short_and_list_shots_in_storyboard_order(project):
    project.write("storyboard: 1\ndefaults: {resolution: 720p, aspect_ratio: '1:1'}\nshots:\n"
                  "  - {id: long, prompt: a long shot, duration: 6}\n  - {id: brief, prompt: a brief shot, duration: 2}\n")
    board = storyboard.load("board.yaml")
    result = storyboard.render(board, jobs=2)  # the brief shot finishes first
    assert result.generated == ["long", "brief"]
    assert repr(board) == "<Storyboard 'board.yaml': 2 shots>"
    assert repr(result) == "<RenderResult film 'renders/board.mp4': 2 generated, 0 reused, 0.00 USD spent>"
    text = repr(storyboard.plan(board))
    assert text.startswith("<Plan 'board.yaml' for preview: 2 shots, 0 to make;") and len(text) < 120


def said(text: str) -> str:
    """What the command said, its wrapped lines joined."""
    return " ".join(text.split())
