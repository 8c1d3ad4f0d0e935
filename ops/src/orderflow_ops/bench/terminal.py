"""Progress on the terminal while a benchmark runs: one live line on a terminal, a printed
line every few seconds otherwise (logs, CI), and permanent lines for each step."""

from __future__ import annotations

import sys
import time
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.text import Text

PRINT_EVERY_S = 5.0


class Progress:
    def __init__(self, console: Console | None = None, *, live: bool | None = None) -> None:
        self.console = console or Console(highlight=False)
        self._live_wanted = sys.stdout.isatty() if live is None else live
        self._live: Live | None = None
        self._last_printed = 0.0

    def __enter__(self) -> Progress:
        if self._live_wanted:
            self._live = Live(Text(""), console=self.console, refresh_per_second=4, transient=True)
            self._live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def step(self, text: str) -> None:
        """A line that stays: what the benchmark is doing or just measured."""
        self.console.print(text)

    def update(self, text: str, *, force: bool = False) -> None:
        """The current state of a phase: replaces the live line, or is printed now and then."""
        if self._live is not None:
            self._live.update(Text(text))
            return
        now = time.monotonic()
        if force or now - self._last_printed >= PRINT_EVERY_S:
            self.console.print(f"  {text}")
            self._last_printed = now
