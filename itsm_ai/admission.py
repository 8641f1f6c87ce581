"""Admission control: at most a fixed number of requests inside the application at once."""

from __future__ import annotations

import asyncio

from fastapi.responses import JSONResponse

from itsm_ai.errors import error_body


class AdmissionLimit:
    """ASGI middleware: at most `limit` requests in the application at once, the rest wait their turn.

    Every request holds at most one pooled connection, so with the limit below the pool size no request waits
    on the pool (where a request holding a connection and waiting for a thread could starve those holding
    threads and waiting for connections). One waiting longer than `timeout` gets 503 + Retry-After.
    """

    def __init__(self, app, *, limit: int, timeout: float, retry_after: int) -> None:
        self.app, self.limit, self.timeout, self.retry_after = app, limit, timeout, retry_after
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # A semaphore belongs to one event loop: the server has one, test clients start one each.
            self._slots, self._loop = asyncio.Semaphore(self.limit), loop
        slots = self._slots
        try:
            await asyncio.wait_for(slots.acquire(), self.timeout)
        except TimeoutError:
            message = f"the service is busy; retry in {self.retry_after} s"
            response = JSONResponse(
                status_code=503,
                content=error_body(503, "unavailable", message),
                headers={"Retry-After": str(self.retry_after)},
            )
            await response(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            slots.release()
