"""The demo city's catalog entries (R6): every base resource that R11 and R12 name, by its provider, and
the other data of the departments and public service organisations.

An entry's items are written compactly: `name:中文名称:data_type:flags` separated by `;` (data type
defaults to string; flags: k key item, p personal, i internal, s secret). Attributes are abbreviated:
sharing U/C/N (unconditional/conditional/not_shared, R15), opening G/A/X (general/on_application/
not_open, R22). `sc` and `oc` name the conditions, legal basis or reasons below. `state` tells the loader
how far the entry goes: published (default), draft, in_review, overdue_review, returned, withdrawn,
changed (a second version published), change_review (a change under review)."""

from __future__ import annotations

from dataclasses import dataclass

PERSON = "id_number:身份证号码:id_number:kp;person_name:姓名::p"
LEGAL = "uscc:统一社会信用代码:uscc:k"

# R17: sharing conditions, by preset.
SHARING_CONDITIONS: dict[str, list[tuple[str, str]]] = {
    "scenario": [("scenario", "仅用于政务服务“一件事一次办”中的身份核验与材料免提交")],
    # The organisations condition names the organisations (R17 checks the applicant against the list).
    "orgs": [("organisations", "厦门市公安局、厦门市民政局、厦门市人力资源和社会保障局")],
    "key": [("key_municipal_work", "仅用于市委市政府部署的民生保障和基层治理重点工作")],
    "system": [
        ("cross_department_system", "仅限接入市一体化政务服务平台、城市运行管理服务平台使用"),
        ("scenario", "仅用于业务协同办理，不得批量下载"),
    ],
    "credit": [("scenario", "仅用于社会信用体系建设中的信用核查和联合奖惩")],
}
# R18: the law a not-shared entry rests on.
LEGAL_BASES = {
    "statistics": "《中华人民共和国统计法》第二十五条：统计调查中获得的能够识别或者推断单个统计调查对象身份的资料，"
    "任何单位和个人不得对外提供、泄露，不得用于统计以外的目的。",
    "health": "《中华人民共和国个人信息保护法》第二十八条：医疗健康等敏感个人信息只有在具有特定的目的和充分的必要性，"
    "并采取严格保护措施的情形下方可处理；《医疗保障基金使用监督管理条例》第十一条。",
    "surveying": "《中华人民共和国测绘法》第三十四条、《中华人民共和国保守国家秘密法》：属于国家秘密的测绘成果，"
    "其提供和使用按保密规定执行。",
    "exit_entry": "《中华人民共和国出境入境管理法》第八十五条、《中华人民共和国个人信息保护法》第三十四条。",
}
# R24: open conditions, by preset.
OPEN_CONDITIONS: dict[str, list[tuple[str, str]]] = {
    "feedback": [
        ("usage_feedback", "注明数据来源“厦门市公共数据资源平台”，每半年提交一次数据使用情况报告，接受抽查"),
    ],
    "credit": [
        ("credit", "申请人不在失信被执行人名单、经营异常名录和严重违法失信企业名单中"),
        ("scenario", "仅用于科学研究和公共服务产品开发，不得用于商业营销"),
    ],
    "tech": [
        ("technical_capacity", "具备网络安全等级保护第二级以上的数据存储环境，配备专职数据安全管理人员"),
        ("usage_feedback", "按季度提交数据使用报告"),
    ],
    "consent": [
        ("other", "经权利人明确同意后方可开放（《中华人民共和国个人信息保护法》第十三条）"),
        ("scenario", "仅用于为权利人本人办理业务"),
    ],
}
# R22: why an entry is not opened, by preset.
NOT_OPEN_REASONS = {
    "personal": "含有身份证号码等个人信息，依据《中华人民共和国个人信息保护法》不予开放。",
    "secret": "涉及国家秘密，依据《中华人民共和国保守国家秘密法》不予开放。",
    "safety": "涉及重点目标和公共安全，公开后可能危及公共安全。",
    "trade": "涉及企业经营数据等商业秘密。",
}


@dataclass(frozen=True)
class DemoEntry:
    provider: str
    name: str
    name_en: str
    items: str
    share: str = "U"
    open: str = "G"
    cycle: str = "daily"
    grade: str = "general"
    fmt: str = "csv"
    sc: str = ""
    oc: str = ""
    methods: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    state: str = "published"
    deidentified: bool = False


E = DemoEntry

# The tables below are kept one entry per few lines (a formatter would spread each over a dozen).
# fmt: off

