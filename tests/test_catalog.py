"""R6 R9 R10 R15–R18 R22: catalog compilation checks, the publication lifecycle, changes, visibility."""

from __future__ import annotations

import re
from typing import Any

import pytest
from catalog_fixtures import city, marriage
from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.catalog import service
from gongshu.catalog.models import CatalogEntry
from gongshu.catalog.validation import validate_entry
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.errors import Forbidden, NotFound, ValidationFailed
from gongshu.kernel.identity.actor import ANONYMOUS
from gongshu.kernel.policy import service as policy_service
from gongshu.kernel.workflow import engine


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    return city(session)


def _codes(session: Session, **overrides: Any) -> dict[str, str]:
    errors = validate_entry(policy_service.at(session), marriage(**overrides))
    return {e.field: e.code for e in errors}


def test_r6_valid_entry_has_no_errors(session: Session) -> None:
    assert _codes(session) == {}


def test_r6_category_code_has_four_levels(session: Session) -> None:
    assert _codes(session, category_code="A01-02-03")["category_code"] == "catalog.category_code_invalid"


def test_r6_item_errors_carry_their_path(session: Session) -> None:
    items = marriage().model_dump()["items"]
    items.append({**items[1]})
    items.append({"name": "Bad Name", "label_zh": "", "data_type": "blob"})
    errs = _codes(session, items=items)
    assert errs["items[2].name"] == "catalog.item_name_duplicate"
    assert errs["items[3].name"] == "catalog.item_name_invalid"
    assert errs["items[3].label_zh"] == "catalog.item_label_required"
    assert errs["items[3].data_type"] == "catalog.item_type_invalid"


def test_r6_kinds_and_cycles_come_from_policy(session: Session) -> None:
    errs = _codes(session, catalog_kind="secret_catalog", update_cycle="hourly", grade="x")
    assert errs["catalog_kind"] == "catalog.unknown_catalog_kind"
    assert errs["update_cycle"] == "catalog.unknown_update_cycle"
    assert errs["grade"] == "catalog.unknown_grade"


def test_r6_validation_names_allowed_values_by_their_labels(session: Session) -> None:
    """An officer reading Chinese sees the labels the pages use, never the raw codes; English names the
    English labels with the code in parentheses. Codes and field paths stay as they were."""
    items = marriage().model_dump()["items"]
    items[1].update(data_type="blob", sensitivity="hush")
    data = marriage(
        subject_kind="robot",
        format="pdf",
        update_cycle="hourly",
        grade="x",
        catalog_kind="secret_catalog",
        sharing_attribute="maybe",
        open_attribute="ajar",
        sharing_methods=["fax"],
        items=items,
    )
    errors = {e.field: e for e in validate_entry(policy_service.at(session), data)}
    expected_codes = {
        "subject_kind": "catalog.subject_kind_invalid",
        "format": "catalog.format_invalid",
        "update_cycle": "catalog.unknown_update_cycle",
        "grade": "catalog.unknown_grade",
        "catalog_kind": "catalog.unknown_catalog_kind",
        "sharing_attribute": "catalog.unknown_sharing_attribute",
        "open_attribute": "catalog.unknown_open_attribute",
        "sharing_methods[0]": "catalog.unknown_sharing_method",
        "items[1].data_type": "catalog.item_type_invalid",
        "items[1].sensitivity": "catalog.item_sensitivity_invalid",
    }
    assert {f: errors[f].code for f in expected_codes} == expected_codes

    subject, fmt, cycle = errors["subject_kind"], errors["format"], errors["update_cycle"]
    assert subject.zh == "数据对象应为 自然人、法人、其他 之一"
    assert "Natural persons (person)" in subject.en and "Legal persons (legal_person)" in subject.en
    assert "Excel 工作簿" in fmt.zh and "数据库" in fmt.zh and "Excel workbook (xlsx)" in fmt.en
    assert "每日" in cycle.zh and "实时变更" in cycle.zh and "Daily (daily)" in cycle.en
    assert "无条件共享" in errors["sharing_attribute"].zh and "不予开放" in errors["open_attribute"].zh
    assert "一般数据" in errors["grade"].zh and "政务数据目录" in errors["catalog_kind"].zh
    assert (
        "库表" in errors["sharing_methods[0]"].zh
        and "Database table (db_table)" in errors["sharing_methods[0]"].en
    )
    assert "居民身份证号码" in errors["items[1].data_type"].zh
    assert "个人信息" in errors["items[1].sensitivity"].zh
    codes = {
        "person", "legal_person", "other", "csv", "xlsx", "json", "xml", "api", "db", "file",
        "real_time", "daily", "monthly", "on_change", "general", "important", "core", "government",
        "unconditional", "not_shared", "not_open", "db_table", "stream", "id_number", "uscc", "string",
        "public", "secret",
    }  # fmt: skip
    for err in errors.values():
        written = err.zh.split("“")[0] + err.zh.split("”")[-1]  # leave out the value as written
        assert not {c for c in codes if re.search(rf"(?<![A-Za-z_]){c}(?![A-Za-z_])", written)}, err.zh


