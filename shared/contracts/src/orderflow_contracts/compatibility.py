"""Compare two JSON Schemas of one message and report changes that break a reader.

Within v1 both directions must keep working: an older consumer reads a newer producer's
messages, and a newer consumer reads messages already in the topics (Kafka keeps them, and
dead letters get replayed). So these are incompatible:

* `property_removed`: a property is gone (older consumers may need it);
* `type_changed`: a property's JSON type or format changed (`integer` -> `string`, a string
  that became nullable, a const that changed...);
* `required_added`: a new required property, or an optional one that became required
  (old messages lack it);
* `required_removed`: a required property became optional (newer producers may omit it,
  older consumers require it);
* `enum_value_removed`: an allowed value is gone (old messages may hold it);
* `constraint_tightened`: a bound, length or pattern became stricter, or a free value became an
  enumeration (old messages may break it);
* `routing_changed`: the event moved to another topic or key (`x-orderflow-topic`,
  `x-orderflow-key`): consumers would no longer find it, or lose its ordering.

Compatible, hence not reported: a new optional property, descriptions, titles, examples,
defaults, and constraints that got looser. Pure functions over dicts, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

_UPPER_BOUNDS: Final = ("maxLength", "maximum", "exclusiveMaximum", "maxItems")
_LOWER_BOUNDS: Final = ("minLength", "minimum", "exclusiveMinimum", "minItems")
_ROUTING: Final = ("x-orderflow-topic", "x-orderflow-key")

Schema = Mapping[str, Any]


@dataclass(frozen=True)
class Incompatibility:
    """One breaking difference between an old and a new schema."""

    path: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.path or '<root>'}: {self.kind}: {self.detail}"


def check_compatibility(old: Schema, new: Schema) -> list[Incompatibility]:
    """Every incompatible change from `old` to `new` (an empty list when compatible)."""
    checker = _Checker(old, new)
    for keyword in _ROUTING:
        if keyword in old and old.get(keyword) != new.get(keyword):
            checker.report(
                "", "routing_changed", f"{keyword} {old[keyword]!r} -> {new.get(keyword)!r}"
            )
    checker.compare(old, new, "")
    return checker.found


class _Checker:
    def __init__(self, old_root: Schema, new_root: Schema) -> None:
        self.old_root = old_root
        self.new_root = new_root
        self.found: list[Incompatibility] = []
        self._visited: set[tuple[int, int, str]] = set()

    def report(self, path: str, kind: str, detail: str) -> None:
        self.found.append(Incompatibility(path, kind, detail))

    def compare(self, old: Schema, new: Schema, path: str) -> None:
        old = _resolve(old, self.old_root)
        new = _resolve(new, self.new_root)
        visit = (id(old), id(new), path)
        if visit in self._visited:
            return
        self._visited.add(visit)

        old_types = _types(old, self.old_root)
        new_types = _types(new, self.new_root)
        if old_types != new_types:
            self.report(path, "type_changed", f"{_show(old_types)} became {_show(new_types)}")
            return

        self._compare_values(old, new, path)
        self._compare_constraints(old, new, path)

        old_object = _single_branch(old, self.old_root, "object")
        new_object = _single_branch(new, self.new_root, "object")
        if old_object is not None and new_object is not None:
            self._compare_objects(old_object, new_object, path)

        old_array = _single_branch(old, self.old_root, "array")
        new_array = _single_branch(new, self.new_root, "array")
        if old_array and new_array and "items" in old_array and "items" in new_array:
            self.compare(old_array["items"], new_array["items"], f"{path}[]")

    def _compare_values(self, old: Schema, new: Schema, path: str) -> None:
        old_values = _allowed_values(old, self.old_root)
        new_values = _allowed_values(new, self.new_root)
        if old_values is None:
            if new_values is not None:
                self.report(path, "constraint_tightened", f"now restricted to {sorted(new_values)}")
            return
        if new_values is None:
            return
        for value in sorted(old_values - new_values):
            self.report(path, "enum_value_removed", f"{value!r} is no longer allowed")

    def _compare_constraints(self, old: Schema, new: Schema, path: str) -> None:
        old_scalar = _constraints(old, self.old_root)
        new_scalar = _constraints(new, self.new_root)
        for keyword in _UPPER_BOUNDS:
            before, after = old_scalar.get(keyword), new_scalar.get(keyword)
            if after is not None and (before is None or after < before):
                self.report(path, "constraint_tightened", f"{keyword} {before} -> {after}")
        for keyword in _LOWER_BOUNDS:
            before, after = old_scalar.get(keyword), new_scalar.get(keyword)
            if after is not None and (before is None or after > before):
                self.report(path, "constraint_tightened", f"{keyword} {before} -> {after}")
        before, after = old_scalar.get("pattern"), new_scalar.get("pattern")
        if after is not None and after != before:
            self.report(path, "constraint_tightened", f"pattern {before!r} -> {after!r}")

    def _compare_objects(self, old: Schema, new: Schema, path: str) -> None:
        old_properties: Mapping[str, Any] = old.get("properties", {})
        new_properties: Mapping[str, Any] = new.get("properties", {})
        old_required = set(old.get("required", ()))
        new_required = set(new.get("required", ()))
        prefix = f"{path}." if path else ""
        for name in old_properties:
            if name not in new_properties:
                self.report(f"{prefix}{name}", "property_removed", "property was removed")
        for name in sorted(new_required - old_required):
            detail = (
                "optional property became required"
                if name in old_properties
                else "new required property"
            )
            self.report(f"{prefix}{name}", "required_added", detail)
        for name in sorted(old_required - new_required):
            if name in new_properties:
                self.report(
                    f"{prefix}{name}", "required_removed", "required property became optional"
                )
        if (
            old.get("additionalProperties") is not False
            and new.get("additionalProperties") is False
        ):
            self.report(path, "constraint_tightened", "additional properties are now refused")
        for name, old_property in old_properties.items():
            if name in new_properties:
                self.compare(old_property, new_properties[name], f"{prefix}{name}")


def _resolve(schema: Schema, root: Schema) -> Schema:
    """Follow local `$ref`s (`#/$defs/Name`) and single-element `allOf` wrappers."""
    for _ in range(64):
        if "$ref" in schema:
            schema = _pointer(root, schema["$ref"])
        elif "allOf" in schema and len(schema["allOf"]) == 1:
            schema = schema["allOf"][0]
        else:
            return schema
    raise ValueError("reference chain too long")


def _pointer(root: Schema, reference: str) -> Schema:
    if not reference.startswith("#"):
        raise ValueError(f"only local references are supported, got {reference!r}")
    node: Any = root
    for part in reference.lstrip("#").strip("/").split("/"):
        if part:
            node = node[part.replace("~1", "/").replace("~0", "~")]
    if not isinstance(node, Mapping):
        raise ValueError(f"reference {reference!r} does not point at a schema")
    return node


def _branches(schema: Schema, root: Schema) -> list[Schema]:
    """The alternatives of a schema (`anyOf`/`oneOf` members), resolved; itself otherwise."""
    schema = _resolve(schema, root)
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema:
            return [branch for member in schema[keyword] for branch in _branches(member, root)]
    return [schema]


def _types(schema: Schema, root: Schema) -> frozenset[str]:
    types: set[str] = set()
    for branch in _branches(schema, root):
        types |= _branch_types(branch)
    return frozenset(types)


def _branch_types(branch: Schema) -> set[str]:
    declared = branch.get("type")
    if declared is None:
        if "const" in branch:
            declared = _json_type(branch["const"])
        elif "enum" in branch:
            declared = sorted({_json_type(value) for value in branch["enum"]})
        elif "properties" in branch:
            declared = "object"
        elif "items" in branch:
            declared = "array"
        else:
            return {"any"}
    names = [declared] if isinstance(declared, str) else list(declared)
    fmt = branch.get("format")
    return {f"{name}:{fmt}" if fmt and name == "string" else name for name in names}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _allowed_values(schema: Schema, root: Schema) -> frozenset[Any] | None:
    """The closed set of non-null values a schema allows, or None when it is open."""
    values: set[Any] = set()
    for branch in _branches(schema, root):
        if "const" in branch:
            values.add(_hashable(branch["const"]))
        elif "enum" in branch:
            values |= {_hashable(value) for value in branch["enum"]}
        elif branch.get("type") == "null":
            continue
        else:
            return None
    values.discard(None)
    return frozenset(values) if values else None


def _hashable(value: Any) -> Any:
    return repr(value) if isinstance(value, list | dict) else value


def _constraints(schema: Schema, root: Schema) -> dict[str, Any]:
    """Bounds and pattern of the non-null branch (when there is exactly one)."""
    branches = [b for b in _branches(schema, root) if b.get("type") != "null"]
    if len(branches) != 1:
        return {}
    branch = branches[0]
    keywords = (*_UPPER_BOUNDS, *_LOWER_BOUNDS, "pattern")
    return {keyword: branch[keyword] for keyword in keywords if keyword in branch}


def _single_branch(schema: Schema, root: Schema, json_type: str) -> Schema | None:
    matches = [b for b in _branches(schema, root) if json_type in _branch_types(b)]
    return matches[0] if len(matches) == 1 else None


def _show(types: frozenset[str]) -> str:
    return " | ".join(sorted(types)) or "nothing"
