"""R6 R9: catalog pages — search with facets, an entry with its items, attributes, conditions and
versions, the editor of catalog officers (inline field errors), submission for review. The authority
reviews on the workflow's case page. Thin: every rule lives in the catalog services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from gongshu.catalog import search, service
from gongshu.catalog.api import facet_filters
from gongshu.catalog.models import CatalogEntry
from gongshu.catalog.pages_review import FIELD_LABELS, ITEM_FIELD_LABELS, pending_changes
from gongshu.catalog.schemas import (
    DATA_TYPES,
    FORMATS,
    SENSITIVITIES,
    SUBJECT_KINDS,
    EntryInput,
    vocabulary_label,
)
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import decide, require
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import GongshuError, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import Organisation
from gongshu.kernel.policy import service as policy_service
from gongshu.web.deps import csrf_protect, current_actor, require_actor
from gongshu.web.i18n import gettext
from gongshu.web.pages.cases import china_time, viewable_case_ids
from gongshu.web.render import lang_of, render

router = APIRouter(prefix="/catalog", include_in_schema=False)
Anyone = Annotated[Actor, Depends(current_actor)]
LoggedIn = Annotated[Actor, Depends(require_actor)]
Protected = [Depends(csrf_protect)]
PAGE_SIZE = 20
BLANK_ITEM_ROWS = 3  # blank item rows under the items (the "add an item" button adds more in place)
MORE_ROWS = 5  # without JavaScript, "5 more rows" re-renders the form with this many more blank rows
MAX_BLANK_ROWS = 100
ENTRY_FIELDS = (
    "catalog_kind",
    "category_code",
    "name",
    "name_en",
    "summary",
    "format",
    "topic",
    "legal_basis",
    "open_attribute",
    "sharing_attribute",
    "not_open_reason",
    "update_cycle",
    "grade",
    "subject_kind",
)
ITEM_FIELDS = ("name", "label_zh", "label_en", "data_type", "length", "sensitivity", "description")


def _rows(form: FormData, prefix: str, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    """Repeated rows `prefix-<n>-<field>`; rows left blank are dropped."""
    indexes = sorted(
        {int(k.split("-")[1]) for k in form if k.startswith(f"{prefix}-") and k.split("-")[1].isdigit()}
    )
    rows = []
    for n in indexes:
        row = {f: str(form.get(f"{prefix}-{n}-{f}") or "").strip() for f in fields}
        if any(v for k, v in row.items() if k not in ("data_type", "sensitivity", "kind")):
            rows.append(row)
    return rows


def form_to_input(form: FormData) -> EntryInput:
    """The editor's form as an entry input (types are checked by the services)."""
    data: dict[str, Any] = {f: str(form.get(f) or "").strip() for f in ENTRY_FIELDS}
    data["keywords"] = service.split_keywords(str(form.get("keywords") or ""))
    data["related_codes"] = service.split_keywords(str(form.get("related_codes") or ""))
    data["sharing_methods"] = [str(v) for v in form.getlist("sharing_methods")]
    data["contains_personal_info"] = form.get("contains_personal_info") == "on"
    data["deidentified"] = form.get("deidentified") == "on"
    data["sharing_conditions"] = _rows(form, "sharing_conditions", ("kind", "value"))
    data["open_conditions"] = _rows(form, "open_conditions", ("kind", "value"))
    items = _rows(form, "items", (*ITEM_FIELDS, "is_key"))
    for item in items:
        item["is_key"] = item["is_key"] == "on"
        item["length"] = int(item["length"]) if item["length"].isdigit() else None
    data["items"] = items
    provider = str(form.get("provider_org_id") or "")
    data["provider_org_id"] = int(provider) if provider.isdigit() else None
    return EntryInput.model_validate(data)


