"""The demo city's catalog (R6 R9 R11 R12): every entry goes through the real services — compiled by its
provider's catalog officer, submitted, reviewed by the authority on the workflow — so versions, cases,
search index and audit log are what the platform itself would hold.

A month of history is replayed on a frozen clock: the bulk of the catalog was published five weeks ago,
a duty transfer was applied for three weeks ago (its step is overdue, R9), one publication has waited two
weeks (overdue), one change was approved ten days ago; today's work is still open (drafts, entries under
review, a change under review, an entry returned with reasons, one withdrawn, a transfer in progress)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from gongshu.catalog import service
from gongshu.catalog.models import CatalogEntry
from gongshu.catalog.schemas import TABULAR_FORMATS, ConditionInput, EntryInput, ItemInput
from gongshu.demo.catalog_data import (
    ALL_ENTRIES,
    LEGAL_BASES,
    NOT_OPEN_REASONS,
    OPEN_CONDITIONS,
    SHARING_CONDITIONS,
    DemoEntry,
)
from gongshu.demo.city import ALL_ORGS
from gongshu.kernel import timeutil
from gongshu.kernel.identity import service as identity
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.policy import service as policy_service
from gongshu.kernel.workflow import engine, notify

SHARING = {"U": "unconditional", "C": "conditional", "N": "not_shared"}
OPENING = {"G": "general", "A": "on_application", "X": "not_open"}
FLAG_SENSITIVITY = {"p": "personal", "i": "internal", "s": "secret"}
ORG_INDEX = {org.code: n for n, org in enumerate(ALL_ORGS, start=1)}
ORG_NAME = {org.code: org.name_zh for org in ALL_ORGS}
PUBLIC_SERVICE_KINDS = {org.code for org in ALL_ORGS if org.kind == "public_service_org"}
TOPICS = {
    "public_security": "公共安全",
    "civil_affairs": "民政服务",
    "health": "医疗卫生",
    "hrss": "社保就业",
    "education": "教育文化",
    "medical_insurance": "医疗保障",
    "real_estate": "城建住房",
    "disabled_federation": "社会救助",
    "provident_fund": "城建住房",
    "market_supervision": "市场监管",
    "establishment": "机构团体",
    "transport": "交通出行",
    "natural_resources": "资源环境",
    "development_reform": "经济发展",
    "city_admin": "城建住房",
    "emergency": "安全生产",
    "ecology": "资源环境",
    "statistics": "经济发展",
    "culture_tourism": "文化旅游",
    "water": "公用事业",
    "gas": "公用事业",
    "power": "公用事业",
    "bus": "交通出行",
}
RETURN_REASONS = (
    "分类代码与《厦门市政务数据资源目录编制规范》不一致，请按不动产登记类目重新编码；"
    "“查封期限”应为日期类型并注明查封起止日期。"
)
WITHDRAW_REASONS = "该统计数据已并入“住房公积金信息”按月汇聚，本目录不再单独维护（R9）。"
CHANGE_REASONS = "新增“数据更新时间”信息项，便于数据使用单位判断数据时效。"
# Days before today on which the replayed history happened (China time, 09:30 on that day).
PUBLISHED_DAYS_AGO = 35
OVERDUE_TRANSFER_DAYS_AGO = 21
OVERDUE_REVIEW_DAYS_AGO = 14
CHANGE_APPROVED_DAYS_AGO = 10
# R9: the duty transfers: (losing department, entry names, receiving organisation, reasons, days ago).
TRANSFERS = (
    (
        "health",
        ("院前急救站点信息",),
        "emergency",
        "根据市委编办机构职能调整通知，院前急救站点的规划和管理职责划入市应急管理局。",
        OVERDUE_TRANSFER_DAYS_AGO,
    ),
    (
        "transport",
        ("公共停车场信息",),
        "city_admin",
        "根据市政府职责分工调整，公共停车场的建设运营管理职责由市市政园林局承担。",
        0,
    ),
)


@dataclass
class CatalogReport:
    entries: int = 0
    by_state: dict[str, int] = field(default_factory=dict)
    transfers: list[str] = field(default_factory=list)


# Words of item names written otherwise in English labels.
_EN_WORDS = {
    "id": "ID",
    "uscc": "USCC",
    "no": "no.",
    "aqi": "AQI",
    "cod": "COD",
    "pm25": "PM2.5",
    "pm10": "PM10",
}


def english_label(name: str) -> str:
    """R28: an item's English label, from its name (`household_address` → `Household address`), so that
    the English pages name the demo's items in English."""
    words = [_EN_WORDS.get(w, w) for w in name.split("_") if w]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def items_of(spec: str) -> list[ItemInput]:
    """`name:中文名称:data_type:flags;…` → information items (see catalog_data), with English labels."""
    out: list[ItemInput] = []
    for part in spec.split(";"):
        name, label, data_type, flags = [*part.strip().split(":"), "", "", ""][:4]
        sensitivity = next((FLAG_SENSITIVITY[f] for f in flags if f in FLAG_SENSITIVITY), "public")
        out.append(
            ItemInput(
                name=name,
                label_zh=label,
                label_en=english_label(name),
                data_type=data_type or "string",
                is_key="k" in flags,
                sensitivity=sensitivity,
                length=18 if data_type in ("id_number", "uscc") else None,
            )
        )
    return out


