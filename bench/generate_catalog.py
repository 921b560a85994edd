"""A realistic city catalog for the search benchmark: departments of a city and their data resources.

Names are built from topic × object × aspect vocabularies ("婚姻" + "登记信息" → 婚姻登记信息), with English
names, information items, keywords and a mix of attributes (kinds, sharing and open attributes, update
cycles, grades). Entries are loaded directly as published entries in batches (bulk inserts into the
catalog tables) and indexed with the catalog's own `document_body`, so the search index is the real one."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from gongshu.catalog.models import CatalogEntry, CatalogItem, CatalogSearchDoc
from gongshu.catalog.search import document_body
from gongshu.kernel.identity.models import Organisation
from gongshu.kernel.policy import service as policy_service
from gongshu.kernel.timeutil import now

# Department code, Chinese and English name, topic, and the objects its data is about (zh, en).
DEPARTMENTS: list[tuple[str, str, str, str, list[tuple[str, str]]]] = [
    (
        "civil_affairs",
        "市民政局",
        "Civil Affairs Bureau",
        "民政",
        [
            ("婚姻", "marriage"),
            ("收养", "adoption"),
            ("最低生活保障", "minimum living allowance"),
            ("殡葬", "funeral"),
            ("社会组织", "social organisation"),
            ("养老机构", "elderly care home"),
        ],
    ),
    (
        "public_security",
        "市公安局",
        "Public Security Bureau",
        "公安",
        [
            ("户籍", "household registration"),
            ("居住证", "residence permit"),
            ("机动车", "motor vehicle"),
            ("驾驶人", "driver"),
            ("出入境", "exit and entry"),
        ],
    ),
    (
        "market_regulation",
        "市市场监督管理局",
        "Market Regulation Administration",
        "市场监管",
        [
            ("企业", "enterprise"),
            ("个体工商户", "individual business"),
            ("食品经营", "food business"),
            ("特种设备", "special equipment"),
            ("商标", "trademark"),
        ],
    ),
    (
        "natural_resources",
        "市自然资源和规划局",
        "Natural Resources and Planning Bureau",
        "自然资源",
        [("不动产", "real estate"), ("土地", "land"), ("测绘", "surveying"), ("规划许可", "planning permit")],
    ),
    (
        "transport",
        "市交通运输局",
        "Transport Bureau",
        "交通",
        [
            ("公交线路", "bus route"),
            ("出租汽车", "taxi"),
            ("道路运输", "road transport"),
            ("港口", "port"),
            ("停车场", "car park"),
        ],
    ),
    (
        "health",
        "市卫生健康委员会",
        "Health Commission",
        "卫生健康",
        [
            ("医疗机构", "medical institution"),
            ("执业医师", "licensed physician"),
            ("出生医学证明", "birth certificate"),
            ("预防接种", "vaccination"),
        ],
    ),
    (
        "education",
        "市教育局",
        "Education Bureau",
        "教育",
        [
            ("学校", "school"),
            ("学籍", "student status"),
            ("教师资格", "teacher qualification"),
            ("招生", "enrolment"),
        ],
    ),
    (
        "human_resources",
        "市人力资源和社会保障局",
        "Human Resources and Social Security Bureau",
        "社会保障",
        [
            ("社会保险", "social insurance"),
            ("就业", "employment"),
            ("职业技能", "vocational skill"),
            ("劳动仲裁", "labour arbitration"),
        ],
    ),
    (
        "ecology",
        "市生态环境局",
        "Ecology and Environment Bureau",
        "生态环境",
        [
            ("空气质量", "air quality"),
            ("排污许可", "discharge permit"),
            ("水质", "water quality"),
            ("环境影响评价", "environmental impact assessment"),
        ],
    ),
    (
        "housing",
        "市住房和建设局",
        "Housing and Construction Bureau",
        "住房城乡建设",
        [
            ("住房公积金", "housing provident fund"),
            ("商品房", "commercial housing"),
            ("建筑企业", "construction firm"),
            ("保障性住房", "affordable housing"),
        ],
    ),
    (
        "taxation",
        "市税务局",
        "Taxation Bureau",
        "税务",
        [("纳税人", "taxpayer"), ("发票", "invoice"), ("税收优惠", "tax incentive")],
    ),
    (
        "culture_tourism",
        "市文化和旅游局",
        "Culture and Tourism Bureau",
        "文化旅游",
        [
            ("旅行社", "travel agency"),
            ("景区", "scenic area"),
            ("文物", "cultural relic"),
            ("演出", "performance"),
        ],
    ),
    (
        "emergency",
        "市应急管理局",
        "Emergency Management Bureau",
        "应急管理",
        [("安全生产", "work safety"), ("危险化学品", "hazardous chemical"), ("自然灾害", "natural disaster")],
    ),
    (
        "fire_rescue",
        "市消防救援支队",
        "Fire and Rescue Detachment",
        "消防",
        [("消防检查", "fire inspection"), ("消防设施", "fire facility")],
    ),
    (
        "agriculture",
        "市农业农村局",
        "Agriculture and Rural Affairs Bureau",
        "农业农村",
        [
            ("农产品", "agricultural product"),
            ("农村土地承包", "rural land contract"),
            ("动物防疫", "animal epidemic"),
        ],
    ),
]
ASPECTS: list[tuple[str, str]] = [
    ("登记信息", "registration"),
    ("变更信息", "changes"),
    ("注销信息", "cancellations"),
    ("许可信息", "permits"),
    ("年度统计", "annual statistics"),
    ("监督检查记录", "inspection records"),
    ("行政处罚信息", "administrative penalties"),
    ("基本信息", "basic information"),
    ("站点分布", "sites"),
    ("服务事项", "services"),
    ("投诉举报", "complaints"),
    ("补贴发放", "subsidy payments"),
]
DISTRICTS = ["思明区", "湖里区", "集美区", "海沧区", "同安区", "翔安区", "全市"]
ITEMS: list[tuple[str, str, str, str]] = [
    ("record_no", "记录编号", "Record number", "string"),
    ("org_name", "单位名称", "Organisation name", "string"),
    ("address", "地址", "Address", "string"),
    ("district", "所属区", "District", "string"),
    ("issued_on", "发证日期", "Date of issue", "date"),
    ("valid_until", "有效期至", "Valid until", "date"),
    ("status", "状态", "Status", "string"),
    ("amount", "金额", "Amount", "decimal"),
    ("contact_phone", "联系电话", "Contact phone", "string"),
    ("longitude", "经度", "Longitude", "decimal"),
    ("latitude", "纬度", "Latitude", "decimal"),
    ("updated_at", "更新时间", "Updated at", "datetime"),
]
FORMATS = ["csv", "xlsx", "json", "api", "db"]


@dataclass(frozen=True)
class Loaded:
    entries: int
    seconds: float
    department_ids: list[int]


def _departments(session: Session) -> list[tuple[Organisation, str, list[tuple[str, str]]]]:
    out = []
    for code, zh, en, topic, objects in DEPARTMENTS:
        org = session.scalar(select(Organisation).where(Organisation.code == code))
        if org is None:
            org = Organisation(code=code, name_zh=zh, name_en=en, kind="department")
            session.add(org)
            session.flush()
        out.append((org, topic, objects))
    return out


def _entry(rng: random.Random, pol: Any, i: int, dept: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    org, topic, objects = dept
    obj_zh, obj_en = rng.choice(objects)
    asp_zh, asp_en = rng.choice(ASPECTS)
    district = rng.choice(DISTRICTS)
    name = f"{district}{obj_zh}{asp_zh}" if district != "全市" else f"{obj_zh}{asp_zh}"
    sharing = rng.choices(pol.keys("sharing_attributes"), weights=(5, 4, 1))[0]
    opening = rng.choices(pol.keys("open_attributes"), weights=(4, 3, 3))[0]
    stamp = now()
    entry = {
        "resource_code": f"{org.code.upper()}-B-A{i % 90 + 10:02d}-01-01-01-{i:06d}",
        "catalog_kind": rng.choices(pol.keys("catalog_kinds"), weights=(4, 1))[0],
        "category_code": f"A{i % 90 + 10:02d}-01-01-01",
        "name": name,
        "name_en": f"{obj_en.capitalize()} {asp_en} ({district})"
        if district != "全市"
        else f"{obj_en} {asp_en}",
        "provider_org_id": org.id,
        "summary": f"{org.name_zh}归集的{district}{obj_zh}{asp_zh}，按{topic}业务规范整理，供共享与开放使用。",
        "format": rng.choice(FORMATS),
        "topic": topic,
        "keywords": [obj_zh, asp_zh[:2], topic],
        "sharing_attribute": sharing,
        "sharing_conditions": [{"kind": "scenario", "value": f"{topic}业务办理"}]
        if sharing == "conditional"
        else [],
        "legal_basis": "《中华人民共和国个人信息保护法》" if sharing == "not_shared" else "",
        "sharing_methods": ["api"] if sharing != "not_shared" else [],
        "open_attribute": opening,
        "open_conditions": [{"kind": "usage_feedback", "value": "注明数据来源"}]
        if opening == "on_application"
        else [],
        "not_open_reason": "涉及个人信息" if opening == "not_open" else "",
        "update_cycle": rng.choice(pol.keys("update_cycles")),
        "grade": rng.choices(pol.keys("grades"), weights=(8, 3, 1))[0],
        "contains_personal_info": False,
        "deidentified": False,
        "subject_kind": "other",
        "related_codes": [],
        "status": "published",
        "current_version": 1,
        "created_at": stamp,
        "updated_at": stamp,
        "published_at": stamp,
    }
    items = [
        {
            "seq": seq,
            "name": n,
            "label_zh": zh,
            "label_en": en,
            "data_type": t,
            "length": None,
            "is_key": seq == 1,
            "sensitivity": "public",
            "description": "",
        }
        for seq, (n, zh, en, t) in enumerate(rng.sample(ITEMS, rng.randint(3, 6)), start=1)
    ]
    return entry, items


def _batches(n: int, size: int) -> Iterator[range]:
    for start in range(0, n, size):
        yield range(start, min(n, start + size))


def load(
    session: Session, n: int, *, seed: int = 20231228, batch: int = 2000, progress: bool = True
) -> Loaded:
    """Insert `n` published entries with their items and search documents, committing each batch."""
    started = time.perf_counter()
    rng = random.Random(seed)
    pol = policy_service.at(session)
    depts = _departments(session)
    session.commit()
    first_id = int(session.scalar(select(func.coalesce(func.max(CatalogEntry.id), 0))) or 0) + 1
    for chunk in _batches(n, batch):
        entries, items, docs = [], [], []
        for i in chunk:
            dept = depts[rng.randrange(len(depts))]
            entry, entry_items = _entry(rng, pol, first_id + i, dept)
            entry["id"] = first_id + i
            entries.append(entry)
            items += [{"entry_id": entry["id"], **it} for it in entry_items]
            shape = CatalogEntry(**{k: v for k, v in entry.items() if k != "id"})
            shape.items = [CatalogItem(**it) for it in entry_items]
            docs.append(
                {
                    "entry_id": entry["id"],
                    "body": document_body(shape, dept[0]),
                    "updated_at": entry["updated_at"],
                }
            )
        session.execute(insert(CatalogEntry.__table__), entries)
        session.execute(insert(CatalogItem.__table__), items)
        session.execute(insert(CatalogSearchDoc.__table__), docs)
        session.commit()
        if progress:
            print(
                f"  loaded {chunk.stop:>6}/{n} entries ({time.perf_counter() - started:5.1f} s)", flush=True
            )
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE"))  # what autovacuum would soon do after a load this size
        session.commit()
    return Loaded(n, time.perf_counter() - started, [d[0].id for d in depts])
