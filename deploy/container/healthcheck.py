"""The container image's HEALTHCHECK: GET /health/ready of the process in this container.

The port comes from ``ORDERFLOW_HEALTHCHECK_URL`` if set, else from the one
``<SERVICE>_HTTP_PORT`` variable the container was started with (``CART_HTTP_PORT=8001``...).
Standard library only: it runs with the image's Python and must not import the services.
Exit 0 = healthy, 1 = not (with the reason on stderr, which Docker keeps in its health log).
"""

from __future__ import annotations

import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping

_PORT_VARIABLE = re.compile(r"^[A-Z][A-Z0-9_]*_HTTP_PORT$")
_TIMEOUT_S = 4.0


def health_url(environ: Mapping[str, str]) -> str:
    """The readiness URL of this container's process; ValueError says what to set if unknown."""
    explicit = environ.get("ORDERFLOW_HEALTHCHECK_URL")
    if explicit:
        return explicit
    ports = sorted(
        (name, value) for name, value in environ.items() if _PORT_VARIABLE.match(name) and value
    )
    if len(ports) != 1:
        found = ", ".join(name for name, _ in ports) or "none"
        raise ValueError(
            "cannot tell which port to check: expected exactly one <SERVICE>_HTTP_PORT variable "
            f"(found: {found}); set ORDERFLOW_HEALTHCHECK_URL"
        )
    name, port = ports[0]
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{name}={port!r} is not a TCP port")
    return f"http://127.0.0.1:{port}/health/ready"


def main() -> int:
    try:
        url = health_url(os.environ)
        # The URL is built above from a port number, or set by the operator.
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response:  # noqa: S310
            status = int(response.status)
    except urllib.error.HTTPError as error:
        print(f"healthcheck: {error.code} from {error.url}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as error:
        print(f"healthcheck: {error}", file=sys.stderr)
        return 1
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
