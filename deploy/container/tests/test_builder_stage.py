"""The Dockerfile's builder stage, rehearsed without Docker: its COPY instructions are played
into a scratch folder and its RUN instructions (uv sync twice, then the pruning) run there
with uv from PyPI, as the image build would; then every command left in the environment must
answer --help. It proves the dependency layer resolves from the copied project files alone and
that the pruned environment still runs (it cannot prove the base image: no Docker engine)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from orderflow_deploy.dockerfile import (
    Instruction,
    project_name,
    pruned_paths,
    scripts,
    stages,
    workspace_members,
)

REPO = Path(__file__).resolve().parents[3]
TEXT = (REPO / "deploy/container/Dockerfile").read_text()
IMAGE_VENV = "/opt/orderflow/venv"
_NOT_COPIED = shutil.ignore_patterns("__pycache__", "*.pyc")


def _environment(instructions: list[Instruction], venv: Path) -> dict[str, str]:
    env = dict(os.environ)
    for instruction in instructions:
        if instruction.keyword == "ENV":
            for word in instruction.words:
                name, _, value = word.partition("=")
                env[name] = value
    env["UV_PROJECT_ENVIRONMENT"] = str(venv)
    env.pop("UV_NO_CACHE", None)  # reuse this machine's uv cache: same files, faster
    env["UV_COMPILE_BYTECODE"] = "0"  # the image compiles; the rehearsal need not wait for it
    env.pop("VIRTUAL_ENV", None)
    return env


def _copy(words: list[str], context: Path) -> None:
    *sources, destination = words
    for source in sources:
        origin = REPO / source
        target = context / destination
        if destination.endswith("/") or destination == "./":
            target = target / Path(source).name
        target.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_dir():
            shutil.copytree(origin, target, ignore=_NOT_COPIED)
        else:
            shutil.copy2(origin, target)


@pytest.mark.timeout(600)  # a machine with an empty uv cache downloads every dependency
def test_the_builder_stage_produces_an_environment_whose_commands_run(tmp_path: Path) -> None:
    builder = next(stage for stage in stages(TEXT) if stage.name == "builder")
    context, venv = tmp_path / "src", tmp_path / "venv"
    context.mkdir()
    env = _environment(builder.instructions, venv)
    for instruction in builder.instructions:
        if instruction.keyword == "COPY":
            _copy(instruction.words, context)
        elif instruction.keyword == "RUN" and instruction.arguments.startswith("uv sync"):
            result = subprocess.run(
                shlex.split(instruction.arguments),
                cwd=context,
                env=env,
                capture_output=True,
                text=True,
                check=False,
                timeout=600,
            )
            assert result.returncode == 0, f"{instruction.arguments}\n{result.stderr}"

    site_packages = venv / "lib" / "python3.11" / "site-packages"
    for path in pruned_paths(TEXT):
        target = site_packages / path
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    removed = set()
    for script in set(TEXT.split(f"{IMAGE_VENV}/bin/")[1:]):
        name = script.split()[0]
        (venv / "bin" / name).unlink()
        removed.add(name)
    assert not (site_packages / "orderflow_deploy").exists(), "the generator is not in the image"

    commands = {
        name: target
        for member in workspace_members(REPO)
        if project_name(member) != "orderflow-deploy"
        for name, target in scripts(member).items()
        if name not in removed
    }
    assert "orderflow-cart" in commands
    # Every command's --help, run by one interpreter of the environment: twelve processes, each
    # importing the stack anew, took most of this test's time. One command also runs as the
    # script uv wrote, which is how the image starts them.
    missing = [name for name in commands if not os.access(venv / "bin" / name, os.X_OK)]
    assert not missing, f"no executable script for {missing}"
    every = repr(sorted(commands.items()))
    result = _run_in(venv, tmp_path, "python", "-c", _HELP_OF_EVERY_COMMAND, every)
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == sorted(commands), result.stdout
    wrapper = _run_in(venv, tmp_path, "orderflow-cart", "--help")
    assert wrapper.returncode == 0, wrapper.stderr


def _run_in(venv: Path, home: Path, command: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / command), *args],
        env={"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(home)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


# Prints the name of each command whose ``--help`` exits 0; stops at the first that does not.
_HELP_OF_EVERY_COMMAND = """
import ast, contextlib, importlib, io, sys
for name, target in ast.literal_eval(sys.argv[1]):
    module, _, attribute = target.partition(":")
    command = importlib.import_module(module)
    for part in attribute.split("."):
        command = getattr(command, part)
    sys.argv = [name, "--help"]
    shown = io.StringIO()
    try:
        with contextlib.redirect_stdout(shown):
            command()
        code = 0
    except SystemExit as exit:
        code = exit.code or 0
    if code != 0 or "--help" not in shown.getvalue():
        sys.exit(f"{name} --help exited {code}:\\n{shown.getvalue()}")
    print(name)
"""
