"""Failed logins slow the next ones for the same name: a password cannot be guessed at the
speed of a script.

Failures are counted per name and client address, and per name from any address, each count
leaking away over ``forget_after_s`` (a pair's 5 in a quarter of an hour, a name's 50: one
every 3 minutes and one every 18 seconds drain). Past ``free_failures`` for the pair or
``free_name_failures`` for the name, each login waits after the last failure 1 s, then 2, 4 ...
up to ``longest_wait_s``, whatever the password (a right one too: telling it apart would let
the guessing go on). A success empties its pair's count, not the name's (guessers elsewhere
built that). Names are counted whether or not they exist, so the answer says nothing about
which do.

Someone failing on purpose under another's name from another address slows the owner once the
name's count is past 50, and then for as long as they fail faster than it leaks, a minute after
each failure at most; from the same address (behind a proxy, every client has the proxy's),
past 5. Per console process (decision 99): N instances let N times as many guesses through.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

_NAME_KEPT_CHARS: Final = 128
_ANY_CLIENT: Final = ""
_LONGEST_DOUBLING: Final = 16  # 2**16 s is past any wait: no float overflow however many
_EVICTION_SCAN: Final = 2_048  # bounds what one failure costs when the table is full


@dataclass
class _Failures:
    count: float  # leaks away (see the module docstring)
    last_at: float


class LoginThrottle:
    def __init__(
        self,
        *,
        free_failures: int = 5,
        free_name_failures: int = 50,
        longest_wait_s: float = 60.0,
        forget_after_s: float = 900.0,
        entries_kept: int = 20_000,
    ) -> None:
        self._free = free_failures
        self._free_name = free_name_failures
        self._longest_s = longest_wait_s
        self._forget_after_s = forget_after_s
        self._kept = entries_kept  # bounded: a script may try any number of names
        self._failures: OrderedDict[tuple[str, str], _Failures] = OrderedDict()

    def wait_s(self, name: str, client: str, now: float) -> float:
        """How long a login for ``name`` from ``client`` must still wait (0: it may now)."""
        return max(self._wait(key, now) for key in _keys(name, client))

    def failed(self, name: str, client: str, now: float) -> None:
        for key in _keys(name, client):
            failures = self._current(key, now)
            self._failures[key] = _Failures((failures.count if failures else 0.0) + 1, now)
            self._failures.move_to_end(key)
        while len(self._failures) > self._kept:
            self._evict_one()

    def succeeded(self, name: str, client: str) -> None:
        self._failures.pop(_keys(name, client)[0], None)

    def _wait(self, key: tuple[str, str], now: float) -> float:
        failures = self._current(key, now)
        if failures is None or (over := self._over(key, failures)) < 0:
            return 0.0
        doublings = min(over, _LONGEST_DOUBLING)
        return max(0.0, failures.last_at + min(self._longest_s, 2.0**doublings) - now)

    def _current(self, key: tuple[str, str], now: float) -> _Failures | None:
        """The key's failures as they stand now, what leaked since its last one taken off."""
        failures = self._failures.get(key)
        if failures is None:
            return None
        leaked = (now - failures.last_at) * self._free_of(key) / self._forget_after_s
        if failures.count - leaked <= 0:
            del self._failures[key]
            return None
        return _Failures(failures.count - leaked, failures.last_at)

    def _free_of(self, key: tuple[str, str]) -> int:
        return self._free_name if key[1] == _ANY_CLIENT else self._free

    def _over(self, key: tuple[str, str], failures: _Failures) -> int:
        """Failures past the free ones (negative: it slows nothing yet), counted to the nearest
        one: five in a few seconds are five, not 4.98."""
        return round(failures.count) - self._free_of(key)

    def _evict_one(self) -> None:
        """Of the oldest entries, the one that slows least goes (one that slows nothing first):
        flooding the table with other names frees a name being guessed only after every
        entry looked at slows more than it does."""
        victim: tuple[str, str] | None = None
        least: int | None = None
        for scanned, key in enumerate(self._failures):
            if scanned >= _EVICTION_SCAN:
                break
            over = self._over(key, self._failures[key])
            if over < 0:
                victim = key
                break
            if least is None or over < least:
                victim, least = key, over
        if victim is not None:
            del self._failures[victim]


def _keys(name: str, client: str) -> tuple[tuple[str, str], tuple[str, str]]:
    kept = name[:_NAME_KEPT_CHARS]  # a form may post kilobytes of name; no user's is that long
    return (kept, client or "?"), (kept, _ANY_CLIENT)
