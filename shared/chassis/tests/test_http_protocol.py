"""A connection that never finishes its request headers is closed; a slow response is not cut.
On a real uvicorn server on a local port (no database, no broker)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
import uvicorn
from fastapi import FastAPI
from orderflow_chassis.http_protocol import HeaderDeadlineProtocol
from orderflow_chassis.service_http import EmbeddedServer
from orderflow_chassis.waiting import wait_at_most


class QuickDeadline(HeaderDeadlineProtocol):
    header_timeout_s = 0.3


@contextlib.asynccontextmanager
async def server() -> AsyncIterator[int]:
    app = FastAPI()

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(1.0)  # longer than the header deadline: a response is never cut
        return {"answer": "late but whole"}

    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_config=None,
        lifespan="off",
        http=QuickDeadline,
        timeout_keep_alive=60,  # uvicorn's own idle timer must not be what closes it
    )
    embedded = EmbeddedServer(config)
    serving = asyncio.create_task(embedded.serve())
    while not embedded.started:  # noqa: ASYNC110 - uvicorn sets a flag, no event
        await asyncio.sleep(0.01)
    try:
        yield embedded.servers[0].sockets[0].getsockname()[1]
    finally:
        embedded.should_exit = True
        await serving


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """Whether the server closes the connection within a few seconds (EOF, nothing sent)."""
    try:
        return await wait_at_most(5.0, reader.read()) == b""
    except TimeoutError:
        return False


@pytest.mark.parametrize("sent", [b"", b"GET /slow HT", b"GET /slow HTTP/1.1\r\nHost: x\r\n"])
async def test_a_connection_whose_headers_never_finish_is_closed(sent: bytes) -> None:
    async with server() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(sent)
        await writer.drain()

        assert await closed_by_server(reader)
        writer.close()


async def test_a_trickle_of_header_bytes_does_not_keep_it_open() -> None:
    async with server() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for byte in b"GET /slow HTTP/1.1\r\nHost: x\r\n":
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.05)
            if reader.at_eof():
                break

        assert await closed_by_server(reader)
        writer.close()


async def test_a_slow_response_is_whole_and_the_idle_connection_closed_after_it() -> None:
    async with server() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()

        head = await wait_at_most(5.0, reader.readuntil(b"\r\n\r\n"))
        assert head.startswith(b"HTTP/1.1 200")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        assert await reader.readexactly(length) == b'{"answer":"late but whole"}'
        assert await closed_by_server(reader), "then idle, waiting for headers that never come"
        writer.close()