def _field_errors(exc: GongshuError, lang: str) -> dict[str, str]:
    errors = exc.details.get("errors") or [
        {"field": exc.field or "_form", "zh": exc.message_zh, "en": exc.message_en}
    ]
    out: dict[str, str] = {}
    for e in errors:
        out.setdefault(e["field"], e["zh"] if lang == "zh" else e["en"])
    return out


def _with_foreseen(errors: dict[str, str], data: EntryInput, lang: str) -> dict[str, str]:
    """R6 R19: every error at the first save. The sharing methods are required for shared data: when the
    sharing attribute is not chosen yet and no method either, the officer is told now, not at the next
    save once the attribute is chosen."""
    if not data.sharing_attribute and not data.sharing_methods and "sharing_methods" not in errors:
        errors = {
            **errors,
            "sharing_methods": gettext(
                lang, "For data shared unconditionally or on conditions, choose at least one method (R19)."
            ),
        }
    return errors


def _error_list(errors: dict[str, str], lang: str) -> list[tuple[str, str, str]]:
    """R6 R28: every error of the form, each named by its field's label in the page language (the item
    and condition rows by their number), for the list at the top of the form: (field, label, message)."""
    out = []
    for field, message in errors.items():
        if field == "_form":
            continue
        head, _, rest = field.partition("[")
        label = gettext(lang, _FORM_LABELS.get(head) or FIELD_LABELS.get(head) or head)
        if rest:
            number, _, sub = rest.partition("]")
            sub = sub.lstrip(".")
            what = gettext(lang, "Information item") if head == "items" else label
            label = f"{what} {int(number) + 1 if number.isdigit() else number}"
            if sub:
                sub_label = gettext(lang, ITEM_FIELD_LABELS.get(sub, "") or _CONDITION_PARTS.get(sub, sub))
                label += f" · {sub_label}"
        out.append((field, label, message))
    return out


_CONDITION_PARTS = {"kind": "Condition kind", "value": "Condition", "name": "Name"}
# Fields of the form that are not fields of the snapshot (msgids of the page catalogs).
_FORM_LABELS = {"items": "Information items", "reasons": "Reasons for the change"}


def _vocab(session: Any, lang: str) -> dict[str, Any]:
    pol = policy_service.at(session)
    groups = (
        "catalog_kinds",
        "sharing_attributes",
        "sharing_condition_kinds",
        "sharing_methods",
        "open_attributes",
        "open_condition_kinds",
        "update_cycles",
        "grades",
    )
    return {
        "choices": {g: [(k, pol.label(g, k, lang)) for k in pol.keys(g)] for g in groups},
        "formats": FORMATS,
        "data_types": DATA_TYPES,
        "sensitivities": SENSITIVITIES,
        "subject_kinds": SUBJECT_KINDS,
        "label": lambda group, key: pol.label(group, key, lang),
        "vocab": lambda vocabulary, code: vocabulary_label(vocabulary, code, lang),
    }


@dataclass(frozen=True)
class CatalogState:
    """R6: what a catalog page shows — the query, the sort and the facet filters — and the address of
    the same page with one thing changed (a filter, the page), so that every link keeps the rest."""

    q: str
    sort: str
    filters: dict[str, list[str]]

    def url(self, filters: dict[str, list[str]] | None = None, page: int = 1) -> str:
        params: list[tuple[str, str]] = [("q", self.q)] if self.q else []
        if self.sort != "relevance":
            params.append(("sort", self.sort))
        chosen = self.filters if filters is None else filters
        params += [(name, v) for name in search.FACETS for v in chosen.get(name, [])]
        if page > 1:
            params.append(("page", str(page)))
        return f"/catalog?{urlencode(params)}" if params else "/catalog"

    def choose(self, name: str, value: str) -> str:
        """The facet value as the facet's filter, every other facet's filter kept: the facet counts are
        counted so (every other filter applies, not the facet's own), so the count shown beside the
        value is the number of entries this address lists."""
        return self.url({**self.filters, name: [value]})

    def without(self, name: str, value: str) -> str:
        """The same page without one chosen value (the "×" of its chip)."""
        rest = {**self.filters, name: [v for v in self.filters.get(name, []) if v != value]}
        return self.url({k: v for k, v in rest.items() if v})

    def export_query(self) -> str:
        return self.url(page=1).partition("?")[2]