def _subject(items: list[ItemInput]) -> str:
    """R10: the key item tells whom the records are about."""
    keys = {it.data_type for it in items if it.is_key}
    return "person" if "id_number" in keys else "legal_person" if "uscc" in keys else "other"


def _conditions(presets: dict[str, list[tuple[str, str]]], key: str) -> list[ConditionInput]:
    return [ConditionInput(kind=k, value=v) for k, v in presets[key]]


def entry_input(d: DemoEntry, provider_org_id: int, seq: int) -> EntryInput:
    """A demo definition as the compilation specification's input (R6 R15–R19 R22 R24)."""
    items = items_of(d.items)
    subject = _subject(items)
    sharing, opening = SHARING[d.share], OPENING[d.open]
    kind = "public_service" if d.provider in PUBLIC_SERVICE_KINDS else "government"
    cls = {"person": "A01", "legal_person": "A02"}.get(subject, "B01" if kind == "government" else "C01")
    methods = d.methods or (
        ("api", "db_table") if d.fmt in TABULAR_FORMATS else ("file",) if d.fmt == "file" else ("api",)
    )
    personal = any(it.sensitivity == "personal" or it.data_type == "id_number" for it in items)
    return EntryInput(
        catalog_kind=kind,
        category_code=f"{cls}-{ORG_INDEX[d.provider]:02d}-{seq:02d}-01",
        name=d.name,
        name_en=d.name_en,
        provider_org_id=provider_org_id,
        summary=f"{ORG_NAME[d.provider]}依法履职中产生的{d.name}。",
        format=d.fmt,
        topic=TOPICS.get(d.provider, ""),
        keywords=list(d.keywords) or [TOPICS.get(d.provider, d.name)],
        items=items,
        sharing_attribute=sharing,
        sharing_conditions=_conditions(SHARING_CONDITIONS, d.sc or "scenario") if d.share == "C" else [],
        legal_basis=LEGAL_BASES[d.sc] if d.share == "N" else "",
        sharing_methods=[] if d.share == "N" else list(methods),
        open_attribute=opening,
        open_conditions=_conditions(OPEN_CONDITIONS, d.oc or "feedback") if d.open == "A" else [],
        not_open_reason=NOT_OPEN_REASONS[d.oc or ("personal" if personal else "safety")]
        if d.open == "X"
        else "",
        update_cycle=d.cycle,
        grade=d.grade,
        contains_personal_info=personal,
        deidentified=d.deidentified,
        subject_kind=subject,
    )


@contextmanager
def clock_at(days_ago: int, minutes: int = 0) -> Iterator[None]:
    """Replay a moment of the demo's history: freeze the clock that many days back (09:30 China time)."""
    previous = getattr(timeutil, "_frozen", None)
    day = timeutil.today_china() - dt.timedelta(days=days_ago)
    at = dt.datetime.combine(day, dt.time(9, 30), tzinfo=timeutil.CHINA) + dt.timedelta(minutes=minutes)
    timeutil.freeze(at)
    try:
        yield
    finally:
        timeutil.freeze(previous)


