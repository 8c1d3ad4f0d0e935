#!/usr/bin/env bash
# Installs the workspace on a fresh machine: uv (pinned) if missing, then every package at
# the versions locked in uv.lock. Idempotent and quick when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/../.."

UV_VERSION=0.13.8
export UV_PYTHON_DOWNLOADS=never   # use the machine's Python 3.11; never fetch one

if ! command -v uv >/dev/null 2>&1; then
  if ! command -v python3 >/dev/null 2>&1; then
    echo "bootstrap: python3 (3.11) is required and was not found" >&2
    exit 1
  fi
  echo "bootstrap: installing uv ${UV_VERSION} from PyPI" >&2
  python3 -m pip install --quiet --disable-pip-version-check "uv==${UV_VERSION}" \
    || python3 -m pip install --quiet --user --disable-pip-version-check "uv==${UV_VERSION}"
  export PATH="$HOME/.local/bin:$PATH"
fi

uv sync --frozen --all-packages --quiet