# R11: natural-person base data, each by its responsible provider (names as the policy's base_data).
PERSON_BASE = [
    E("public_security", "人口户籍登记、变更、注销信息", "Population registration, changes and cancellation",
      f"{PERSON};sex:性别;ethnicity:民族;birth_date:出生日期:date;native_place:籍贯;"
      "household_address:户籍地址::p;household_type:户别;registered_on:登记日期:date;change_type:变动类型;"
      "change_date:变动日期:date;cancelled_on:注销日期:date;police_station:登记派出所",
      "C", "X", "real_time", "important", "db", "orgs", methods=("api", "db_table"), keywords=("户籍", "人口")),
    E("civil_affairs", "婚姻登记信息", "Marriage registration",
      f"{PERSON};sex:性别;registered_on:登记日期:date;registry:登记机关;marital_status:婚姻状况;"
      "business_type:业务类型;spouse_id_number:配偶身份证号码:id_number:p;spouse_name:配偶姓名::p;"
      "certificate_no:结婚证（离婚证）字号", "U", "X", keywords=("婚姻", "结婚", "离婚")),
    E("civil_affairs", "收养登记信息", "Adoption registration",
      f"{PERSON};adoptee_name:被收养人姓名::p;adoptee_birth_date:被收养人出生日期:date;registered_on:登记日期:date;"
      "registry:登记机关;certificate_no:收养登记证字号", "C", "X", grade="important", sc="orgs"),
    E("civil_affairs", "最低生活保障信息", "Minimum living allowance",
      f"{PERSON};household_size:家庭人口数:integer;allowance:月保障金额（元）:decimal:i;start_month:起始月份:date;"
      "street:所在街道;status:保障状态", "U", "X", "monthly", keywords=("低保", "社会救助")),
    E("civil_affairs", "殡葬（死亡）信息", "Funeral and death",
      f"{PERSON};death_date:死亡日期:date;cremated_on:火化日期:date;funeral_home:殡仪馆;"
      "household_address:户籍地址::p", "U", "X", keywords=("死亡", "火化", "殡葬")),
    E("health", "出生医学证明信息", "Birth certificates",
      "mother_id_number:母亲身份证号码:id_number:kp;mother_name:母亲姓名::p;newborn_name:新生儿姓名::p;sex:性别;"
      "born_at:出生时间:datetime;birth_weight:出生体重（克）:integer;father_id_number:父亲身份证号码:id_number:p;"
      "father_name:父亲姓名::p;hospital:接生机构;certificate_no:出生医学证明编号", "U", "X",
      keywords=("出生", "新生儿")),
    E("hrss", "社会保障信息", "Social security",
      f"{PERSON};insurance_type:险种;status:参保状态;start_date:参保日期:date;employer_uscc:参保单位统一社会信用代码:uscc;"
      "employer_name:参保单位名称;contribution_base:缴费基数（元）:decimal:i;last_paid_month:最近缴费月份:date",
      "C", "X", "monthly", "important", sc="scenario", keywords=("社保", "养老保险", "参保")),
    E("education", "教育信息", "Education",
      f"{PERSON};school_name:学校名称;education_level:学历层次;major:专业;enrolled_on:入学日期:date;"
      "graduated_on:毕业日期:date;student_status:学籍状态", "U", "X", "yearly", keywords=("学籍", "学历")),
    E("hrss", "技工院校教育信息", "Education (technical schools)",
      f"{PERSON};school_name:技工院校名称;major:专业;enrolled_on:入学日期:date;graduated_on:毕业日期:date;"
      "certificate_no:毕业证书编号", "U", "X", "yearly", keywords=("技工院校", "学历")),
    E("medical_insurance", "医疗保险信息", "Medical insurance",
      f"{PERSON};insurance_type:险种;status:参保状态;start_date:参保日期:date;employer_name:参保单位名称;"
      "last_paid_month:最近缴费月份:date", "C", "X", "monthly", "important", sc="scenario", keywords=("医保", "参保")),
    E("real_estate", "不动产登记信息", "Real-estate registration",
      f"{PERSON};unit_no:不动产单元号;certificate_no:不动产权证书号;location:坐落::p;area:面积（平方米）:decimal;"
      "usage:用途;right_type:权利类型;registered_on:登记日期:date;mortgaged:是否抵押:boolean",
      "C", "X", "real_time", "important", "db", "system", keywords=("不动产", "房产")),
    E("disabled_federation", "残疾人登记信息", "Disability registration",
      f"{PERSON};disability_type:残疾类别;disability_grade:残疾等级;certificate_no:残疾人证号;issued_on:发证日期:date",
      "C", "X", "monthly", sc="key", keywords=("残疾人证",)),
    E("provident_fund", "住房公积金信息", "Housing provident fund",
      f"{PERSON};account_no:个人账号;employer_uscc:缴存单位统一社会信用代码:uscc;employer_name:缴存单位名称;"
      "status:账户状态;monthly_deposit:月缴存额（元）:decimal:i;balance:账户余额（元）:decimal:s;opened_on:开户日期:date",
      "C", "X", "monthly", "important", sc="scenario", keywords=("公积金",)),
]

