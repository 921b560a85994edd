"""The demo city's sharing (R15–R21, R26), through the real services on a replayed clock.

Twenty days ago a typhoon emergency was opened; the civil affairs bureau provided the evacuees' data the
next day and the response was closed eight days later (data de-identified, grants revoked, sealed report,
R21). A month ago the provincial platform's returned resources were catalogued (R20). Over the last nine
days departments took unconditional data directly (R16: an API grant, a stream, a database table, a file
package) and applied for conditional data (R17): one application approved (a grant), one waiting at the
provider's review, one at the authority's, one refused with sealed reasons, and one refusal disputed
(waiting at the authority's coordination). The database table is registered and synced once into a
SQLite file beside the data folder (`<data folder>-external/`, see `demo.external`), a package is
generated, and the stream's consumer gets an API token."""

from __future__ import annotations

import csv
import datetime as dt
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.catalog.models import CatalogEntry
from gongshu.demo.catalog import clock_at, entry_input
from gongshu.demo.catalog_data import LEGAL, PERSON, DemoEntry
from gongshu.kernel.access.models import Grant
from gongshu.kernel.db import session_scope
from gongshu.kernel.identifiers.checks import make_id_number
from gongshu.kernel.identity import service as identity
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.timeutil import now, today_china
from gongshu.kernel.workflow import engine
from gongshu.kernel.workflow.models import Case

MARRIAGES = "婚姻登记信息"
ENTERPRISES = "企业登记信息"
POPULATION_STATS = "户籍人口统计信息"
DISABILITY = "残疾人登记信息"
EXTREME_POVERTY = "特困人员供养信息"
RESIDENCE = "居住证办理信息"
GAS_CUSTOMERS = "燃气用户信息"
DB_TABLE = "ent_registration"
CONSUMER_DB = "medical_insurance.db"
STREAM_BASE = "http://127.0.0.1:8000"
KEY_WORK_BASIS = "《厦门市2026年民生保障和基层治理重点工作任务清单》（市委市政府部署）"

# R20: what the provincial platform returns to the city (registered by the operator on its behalf).
RETURNED = [
    DemoEntry("provincial_platform", "福建省户籍人口死亡注销信息（省级回流）", "Death cancellations (provincial return)",
              f"{PERSON};death_date:死亡日期:date;cancelled_on:注销日期:date;registry:注销机关", "U", "X",
              "daily", "important", keywords=("回流", "死亡", "户籍")),
    DemoEntry("provincial_platform", "福建省企业信用信息公示（省级回流）", "Enterprise credit records (provincial return)",
              f"{LEGAL};enterprise_name:企业名称;credit_rating:信用等级;listed_abnormal:是否列入经营异常名录:boolean;"
              "updated_on:更新日期:date", "U", "G", keywords=("回流", "信用")),
    DemoEntry("provincial_platform", "福建省电子证照共享服务接口（省级回流）", "E-licence service (provincial return)",
              "licence_code:证照编号::k;licence_type:证照类型;holder_name:持证主体;issued_on:颁发日期:date;"
              "status:证照状态", "U", "X", "real_time", fmt="api", methods=("api",), keywords=("回流", "电子证照")),
]  # fmt: skip

# R16: unconditional data taken directly: consumer, entry, delivery method, scenario, items.
SELF_SERVICE = [
    ("public_security", MARRIAGES, "api", "婚姻状况核验（户籍业务办理）",
     ["id_number", "person_name", "marital_status", "registered_on", "registry", "certificate_no"]),
    ("hrss", ENTERPRISES, "stream", "新设立企业社保参保登记提醒（企业开办“一件事”）",
     ["uscc", "enterprise_name", "enterprise_type", "established_on", "address", "status"]),
    ("medical_insurance", ENTERPRISES, "db_table", "参保单位登记信息比对（单位医保参保登记）",
     ["uscc", "enterprise_name", "legal_representative", "established_on", "status"]),
    ("statistics", POPULATION_STATS, "file", "户籍人口年度统计公报编制",
     ["year", "district", "households", "population", "births"]),
]  # fmt: skip


@dataclass(frozen=True)
class Application:
    """R17: a demo application for conditional data (every one here rests on the key-work condition)."""

    consumer: str
    entry: str
    scenario: str
    purpose: str
    items: tuple[str, ...]
    days_ago: int