def test_r18_not_shared_needs_legal_basis(session: Session) -> None:
    errs = _codes(session, sharing_attribute="not_shared", sharing_conditions=[], sharing_methods=[])
    assert errs == {"legal_basis": "catalog.legal_basis_required"}
    assert (
        _codes(session, sharing_attribute="not_shared", sharing_conditions=[], legal_basis="《某法》第十条")
        == {}
    )


def test_r17_conditional_needs_known_conditions(session: Session) -> None:
    assert (
        _codes(session, sharing_conditions=[])["sharing_conditions"] == "catalog.sharing_conditions_required"
    )
    errs = _codes(
        session, sharing_conditions=[{"kind": "scenario", "value": "x"}, {"kind": "friends", "value": ""}]
    )
    assert errs["sharing_conditions[1].kind"] == "catalog.unknown_condition_kind"
    assert errs["sharing_conditions[1].value"] == "catalog.condition_value_required"


def test_r19_methods_match_format_and_cycle(session: Session) -> None:
    errs = _codes(session, format="file", sharing_methods=["api", "db_table", "stream", "fax"])
    assert errs["sharing_methods[1]"] == "catalog.method_format_mismatch"
    assert errs["sharing_methods[2]"] == "catalog.method_cycle_mismatch"
    assert errs["sharing_methods[3]"] == "catalog.unknown_sharing_method"
    assert "sharing_methods[2]" not in _codes(session, sharing_methods=["stream"], update_cycle="real_time")


def test_r10_subjects_need_their_identifier_key(session: Session) -> None:
    items = [{"name": "name", "label_zh": "姓名", "data_type": "string", "is_key": True}]
    assert _codes(session, items=items)["items"] == "catalog.person_key_required"
    assert (
        _codes(session, items=items, subject_kind="legal_person")["items"]
        == "catalog.legal_person_key_required"
    )
    assert "items" not in _codes(session, items=items, subject_kind="other")


def test_r22_opening_rules(session: Session) -> None:
    assert _codes(session, open_attribute="not_open")["not_open_reason"] == "catalog.not_open_reason_required"
    assert _codes(session, open_conditions=[])["open_conditions"] == "catalog.open_conditions_required"
    assert _codes(session, open_attribute="general")["open_attribute"] == "catalog.personal_info_not_open"
    assert "open_attribute" not in _codes(session, open_attribute="general", deidentified=True)


def test_r6_service_collects_all_errors(session: Session, c: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed) as exc:
        service.create_draft(session, c["civil_officer"], marriage(name="", category_code="A1"))
    fields = {e["field"] for e in exc.value.details["errors"]}
    assert fields == {"name", "category_code"}
    assert session.scalar(select(CatalogEntry)) is None


def test_r5_only_the_providers_catalog_officer_compiles(session: Session, c: dict[str, Any]) -> None:
    with pytest.raises(Forbidden):
        service.create_draft(session, c["police_officer"], marriage(provider_org_id=c["civil"].id))
    with pytest.raises(Forbidden):
        service.create_draft(session, c["police_clerk"], marriage())


def _published(session: Session, c: dict[str, Any], **overrides: Any) -> CatalogEntry:
    entry = service.create_draft(session, c["civil_officer"], marriage(**overrides))
    case = service.submit_for_review(session, c["civil_officer"], entry.id)
    engine.decide(session, c["reviewer"], case.id, "approve")
    session.commit()
    return entry


