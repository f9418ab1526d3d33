"""uvicorn's httptools protocol with a response's head and body written in one system call (writev)."""
from __future__ import annotations

import asyncio
from typing import Any, Optional


class CoalescingTransport:
    """An asyncio transport that sends the writes made in one event-loop step together, as one `writelines`
    (one writev) at the end of the step, and forwards everything else to the transport it wraps.

    uvicorn writes a response's status line and headers, then its body, with two `transport.write` calls;
    with TCP_NODELAY each goes out at once as its own segment, so the client wakes up for the head and again
    for the body. An extender's client waits for every answer (kube-scheduler runs one scheduling cycle at
    a time), so that second wake-up is latency on every request.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        self._transport = transport
        self._loop = loop
        self._pending: list[Any] = []

    def write(self, data: Any) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def writelines(self, data: Any) -> None:
        for d in data:
            self.write(d)

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        if not pending or self._transport.is_closing():
            return
        if len(pending) == 1:
            self._transport.write(pending[0])
        else:
            self._transport.writelines(pending)

    def close(self) -> None:
        self.flush()   # what was written goes out before the close, in order
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def http_protocol() -> Optional[type]:
    """uvicorn's httptools protocol class with its transport wrapped in a CoalescingTransport, or None when
    httptools is not installed (uvicorn then picks its h11 protocol, unchanged)."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:   # pragma: no cover - httptools is in the serve extra
        return None

    class CoalescingHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]

    return CoalescingHttpToolsProtocol
