"""Failed logins slow the next ones for the same name: a password cannot be guessed at the
speed of a script.

A name's first ``free_failures`` failures cost nothing; after them, each login for that name
waits after its last failure 1 s, then 2, 4 ... up to ``longest_wait_s``, whatever the password
(a right one too: telling it apart would let the guessing go on). A success, or
``forget_after_s`` without a failure, starts the name again. Names are counted whether or not
they exist, so the answer says nothing about which do.

It slows, never locks out: someone failing on purpose under another's name makes the owner wait
a minute at most. Keyed by name, not by client address: behind a proxy every client has the
proxy's. Per console process (decision 99): N instances let N times as many guesses through.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

_NAME_KEPT_CHARS: Final = 128


@dataclass
class _Failures:
    count: int
    last_at: float


class LoginThrottle:
    def __init__(
        self,
        *,
        free_failures: int = 5,
        longest_wait_s: float = 60.0,
        forget_after_s: float = 900.0,
        names_kept: int = 10_000,
    ) -> None:
        self._free = free_failures
        self._longest_s = longest_wait_s
        self._forget_after_s = forget_after_s
        self._names_kept = names_kept  # bounded: a script may try any number of names
        self._failures: OrderedDict[str, _Failures] = OrderedDict()

    def wait_s(self, name: str, now: float) -> float:
        """How long a login for ``name`` must still wait (0: it may be tried now)."""
        failures = self._current(_key(name), now)
        if failures is None or failures.count < self._free:
            return 0.0
        wait = min(self._longest_s, 2.0 ** (failures.count - self._free))
        return max(0.0, failures.last_at + wait - now)

    def failed(self, name: str, now: float) -> None:
        key = _key(name)
        failures = self._current(key, now)
        self._failures[key] = _Failures((failures.count if failures else 0) + 1, now)
        self._failures.move_to_end(key)
        while len(self._failures) > self._names_kept:
            self._failures.popitem(last=False)

    def succeeded(self, name: str) -> None:
        self._failures.pop(_key(name), None)

    def _current(self, key: str, now: float) -> _Failures | None:
        failures = self._failures.get(key)
        if failures is not None and now - failures.last_at > self._forget_after_s:
            del self._failures[key]
            return None
        return failures


def _key(name: str) -> str:
    return name[:_NAME_KEPT_CHARS]  # a form may post kilobytes of name; no user's is that long