# R12: legal-person base data.
LEGAL_BASE = [
    E("market_supervision", "企业登记信息", "Enterprise registration",
      f"{LEGAL};enterprise_name:企业名称;enterprise_type:企业类型;legal_representative:法定代表人;"
      "registered_capital:注册资本（万元）:decimal;established_on:成立日期:date;registry:登记机关;"
      "business_scope:经营范围:text;address:住所;status:登记状态", "U", "G", "real_time", fmt="db",
      methods=("api", "db_table", "stream"), keywords=("企业", "工商登记", "营业执照")),
    E("market_supervision", "个体工商户登记信息", "Individual business registration",
      f"{LEGAL};trade_name:字号名称;operator_name:经营者姓名;business_place:经营场所;business_scope:经营范围:text;"
      "registered_on:注册日期:date;registry:登记机关;status:登记状态", "U", "G", keywords=("个体户",)),
    E("civil_affairs", "社会组织（民办非企业单位、社会团体、基金会）登记信息",
      "Non-profits (private non-enterprise units, social groups, foundations)",
      f"{LEGAL};org_name:组织名称;org_type:组织类型;legal_representative:法定代表人;registered_funds:注册资金（万元）:decimal;"
      "established_on:成立登记日期:date;supervisor:业务主管单位;address:住所;status:登记状态", "U", "G", "weekly",
      keywords=("社会组织", "基金会", "社会团体")),
    E("establishment", "机关、事业单位登记信息", "Government bodies and public institutions",
      f"{LEGAL};org_name:单位名称;org_type:机构类型;legal_representative:法定代表人;funding:经费来源;"
      "established_on:设立日期:date;purpose:宗旨和业务范围:text;address:住所;status:登记状态", "U", "G", "weekly",
      keywords=("事业单位", "机关")),
]

