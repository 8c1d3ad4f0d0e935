"""JSON schemas for kubeconform, made offline.

- Custom resources: each CRD's ``openAPIV3Schema`` converted to a strict JSON schema (unknown
  fields refused, as the API server's structural pruning would drop them silently), written
  as ``<group>/<kind>_<version>.json``. They are vendored in deploy/kubernetes/schemas/crds
  from the operators' released CRDs (see the README there).
- Kubernetes' own kinds: taken from the kubernetes-validate package (PyPI), which ships the
  schemas of each Kubernetes minor release, made self-contained (kubeconform cannot follow
  their references into a shared definitions file).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

_DEFINITION_REF = re.compile(r'"#/\$defs/([^"]+)"')


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("x-kubernetes-int-or-string"):
        kept = {k: v for k, v in node.items() if k in ("description", "pattern")}
        return {**kept, "oneOf": [{"type": "string"}, {"type": "integer"}]}
    converted = {key: _strict(value) for key, value in node.items()}
    if converted.get("nullable") and isinstance(converted.get("type"), str):
        converted["type"] = [converted["type"], "null"]
    if (
        "properties" in converted
        and "additionalProperties" not in converted
        and not converted.get("x-kubernetes-preserve-unknown-fields")
    ):
        converted["additionalProperties"] = False
    return converted


def crd_schemas(crd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Relative file name -> strict JSON schema, one per served version of ``crd``."""
    spec = crd["spec"]
    group, kind = spec["group"], spec["names"]["kind"].lower()
    return {
        f"{group}/{kind}_{version['name']}.json": _strict(version["schema"]["openAPIV3Schema"])
        for version in spec["versions"]
        if version.get("served", True)
    }


def write_crd_schemas(crd_files: Iterable[Path], out_dir: Path) -> list[Path]:
    written = []
    for path in crd_files:
        for document in yaml.safe_load_all(path.read_text()):
            if not document or document.get("kind") != "CustomResourceDefinition":
                continue
            for name, schema in crd_schemas(document).items():
                target = out_dir / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(json.dumps(schema, sort_keys=True, indent=0) + "\n")
                written.append(target)
    return written


def kubernetes_schema_dir(version: str) -> Path:
    """The strict schemas kubernetes-validate ships for ``version`` (e.g. ``1.33.0``)."""
    root = Path(str(resources.files("kubernetes_validate"))) / "kubernetes-json-schema"
    folder = root / f"v{version}-local-strict"
    if not folder.is_dir():
        shipped = sorted(p.name for p in root.iterdir() if p.name.endswith("-strict"))
        raise FileNotFoundError(f"kubernetes-validate has no schemas for {version}: {shipped}")
    return folder


def write_core_schemas(version: str, file_stems: Iterable[str], out_dir: Path) -> Path:
    """Self-contained copies of the schemas named by ``file_stems`` (``deployment-apps-v1``),
    in kubeconform's layout ``v<version>-standalone-strict/<stem>.json`` under ``out_dir``."""
    source = kubernetes_schema_dir(version)
    definitions = json.loads((source / "_definitions.json").read_text())["$defs"]
    target = out_dir / f"v{version}-standalone-strict"
    target.mkdir(parents=True, exist_ok=True)
    for stem in file_stems:
        text = (source / f"{stem}.json").read_text().replace('"/api/_definitions.json#', '"#')
        needed, seen = set(_DEFINITION_REF.findall(text)), set[str]()
        while needed:
            name = needed.pop()
            if name not in seen:
                seen.add(name)
                needed |= set(_DEFINITION_REF.findall(json.dumps(definitions[name]))) - seen
        schema = json.loads(text)
        schema["$defs"] = {name: definitions[name] for name in sorted(seen)}
        (target / f"{stem}.json").write_text(json.dumps(schema))
    return target
