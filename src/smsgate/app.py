"""The ASGI application: the public API's routes and the console, middleware, error handlers,
and the lifespan that may run the worker beside them in the same process (``deliver``: tests
and embedders; ``smsgate serve`` runs the worker in a process of its own, ``cli.supervise``).

The composition root: it imports the API, the console and the worker, which do not import it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect

from smsgate.api.app import routes
from smsgate.api.middleware import RequestId, RequestLimits
from smsgate.api.responses import (
    client_gone,
    http_error,
    internal_error,
    smsgate_error,
    store_unavailable,
)
from smsgate.api.state import AppState
from smsgate.config import Settings
from smsgate.console.routes import mount as console
from smsgate.domain.errors import SmsgateError
from smsgate.metrics import Metrics, RequestMetrics
from smsgate.store.db import driver_errors
from smsgate.worker import Worker, tune_gc


def create_app(settings: Settings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state = AppState(settings, request_metrics)
        app.state.smsgate = state
        worker = (Worker(state, state.secrets, state.metrics, guard=state.callback_guard, rate=state.rate)
                  if settings.deliver else None)
        if worker is not None:
            await worker.start()
        app.state.worker = worker
        tune_gc()
        checkpoints = asyncio.create_task(state.checkpoint_forever())
        try:
            yield
        finally:
            if worker is not None:
                await worker.close()
            checkpoints.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await checkpoints
            state.close()

    request_metrics = Metrics()
    return Starlette(
        routes=[*routes(), console()],
        middleware=[
            Middleware(RequestId),
            Middleware(RequestMetrics, metrics=request_metrics),
            Middleware(RequestLimits, body_timeout_s=settings.body_timeout_s),
        ],
        exception_handlers={
            SmsgateError: smsgate_error,
            HTTPException: http_error,
            ClientDisconnect: client_gone,
            # handled here, not as a 500, so no traceback is logged for every request while
            # the store is down
            **dict.fromkeys(driver_errors(), store_unavailable),
            Exception: internal_error,
        },
        lifespan=lifespan,
    )
