"""Prometheus metrics of the web process (R27: the operator monitors the platform daily).

`MetricsMiddleware` counts requests and times them by method, route template (never the raw path, so
that ids in URLs do not multiply the series) and status; `exposition()` renders /metrics.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "<unmatched>"

REQUESTS = Counter(
    "gongshu_http_requests",
    "HTTP requests served, by method, route template and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "gongshu_http_request_duration_seconds",
    "Time to serve an HTTP request, by method, route template and status",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/cases/{case_id}`), the mount path for static files, or
    `<unmatched>` when no route matched (404s of arbitrary paths)."""
    route: Any = scope.get("route")
    if route is None:
        return UNMATCHED
    return str(getattr(route, "path_format", None) or getattr(route, "path", None) or UNMATCHED)


class MetricsMiddleware:
    """Pure ASGI middleware: streaming responses are measured until their last byte."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            labels = (scope.get("method", "GET"), route_template(scope), str(status))
            REQUESTS.labels(*labels).inc()
            LATENCY.labels(*labels).observe(time.perf_counter() - started)


def exposition() -> tuple[bytes, str]:
    """The text exposition format of every registered metric, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