class _Loader:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.actors: dict[str, Actor] = {}
        self.seq: dict[str, int] = {}
        self.entries: dict[str, CatalogEntry] = {}
        self.report = CatalogReport()

    def actor(self, username: str) -> Actor:
        if username not in self.actors:
            user = identity.get_user_by_username(self.session, username)
            self.actors[username] = identity.build_actor(self.session, user)
        return self.actors[username]

    def officer(self, d: DemoEntry) -> Actor:
        return self.actor(f"{d.provider}.catalog")

    def draft(self, d: DemoEntry) -> CatalogEntry:
        self.seq[d.provider] = self.seq.get(d.provider, 0) + 1
        org = identity.get_org_by_code(self.session, d.provider)
        entry = service.create_draft(
            self.session, self.officer(d), entry_input(d, org.id, self.seq[d.provider])
        )
        self.entries[d.name] = entry
        self.report.entries += 1
        self.report.by_state[d.state] = self.report.by_state.get(d.state, 0) + 1
        return entry

    def submit(self, d: DemoEntry, entry: CatalogEntry) -> int:
        return service.submit_for_review(self.session, self.officer(d), entry.id).id

    def decide(self, case_id: int, decision: str, reasons: str = "") -> None:
        engine.decide(self.session, self.actor("authority.reviewer"), case_id, decision, reasons)

    def publish(self, d: DemoEntry) -> CatalogEntry:
        entry = self.draft(d)
        self.decide(self.submit(d, entry), "approve")
        return entry

    def propose(self, d: DemoEntry) -> int:
        """R9: a change of a published entry: a new information item (with its reasons)."""
        entry = self.entries[d.name]
        data: dict[str, Any] = service.snapshot(entry)
        data["items"] = [
            *data["items"],
            {
                "name": "data_updated_at",
                "label_zh": "数据更新时间",
                "label_en": "Data updated at",
                "data_type": "datetime",
            },
        ]
        data["summary"] = f"{data['summary']}每条记录附数据更新时间。"
        proposal = EntryInput.model_validate(data)
        return service.propose_change(self.session, self.officer(d), entry.id, proposal, CHANGE_REASONS).id

    def transfer(self, losing: str, names: tuple[str, ...], receiving: str, reasons: str) -> None:
        from gongshu.catalog import transfer

        codes = [self.entries[n].resource_code for n in names]
        case = transfer.apply_transfer(
            self.session,
            self.actor(f"{losing}.catalog"),
            entry_codes=codes,
            receiving_org_code=receiving,
            reasons=reasons,
        )
        self.report.transfers.append(case.number)


def _transfers_available() -> bool:
    try:
        from gongshu.catalog import transfer
    except ImportError:
        return False
    return hasattr(transfer, "apply_transfer")


def load_catalog(session: Session) -> CatalogReport:
    """The demo catalog: ≥ 100 entries of both catalogs, every R11/R12 base resource by its provider, every
    sharing and open attribute, and work in progress on the authority's review queue."""
    policy_service.at(session)  # fails early when no policy is loaded
    loader = _Loader(session)
    by_state: dict[str, list[DemoEntry]] = {}
    for d in ALL_ENTRIES:
        by_state.setdefault(d.state, []).append(d)
    published = (
        by_state.get("published", []) + by_state.get("changed", []) + by_state.get("change_review", [])
    )
    published += by_state.get("withdrawn", [])
    for n, d in enumerate(published):
        with clock_at(PUBLISHED_DAYS_AGO, minutes=n):
            loader.publish(d)
    transfers = TRANSFERS if _transfers_available() else ()
    for losing, names, receiving, reasons, days_ago in transfers:
        if days_ago:
            with clock_at(days_ago):
                loader.transfer(losing, names, receiving, reasons)
    for d in by_state.get("overdue_review", []):
        with clock_at(OVERDUE_REVIEW_DAYS_AGO):
            loader.submit(d, loader.draft(d))
    for d in by_state.get("changed", []):
        with clock_at(CHANGE_APPROVED_DAYS_AGO):
            loader.decide(loader.propose(d), "approve")
    for actor in list(loader.actors.values()):  # the replayed history has been read by its people
        notify.mark_read(session, actor, "all")
    # Today's work, still open.
    for d in by_state.get("draft", []):
        loader.draft(d)
    for d in by_state.get("in_review", []):
        loader.submit(d, loader.draft(d))
    for d in by_state.get("returned", []):
        loader.decide(loader.submit(d, loader.draft(d)), "return", RETURN_REASONS)
    for d in by_state.get("change_review", []):
        loader.propose(d)
    for d in by_state.get("withdrawn", []):
        service.withdraw(session, loader.officer(d), loader.entries[d.name].id, WITHDRAW_REASONS)
    for losing, names, receiving, reasons, days_ago in transfers:
        if not days_ago:
            loader.transfer(losing, names, receiving, reasons)
    session.flush()
    return loader.report
