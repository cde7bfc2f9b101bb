"""A sync ``httpx`` transport that runs an ASGI app in-process.

``httpx.ASGITransport`` is async-only and the adapter uses a sync ``httpx.Client``, so
each request runs the async transport to completion on a fresh event loop
(``anyio.run``). An app that fails before or during its response surfaces as
``httpx.RemoteProtocolError``, which is what a client sees when a server drops the
connection; that is how the fake's ``drop`` fault reaches the client in-process.
"""

from __future__ import annotations

import anyio
import httpx
from starlette.types import ASGIApp


class AsgiBridgeTransport(httpx.BaseTransport):
    def __init__(self, app: ASGIApp) -> None:
        self._inner = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        return anyio.run(self._send, request)

    async def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self._inner.handle_async_request(request)
            content = await response.aread()
        except Exception as exc:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a complete response", request=request
            ) from exc
        return httpx.Response(
            response.status_code, headers=response.headers, content=content, request=request
        )
