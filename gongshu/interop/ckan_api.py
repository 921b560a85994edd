"""R6 R22: CKAN's Action API (read side) at /api/3/action/<name> (and /api/action/<name>, the path CKAN
clients such as ckanapi call), with CKAN's envelope and HTTP statuses. Thin: the actions live in
`ckan_actions`, every visibility rule in the catalog."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gongshu.interop import ckan
from gongshu.interop.ckan_actions import ACTIONS
from gongshu.kernel.db import read_scope
from gongshu.kernel.errors import GongshuError, NotFound
from gongshu.kernel.identity import tokens
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.policy import service as policy_service
from gongshu.web.deps import current_actor
from gongshu.web.render import lang_of

router = APIRouter(tags=["ckan"])
PATHS = ("/api/3/action/{name}", "/api/action/{name}")


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _envelope(request: Request, name: str, **body: Any) -> dict[str, Any]:
    return {"help": f"{_base(request)}/api/3/action/help_show?name={name}", **body}


def _error(request: Request, name: str, exc: GongshuError) -> JSONResponse:
    """CKAN's error envelope: 404 Not Found Error, 403 Authorization Error, 409 Validation Error."""
    message = exc.message(lang_of(request))
    error: dict[str, Any] = {"message": message}
    if isinstance(exc, NotFound) or exc.status_code == 404:
        status, kind = 404, "Not Found Error"
    elif exc.status_code in (401, 403):
        status, kind = 403, "Authorization Error"
    else:
        status, kind = 409, "Validation Error"
        error[exc.field or "query"] = [message]
    error["__type"] = kind
    return JSONResponse(_envelope(request, name, success=False, error=error), status_code=status)


def _bad_request(message: str) -> JSONResponse:
    """CKAN answers a bad request with a bare JSON string and 400."""
    return JSONResponse(f"Bad request - {message}", status_code=400)


async def _params(request: Request) -> dict[str, Any]:
    """Query parameters, then a JSON (or form) body of a POST, as CKAN reads them."""
    params: dict[str, Any] = {}
    for key in request.query_params:
        values = request.query_params.getlist(key)
        params[key] = values[0] if len(values) == 1 else values
    if request.method == "POST":
        raw = await request.body()
        if raw.strip():
            if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                params.update((k, v) for k, v in (await request.form()).items())
            else:
                body = json.loads(raw)
                if not isinstance(body, dict):
                    raise ValueError("the body must be a JSON object")
                params.update(body)
    return params


def _actor(request: Request) -> Actor:
    """The session's or Bearer token's actor, else CKAN's raw API key header (Authorization or
    X-CKAN-API-Key) resolved as an API token."""
    actor = current_actor(request)
    raw = request.headers.get("x-ckan-api-key") or request.headers.get("authorization") or ""
    if actor.is_anonymous and raw.strip() and not raw.lower().startswith("bearer "):
        with read_scope() as s:
            return tokens.resolve_api_token(s, raw.strip())
    return actor


async def action(request: Request, name: str) -> JSONResponse:
    """R6 R22: one CKAN action (package_list, package_show, package_search, organization_list,
    organization_show, group_list, group_show, status_show, help_show)."""
    if name not in ACTIONS:
        return _bad_request(f"Action name not known: {name}")
    try:
        params = await _params(request)
    except ValueError as exc:
        return _bad_request(f"JSON Error: {exc}")
    try:
        actor = _actor(request)
        with read_scope() as s:
            ctx = ckan.Context(_base(request), lang_of(request), policy_service.at(s))
            result = ACTIONS[name](s, actor, ctx, params)
    except GongshuError as exc:
        return _error(request, name, exc)
    return JSONResponse(_envelope(request, name, success=True, result=result))


for _path in PATHS:
    for _method in ("GET", "POST"):  # one route each: each operation has an OpenAPI id of its own
        _id = "ckan_" + _path.strip("/").split("/{")[0].replace("/", "_") + "_" + _method.lower()
        router.add_api_route(_path, action, methods=[_method], response_class=JSONResponse, operation_id=_id)
