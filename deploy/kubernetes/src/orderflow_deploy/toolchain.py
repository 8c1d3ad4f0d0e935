"""kustomize and kubeconform for the validation tests: built from the Go module proxy with
`go install` at pinned versions into <repository>/.tools/bin (gitignored), once per machine."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

MODULES = {
    "kustomize": "sigs.k8s.io/kustomize/kustomize/v5@v5.8.1",
    "kubeconform": "github.com/yannh/kubeconform/cmd/kubeconform@v0.8.0",
}


def tool(name: str, tools_dir: Path) -> Path:
    """The binary in ``tools_dir``/bin, built first if missing or built from another version."""
    bin_dir = tools_dir / "bin"
    module = MODULES[name]
    binary = bin_dir / name
    stamp = bin_dir / f"{name}.version"
    if binary.is_file() and stamp.is_file() and stamp.read_text() == module:
        return binary
    go = shutil.which("go")
    if go is None:
        raise RuntimeError(f"Go is needed to build {name} ({module}): install Go 1.26+")
    bin_dir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [go, "install", module],
        env={**os.environ, "GOBIN": str(bin_dir), "GOFLAGS": "-buildvcs=false"},
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if result.returncode != 0:
        raise RuntimeError(f"go install {module} failed:\n{result.stderr}")
    if not binary.is_file():
        raise RuntimeError(f"go install {module} left no {binary}")
    stamp.write_text(module)
    return binary
