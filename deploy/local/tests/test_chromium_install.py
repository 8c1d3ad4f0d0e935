"""Finding the browser tests' Chromium, and what the developer is told when there is none.

No apt-get runs here: the cases that would install are reached only as root with apt-get,
and these tests take that away (a non-root uid, an empty PATH).
"""

from pathlib import Path

import pytest
from orderflow_localinfra import chromium
from orderflow_localinfra.chromium import CHROMIUM_ENV, ensure_chromium, find_chromium
from orderflow_localinfra.cli import app
from orderflow_localinfra.errors import PrerequisiteMissing
from typer.testing import CliRunner


def _fake_chromium(folder: Path, name: str = "chromium") -> Path:
    executable = folder / name
    executable.write_text("#!/bin/sh\necho 'Chromium 1.2.3 built on a test'\n")
    executable.chmod(0o755)
    return executable


def test_the_override_names_the_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    executable = _fake_chromium(tmp_path, "my-chromium")
    monkeypatch.setenv(CHROMIUM_ENV, str(executable))
    found = ensure_chromium()
    assert found.executable == executable
    assert found.version == "Chromium 1.2.3 built on a test"
    assert not found.installed_now


def test_chromium_on_the_path_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CHROMIUM_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    executable = _fake_chromium(tmp_path)
    assert find_chromium() == executable


def test_an_override_that_is_not_a_file_is_an_error_not_an_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CHROMIUM_ENV, str(tmp_path / "absent"))
    monkeypatch.setattr(chromium, "_install_with_apt", _must_not_install)
    with pytest.raises(PrerequisiteMissing) as raised:
        ensure_chromium()
    assert "is not a file" in raised.value.problem
    assert f"unset {CHROMIUM_ENV}" in raised.value.remedy


def test_without_root_the_error_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CHROMIUM_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no chromium, no apt-get
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    monkeypatch.setattr(chromium, "_install_with_apt", _must_not_install)
    with pytest.raises(PrerequisiteMissing) as raised:
        ensure_chromium()
    assert "Chromium is not installed" in raised.value.problem
    assert "sudo apt-get install chromium" in raised.value.remedy


def test_a_chromium_that_does_not_run_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "chromium"
    broken.write_text("#!/bin/sh\necho 'missing libnss3.so' >&2\nexit 127\n")
    broken.chmod(0o755)
    monkeypatch.setenv(CHROMIUM_ENV, str(broken))
    with pytest.raises(PrerequisiteMissing) as raised:
        ensure_chromium()
    assert "exit 127" in raised.value.problem
    assert "missing libnss3.so" in raised.value.problem


def test_the_command_prints_the_browser_or_the_remedy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CHROMIUM_ENV, str(_fake_chromium(tmp_path)))
    found = CliRunner().invoke(app, ["chromium"])
    assert found.exit_code == 0, found.output
    assert "Chromium 1.2.3 built on a test; found" in found.output

    monkeypatch.setenv(CHROMIUM_ENV, str(tmp_path / "absent"))
    missing = CliRunner().invoke(app, ["chromium"])
    assert missing.exit_code == 2
    assert "what to do:" in missing.output


def _must_not_install(log: Path) -> None:
    raise AssertionError(f"apt-get must not run here (log {log})")