APPROVED = Application(
    "civil_affairs", DISABILITY, "困难残疾人生活补贴和重度残疾人护理补贴资格认定",
    "核验申请人残疾类别和等级，免于申请人提交残疾人证复印件",
    ("id_number", "person_name", "disability_type", "disability_grade", "certificate_no"), 8,
)  # fmt: skip
AT_PROVIDER = Application(
    "health", EXTREME_POVERTY, "特困供养人员家庭医生签约服务",
    "为特困供养人员提供家庭医生签约和上门随访，核验供养身份",
    ("id_number", "person_name", "support_type", "start_month"), 1,
)  # fmt: skip
AT_AUTHORITY = Application(
    "bus", DISABILITY, "残疾人免费乘坐公交车资格核验（爱心卡办理）",
    "办理残疾人爱心卡时核验残疾人证信息，免于提交证件复印件",
    ("id_number", "person_name", "disability_type", "certificate_no"), 3,
)  # fmt: skip
REFUSED = Application(
    "culture_tourism", RESIDENCE, "旅游住宿人员居住证核验",
    "核查旅游住宿登记人员的居住证信息",
    ("id_number", "person_name", "residence_address", "valid_until"), 6,
)  # fmt: skip
REFUSED_REASONS = (
    "经审核不予共享：旅游住宿登记核验不属于市委市政府部署的重点工作，不符合本目录的共享条件（R17）；"
    "所申请的居住地址为个人信息，超出该用途的最小必要范围。住宿登记核验请通过公安机关旅馆业治安管理系统办理。"
)
DISPUTED = Application(
    "emergency", GAS_CUSTOMERS, "城镇燃气安全专项整治入户排查",
    "按用户清单组织街道、社区开展燃气安全入户排查，建立隐患整改台账",
    ("id_number", "person_name", "account_no", "address"), 5,
)  # fmt: skip
DISPUTED_REFUSAL = (
    "用气地址和用户身份信息属个人信息，入户安全检查由燃气企业依合同自行组织，无需向应急管理部门提供用户清单。"
)
DISPUTE_REASONS = (
    "城镇燃气安全专项整治是市委市政府部署的重点工作，应急管理部门依《城镇燃气管理条例》负有监督检查职责，"
    "需按用户清单核对企业入户检查的覆盖率；请主管部门协调。"
)

EVENT_DAYS_AGO, SUBMIT_DAYS_AGO, CLOSE_DAYS_AGO = 20, 19, 12
EVACUEES = 40
SHELTERS = ["思明区滨海小学安置点", "湖里区金山中学安置点", "集美区杏林体育馆安置点", "海沧区新阳街道安置点"]
EVENT_ITEMS: list[dict[str, Any]] = [
    {
        "name": "id_number",
        "label_zh": "身份证号码",
        "label_en": "ID number",
        "data_type": "id_number",
        "length": 18,
        "is_key": True,
    },
    {
        "name": "full_name",
        "label_zh": "姓名",
        "label_en": "Name",
        "data_type": "string",
        "length": 20,
        "sensitivity": "personal",
    },
    {
        "name": "phone",
        "label_zh": "联系电话",
        "label_en": "Phone",
        "data_type": "string",
        "length": 20,
        "sensitivity": "personal",
    },
    {"name": "shelter", "label_zh": "安置点", "label_en": "Shelter", "data_type": "string", "length": 60},
    {
        "name": "household_size",
        "label_zh": "随行人数",
        "label_en": "People in the household",
        "data_type": "integer",
    },
    {"name": "needs", "label_zh": "救助需求", "label_en": "Needs", "data_type": "string", "length": 100},
]


@dataclass
class SharingReport:
    """What the sharing demo created (shown by `gongshu demo`)."""

    grants: dict[str, int] = field(default_factory=dict)  # by origin
    cases: dict[str, str] = field(default_factory=dict)  # role in the demo → case number
    returned: list[str] = field(default_factory=list)  # resource codes returned by the province
    emergency_event_id: int | None = None
    db_target_id: int | None = None
    db_file: str = ""
    package_id: int | None = None
    stream_grant_id: int | None = None
    stream_code: str = ""
    stream_user: str = ""
    stream_token: str = ""
    stream_scenario: str = ""
    stream_curl: str = ""  # with the default address; `gongshu demo --url` prints it for its own
    setup_page: str = "/sharing/setup"


class _Actors:
    def __init__(self) -> None:
        self.cache: dict[str, Actor] = {}

    def __call__(self, session: Session, username: str) -> Actor:
        if username not in self.cache:
            self.cache[username] = identity.build_actor(
                session, identity.get_user_by_username(session, username)
            )
        return self.cache[username]


def _code(session: Session, name: str) -> str:
    code = session.scalar(
        select(CatalogEntry.resource_code).where(
            CatalogEntry.name == name, CatalogEntry.status == "published"
        )
    )
    assert code is not None, name
    return str(code)


