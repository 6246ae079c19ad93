from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_schema_command_prints_the_shipped_schema(run_cli):
    code, out, _ = run_cli("schema")
    assert code == 0
    schema = json.loads(out)
    assert schema == json.loads((ROOT / "schemas" / "storyboard.schema.json").read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"storyboard", "title", "vars", "defaults", "cast", "shots", "output"} <= set(schema["properties"])


def test_python_dash_m_and_exit_codes(project):
    project.write("storyboard: 1\nshots: [{id: a, prompt: x, seed: -4}]\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = lambda *args: subprocess.run([sys.executable, "-m", "storyboard", *args], capture_output=True, text=True, env=env)  # noqa: E731
    bad = run("validate", "board.yaml")
    assert bad.returncode == 2
    assert bad.stderr == "board.yaml:2:34: shot 'a': seed must be at least 0, not -4\n"
    assert run("frobnicate").returncode == 2
    assert run("validate").returncode == 2  # missing argument
    assert "Usage" in run("--help").stdout


def test_unexpected_errors_are_one_line_and_a_crash_report_without_the_key(project, run_cli, monkeypatch, tmp_path):
    import storyboard.cli.validate as validate_command

    def explode(path):
        raise ZeroDivisionError("boom sk-secret-key-1234")

    monkeypatch.setenv("AIMLAPI_KEY", "sk-secret-key-1234")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(validate_command, "load", explode)
    code, _, err = run_cli("validate", "x.yaml")
    assert code == 1
    report = tmp_path / "cache" / "storyboard" / "crash.log"
    assert err == ("internal error: ZeroDivisionError: boom ***\n"
                   f"This is a bug in storyboard: please attach {report} to a report (--debug shows the details here).\n")
    text = report.read_text()
    assert "command: storyboard validate x.yaml" in text and "Traceback" in text and "explode" in text
    assert "sk-secret-key-1234" not in text
    code, _, err = run_cli("--debug", "validate", "x.yaml")
    assert code == 1 and "Traceback" in err


def test_wheel_ships_schema_and_model_profiles(tmp_path):
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("storyboard_render-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "storyboard/schemas/storyboard.schema.json" in names
    assert "storyboard/loading/models/alibaba-wan-2-7-r2v.yaml" in names
    assert "storyboard/py.typed" in names
    assert "storyboard/reviewing/page.html.j2" in names


def test_a_ctrl_c_that_lands_as_the_run_ends_exits_130(run_cli, monkeypatch):
    import signal

    real = signal.signal
    calls: list[int] = []

    def signal_then_interrupt(signum, handler):
        calls.append(signum)
        if len(calls) == 2:  # the last thing the run does: put SIGTERM's handler back
            raise KeyboardInterrupt
        return real(signum, handler)

    monkeypatch.setattr(signal, "signal", signal_then_interrupt)
    code, out, _ = run_cli("schema")
    assert code == 130 and out  # the command had done its work


def test_every_install_hint_names_this_project_on_the_package_index():
    """`storyboard` on PyPI is another project: a user told to `pip install 'storyboard[editors]'` gets it."""
    import re

    import pytest

    tomllib = pytest.importorskip("tomllib")

    name = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]
    assert name != "storyboard"
    texts = [*ROOT.joinpath("storyboard").rglob("*.py"), ROOT / "README.md", *ROOT.joinpath("docs").glob("*.md")]
    hints = {match for path in texts for match in re.findall(r"pip install '?([A-Za-z0-9_.-]+)\[", path.read_text())}
    assert hints == {name}
    from storyboard.exporting.formats import INSTALL_HINT

    assert f"pip install '{name}[editors]'" == INSTALL_HINT
