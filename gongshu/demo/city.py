"""The organisations of the demo city: the authority, the operator, the municipal government, every
department that R11 and R12 name (and a few more), public service organisations, upstream bodies (R20)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoOrg:
    code: str
    name_zh: str
    name_en: str
    kind: str
    uscc_prefix: str  # 17 characters; the check character is computed (GB 32100)
    parent: str | None = None


CITY_REGION = "350200"  # 厦门市

PLATFORM = [
    DemoOrg(
        "authority", "厦门市大数据管理局", "Municipal Big Data Authority", "authority", "11350200MB0100001"
    ),
    DemoOrg("operator", "厦门市信息中心", "Municipal Information Center", "operator", "12350200MB0100002"),
    DemoOrg(
        "municipal_government",
        "厦门市人民政府",
        "Municipal People's Government",
        "municipal_government",
        "11350200MB0100003",
    ),
]

# R11 and R12 name these providers of base data (codes match the policy's base_data section).
BASE_DATA_DEPARTMENTS = [
    DemoOrg("public_security", "厦门市公安局", "Public Security Bureau", "department", "11350200MB0101001"),
    DemoOrg("civil_affairs", "厦门市民政局", "Civil Affairs Bureau", "department", "11350200MB0101002"),
    DemoOrg("health", "厦门市卫生健康委员会", "Health Commission", "department", "11350200MB0101003"),
    DemoOrg(
        "hrss",
        "厦门市人力资源和社会保障局",
        "Human Resources and Social Security Bureau",
        "department",
        "11350200MB0101004",
    ),
    DemoOrg("education", "厦门市教育局", "Education Bureau", "department", "11350200MB0101005"),
    DemoOrg(
        "medical_insurance", "厦门市医疗保障局", "Medical Insurance Bureau", "department", "11350200MB0101006"
    ),
    DemoOrg(
        "real_estate",
        "厦门市不动产登记中心",
        "Real Estate Registration Center",
        "department",
        "12350200MB0101007",
    ),
    DemoOrg(
        "disabled_federation",
        "厦门市残疾人联合会",
        "Disabled Persons' Federation",
        "department",
        "13350200MB0101008",
    ),
    DemoOrg(
        "provident_fund",
        "厦门市住房公积金中心",
        "Housing Provident Fund Center",
        "department",
        "12350200MB0101009",
    ),
    DemoOrg(
        "market_supervision",
        "厦门市市场监督管理局",
        "Market Supervision Administration",
        "department",
        "11350200MB0101010",
    ),
    DemoOrg(
        "establishment",
        "中共厦门市委机构编制委员会办公室",
        "Establishment Administration Office",
        "department",
        "11350200MB0101011",
    ),
]

OTHER_DEPARTMENTS = [
    DemoOrg("transport", "厦门市交通运输局", "Transport Bureau", "department", "11350200MB0102001"),
    DemoOrg(
        "natural_resources",
        "厦门市自然资源和规划局",
        "Natural Resources and Planning Bureau",
        "department",
        "11350200MB0102002",
    ),
    DemoOrg(
        "development_reform",
        "厦门市发展和改革委员会",
        "Development and Reform Commission",
        "department",
        "11350200MB0102003",
    ),
    DemoOrg(
        "city_admin",
        "厦门市市政园林局",
        "Municipal Utilities and Parks Bureau",
        "department",
        "11350200MB0102004",
    ),
    DemoOrg(
        "emergency", "厦门市应急管理局", "Emergency Management Bureau", "department", "11350200MB0102005"
    ),
    DemoOrg(
        "ecology", "厦门市生态环境局", "Ecology and Environment Bureau", "department", "11350200MB0102006"
    ),
    DemoOrg("statistics", "厦门市统计局", "Statistics Bureau", "department", "11350200MB0102007"),
    DemoOrg(
        "culture_tourism",
        "厦门市文化和旅游局",
        "Culture and Tourism Bureau",
        "department",
        "11350200MB0102008",
    ),
]

PUBLIC_SERVICE_ORGS = [
    DemoOrg(
        "water",
        "厦门水务集团有限公司",
        "Xiamen Water Group",
        "public_service_org",
        "91350200MA0103001",
        parent="city_admin",
    ),
    DemoOrg(
        "gas",
        "厦门华润燃气有限公司",
        "Xiamen Gas Company",
        "public_service_org",
        "91350200MA0103002",
        parent="city_admin",
    ),
    DemoOrg(
        "power",
        "国网厦门供电公司",
        "State Grid Xiamen Power Supply Company",
        "public_service_org",
        "91350200MA0103003",
        parent="development_reform",
    ),
    DemoOrg(
        "bus",
        "厦门公交集团有限公司",
        "Xiamen Bus Group",
        "public_service_org",
        "91350200MA0103004",
        parent="transport",
    ),
]

UPSTREAM = [
    DemoOrg(
        "national_platform",
        "国家数据共享交换平台",
        "National Data Sharing and Exchange Platform",
        "upstream",
        "11100000MB0104001",
    ),
    DemoOrg(
        "provincial_platform",
        "福建省大数据管理局",
        "Fujian Provincial Big Data Authority",
        "upstream",
        "11350000MB0104002",
    ),
]

ALL_ORGS = PLATFORM + BASE_DATA_DEPARTMENTS + OTHER_DEPARTMENTS + PUBLIC_SERVICE_ORGS + UPSTREAM

# Roles of the users every department (and public service organisation) gets: username suffix → role.
DEPARTMENT_ROLES = {
    "catalog": "catalog_officer",
    "data": "data_officer",
    "reviewer": "reviewer",
    "admin": "org_admin",
    "auditor": "auditor",
}

PLATFORM_USERS = [
    # username, display name, organisation, roles
    ("authority.admin", "主管部门管理员 王磊", "authority", ["admin"]),
    ("authority.reviewer", "主管部门审核员 陈静", "authority", ["reviewer"]),
    ("authority.coordinator", "主管部门协调员 林涛", "authority", ["coordinator"]),
    ("authority.auditor", "主管部门审计员 郑敏", "authority", ["auditor"]),
    ("operator.admin", "信息中心管理员 黄伟", "operator", ["admin"]),
    ("operator.prereview", "信息中心初审员 吴芳", "operator", ["pre_reviewer"]),
    ("operator.auditor", "信息中心审计员 许强", "operator", ["auditor"]),
    ("gov.decision", "市政府决定人 蔡明", "municipal_government", ["decision_maker"]),
]

PERSONS = [
    # username, name, birth date, sequence (odd = male)
    ("zhangsan", "张三", "1985-03-12", 121),
    ("lisi", "李四", "1992-11-05", 242),
    ("wangfang", "王芳", "1978-07-23", 358),
]

COMPANIES = [
    ("lujiang_tech", "厦门鹭江数据科技有限公司", "91350200MA2Y0A0B1"),
    ("haixi_logistics", "厦门海西物流有限公司", "91350200MA3K7C2D4"),
]
