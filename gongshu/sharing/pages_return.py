"""R20: the list of national and provincial return resources. Thin: the rules live in data_return.py."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from gongshu.kernel.db import read_scope
from gongshu.kernel.policy import service as policy_service
from gongshu.sharing.data_return import return_resources
from gongshu.web.deps import current_actor
from gongshu.web.render import lang_of, render

router = APIRouter(prefix="/sharing", include_in_schema=False)


@router.get("/return", response_class=HTMLResponse)
def return_page(request: Request) -> HTMLResponse:
    """R20: the returned resources the visitor may see; each links to its catalog entry (apply there)."""
    actor = current_actor(request)
    lang = lang_of(request)
    with read_scope() as s:
        pol = policy_service.at(s)
        return render(
            request,
            "sharing/data_return.html",
            resources=return_resources(s, actor),
            label=lambda group, key: pol.label(group, key, lang),
        )