def _returned(session: Session, actor: _Actors, report: SharingReport) -> None:
    """R20: the operator, holding the catalog officer role at the provincial platform, registers what the
    province returns; the authority publishes it."""
    from gongshu.sharing.data_return import register_return_resource

    operator = identity.get_user_by_username(session, "operator.admin")
    identity.grant_role(session, operator, "provincial_platform", "catalog_officer")
    actor.cache.pop("operator.admin", None)
    org = identity.get_org_by_code(session, "provincial_platform")
    for seq, d in enumerate(RETURNED, start=1):
        entry, case = register_return_resource(
            session,
            actor(session, "operator.admin"),
            upstream_org_code=org.code,
            data=entry_input(d, org.id, seq),
        )
        engine.decide(session, actor(session, "authority.reviewer"), case.id, "approve")
        report.returned.append(entry.resource_code)


def _emergency_open(session: Session, actor: _Actors) -> tuple[int, int, str]:
    from gongshu.sharing import emergency

    admin = actor(session, "authority.admin")
    event = emergency.open_event(
        session,
        admin,
        title="台风“海葵”防御Ⅱ级应急响应",
        purpose="转移安置受台风影响的群众，发放救灾物资，跟踪安置人员需求",
        scope="思明、湖里、集美、海沧四区沿海低洼地带及危旧房转移安置人员",
        method="民政部门按安置点报送安置人员名单（平台上传）",
        period_start=now(),
        period_end=now() + dt.timedelta(days=10),
        responsible_org_code="emergency",
        responder_org_codes=["emergency", "civil_affairs", "health"],
    )
    task = emergency.add_task(
        session,
        admin,
        event.id,
        title="临时安置点人员名单",
        description="请各区民政部门汇总报送临时安置点的安置人员、随行人数和救助需求。",
        resource_name="台风“海葵”临时安置人员信息",
        items=EVENT_ITEMS,
        respondent_org_codes=["civil_affairs"],
    )
    return event.id, task.id, task.resource_code