OTHER = [
    # public security
    E("public_security", "机动车驾驶证信息", "Driving licences",
      f"{PERSON};licence_class:准驾车型;first_issued_on:初次领证日期:date;valid_until:有效期止:date;status:驾驶证状态",
      "C", "X", sc="system"),
    E("public_security", "居住证办理信息", "Residence permits",
      f"{PERSON};residence_address:居住地址::p;issued_on:签发日期:date;valid_until:有效期止:date", "C", "X", sc="key"),
    E("public_security", "出入境证件办理信息", "Exit and entry documents",
      f"{PERSON};document_type:证件类型;document_no:证件号码::s;issued_on:签发日期:date", "N", "X", grade="important",
      sc="exit_entry", oc="safety"),
    E("public_security", "道路交通事故统计信息", "Road traffic accident statistics",
      "month:统计月份:date;district:行政区;accidents:事故起数:integer;injured:受伤人数:integer;deaths:死亡人数:integer",
      "U", "G", "monthly", keywords=("交通事故", "道路交通")),
    E("public_security", "户籍人口统计信息", "Registered population statistics",
      "year:统计年度:integer;district:行政区;households:户数:integer;population:户籍人口:integer;births:出生人口:integer",
      "U", "G", "yearly", methods=("file",)),
    E("public_security", "道路交通违法信息", "Road traffic violations",
      f"{PERSON};plate_no:号牌号码;violated_at:违法时间:datetime;location:违法地点;violation:违法行为;points:记分:integer",
      "C", "A", sc="credit", oc="consent", state="in_review"),
    # civil affairs
    E("civil_affairs", "养老机构信息", "Elderly care institutions",
      f"{LEGAL};org_name:机构名称;address:地址;beds:床位数:integer;phone:联系电话;rating:等级评定", "U", "G", "monthly"),
    E("civil_affairs", "标准地名信息", "Standard place names",
      "place_code:地名代码:string:k;place_name:标准名称;category:地名类别;district:所在行政区;longitude:经度:decimal;"
      "latitude:纬度:decimal", "U", "G", "on_change", methods=("api", "db_table", "stream")),
    E("civil_affairs", "特困人员供养信息", "Support for persons in extreme poverty",
      f"{PERSON};support_type:供养方式;start_month:起始月份:date;amount:月供养金额（元）:decimal:i", "C", "X",
      "monthly", sc="key"),
    E("civil_affairs", "临时救助信息", "Temporary assistance",
      f"{PERSON};reason:救助事由;amount:救助金额（元）:decimal:i;granted_on:救助日期:date", "C", "X", "monthly",
      sc="key", state="draft"),
    E("civil_affairs", "婚姻登记统计信息", "Marriage registration statistics",
      "month:统计月份:date;district:行政区;marriages:结婚登记对数:integer;divorces:离婚登记对数:integer",
      "U", "G", "monthly", state="changed"),
    # health
    E("health", "医疗机构名录", "Hospitals and clinics",
      f"{LEGAL};org_name:机构名称;org_category:机构类别;grade_level:医院等级;address:地址;phone:联系电话;"
      "beds:核定床位:integer", "U", "G", "monthly", keywords=("医院", "医疗机构", "卫生院")),
    E("health", "执业医师注册信息", "Registered physicians",
      f"{PERSON};practice_category:执业类别;practice_scope:执业范围;workplace:执业机构;registered_on:注册日期:date",
      "U", "A", "monthly", oc="consent"),
    E("health", "预防接种门诊信息", "Vaccination clinics",
      "clinic_code:门诊编码::k;clinic_name:门诊名称;address:地址;opening_hours:服务时间;phone:咨询电话", "U", "G",
      "monthly"),
    E("health", "法定传染病疫情统计信息", "Notifiable infectious disease statistics",
      "week:统计周:date;disease:病种;cases:发病数:integer;deaths:死亡数:integer", "C", "X", "weekly", "important",
      sc="orgs", oc="safety"),
    E("health", "院前急救站点信息", "Emergency ambulance stations",
      "station_code:站点编码::k;station_name:站点名称;address:地址;ambulances:救护车数量:integer", "U", "G", "monthly"),
    E("health", "门诊住院诊疗信息", "Outpatient and inpatient records",
      f"{PERSON};hospital:就诊机构;visit_date:就诊日期:date;diagnosis:诊断::s;department:科室", "N", "X",
      grade="important", sc="health"),
    # human resources and social security
    E("hrss", "就业登记信息", "Employment registration",
      f"{PERSON};employer_uscc:用人单位统一社会信用代码:uscc;employer_name:用人单位名称;employed_on:就业日期:date;"
      "employment_type:就业形式", "C", "X", "monthly", sc="scenario"),
    E("hrss", "职业技能等级证书信息", "Vocational skill certificates",
      f"{PERSON};occupation:职业（工种）;skill_level:技能等级;certificate_no:证书编号;issued_on:发证日期:date",
      "U", "A", "monthly", oc="consent"),
    E("hrss", "招聘岗位信息", "Job vacancies",
      "post_id:岗位编号::k;employer_name:招聘单位;post:岗位名称;vacancies:招聘人数:integer;salary_range:薪酬范围;"
      "published_on:发布日期:date", "U", "G", keywords=("招聘", "就业")),
    E("hrss", "人力资源服务机构名录", "Human resources service agencies",
      f"{LEGAL};org_name:机构名称;licence_no:许可证编号;address:地址;services:服务范围:text", "U", "G", "monthly"),
    E("hrss", "劳动保障监察行政处罚信息", "Labour inspection penalties",
      f"{LEGAL};org_name:单位名称;decision_no:处罚决定书文号;decided_on:处罚日期:date;penalty:处罚内容:text",
      "U", "G", "weekly", state="in_review"),
    # education
    E("education", "中小学校名录", "Primary and secondary schools",
      f"{LEGAL};school_name:学校名称;school_type:办学类型;district:行政区;address:地址;phone:联系电话;"
      "public_private:公办民办", "U", "G", "yearly", keywords=("学校", "中小学")),
    E("education", "幼儿园名录", "Kindergartens",
      f"{LEGAL};kindergarten_name:幼儿园名称;category:类别;district:行政区;address:地址;places:学位数:integer",
      "U", "G", "yearly"),
    E("education", "义务教育学区划分信息", "School districts",
      "school_name:学校名称::k;year:招生年度:integer;district:行政区;catchment:对口片区:text", "U", "G", "yearly"),
    E("education", "教师资格证信息", "Teacher qualifications",
      f"{PERSON};qualification_type:资格种类;subject:任教学科;certificate_no:证书编号;issued_on:发证日期:date",
      "C", "A", "monthly", sc="orgs", oc="consent"),
    E("education", "校外培训机构白名单", "Licensed after-school tutoring institutions",
      f"{LEGAL};org_name:机构名称;licence_no:办学许可证号;address:地址;subjects:培训类别", "U", "G", "monthly",
      state="draft"),
    # medical insurance
    E("medical_insurance", "定点医药机构名录", "Designated medical institutions and pharmacies",
      f"{LEGAL};org_name:机构名称;org_type:机构类型;address:地址;agreement_from:协议起始日期:date", "U", "G", "monthly"),
    E("medical_insurance", "医保药品目录", "Reimbursable drug list",
      "drug_code:药品编码::k;generic_name:通用名;dosage_form:剂型;category:甲乙类;payment_standard:支付标准（元）:decimal",
      "U", "G", "quarterly", fmt="xlsx"),
    E("medical_insurance", "医疗费用结算信息", "Medical expense settlements",
      f"{PERSON};hospital:结算机构;settled_on:结算日期:date;total:医疗总费用（元）:decimal:s;fund_paid:统筹支付（元）:decimal:s",
      "N", "X", grade="important", sc="health"),
    E("medical_insurance", "异地就医备案信息", "Registrations for treatment elsewhere",
      f"{PERSON};destination:就医地;filed_on:备案日期:date;valid_until:有效期止:date", "C", "X", sc="scenario"),
    # real estate
    E("real_estate", "不动产抵押登记信息", "Real-estate mortgages",
      f"{PERSON};unit_no:不动产单元号;mortgagee:抵押权人;amount:被担保债权数额（万元）:decimal:i;"
      "registered_on:登记日期:date", "C", "X", "real_time", "important", "db", "system"),
    E("real_estate", "不动产登记业务量统计信息", "Real-estate registration statistics",
      "month:统计月份:date;business_type:业务类型;count:办件量:integer", "U", "G", "monthly"),
    E("real_estate", "不动产查封登记信息", "Real-estate seizures",
      f"{PERSON};unit_no:不动产单元号;court:查封机关;sealed_on:查封日期:date;sealed_until:查封期限:date",
      "C", "X", sc="orgs", state="returned"),
    # disabled persons' federation
    E("disabled_federation", "残疾人就业服务机构信息", "Employment services for disabled persons",
      f"{LEGAL};org_name:机构名称;address:地址;services:服务内容:text", "U", "G", "quarterly"),
    E("disabled_federation", "残疾人两项补贴发放信息", "Disability allowances",
      f"{PERSON};allowance_type:补贴类型;amount:月发放金额（元）:decimal:i;month:发放月份:date", "C", "X", "monthly",
      sc="key"),
    # housing provident fund
    E("provident_fund", "住房公积金缴存单位信息", "Provident fund depositing employers",
      f"{LEGAL};org_name:单位名称;account_no:单位账号;employees:缴存人数:integer;status:缴存状态", "C", "A", "monthly",
      sc="credit", oc="credit"),
    E("provident_fund", "住房公积金贷款信息", "Provident fund loans",
      f"{PERSON};loan_no:贷款合同号;amount:贷款金额（万元）:decimal:i;term_months:贷款期限（月）:integer;"
      "overdue:是否逾期:boolean", "C", "X", "monthly", "important", sc="scenario"),
    E("provident_fund", "住房公积金缴存统计信息", "Provident fund statistics",
      "month:统计月份:date;depositors:缴存人数:integer;deposited:缴存额（万元）:decimal;withdrawn:提取额（万元）:decimal",
      "U", "G", "monthly", state="withdrawn"),
    # market supervision
    E("market_supervision", "营业执照信息", "Business licences",
      f"{LEGAL};enterprise_name:名称;licence_type:类型;legal_representative:法定代表人;issued_on:发照日期:date;"
      "valid_until:营业期限至:date", "U", "G", "real_time", fmt="db", methods=("api", "db_table", "stream"),
      keywords=("营业执照", "电子证照")),
    E("market_supervision", "食品经营许可证信息", "Food business licences",
      f"{LEGAL};enterprise_name:经营者名称;licence_no:许可证编号;business_items:经营项目:text;valid_until:有效期至:date",
      "U", "G", keywords=("食品", "许可证")),
    E("market_supervision", "经营异常名录信息", "Enterprises with abnormal operations",
      f"{LEGAL};enterprise_name:企业名称;listed_on:列入日期:date;reason:列入原因;removed_on:移出日期:date",
      "U", "G", state="change_review"),
    E("market_supervision", "严重违法失信企业名单信息", "Seriously illegal and dishonest enterprises",
      f"{LEGAL};enterprise_name:企业名称;listed_on:列入日期:date;reason:列入事由;authority:作出决定机关", "U", "G"),
    E("market_supervision", "市场监管行政处罚信息", "Market supervision penalties",
      f"{LEGAL};enterprise_name:当事人名称;decision_no:处罚决定书文号;decided_on:处罚日期:date;penalty:处罚内容:text",
      "U", "G"),
    E("market_supervision", "特种设备使用登记信息", "Special equipment registrations",
      f"{LEGAL};org_name:使用单位;equipment_code:设备代码;equipment_type:设备类别;address:设备地点;"
      "next_inspection:下次检验日期:date", "C", "A", "weekly", "important", sc="system", oc="tech"),
    # establishment administration
    E("establishment", "机构编制实名制信息", "Staffing establishment (by name)",
      f"{PERSON};org_name:所在单位;post_type:编制类型;position:职务", "C", "X", "monthly", "important", sc="orgs"),
    E("establishment", "事业单位法人年度报告信息", "Annual reports of public institutions",
      f"{LEGAL};org_name:单位名称;year:报告年度:integer;staff:从业人数:integer;assets:净资产（万元）:decimal",
      "U", "G", "yearly", methods=("file", "api")),
    # transport
    E("transport", "道路运输经营许可信息", "Road transport operating permits",
      f"{LEGAL};org_name:经营者名称;permit_no:许可证号;business_scope:经营范围:text;valid_until:有效期至:date", "U", "G"),
    E("transport", "道路交通流量信息", "Road traffic flow",
      "section_code:路段编码::k;section_name:路段名称;measured_at:采集时间:datetime;volume:车流量（辆/小时）:integer;"
      "speed:平均车速（公里/小时）:decimal;congestion:拥堵指数:decimal", "U", "G", "real_time", fmt="api",
      methods=("api", "stream"), keywords=("交通", "路况", "拥堵")),
    E("transport", "公共停车场信息", "Public car parks",
      "park_code:停车场编码::k;park_name:名称;address:地址;spaces:泊位数:integer;free_spaces:空余泊位:integer;"
      "price:收费标准", "U", "G", "real_time", fmt="api", methods=("api", "stream")),
    E("transport", "巡游出租汽车营运信息", "Taxi operations",
      "plate_no:车牌号::k;company:经营企业;trip_start:上车时间:datetime;trip_end:下车时间:datetime;distance:里程（公里）:decimal",
      "C", "A", "real_time", fmt="api", methods=("api",), sc="system", oc="tech"),
    E("transport", "网络预约出租汽车平台许可信息", "Ride-hailing platform permits",
      f"{LEGAL};platform_name:平台名称;permit_no:许可证号;issued_on:许可日期:date", "U", "G", "monthly"),
    E("transport", "公路路况信息", "Highway conditions",
      "road_code:路线编号::k;road_name:路线名称;reported_at:发布时间:datetime;condition:路况;detour:绕行建议",
      "U", "G", "real_time", fmt="api", methods=("api", "stream"), state="in_review"),
    # natural resources and planning
    E("natural_resources", "建设工程规划许可证信息", "Construction project planning permits",
      f"{LEGAL};project_name:项目名称;permit_no:许可证编号;location:建设位置;floor_area:建筑面积（平方米）:decimal;"
      "issued_on:发证日期:date", "U", "G", keywords=("规划许可", "建设工程", "施工")),
    E("natural_resources", "国有建设用地使用权出让信息", "Land-use right transfers",
      "parcel_no:地块编号::k;location:位置;area:面积（平方米）:decimal;usage:用途;price:成交价（万元）:decimal;"
      "deal_date:成交日期:date", "U", "G", "weekly"),
    E("natural_resources", "基础测绘成果信息", "Basic surveying results",
      "sheet_no:图幅号::k;scale:比例尺;surveyed_on:测绘日期:date;secrecy:密级::s", "N", "X", "yearly", "core",
      fmt="file", sc="surveying", oc="secret"),
    E("natural_resources", "国土空间规划信息", "Territorial spatial plans",
      "plan_code:规划编号::k;plan_name:规划名称;approved_on:批准日期:date;scope:规划范围:text", "U", "G", "yearly",
      fmt="file", methods=("file",)),
    # development and reform
    E("development_reform", "重要商品价格监测信息", "Prices of key commodities",
      "commodity:商品名称::k;spec:规格;market:监测点;price:价格（元）:decimal;observed_on:监测日期:date",
      "U", "G", "weekly", keywords=("价格", "物价", "菜价")),
    E("development_reform", "政府投资项目审批信息", "Government investment project approvals",
      "project_code:项目代码::k;project_name:项目名称;approval_no:批复文号;investment:总投资（万元）:decimal;"
      "approved_on:批复日期:date", "U", "G", "weekly"),
    E("development_reform", "公共信用评价信息", "Public credit ratings",
      f"{LEGAL};org_name:主体名称;rating:信用等级;rated_on:评价日期:date", "C", "A", "monthly", sc="credit",
      oc="credit"),
    E("development_reform", "政府定价目录信息", "Government-set prices",
      "item_code:项目编码::k;item_name:定价项目;price:价格标准;basis:定价依据:text;effective_on:执行日期:date",
      "U", "G", "quarterly", fmt="xlsx", state="overdue_review"),
    # municipal utilities and parks
    E("city_admin", "城市公园名录", "City parks",
      "park_code:公园编码::k;park_name:公园名称;address:地址;area:面积（公顷）:decimal;opening_hours:开放时间",
      "U", "G", "quarterly", keywords=("公园", "绿地")),
    E("city_admin", "城市道路挖掘许可信息", "Road excavation permits",
      f"{LEGAL};applicant:申请单位;road:挖掘道路;start_date:开工日期:date;end_date:完工日期:date", "U", "G"),
    E("city_admin", "市政道路桥梁设施信息", "Municipal roads and bridges",
      "facility_code:设施编码::k;facility_name:设施名称;facility_type:类型;length:长度（米）:decimal;"
      "condition:技术状况", "U", "G", "quarterly", "important"),
    # emergency management
    E("emergency", "应急避难场所信息", "Emergency shelters",
      "shelter_code:场所编码::k;shelter_name:场所名称;address:地址;capacity:可容纳人数:integer;longitude:经度:decimal;"
      "latitude:纬度:decimal", "U", "G", "quarterly", keywords=("避难", "应急")),
    E("emergency", "危险化学品企业信息", "Hazardous chemicals enterprises",
      f"{LEGAL};org_name:企业名称;chemicals:主要危险化学品:text;major_hazard:是否重大危险源:boolean;address:地址",
      "C", "X", "monthly", "important", sc="system", oc="safety"),
    E("emergency", "安全生产许可证信息", "Work safety permits",
      f"{LEGAL};org_name:企业名称;permit_no:许可证编号;scope:许可范围:text;valid_until:有效期至:date", "U", "G"),
    E("emergency", "自然灾害灾情信息", "Natural disaster reports",
      "event_code:灾害编号::k;disaster_type:灾种;occurred_at:发生时间:datetime;affected:受灾人口:integer;"
      "losses:直接经济损失（万元）:decimal", "C", "A", "on_change", sc="key", oc="feedback"),
    # ecology and environment
    E("ecology", "空气质量监测信息", "Air quality",
      "station_code:监测站点编码::k;station_name:站点名称;measured_at:监测时间:datetime;aqi:空气质量指数:integer;"
      "pm25:PM2.5浓度:decimal;pm10:PM10浓度:decimal;ozone:臭氧浓度:decimal", "U", "G", "real_time", fmt="api",
      methods=("api", "stream"), keywords=("空气质量", "AQI", "环境")),
    E("ecology", "地表水水质监测信息", "Surface water quality",
      "section_code:断面编码::k;section_name:断面名称;month:监测月份:date;water_class:水质类别;"
      "ammonia:氨氮:decimal;cod:化学需氧量:decimal", "U", "G", "monthly", keywords=("水质", "环境")),
    E("ecology", "重点排污单位名录", "Key pollutant-discharging units",
      f"{LEGAL};org_name:单位名称;category:类别;pollutants:主要污染物", "U", "G", "yearly"),
    E("ecology", "建设项目环境影响评价审批信息", "Environmental impact approvals",
      "approval_no:批复文号::k;project_name:项目名称;builder:建设单位;approved_on:批复日期:date", "U", "G", "weekly"),
    E("ecology", "排污许可证信息", "Pollutant discharge permits",
      f"{LEGAL};org_name:单位名称;permit_no:许可证编号;valid_until:有效期至:date", "U", "G", "weekly",
      state="in_review"),
    # statistics
    E("statistics", "国民经济主要指标", "Key economic indicators",
      "period:统计期:date;indicator:指标名称::k;value:数值:decimal;unit:计量单位;growth:同比增长（%）:decimal",
      "U", "G", "monthly", keywords=("GDP", "经济", "统计")),
    E("statistics", "居民消费价格指数", "Consumer price index",
      "month:统计月份:date:k;category:类别;index:指数（上年同月=100）:decimal", "U", "G", "monthly"),
    E("statistics", "统计调查对象名录及调查资料", "Statistical survey respondents and returns",
      f"{LEGAL};org_name:调查对象名称;survey:调查项目;revenue:营业收入（万元）:decimal:s;employees:从业人员:integer:s",
      "N", "X", "yearly", "important", sc="statistics", oc="trade"),
    E("statistics", "人口抽样调查汇总数据", "Population sample survey tables",
      "year:调查年度:integer;district:行政区;age_group:年龄组;population:人口数:integer", "U", "A", "yearly",
      oc="feedback", methods=("file",)),
    # culture and tourism
    E("culture_tourism", "A级旅游景区信息", "Rated tourist attractions",
      "scenic_code:景区编码::k;scenic_name:景区名称;level:等级;address:地址;opening_hours:开放时间;"
      "ticket_price:门票价格", "U", "G", "monthly", keywords=("旅游", "景区", "鼓浪屿")),
    E("culture_tourism", "旅行社名录", "Travel agencies",
      f"{LEGAL};agency_name:旅行社名称;licence_no:经营许可证号;address:地址;phone:联系电话", "U", "G", "monthly"),
    E("culture_tourism", "星级饭店信息", "Star-rated hotels",
      f"{LEGAL};hotel_name:饭店名称;star:星级;rooms:客房数:integer;address:地址", "U", "G", "quarterly"),
    E("culture_tourism", "公共文化设施信息", "Public libraries and cultural centres",
      "facility_code:设施编码::k;facility_name:设施名称;facility_type:类型;address:地址;opening_hours:开放时间",
      "U", "G", "quarterly", keywords=("图书馆", "文化馆")),
    E("culture_tourism", "景区实时客流信息", "Real-time visitors at attractions",
      "scenic_code:景区编码::k;measured_at:统计时间:datetime;visitors:在园人数:integer;capacity:最大承载量:integer",
      "U", "G", "real_time", fmt="api", methods=("api", "stream")),
    E("culture_tourism", "营业性演出许可信息", "Commercial performance permits",
      f"{LEGAL};organiser:主办单位;show_name:演出名称;venue:演出场所;show_dates:演出日期", "U", "G", "weekly",
      state="draft"),
]

