"""`orderflow-contracts export-schemas [DIR] [--check]`: write (or verify) one JSON Schema per
event in DIR, by default the package's `schemas/v1/` folder in the source tree.

The only module of the package that touches the file system: it is the command, not the
contract.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orderflow_contracts.compatibility import check_compatibility
from orderflow_contracts.schemas import all_event_schemas

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def default_schema_dir() -> Path | None:
    """`shared/contracts/schemas/v1` when running from the source tree, else None."""
    if (_PACKAGE_ROOT / "pyproject.toml").is_file():
        return _PACKAGE_ROOT / "schemas" / "v1"
    return None


def render_schema(schema: dict[str, Any]) -> str:
    """Deterministic text of a schema: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def expected_files() -> dict[str, str]:
    """File name -> content of every schema the current models produce."""
    return {f"{name}.json": render_schema(schema) for name, schema in all_event_schemas().items()}


def write_schemas(directory: Path) -> list[str]:
    """Write every schema into `directory`; return the names of files that changed."""
    directory.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, content in sorted(expected_files().items()):
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
            changed.append(name)
    return changed


def check_schemas(directory: Path) -> list[str]:
    """Problems that make `directory` differ from the current models (empty when in sync)."""
    expected = expected_files()
    present = {path.name for path in directory.glob("*.json")} if directory.is_dir() else set()
    problems = []
    for name in sorted(expected.keys() - present):
        problems.append(f"{name}: missing (a new event? run export-schemas)")
    for name in sorted(present - expected.keys()):
        problems.append(f"{name}: no event produces it any more (removing an event breaks v1)")
    for name in sorted(expected.keys() & present):
        committed = (directory / name).read_text(encoding="utf-8")
        if committed == expected[name]:
            continue
        problems.append(f"{name}: differs from the current model (run export-schemas)")
        try:
            breaking = check_compatibility(json.loads(committed), json.loads(expected[name]))
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"{name}: committed schema is unreadable: {exc}")
            continue
        problems.extend(f"{name}: INCOMPATIBLE: {issue}" for issue in breaking)
    return problems


def _extra_files(directory: Path) -> list[str]:
    expected = expected_files()
    return sorted(path.name for path in directory.glob("*.json") if path.name not in expected)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="orderflow-contracts", description="Orderflow contract tools."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser(
        "export-schemas", help="write one JSON Schema per event (envelope with its data)"
    )
    export.add_argument(
        "directory",
        nargs="?",
        type=Path,
        help="output folder (default: shared/contracts/schemas/v1 of the source tree)",
    )
    export.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the folder differs from the current models",
    )
    args = parser.parse_args(argv)

    directory: Path | None = args.directory or default_schema_dir()
    if directory is None:
        parser.error("no source tree found: give the output DIRECTORY")

    if args.check:
        problems = check_schemas(directory)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print(f"{len(problems)} problem(s) in {directory}", file=sys.stderr)
            return 1
        print(f"{len(expected_files())} schemas in {directory} match the models")
        return 0

    changed = write_schemas(directory)
    for name in changed:
        print(f"wrote {directory / name}")
    for name in _extra_files(directory):
        print(f"warning: {name} matches no event (left in place)", file=sys.stderr)
    print(f"{len(expected_files())} schemas in {directory}, {len(changed)} changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