def test_r6_draft_submit_approve_publishes_version_1(session: Session, c: dict[str, Any]) -> None:
    entry = service.create_draft(session, c["civil_officer"], marriage())
    assert entry.resource_code == "CIVIL_AFFAIRS-G-A01-02-03-04-0001"
    assert entry.contains_personal_info
    case = service.submit_for_review(session, c["civil_officer"], entry.id)
    assert entry.status == "in_review" and case.kind == "catalog_publication"
    engine.decide(session, c["reviewer"], case.id, "approve")
    session.commit()
    assert entry.status == "published" and entry.current_version == 1 and entry.published_at is not None
    [v1] = service.versions(session, entry)
    assert v1.version == 1 and v1.case_id == case.id and v1.snapshot["name"] == "婚姻登记信息"
    actions = set(session.scalars(select(AuditEntry.action)))
    assert {"catalog.create_draft", "catalog.submit", "catalog.publish"} <= actions


def test_r6_returned_and_refused_drafts_go_back(session: Session, c: dict[str, Any]) -> None:
    entry = service.create_draft(session, c["civil_officer"], marriage())
    case = service.submit_for_review(session, c["civil_officer"], entry.id)
    engine.decide(session, c["reviewer"], case.id, "return", "请补充摘要")
    assert entry.status == "draft"
    service.update_draft(session, c["civil_officer"], entry.id, marriage(summary="补充后的摘要"))
    case2 = service.submit_for_review(session, c["civil_officer"], entry.id)
    engine.decide(session, c["reviewer"], case2.id, "reject", "不符合规范")
    assert entry.status == "draft" and entry.current_version == 0


def test_r9_change_keeps_version_1_in_force_until_approved(session: Session, c: dict[str, Any]) -> None:
    entry = _published(session, c)
    case = service.propose_change(session, c["civil_officer"], entry.id, marriage(summary="新的摘要"), "")
    session.commit()
    assert entry.summary == "本市办理的结婚、离婚登记记录。" and entry.current_version == 1
    assert entry.pending is not None and entry.pending["summary"] == "新的摘要"
    assert {ch["field"] for ch in case.payload["changes"]} == {"summary"}
    assert (case.title, case.title_en) == (
        "目录变更：婚姻登记信息",
        "Catalog change: Marriage registration",
    )  # R28
    engine.decide(session, c["reviewer"], case.id, "approve")
    session.commit()
    assert entry.summary == "新的摘要" and entry.current_version == 2 and entry.pending is None
    v1, v2 = service.versions(session, entry)
    assert service.diff(v1.snapshot, v2.snapshot) == [
        ("summary", "本市办理的结婚、离婚登记记录。", "新的摘要")
    ]


def test_r9_narrowing_change_needs_reasons(session: Session, c: dict[str, Any]) -> None:
    entry = _published(session, c)
    narrower = marriage(
        sharing_attribute="not_shared",
        sharing_conditions=[],
        sharing_methods=[],
        legal_basis="《婚姻登记条例》",
    )
    with pytest.raises(ValidationFailed) as exc:
        service.propose_change(session, c["civil_officer"], entry.id, narrower, "  ")
    assert exc.value.code == "catalog.change_reasons_required" and exc.value.field == "reasons"
    case = service.propose_change(session, c["civil_officer"], entry.id, narrower, "上级要求")
    assert case.payload["narrowed"] == ["sharing_attribute"]
    engine.decide(session, c["reviewer"], case.id, "reject", "理由不充分")
    assert entry.pending is None and entry.sharing_attribute == "conditional"


def test_r9_withdrawn_stays_visible(session: Session, c: dict[str, Any]) -> None:
    entry = _published(session, c)
    with pytest.raises(ValidationFailed):
        service.withdraw(session, c["civil_officer"], entry.id, "")
    service.withdraw(session, c["civil_officer"], entry.id, "职能取消")
    assert service.get_entry(session, ANONYMOUS, entry.resource_code).status == "withdrawn"


def test_r15_visibility(session: Session, c: dict[str, Any]) -> None:
    draft = service.create_draft(session, c["civil_officer"], marriage())
    for who in (ANONYMOUS, c["citizen"], c["police_officer"]):
        with pytest.raises(NotFound):
            service.get_entry(session, who, draft.resource_code)
    assert service.get_entry(session, c["reviewer"], draft.resource_code) is draft
    shared_only = _published(
        session, c, open_attribute="not_open", open_conditions=[], not_open_reason="含个人信息"
    )
    for who in (ANONYMOUS, c["citizen"]):
        with pytest.raises(NotFound):
            service.get_entry(session, who, shared_only.resource_code)
    assert service.get_entry(session, c["police_officer"], shared_only.resource_code) is shared_only
    open_entry = _published(session, c)
    assert service.get_entry(session, ANONYMOUS, open_entry.resource_code) is open_entry
