"""R6 R10 R15–R19 R22 R24: the compilation specification's checks. Every error is collected with its
precise field path, so that an editor can show all of them next to their fields at once."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import String

from gongshu.catalog.models import CatalogEntry, CatalogItem
from gongshu.catalog.schemas import (
    DATA_TYPES,
    FORMATS,
    SENSITIVITIES,
    SUBJECT_KINDS,
    TABULAR_FORMATS,
    ConditionInput,
    EntryInput,
    vocabulary_label,
)
from gongshu.kernel.policy.service import Policy

CATEGORY_CODE = re.compile(r"^[A-Z][0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}$")
ITEM_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
RESOURCE_CODE = re.compile(r"^[A-Z0-9_]+-[A-Z]-[A-Z][0-9]{2}(-[0-9]{2}){3}-[0-9]{4}$")
NAME_MAX = 200
# R19: methods that need a continuously updated resource (keys of the policy's update cycles).
CONTINUOUS_CYCLES = ("real_time", "on_change")
# R15/R22: attributes under which data is open to the public (keys of the policy's open attributes).
PUBLIC_OPEN = ("general", "on_application")


@dataclass(frozen=True)
class FieldError:
    code: str
    field: str
    zh: str
    en: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def _with_code(label: str, code: str) -> str:
    """An English label followed by its code, unless the label already shows it: 'Daily (daily)'."""
    return label if f"({code})" in label.lower() else f"{label} ({code})"


def _policy_allowed(pol: Policy, group: str) -> tuple[str, str]:
    """R6 R30: a policy group's allowed values as an officer reads them: the Chinese labels, and the English
    labels with their codes (what the form offers and the Excel import accepts)."""
    keys = pol.keys(group)
    return (
        "、".join(pol.label(group, k, "zh") for k in keys),
        ", ".join(_with_code(pol.label(group, k, "en"), k) for k in keys),
    )


def _allowed(vocabulary: str, codes: tuple[str, ...]) -> tuple[str, str]:
    """R6: the same for a vocabulary of the compilation specification (schemas.VOCABULARY_LABELS)."""
    return (
        "、".join(vocabulary_label(vocabulary, c, "zh") for c in codes),
        ", ".join(_with_code(vocabulary_label(vocabulary, c, "en"), c) for c in codes),
    )


def _in_policy(
    pol: Policy, group: str, value: str, field: str, zh_what: str, en_what: str
) -> list[FieldError]:
    """R30: categories come from the policy in force."""
    if value in pol.keys(group):
        return []
    if not value:
        return [FieldError(f"catalog.{field}_required", field, f"请选择{zh_what}", f"Choose the {en_what}")]
    zh, en = _policy_allowed(pol, group)
    return [
        FieldError(
            f"catalog.unknown_{field}",
            field,
            f"{zh_what}“{value}”不在政策 {pol.id} 规定的范围内，应为 {zh} 之一",
            f"{en_what[0].upper()}{en_what[1:]} {value!r} is not one of policy {pol.id}: {en}",
        )
    ]


def _conditions(pol: Policy, group: str, conds: list[ConditionInput], field: str) -> list[FieldError]:
    """R17 / R24: each condition has a kind from the policy and a statement."""
    errors: list[FieldError] = []
    zh, en = _policy_allowed(pol, group)
    for i, cond in enumerate(conds):
        if cond.kind not in pol.keys(group):
            errors.append(
                FieldError(
                    "catalog.unknown_condition_kind",
                    f"{field}[{i}].kind",
                    f"条件类型“{cond.kind}”不在政策规定的范围内，应为 {zh} 之一",
                    f"Condition kind {cond.kind!r} is not one of {en}",
                )
            )
        if not cond.value.strip():
            errors.append(
                FieldError(
                    "catalog.condition_value_required",
                    f"{field}[{i}].value",
                    "请写明条件的具体内容",
                    "State what the condition requires",
                )
            )
    return errors


def _basics(pol: Policy, data: EntryInput) -> list[FieldError]:
    """R6: the required metadata of the compilation specification."""
    errors = _in_policy(pol, "catalog_kinds", data.catalog_kind, "catalog_kind", "目录类型", "catalog kind")
    if not CATEGORY_CODE.match(data.category_code):
        errors.append(
            FieldError(
                "catalog.category_code_invalid",
                "category_code",
                "分类代码应为类/项/目/细目四级，形如 A01-02-03-04",
                "The category code has four levels (class/item/subitem/detail), e.g. A01-02-03-04",
            )
        )
    name = data.name.strip()
    if not name or len(name) > NAME_MAX:
        errors.append(
            FieldError(
                "catalog.name_required",
                "name",
                f"请填写资源名称（不超过{NAME_MAX}字）",
                f"A resource name is required (at most {NAME_MAX} characters)",
            )
        )
    if data.format not in FORMATS:
        zh, en = _allowed("format", FORMATS)
        errors.append(
            FieldError(
                "catalog.format_invalid",
                "format",
                f"资源格式应为 {zh} 之一",
                f"The format must be one of {en}",
            )
        )
    for i, kw in enumerate(data.keywords):
        if not kw.strip() or len(kw) > 40:
            errors.append(
                FieldError(
                    "catalog.keyword_invalid",
                    f"keywords[{i}]",
                    "关键词不能为空且不超过40字",
                    "A keyword is non-empty and at most 40 characters",
                )
            )
    for i, code in enumerate(data.related_codes):
        if not RESOURCE_CODE.match(code):
            errors.append(
                FieldError(
                    "catalog.related_code_invalid",
                    f"related_codes[{i}]",
                    f"关联资源代码“{code}”格式不正确",
                    f"Related resource code {code!r} is malformed",
                )
            )
    errors += _in_policy(pol, "update_cycles", data.update_cycle, "update_cycle", "更新周期", "update cycle")
    errors += _in_policy(pol, "grades", data.grade, "grade", "数据分级", "grade")
    return errors


def _items(data: EntryInput) -> list[FieldError]:
    """R6: information items: identifier-like unique names, a Chinese label, a known type and sensitivity."""
    if not data.items:
        return [
            FieldError(
                "catalog.items_required", "items", "至少需要一个信息项", "At least one item is required"
            )
        ]
    errors: list[FieldError] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(data.items):
        if not ITEM_NAME.match(item.name):
            errors.append(
                FieldError(
                    "catalog.item_name_invalid",
                    f"items[{i}].name",
                    "信息项名称应以小写字母开头，只含小写字母、数字和下划线（不超过64位）",
                    "An item name starts with a lower-case letter and holds only a-z, 0-9 and _ (≤ 64)",
                )
            )
        elif item.name in seen:
            errors.append(
                FieldError(
                    "catalog.item_name_duplicate",
                    f"items[{i}].name",
                    f"信息项名称“{item.name}”与第{seen[item.name] + 1}项重复",
                    f"Item name {item.name!r} repeats item {seen[item.name] + 1}",
                )
            )
        else:
            seen[item.name] = i
        if not item.label_zh.strip():
            errors.append(
                FieldError(
                    "catalog.item_label_required",
                    f"items[{i}].label_zh",
                    "请填写信息项中文名称",
                    "The item's Chinese label is required",
                )
            )
        if item.data_type not in DATA_TYPES:
            zh, en = _allowed("data_type", DATA_TYPES)
            errors.append(
                FieldError(
                    "catalog.item_type_invalid",
                    f"items[{i}].data_type",
                    f"数据类型应为 {zh} 之一",
                    f"The data type must be one of {en}",
                )
            )
        if item.sensitivity not in SENSITIVITIES:
            zh, en = _allowed("sensitivity", SENSITIVITIES)
            errors.append(
                FieldError(
                    "catalog.item_sensitivity_invalid",
                    f"items[{i}].sensitivity",
                    f"敏感级别应为 {zh} 之一",
                    f"The sensitivity must be one of {en}",
                )
            )
        if item.length is not None and item.length <= 0:
            errors.append(
                FieldError(
                    "catalog.item_length_invalid",
                    f"items[{i}].length",
                    "长度应为正整数",
                    "The length is a positive integer",
                )
            )
    return errors


def _subject_keys(data: EntryInput) -> list[FieldError]:
    """R10: data about natural persons is keyed by the ID number, about legal persons by the USCC."""
    if data.subject_kind not in SUBJECT_KINDS:
        zh, en = _allowed("subject_kind", SUBJECT_KINDS)
        return [
            FieldError(
                "catalog.subject_kind_invalid",
                "subject_kind",
                f"数据对象应为 {zh} 之一",
                f"The subject kind must be one of {en}",
            )
        ]
    needed = {"person": "id_number", "legal_person": "uscc"}.get(data.subject_kind)
    if needed is None or any(it.is_key and it.data_type == needed for it in data.items):
        return []
    if needed == "id_number":
        return [
            FieldError(
                "catalog.person_key_required",
                "items",
                "关于自然人的数据须以法定身份证件号码（id_number 类型的主键信息项）标识（R10）",
                "Data about natural persons must be keyed by the legal ID number "
                "(a key item of type id_number, "
                "R10)",
            )
        ]
    return [
        FieldError(
            "catalog.legal_person_key_required",
            "items",
            "关于法人的数据须以统一社会信用代码（uscc 类型的主键信息项）标识（R10）",
            "Data about legal persons must be keyed by the USCC (a key item of type uscc, R10)",
        )
    ]


def _sharing(pol: Policy, data: EntryInput) -> list[FieldError]:
    """R15 R17 R18 R19: sharing attribute, its conditions or legal basis, and the sharing methods."""
    errors = _in_policy(
        pol,
        "sharing_attributes",
        data.sharing_attribute,
        "sharing_attribute",
        "共享属性",
        "sharing attribute",
    )
    if data.sharing_attribute == "conditional" and not data.sharing_conditions:
        errors.append(
            FieldError(
                "catalog.sharing_conditions_required",
                "sharing_conditions",
                "有条件共享的数据须在目录中写明共享条件（R17）",
                "Conditionally shared data must state its sharing conditions in the entry (R17)",
            )
        )
    errors += _conditions(pol, "sharing_condition_kinds", data.sharing_conditions, "sharing_conditions")
    if data.sharing_attribute == "not_shared" and not data.legal_basis.strip():
        errors.append(
            FieldError(
                "catalog.legal_basis_required",
                "legal_basis",
                "暂不共享的数据须写明所依据的法律、法规或国家政策（R18）",
                "Data that is not shared must name the law, regulation or national policy it rests on (R18)",
            )
        )
    if data.sharing_attribute in ("unconditional", "conditional") and not data.sharing_methods:
        errors.append(
            FieldError(
                "catalog.sharing_methods_required",
                "sharing_methods",
                "请选择至少一种共享方式（R19）",
                "Choose at least one sharing method (R19)",
            )
        )
    for i, method in enumerate(data.sharing_methods):
        field = f"sharing_methods[{i}]"
        if method not in pol.keys("sharing_methods"):
            zh, en = _policy_allowed(pol, "sharing_methods")
            errors.append(
                FieldError(
                    "catalog.unknown_sharing_method",
                    field,
                    f"共享方式“{method}”不在政策规定的范围内，应为 {zh} 之一",
                    f"Sharing method {method!r} is not one of {en}",
                )
            )
        elif method == "stream" and data.update_cycle not in CONTINUOUS_CYCLES:
            errors.append(
                FieldError(
                    "catalog.method_cycle_mismatch",
                    field,
                    f"{pol.label('sharing_methods', method)}方式要求更新周期为"
                    + "或".join(pol.label("update_cycles", c) for c in CONTINUOUS_CYCLES),
                    f"The {pol.label('sharing_methods', method, 'en')} method needs the update cycle "
                    + " or ".join(
                        _with_code(pol.label("update_cycles", c, "en"), c) for c in CONTINUOUS_CYCLES
                    ),
                )
            )
        elif method == "db_table" and data.format not in TABULAR_FORMATS:
            zh, en = _allowed("format", TABULAR_FORMATS)
            errors.append(
                FieldError(
                    "catalog.method_format_mismatch",
                    field,
                    f"{pol.label('sharing_methods', method)}方式要求表格类资源格式（{zh}）",
                    f"The {pol.label('sharing_methods', method, 'en')} method needs a tabular format ({en})",
                )
            )
    return errors


def contains_personal_info(data: EntryInput) -> bool:
    """R22: declared, or implied by a personal item or an ID-number item."""
    return data.contains_personal_info or any(
        it.sensitivity == "personal" or it.data_type == "id_number" for it in data.items
    )


def _opening(pol: Policy, data: EntryInput) -> list[FieldError]:
    """R22 R24: open attribute, its conditions or the reason for not opening; personal data."""
    errors = _in_policy(
        pol, "open_attributes", data.open_attribute, "open_attribute", "开放属性", "open attribute"
    )
    if data.open_attribute == "not_open" and not data.not_open_reason.strip():
        errors.append(
            FieldError(
                "catalog.not_open_reason_required",
                "not_open_reason",
                "不予开放的数据须写明理由（R22）",
                "Data that is not opened must state why (R22)",
            )
        )
    if data.open_attribute == "on_application" and not data.open_conditions:
        errors.append(
            FieldError(
                "catalog.open_conditions_required",
                "open_conditions",
                "依申请开放的数据须写明开放条件（R24）",
                "Data open on application must state its conditions (R24)",
            )
        )
    errors += _conditions(pol, "open_condition_kinds", data.open_conditions, "open_conditions")
    if data.open_attribute == "general" and contains_personal_info(data) and not data.deidentified:
        errors.append(
            FieldError(
                "catalog.personal_info_not_open",
                "open_attribute",
                "含个人信息的数据须经去标识化处理后方可普遍开放（R22）",
                "Data holding personal information opens generally only after de-identification (R22)",
            )
        )
    return errors


def _column_limits(model: type[Any]) -> dict[str, int]:
    """The length of each of the model's String columns."""
    return {
        c.name: int(c.type.length)
        for c in model.__table__.columns
        if isinstance(c.type, String) and c.type.length
    }


