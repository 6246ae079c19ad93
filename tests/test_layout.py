"""The shape of the code, as a newcomer and a user meet it: no import cycles, a light start
for `validate`, every library the package imports declared, files written with the usual mode."""
from __future__ import annotations

import ast
import importlib.metadata
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "storyboard"
HEAVY = {"moviepy", "numpy", "httpx", "boto3", "botocore", "rich", "av", "imageio_ffmpeg"}


def _modules() -> dict[str, Path]:
    found = {}
    for file in PACKAGE.rglob("*.py"):
        parts = file.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = file
    return found


def _imports(name: str, file: Path, modules: dict[str, Path]) -> tuple[set[str], set[str]]:
    """(storyboard modules, top-level third-party packages) that a module imports anywhere in it."""
    inside, outside = set(), set()
    base = name.split(".") if file.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            prefix = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else (node.module or "")
            targets = [f"{prefix}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] != "storyboard":
                outside.add(target.split(".")[0])
                continue
            while target not in modules:
                target = target.rpartition(".")[0]
            if target != name:
                inside.add(target)
    return inside, outside


def test_no_module_imports_one_that_imports_it_back():
    modules = _modules()
    graph = {name: _imports(name, file, modules)[0] for name, file in modules.items()}

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            current = todo.pop()
            if current == goal:
                return True
            if current not in seen:
                seen.add(current)
                todo += graph[current]
        return False

    assert sorted(f"{a} <-> {b}" for a in graph for b in graph[a] if reaches(b, a)) == []


# The pipeline's stages in order (docs/architecture.md): a module imports only from its own stage and
# the ones before it, never from a later one.
STAGES = [
    {"errors", "redaction", "messages", "files", "events", "lazy", "media"},  # what every stage uses
    {"loading", "model"},  # a storyboard file in, the checked `Storyboard` out
    {"project"},  # the records on disk: clip store, render state, storyboard.lock, the project lock
    {"planning"},  # one hashed request per take, and what exists of it
    {"backends", "cache"},  # who generates a request; the cache shared between machines
    {"generating"},
    {"assembling"},
    {"reviewing", "exporting"},
    {"api", "campaign"},  # the front door (campaign: the variants of a file as one set)
    {"cli", "emulator", "__main__"},
]


def _stage(module: str) -> int:
    part = module.split(".")[1] if "." in module else "api"
    return next(index for index, names in enumerate(STAGES) if part in names)


def test_no_module_imports_a_later_stage():
    modules = _modules()
    upward = sorted(f"{name} -> {target}" for name, file in modules.items() for target in _imports(name, file, modules)[0]
                    if target != "storyboard" and _stage(target) > _stage(name))
    assert upward == []
    assert {name.split(".")[1] for name in modules if "." in name} <= set().union(*STAGES) | {"api"}


def test_no_module_is_longer_than_a_reader_can_hold():
    long = {str(file.relative_to(ROOT)): lines for file in PACKAGE.rglob("*.py")
            if (lines := len(file.read_text().splitlines())) > 420}
    assert long == {}


def test_every_library_the_package_imports_is_declared():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11 and later; the package supports 3.10
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # An extra counts: `storyboard emulator --s3` imports moto only when asked, and says which extra to install.
    requirements = [*project["dependencies"], *project["optional-dependencies"]["emulator"]]
    declared = {requirement.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip().lower().replace("_", "-")
                for requirement in requirements}
    standard = set(sys.stdlib_module_names)
    distributions = importlib.metadata.packages_distributions()
    modules = _modules()
    used = set().union(*(_imports(name, file, modules)[1] for name, file in modules.items())) - standard
    missing = {package for package in used
               if not {dist.lower().replace("_", "-") for dist in distributions.get(package, [package])} & declared}
    assert missing == set()


def test_validate_and_plan_start_without_the_video_and_network_libraries(project):
    board = project.write("storyboard: 1\nshots:\n  - {id: a, prompt: 'a {{ shot.id }} at dawn', image_urls: [assets/red.png]}\n")
    probe = (
        "import sys\nfrom storyboard.cli import main\n"
        "code = main(sys.argv[1:])\n"
        f"print(code, sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(HEAVY)!r})))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for command in (["validate", str(board)], ["plan", str(board)]):
        done = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True, text=True, env=env,
                              cwd=project.root)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[-1] == "0 []", (command, done.stdout)


def test_a_command_that_exits_with_a_code_keeps_it(run_cli):
    from storyboard.cli import cli

    @cli.command("leave")
    @click.pass_context
    def leave(context: click.Context) -> None:
        context.exit(3)

    try:
        assert run_cli("leave")[0] == 3
    finally:
        cli.commands.pop("leave")


def test_atomic_writes_do_not_touch_the_process_umask_while_threads_write(tmp_path, monkeypatch):
    from storyboard.files import atomic_write_bytes

    def forbidden(mask: int) -> int:
        raise AssertionError("os.umask changed while other threads may be creating files")

    monkeypatch.setattr(os, "umask", forbidden)
    errors: list[BaseException] = []

    def write(index: int) -> None:
        try:
            for round_ in range(20):
                atomic_write_bytes(tmp_path / f"{index}-{round_}.txt", b"x")
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    mask = int(next(line.split()[1] for line in Path("/proc/self/status").read_text().splitlines()
                    if line.startswith("Umask:")), 8) if Path("/proc/self/status").exists() else 0o022
    modes = {stat.S_IMODE(path.stat().st_mode) for path in tmp_path.iterdir()}
    assert modes == {0o666 & ~mask}


@pytest.mark.parametrize("seed", ["7", [7], {"a": 1}, True, 7.5])
def test_a_lock_file_seed_of_the_wrong_type_is_not_believed(tmp_path, seed):
    import yaml

    from storyboard.project.lockfile import LockFile

    (tmp_path / "storyboard.lock").write_text(yaml.safe_dump(
        {"board.yaml": {"shots": {"one": {"request": "abc", "backend": "aimlapi", "seed": seed, "usd": "lots",
                                          "video_url": ["not", "a", "url"]}}}}))
    [entry] = LockFile(tmp_path, "board.yaml").entries()["one"]
    assert entry.seed is None and entry.usd is None and entry.video_url is None
    assert entry.request == "abc" and entry.backend == "aimlapi"


def test_every_error_storyboard_raises_has_one_base():
    import importlib

    import storyboard.errors as errors

    classes = []
    for name in _modules():
        if name.endswith("__main__"):
            continue  # running it is the command line
        module = importlib.import_module(name)
        classes += [value for value in vars(module).values()
                    if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == name]
    assert len(classes) > 10
    assert [error.__qualname__ for error in classes if not issubclass(error, errors.StoryboardError)] == []
