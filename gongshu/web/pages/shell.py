"""The web shell: home page with platform figures, health, metrics, OpenAPI docs from local files, and
the banner that warns when the regulation in force has lapsed (R30)."""

from __future__ import annotations

import datetime as dt
import threading
import time

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gongshu.web import figures, metrics
from gongshu.web.deps import current_actor
from gongshu.web.i18n import gettext
from gongshu.web.render import lang_of, render

router = APIRouter()

VENDOR = "/static/vendor"


PUBLIC_KINDS = ("person", "legal_entity")
"""Organisation kinds of the public's own accounts (R5): people and companies, not platform staff."""
OPEN_DATA = "/catalog?open_attribute=general&open_attribute=on_application"
"""R22: the catalog filtered to the entries open to the public (generally, or on application)."""


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def home(request: Request) -> HTMLResponse:
    """R4: the one platform's front page. Visitors and the public's accounts (R5) get the ways in — a
    catalog search box (R6), the open data (R22), registration and login; the platform's internal figures
    from the database (R28: the authority supervises its use) are for logged-in staff only."""
    from gongshu.kernel.db import read_scope

    lang = lang_of(request)
    actor = current_actor(request)
    staff = not actor.is_anonymous and actor.org_kind not in PUBLIC_KINDS
    with read_scope() as session:
        if not staff:
            policy = figures.policy_in_force(session, lang)
            return render(request, "home.html", staff=False, fig=None, policy=policy, open_data=OPEN_DATA)
        fig = figures.platform_figures(session, lang)
    return render(
        request,
        "home.html",
        staff=True,
        fig=fig,
        policy=fig.policy,
        chart=_cases_chart(fig, lang),
        open_data=OPEN_DATA,
    )


def _cases_chart(fig: figures.PlatformFigures, lang: str) -> dict[str, object] | None:
    """An ECharts option (embedded in the page as JSON): cases by kind."""
    if not fig.cases_by_kind:
        return None
    kinds = sorted(fig.cases_by_kind, key=lambda k: (-fig.cases_by_kind[k], k))
    return {
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 12, "right": 24, "top": 16, "bottom": 8, "containLabel": True},
        "xAxis": {"type": "value", "minInterval": 1},
        "yAxis": {"type": "category", "inverse": True, "data": [fig.kind_labels.get(k, k) for k in kinds]},
        "series": [
            {
                "name": gettext(lang, "Cases"),
                "type": "bar",
                "data": [fig.cases_by_kind[k] for k in kinds],
                "itemStyle": {"color": "#0b4a8b"},
                "barMaxWidth": 28,
                "label": {"show": True, "position": "right"},
            }
        ],
    }


@router.get("/healthz", include_in_schema=False)
def healthz() -> JSONResponse:
    from sqlalchemy import text

    from gongshu.kernel.db import read_scope

    with read_scope() as session:
        session.execute(text("SELECT 1"))
    return JSONResponse({"status": "ok"})


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics() -> Response:
    """R27: daily monitoring — Prometheus text format."""
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)


@router.get("/api/docs", response_class=HTMLResponse, include_in_schema=False)
def api_docs(request: Request) -> HTMLResponse:
    """Swagger UI from the vendored files: no CDN, no online validator, no outside favicon."""
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url or "/openapi.json",
        title=f"{request.app.title} — API",
        swagger_js_url=f"{VENDOR}/swagger-ui-bundle.js",
        swagger_css_url=f"{VENDOR}/swagger-ui.css",
        swagger_favicon_url="/static/img/favicon.svg",
        swagger_ui_parameters={"validatorUrl": None},
    )


# --- R30: the lapsed-policy banner -------------------------------------------------------------------

_PAGELESS = ("/static/", "/api/", "/metrics", "/healthz", "/openapi.json")
_BANNER_TTL_SECONDS = 60.0
_banner_lock = threading.Lock()
_banner_cache: dict[dt.date, tuple[float, str | None]] = {}


def lapsed_since(day: dt.date | None = None) -> str | None:
    """The end date (ISO) of the version carried on after lapsing, or None while a version is in force.
    Looked up at most once a minute per process; `forget_policy_state()` after loading a version."""
    from gongshu.kernel.db import read_scope
    from gongshu.kernel.timeutil import today_china

    day = day or today_china()
    with _banner_lock:
        hit = _banner_cache.get(day)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    try:
        with read_scope() as session:
            pol = figures.policy_in_force(session, day=day)
    except Exception:  # an uninitialised database must not break every page; /healthz reports it
        return None
    value = pol.effective_to.isoformat() if pol and pol.lapsed and pol.effective_to else None
    with _banner_lock:
        _banner_cache.clear()
        _banner_cache[day] = (time.monotonic() + _BANNER_TTL_SECONDS, value)
    return value


def forget_policy_state() -> None:
    with _banner_lock:
        _banner_cache.clear()


class PolicyBannerMiddleware:
    """Sets `request.state.policy_lapsed` on page requests so that base.html shows the R30 banner."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not str(scope.get("path", "")).startswith(_PAGELESS):
            lapsed = lapsed_since()
            if lapsed:
                scope.setdefault("state", {})["policy_lapsed"] = lapsed
        await self.app(scope, receive, send)