ENTRY_LIMITS = _column_limits(CatalogEntry)
ITEM_LIMITS = _column_limits(CatalogItem)


def _too_long(field: str, limit: int) -> FieldError:
    return FieldError(
        "catalog.value_too_long",
        field,
        f"该项最多 {limit} 个字符",
        f"{field} holds at most {limit} characters",
    )


def _lengths(data: EntryInput) -> list[FieldError]:
    """Every text fits its column: a longer one is refused here, never cut off or refused by the
    database half-way."""
    errors = [
        _too_long(name, limit)
        for name, limit in ENTRY_LIMITS.items()
        if isinstance(value := getattr(data, name, None), str) and len(value) > limit
    ]
    for i, item in enumerate(data.items):
        errors += [
            _too_long(f"items[{i}].{name}", limit)
            for name, limit in ITEM_LIMITS.items()
            if isinstance(value := getattr(item, name, None), str) and len(value) > limit
        ]
    return errors


def validate_entry(pol: Policy, data: EntryInput) -> list[FieldError]:
    """R6: all the compilation specification's errors of an entry, each with its field path."""
    return [
        *_lengths(data),
        *_basics(pol, data),
        *_items(data),
        *_subject_keys(data),
        *_sharing(pol, data),
        *_opening(pol, data),
    ]