# Public service organisations (R6: the public service data catalog).
PUBLIC_SERVICE = [
    E("water", "供水水质信息", "Drinking water quality",
      "plant_code:水厂编码::k;plant_name:水厂名称;sampled_on:采样日期:date;turbidity:浑浊度（NTU）:decimal;"
      "chlorine:余氯（mg/L）:decimal;qualified:是否合格:boolean", "U", "G", "monthly", keywords=("水质", "自来水")),
    E("water", "居民用水信息", "Household water use",
      f"{PERSON};account_no:用水户号;address:用水地址::p;month:抄表月份:date;volume:用水量（立方米）:decimal",
      "C", "X", "monthly", sc="key"),
    E("water", "计划停水信息", "Planned water outages",
      "notice_no:公告编号::k;area:停水区域:text;start_at:开始时间:datetime;end_at:恢复时间:datetime", "U", "G"),
    E("water", "企业用水信息", "Business water use",
      f"{LEGAL};org_name:企业名称;month:月份:date;volume:用水量（立方米）:decimal;arrears:是否欠费:boolean",
      "C", "A", "monthly", sc="credit", oc="credit"),
    E("gas", "燃气用户信息", "Gas customers",
      f"{PERSON};account_no:用户号;address:用气地址::p;opened_on:开户日期:date", "C", "X", "monthly", sc="key"),
    E("gas", "燃气安全检查信息", "Gas safety inspections",
      "inspection_no:检查编号::k;address:检查地址;inspected_on:检查日期:date;hazards:隐患情况:text;fixed:是否整改:boolean",
      "C", "A", "weekly", "important", sc="system", oc="tech"),
    E("gas", "计划停气信息", "Planned gas outages",
      "notice_no:公告编号::k;area:停气区域:text;start_at:开始时间:datetime;end_at:恢复时间:datetime", "U", "G"),
    E("gas", "管道燃气价格信息", "Piped gas prices",
      "tier:阶梯档次::k;price:价格（元/立方米）:decimal;effective_on:执行日期:date", "U", "G", "yearly"),
    E("power", "企业用电量信息", "Business electricity use",
      f"{LEGAL};org_name:企业名称;month:月份:date;consumption:用电量（千瓦时）:decimal", "C", "A", "monthly", sc="credit",
      oc="credit"),
    E("power", "居民用电信息", "Household electricity use",
      f"{PERSON};account_no:用电户号;address:用电地址::p;month:月份:date;consumption:用电量（千瓦时）:decimal",
      "C", "X", "monthly", sc="key"),
    E("power", "计划停电信息", "Planned power outages",
      "notice_no:公告编号::k;area:停电区域:text;start_at:开始时间:datetime;end_at:恢复时间:datetime", "U", "G"),
    E("power", "公共充电桩分布信息", "Public charging points",
      "station_code:充电站编码::k;station_name:名称;address:地址;piles:充电桩数量:integer;free_piles:空闲数量:integer",
      "U", "G", "real_time", fmt="api", methods=("api", "stream"), keywords=("充电桩", "新能源")),
    E("bus", "公交线路信息", "Bus routes",
      "route_no:线路编号::k;route_name:线路名称;first_bus:首班时间;last_bus:末班时间;fare:票价（元）:decimal;"
      "stops:途经站点:text", "U", "G", "on_change", methods=("api", "db_table", "stream"), keywords=("公交", "线路")),
    E("bus", "公交站点信息", "Bus stops",
      "stop_code:站点编码::k;stop_name:站点名称;longitude:经度:decimal;latitude:纬度:decimal;routes:途经线路",
      "U", "G", "on_change", keywords=("公交", "站点")),
    E("bus", "公交车辆实时位置信息", "Real-time bus positions",
      "vehicle_no:车辆编号::k;route_no:线路编号;reported_at:上报时间:datetime;longitude:经度:decimal;"
      "latitude:纬度:decimal;load:满载率:decimal", "U", "G", "real_time", fmt="api", methods=("api", "stream")),
    E("bus", "公交客流统计信息", "Bus ridership",
      "route_no:线路编号::k;day:日期:date;passengers:客流量（人次）:integer", "U", "A", oc="feedback"),
    E("bus", "公交卡乘车记录", "Bus card trips",
      f"{PERSON};card_no:卡号::p;boarded_at:上车时间:datetime;route_no:线路编号;stop_name:上车站点", "C", "X",
      "real_time", fmt="db", sc="scenario", methods=("api", "db_table")),
]
# fmt: on

ALL_ENTRIES = PERSON_BASE + LEGAL_BASE + OTHER + PUBLIC_SERVICE
