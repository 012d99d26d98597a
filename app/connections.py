"""Connections the web server drops: a request head (method, path, headers) must arrive whole within
REQUEST_HEAD_TIMEOUT seconds of the connection, or of the previous answer on a kept-alive one.

uvicorn has no such deadline: a connection that sends nothing, or a header line every few seconds
(slowloris), was held open forever, and 20,000 of them took every file descriptor of the server
(then even /healthz went unanswered). Kept as a subclass of uvicorn's own httptools protocol: the
deadline needs its parser's events, and no library offers it for uvicorn.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.config import get_settings


class HeadDeadlineProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None
        self._head_timeout = get_settings().request_head_timeout  # cached settings: no I/O

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def on_headers_complete(self) -> None:
        self._cancel_head_deadline()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        idle = not self.pipeline  # no request already waiting: the next one's head is awaited
        super().on_response_complete()
        if idle and not self.transport.is_closing():
            self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_deadline()
        super().connection_lost(exc)

    def _arm_head_deadline(self) -> None:
        self._cancel_head_deadline()
        self._head_deadline = self.loop.call_later(self._head_timeout, self._head_too_slow)

    def _cancel_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.close()
