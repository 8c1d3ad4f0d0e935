"""How a service wires its use cases: each declares what it needs, bootstrap binds it once.

A use case is a function whose positional parameters are what its caller passes (an event and
a unit of work, or a cart id and a unit of work) and whose keyword-only parameters name its
dependencies (``rules``, ``policy``, ``providers``...). A service's ``bootstrap.py`` builds one
``dependencies`` mapping and binds every use case with :func:`inject`; handlers, jobs, HTTP
routes and CLI commands then call the bound functions. A use case asking for a dependency
nobody provides fails at start, not at its first event.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any


def inject(use_case: Callable[..., Any], dependencies: Mapping[str, object]) -> Any:
    """``use_case`` with the keyword-only parameters it declares filled from ``dependencies``.

    Raises ``TypeError`` when a keyword-only parameter without a default is not provided.
    """
    parameters = inspect.signature(use_case).parameters.values()
    wanted = [p for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]
    missing = [
        p.name
        for p in wanted
        if p.name not in dependencies and p.default is inspect.Parameter.empty
    ]
    if missing:
        name = getattr(use_case, "__qualname__", repr(use_case))
        raise TypeError(f"{name} needs {', '.join(missing)}, which the service does not provide")
    given = {p.name: dependencies[p.name] for p in wanted if p.name in dependencies}
    bound = functools.partial(use_case, **given)
    functools.update_wrapper(bound, use_case)
    return bound
