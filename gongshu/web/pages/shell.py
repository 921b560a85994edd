"""The web shell: home page with platform figures, health, metrics, OpenAPI docs from local files."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from gongshu.web.render import render

router = APIRouter()


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def home(request: Request) -> HTMLResponse:
    return render(request, "home.html")


@router.get("/healthz", include_in_schema=False)
def healthz() -> JSONResponse:
    from sqlalchemy import text

    from gongshu.kernel.db import read_scope

    with read_scope() as session:
        session.execute(text("SELECT 1"))
    return JSONResponse({"status": "ok"})
