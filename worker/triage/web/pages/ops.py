"""For the machines: /metrics (Prometheus), /healthz, /readyz. No sign-in, and nothing in
them about cards or events (the metrics' labels are priority bands and outcomes)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from worker.triage.web.state import in_thread, web_state


async def metrics(request: Request) -> Response:
    registry = web_state(request).metrics_registry
    if registry is None:
        return PlainTextResponse("no metrics in this app: it was built without a registry\n", 404)
    # In a thread: a collector may ask the database (queue depth, oldest open age).
    body = await in_thread(generate_latest, registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok\n")


async def readyz(request: Request) -> Response:
    ready = web_state(request).ready
    why = None if ready is None else await in_thread(ready)
    if why is None:
        return PlainTextResponse("ready\n")
    return PlainTextResponse(f"not ready: {why}\n", status_code=503)
