"""Failed logins slow the next ones for the same name: a password cannot be guessed at the
speed of a script.

Failures are counted per name and client address, and per name from any address. A pair's
first ``free_failures`` failures cost nothing, a name's first ``free_name_failures``; after
them, each login waits after the last failure 1 s, then 2, 4 ... up to ``longest_wait_s``,
whatever the password (a right one too: telling it apart would let the guessing go on). A
success starts its pair again; ``forget_after_s`` without a failure starts a pair or a name.
Names are counted whether or not they exist, so the answer says nothing about which do.

Someone failing on purpose under another's name from another address slows the owner only
once the name's own count is spent (50 failures within a quarter of an hour), and from then on
for as long as the failures go on, a minute after each at most; from the same address (behind
a proxy, every client has the proxy's), from the fifth. Per console process (decision 99): N
instances let N times as many guesses through.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

_NAME_KEPT_CHARS: Final = 128
_ANY_CLIENT: Final = ""
_LONGEST_DOUBLING: Final = 16  # 2**16 s is past any wait: no float overflow however many
_EVICTION_SCAN: Final = 2_048


@dataclass
class _Failures:
    count: int
    last_at: float
    free: int


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
        pair, any_client = _keys(name, client)
        for key, free in ((pair, self._free), (any_client, self._free_name)):
            failures = self._current(key, now)
            self._failures[key] = _Failures((failures.count if failures else 0) + 1, now, free)
            self._failures.move_to_end(key)
        while len(self._failures) > self._kept:
            self._evict_one(now)

    def succeeded(self, name: str, client: str) -> None:
        """The pair starts again; the name's count from everywhere runs out by itself (the
        owner's success must not give a guesser elsewhere 50 more tries)."""
        self._failures.pop(_keys(name, client)[0], None)

    def _wait(self, key: tuple[str, str], now: float) -> float:
        failures = self._current(key, now)
        if failures is None or failures.count < failures.free:
            return 0.0
        doublings = min(failures.count - failures.free, _LONGEST_DOUBLING)
        return max(0.0, failures.last_at + min(self._longest_s, 2.0**doublings) - now)

    def _current(self, key: tuple[str, str], now: float) -> _Failures | None:
        failures = self._failures.get(key)
        if failures is not None and now - failures.last_at > self._forget_after_s:
            del self._failures[key]
            return None
        return failures

    def _evict_one(self, now: float) -> None:
        """The oldest entry that slows nothing goes: one that slows is moved behind the others
        and kept, so flooding the table with other names frees no name being guessed. Only when
        the ``_EVICTION_SCAN`` oldest all slow (thousands of failures first) does the oldest go:
        a bound on what one failure costs."""
        for _ in range(min(len(self._failures), _EVICTION_SCAN)):
            key, failures = next(iter(self._failures.items()))
            expired = now - failures.last_at > self._forget_after_s
            if expired or failures.count < failures.free:
                del self._failures[key]
                return
            self._failures.move_to_end(key)
        self._failures.popitem(last=False)


def _keys(name: str, client: str) -> tuple[tuple[str, str], tuple[str, str]]:
    kept = name[:_NAME_KEPT_CHARS]  # a form may post kilobytes of name; no user's is that long
    return (kept, client or "?"), (kept, _ANY_CLIENT)
