"""uvicorn's HTTP/1.1 protocol, with a deadline for each request's headers.

uvicorn closes a keep-alive connection idle after a response, but starts no clock on a new
connection, and any byte cancels its keep-alive timer: a client that connects and sends
nothing, or a header a byte at a time (slowloris), holds the connection for ever. Each counts
against ``http_max_connections``, past which every request, health probes included, is
answered 503: a thousand idle sockets took a service's HTTP down. So a connection whose
request headers are not all in within ``header_timeout_s`` of its opening (or of the previous
response) is closed. The body has its own limit (:mod:`orderflow_chassis.http_guard`).
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from uvicorn.protocols.http.h11_impl import H11Protocol


class HeaderDeadlineProtocol(H11Protocol):
    """:class:`H11Protocol` closing a connection whose headers are late (see the module).
    The clock runs only while no request is being served: a long response (a server-sent
    event stream) is never cut."""

    header_timeout_s: ClassVar[float] = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self._serving():  # a request's headers were all read
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self._serving():
            self._arm()  # the next request on this connection

    def _serving(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.header_timeout_s, self._too_late)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_late(self) -> None:
        self._deadline = None
        if not self._serving() and not self.transport.is_closing():
            self.transport.close()