def _evacuees(folder: Path) -> Path:
    path = folder / "安置人员名单.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow([i["name"] for i in EVENT_ITEMS])
        for n in range(EVACUEES):
            born = dt.date(1950 + n % 60, 1 + n % 12, 1 + n % 27)
            out.writerow(
                [
                    make_id_number(
                        ["350203", "350206", "350211", "350205"][n % 4], born, 300 + 2 * n + n % 2
                    ),
                    "陈林黄张吴"[n % 5] + "秀建志丽春"[n // 5 % 5] + "明华英"[n % 3],
                    f"1385920{n:04d}",
                    SHELTERS[n % 4],
                    1 + n % 4,
                    ["饮用水、食品", "常用药品", "婴幼儿用品", "无"][n % 4],
                ]
            )
    return path


def _emergency_close(session: Session, actor: _Actors, event_id: int) -> None:
    from gongshu.sharing import emergency_closure

    emergency_closure.close_event(
        session,
        actor(session, "authority.admin"),
        event_id,
        treatment="deidentify",
        evaluation=(
            "台风“海葵”应急响应已终止，安置人员全部返家。收集的安置人员信息已用于转移安置和物资发放，"
            "其中身份证号码、姓名、联系电话属个人信息，予以去标识化处理；安置点和救助需求统计留存备查。"
        ),
    )


def _self_service(session: Session, actor: _Actors) -> dict[str, int]:
    from gongshu.sharing import grants_service

    grants: dict[str, int] = {}
    for n, (consumer, name, method, scenario, items) in enumerate(SELF_SERVICE):
        with clock_at(9, minutes=10 * n):
            grant = grants_service.self_service(
                session, actor(session, f"{consumer}.data"), _code(session, name), scenario, items, method
            )
        grants[method] = grant.id
    return grants


def _apply(session: Session, actor: _Actors, a: Application) -> int:
    from gongshu.sharing import applications

    return applications.apply(
        session,
        actor(session, f"{a.consumer}.data"),
        resource_code=_code(session, a.entry),
        items=list(a.items),
        scenario=a.scenario,
        purpose=a.purpose,
        basis=KEY_WORK_BASIS,
        valid_from=today_china(),
        valid_to=today_china() + dt.timedelta(days=365),
        delivery_method="api",
        key_municipal_work=True,
    ).id


def _applications(session: Session, actor: _Actors, report: SharingReport) -> None:
    """R17: one application at each point of its way."""
    providers = {
        DISABILITY: "disabled_federation",
        EXTREME_POVERTY: "civil_affairs",
        RESIDENCE: "public_security",
        GAS_CUSTOMERS: "gas",
    }
    authority = "authority.reviewer"
    for role, a in (
        ("approved", APPROVED),
        ("disputed", DISPUTED),
        ("rejected", REFUSED),
        ("authority_review", AT_AUTHORITY),
        ("provider_review", AT_PROVIDER),
    ):
        provider = f"{providers[a.entry]}.reviewer"
        with clock_at(a.days_ago):
            case_id = _apply(session, actor, a)
        if role == "approved":
            with clock_at(a.days_ago - 1):
                engine.decide(session, actor(session, provider), case_id, "approve")
            with clock_at(a.days_ago - 2):
                engine.decide(session, actor(session, authority), case_id, "approve")
        elif role == "authority_review":
            with clock_at(a.days_ago - 1):
                engine.decide(session, actor(session, provider), case_id, "approve")
        elif role == "rejected":
            with clock_at(a.days_ago - 2):
                engine.decide(session, actor(session, provider), case_id, "reject", REFUSED_REASONS)
        elif role == "disputed":
            with clock_at(a.days_ago - 1):
                engine.decide(session, actor(session, provider), case_id, "reject", DISPUTED_REFUSAL)
            with clock_at(a.days_ago - 3):
                engine.escalate(session, actor(session, f"{a.consumer}.data"), case_id, DISPUTE_REASONS)
        case = session.get(Case, case_id)
        assert case is not None
        report.cases[role] = case.number


def _consumer_db() -> Path:
    """The medical insurance bureau's own database: a SQLite file in the demo's folder of external
    databases beside the data folder (a file inside it is refused as a delivery target); a file left by an
    earlier demo city is replaced, since the platform creates the delivered table itself."""
    from gongshu.demo.external import ensure_external_dir

    path = ensure_external_dir() / CONSUMER_DB
    path.unlink(missing_ok=True)
    return path


def load_sharing(url: str | None = None) -> SharingReport:
    """Replay the demo city's sharing history (called once, right after the city is created)."""
    from gongshu.kernel.identity.tokens import issue_token
    from gongshu.sharing import db_table, emergency, files

    report = SharingReport()
    actor = _Actors()
    with session_scope(url) as s:
        with clock_at(30):
            _returned(s, actor, report)
        with clock_at(EVENT_DAYS_AGO):
            event_id, task_id, _event_code = _emergency_open(s, actor)
    report.emergency_event_id = event_id
    with tempfile.TemporaryDirectory(prefix="gongshu-demo-") as tmp, clock_at(SUBMIT_DAYS_AGO):
        with session_scope(url) as s:
            clerk = actor(s, "civil_affairs.data")
        path = _evacuees(Path(tmp))
        emergency.submit_data(clerk, task_id, path, path.name, url=url)
    with session_scope(url) as s:
        with clock_at(CLOSE_DAYS_AGO):
            _emergency_close(s, actor, event_id)
        grants = _self_service(s, actor)
        _applications(s, actor, report)
        db_file = _consumer_db()
        target = db_table.register_target(
            s, actor(s, "medical_insurance.data"), grants["db_table"], f"sqlite:///{db_file}", DB_TABLE
        )
        files.schedule_files(s, actor(s, "statistics.data"), grants["file"], ["csv", "xlsx"], 24)
        sg = s.get(Grant, grants["stream"])
        assert sg is not None
        report.stream_grant_id, report.stream_code, report.stream_user = sg.id, sg.resource_id, "hrss.data"
        user = identity.get_user_by_username(s, "hrss.data")
        report.stream_token, _ = issue_token(s, user, name="演示：新设立企业数据流（R19）", days=30)
        report.db_target_id, report.db_file = target.id, str(db_file)
        for origin in s.scalars(select(Grant.origin)):
            report.grants[origin] = report.grants.get(origin, 0) + 1
        scenario = sg.scenario
    db_table.sync(actor.cache["medical_insurance.data"], report.db_target_id, url=url)
    report.package_id = files.generate_package(actor.cache["statistics.data"], grants["file"], url=url).id
    report.stream_scenario = scenario
    report.stream_curl = stream_curl(report.stream_code, scenario, report.stream_token)
    return report


def stream_curl(code: str, scenario: str, token: str, base: str = STREAM_BASE) -> str:
    """R19: the command that follows a stream (Last-Event-ID resumes after the last event seen)."""
    from urllib.parse import quote

    return (
        f'curl -N -H "Authorization: Bearer {token}" -H "Last-Event-ID: 0" '
        f'"{base}/api/v1/data/{code}/stream?scenario={quote(scenario)}"'
    )