MAX_PAGE = 1_000_000  # a page number beyond it is beyond the last page of any catalog


def _page_number(raw: str) -> tuple[int, str]:
    """R6 R28: the page asked for, and the page's complaint when the value is not a page number (page 1
    is shown then, with a plain message instead of an error page: a bad address loses nothing)."""
    value = raw.strip()
    if not value:
        return 1, ""
    if not value.isdigit() or int(value) < 1:
        return 1, value
    return int(value), ""


@router.get("", response_class=HTMLResponse)
def catalog_page(
    request: Request, actor: Anyone, q: str = "", sort: str = "relevance", page: str = "1"
) -> HTMLResponse:
    """R6: the city-wide catalog: search box, facets and results, as the visitor may see them. Every
    facet link keeps the query, the sort and the other facets' filters; each chosen value can be removed
    on its own; a page beyond the last says so and links to the last one."""
    lang = lang_of(request)
    number, bad_page = _page_number(page)
    q = q[:200]
    sort = sort if sort in search.SORTS else "relevance"
    chosen = {name: [v for v in values if v.strip()] for name, values in facet_filters(request).items()}
    filters = {name: values for name, values in chosen.items() if values}
    state = CatalogState(q, sort, filters)
    offset = (min(number, MAX_PAGE) - 1) * PAGE_SIZE
    with read_scope() as s:
        result = search.search(s, actor, q, filters, sort, PAGE_SIZE, offset, lang)
        labels = {(name, f.value): f.label for name, values in result.facets.items() for f in values}
        active = [
            (name, v, labels.get((name, v)) or search.facet_label(s, name, v, lang), state.without(name, v))
            for name, values in filters.items()
            for v in values
        ]
        pages = max(1, -(-result.total // PAGE_SIZE))
        return render(
            request,
            "catalog/search.html",
            result=result,
            q=q,
            sort=sort,
            page=number,
            pages=pages,
            beyond=result.total > 0 and number > pages,
            bad_page=bad_page,
            unsearchable=search.unsearchable(q),
            filters=filters,
            active=active,
            state=state,
            page_size=PAGE_SIZE,
            **_vocab(s, lang),
        )


def _info(entry: CatalogEntry) -> dict[str, str]:
    """What the editor shows of the entry being edited (read inside the unit of work)."""
    return {
        "resource_code": entry.resource_code,
        "status": entry.status,
        "name": entry.name,
        "name_en": entry.name_en,
    }


def _more_rows(form: FormData) -> int | None:
    """R6 R28: the number of blank item rows to show when the officer asked for more rows without
    JavaScript (the form is shown again, nothing saved, nothing lost); None on an ordinary save."""
    if form.get("more_rows") is None:
        return None
    shown = str(form.get("blank_rows") or "")
    current = int(shown) if shown.isdigit() else BLANK_ITEM_ROWS
    return min(current + MORE_ROWS, MAX_BLANK_ROWS)


def _editor(
    request: Request,
    actor: Actor,
    entry: dict[str, str] | None,
    data: EntryInput,
    errors: dict[str, str] | None = None,
    reasons: str = "",
    status_code: int = 200,
    blank_rows: int = BLANK_ITEM_ROWS,
) -> HTMLResponse:
    lang = lang_of(request)
    errors = errors or {}
    with read_scope() as s:
        scope = _compile_scope(s, actor)
        providers = [
            o
            for o in s.query(Organisation).order_by(Organisation.code)
            if actor.acts_for(o.id) or o.id in scope
        ]
        return render(
            request,
            "catalog/edit.html",
            entry=entry,
            data=data,
            errors=errors,
            error_list=_error_list(errors, lang),
            reasons=reasons,
            providers=providers,
            blank_rows=blank_rows,
            more_rows=MORE_ROWS,
            status_code=status_code,
            **_vocab(s, lang),
        )


@router.get("/new", response_class=HTMLResponse)
def new_page(request: Request, actor: LoggedIn) -> HTMLResponse:
    """R6: the catalog officer's editor for a new entry."""
    with read_scope() as s:
        scope = _compile_scope(s, actor)
        if actor.org_id in scope or not scope:
            require(s, actor, Action.CATALOG_COMPILE, org_id=actor.org_id)
            provider = actor.org_id
        else:  # a catalog officer for another organisation only (the operator for the province's returns)
            provider = min(scope)
    return _editor(request, actor, None, EntryInput(provider_org_id=provider))


def _compile_scope(s: Any, actor: Actor) -> set[int]:
    """R5: the organisations this actor compiles catalog entries for."""
    decision = decide(s, actor, Action.CATALOG_COMPILE)
    return set(decision.org_scope or ()) if decision.allowed else set()


@router.post("/new", response_class=HTMLResponse, dependencies=Protected)
async def new_submit(request: Request, actor: LoggedIn) -> Response:
    form = await request.form()
    data = form_to_input(form)
    if (more := _more_rows(form)) is not None:
        return _editor(request, actor, None, data, blank_rows=more)
    try:
        with session_scope() as s:
            code = service.create_draft(s, actor, data).resource_code
    except ValidationFailed as exc:
        lang = lang_of(request)
        errors = _with_foreseen(_field_errors(exc, lang), data, lang)
        return _editor(request, actor, None, data, errors, status_code=422)
    return RedirectResponse(f"/catalog/{quote(code)}?done=saved", status_code=303)


@router.get("/mine", response_class=HTMLResponse)
def mine_page(request: Request, actor: LoggedIn, done: str = "", code: str = "") -> HTMLResponse:
    """R6 R9: the unit's own entries for its catalog officers — drafts (found again here: the public
    catalog lists published entries only), drafts returned by the authority, entries in review, changes
    under review, then the published and withdrawn ones — with where each stands; a draft never
    submitted may be deleted from here."""
    lang = lang_of(request)
    with read_scope() as s:
        scope = _compile_scope(s, actor)
        if not scope:
            require(s, actor, Action.CATALOG_COMPILE, org_id=actor.org_id)
        rows = service.unit_entries(s, scope)
        names = {
            o.id: o.name(lang)
            for o in s.query(Organisation).filter(
                Organisation.id.in_({r.entry.provider_org_id for r in rows})
            )
        }
        return render(
            request,
            "catalog/mine.html",
            rows=rows,
            providers=names,
            several=len({r.entry.provider_org_id for r in rows}) > 1,
            done=done,
            deleted_code=code[:80],
            china_time=china_time,
            counts={state: sum(1 for r in rows if r.state == state) for state in service.UNIT_STATES},
        )


@router.get("/{code}", response_class=HTMLResponse)
def entry_page(request: Request, actor: Anyone, code: str, done: str = "") -> HTMLResponse:
    """R6 R9: an entry: metadata, items, attributes with conditions, versions and status."""
    lang = lang_of(request)
    with read_scope() as s:
        entry = service.get_entry(s, actor, code)
        history = service.versions(s, entry)
        provider = s.get(Organisation, entry.provider_org_id)
        pending = pending_changes(s, entry, lang)
        return render(
            request,
            "catalog/entry.html",
            entry=entry,
            versions=history,
            done=done,
            provider=provider.name(lang) if provider else "",
            pending_changes=pending,
            china_time=china_time,
            can_edit=service.can_edit(s, actor, entry),
            deletable=service.is_deletable(entry) and service.can_edit(s, actor, entry),
            viewable_cases=viewable_case_ids(
                s,
                actor,
                [v.case_id for v in history] + [entry.review_case_id, entry.pending_case_id],
            ),
            **_vocab(s, lang),
        )


@router.get("/{code}/edit", response_class=HTMLResponse)
def edit_page(request: Request, actor: LoggedIn, code: str) -> HTMLResponse:
    """R6 R9: edit a draft, or propose a change to a published entry."""
    with read_scope() as s:
        entry = service.get_entry(s, actor, code)
        require(s, actor, Action.CATALOG_COMPILE, org_id=entry.provider_org_id)
        data = EntryInput.model_validate(entry.pending or service.snapshot(entry))
        info = _info(entry)
    return _editor(request, actor, info, data)


@router.post("/{code}/edit", response_class=HTMLResponse, dependencies=Protected)
async def edit_submit(request: Request, actor: LoggedIn, code: str) -> Response:
    form = await request.form()
    data = form_to_input(form)
    reasons = str(form.get("reasons") or "")
    if (more := _more_rows(form)) is not None:
        with read_scope() as s:
            entry = service.get_entry(s, actor, code)
            require(s, actor, Action.CATALOG_COMPILE, org_id=entry.provider_org_id)
            info = _info(entry)
        return _editor(request, actor, info, data, reasons=reasons, blank_rows=more)
    done = "saved"
    try:
        with session_scope() as s:
            entry = service.get_entry(s, actor, code)
            if entry.status == "published":
                service.propose_change(s, actor, entry.id, data, reasons)
                done = "change_proposed"
            else:
                service.update_draft(s, actor, entry.id, data)
    except ValidationFailed as exc:
        with read_scope() as s:
            info = _info(service.get_entry(s, actor, code))
        lang = lang_of(request)
        errors = _with_foreseen(_field_errors(exc, lang), data, lang)
        return _editor(request, actor, info, data, errors, reasons, 422)
    return RedirectResponse(f"/catalog/{quote(code)}?done={done}", status_code=303)


@router.post("/{code}/submit", dependencies=Protected)
def submit(actor: LoggedIn, code: str) -> Response:
    """R6: submit a draft; the authority reviews it on the case page."""
    with session_scope() as s:
        entry = service.get_entry(s, actor, code)
        case = service.submit_for_review(s, actor, entry.id)
        case_id = case.id
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


@router.post("/{code}/withdraw", dependencies=Protected)
async def withdraw(request: Request, actor: LoggedIn, code: str) -> Response:
    """R9: withdraw a published entry with reasons."""
    form = await request.form()
    with session_scope() as s:
        entry = service.get_entry(s, actor, code)
        service.withdraw(s, actor, entry.id, str(form.get("reasons") or ""))
    return RedirectResponse(f"/catalog/{quote(code)}?done=withdrawn", status_code=303)


@router.get("/{code}/delete", response_class=HTMLResponse)
def delete_page(request: Request, actor: LoggedIn, code: str) -> HTMLResponse:
    """R6: confirm the deletion of a draft never submitted (or say why this entry cannot be deleted)."""
    with read_scope() as s:
        entry = service.get_entry(s, actor, code)
        require(s, actor, Action.CATALOG_COMPILE, org_id=entry.provider_org_id)
        return render(request, "catalog/delete.html", entry=entry, deletable=service.is_deletable(entry))


@router.post("/{code}/delete", dependencies=Protected)
async def delete_submit(request: Request, actor: LoggedIn, code: str) -> Response:
    """R6: delete a draft never submitted (audited); the list of the unit's entries says it is gone."""
    form = await request.form()
    if form.get("confirm") != "yes":
        return RedirectResponse(f"/catalog/{quote(code)}/delete", status_code=303)
    with session_scope() as s:
        entry = service.get_entry(s, actor, code)
        service.delete_draft(s, actor, entry.id)
    return RedirectResponse(f"/catalog/mine?done=deleted&code={quote(code)}", status_code=303)
