"""R26 (secure handling, default deny), after the demo walk: only the parties of an open case acting for
their side — the applicant (the objector), a party's handling role (the provider) — and the assignee of its
open step add files; an auditor never changes anything; a refused upload is a 403 with a stable code and
stores nothing. Files are documents and images recognised by their content, not by their name alone."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from catalog_fixtures import user
from fastapi.testclient import TestClient
from page_fixtures import page_client
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from store_fixtures import objection_city
from test_workflow import World, build_world, sharing_application

from gongshu.kernel.errors import Forbidden, GongshuError, ValidationFailed
from gongshu.kernel.identity import service as identity
from gongshu.kernel.identity import tokens
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.workflow import attachments, engine
from gongshu.kernel.workflow.models import CaseAttachment
from gongshu.web.app import create_app

PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00This program cannot be run in DOS mode"


def _zip(*names: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name in names:
            z.writestr(name, "<x/>")
    return buf.getvalue()


OFD = _zip("OFD.xml", "Doc_0/Document.xml")
DOCX = _zip("[Content_Types].xml", "word/document.xml")
XLSX = _zip("[Content_Types].xml", "xl/workbook.xml")


@pytest.fixture()
def world(session: Session) -> World:
    return build_world(session)


def _auditor(session: Session) -> Actor:
    u = identity.create_user(
        session,
        username="authority.auditor",
        display_name="审计员",
        password="Workflow2026pass",
        org_code="authority",
        roles=["auditor"],
    )
    session.commit()
    return identity.build_actor(session, u)


def _stored(session: Session, case_id: int) -> int:
    session.expire_all()
    n = session.scalar(select(func.count(CaseAttachment.id)).where(CaseAttachment.case_id == case_id)) or 0
    session.commit()  # end the read, so that the server may write (SQLite)
    return int(n)


def _files_on_disk() -> set[str]:
    return {p.name for p in attachments.storage_dir().iterdir()}


def _api(session: Session, actor: Actor) -> TestClient:
    u = identity.get_user(session, actor.user_id)  # type: ignore[arg-type]
    raw, _ = tokens.issue_token(session, u, name="attachments test")
    session.commit()
    return TestClient(create_app(), headers={"Authorization": f"Bearer {raw}"})


def _refusal(session: Session, actor: Actor, case_id: int, name: str = "note.pdf", body: bytes = PDF) -> str:
    with pytest.raises(GongshuError) as err:
        attachments.attach(session, actor, case_id, name, body, "application/pdf")
    session.rollback()
    return err.value.code


def test_r26_an_auditor_can_never_attach_and_nothing_is_stored(session: Session, world: World) -> None:
    case_id = sharing_application(session, world).id  # kept: a rolled-back object would be re-read
    auditor = _auditor(session)
    before = _files_on_disk()
    with pytest.raises(Forbidden) as err:
        attachments.attach(session, auditor, case_id, "note.pdf", PDF, "application/pdf")
    assert err.value.code == "workflow.read_only" and err.value.status_code == 403
    session.rollback()

    client, csrf = page_client("authority.auditor", session=session)
    page = client.get(f"/cases/{case_id}")
    assert page.status_code == 200 and 'data-testid="attach-file"' not in page.text
    assert 'data-testid="withdraw"' not in page.text and 'data-testid="decision-form"' not in page.text
    posted = client.post(
        f"/cases/{case_id}/attachments",
        data={"csrf_token": csrf},
        files={"file": ("note.txt", b"hello", "text/plain")},
        follow_redirects=False,
    )
    assert posted.status_code == 403 and "workflow.read_only" in posted.text
    assert "审计人员只能查阅案件" in posted.text and "已上传" not in posted.text
    refused = _api(session, auditor).post(
        f"/api/v1/cases/{case_id}/attachments", files={"file": ("note.pdf", PDF, "application/pdf")}
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "workflow.read_only"
    assert _stored(session, case_id) == 0 and _files_on_disk() == before


def test_r26_only_the_parties_and_the_open_steps_assignee_attach_while_the_case_is_open(
    session: Session, world: World
) -> None:
    case = sharing_application(session, world)
    # At the provider's review: the applicant, the provider's reviewer (the assignee) — no one else.
    for actor in (world.authority_reviewer, world.authority_coordinator, world.provider_officer):
        assert _refusal(session, actor, case.id) == "workflow.not_participant"
    assert _stored(session, case.id) == 0
    attachments.attach(session, world.consumer, case.id, "申请函.pdf", PDF, "text/plain")
    attachments.attach(session, world.provider_reviewer, case.id, "审核意见.pdf", PDF)
    session.commit()

    engine.decide(session, world.provider_reviewer, case.id, "approve", "")
    session.commit()
    # At the authority's review: its reviewer is the assignee now; the provider's reviewer still handles
    # for its side (a party); the coordinator has no step open.
    attachments.attach(session, world.authority_reviewer, case.id, "意见.pdf", PDF)
    attachments.attach(session, world.provider_reviewer, case.id, "补充说明.pdf", PDF)
    session.commit()
    assert _refusal(session, world.authority_coordinator, case.id) == "workflow.not_participant"

    engine.decide(session, world.authority_reviewer, case.id, "reject", "不符合共享条件")
    session.commit()
    # Refused but still disputable (R15, R17): the applicant may add its evidence for a dispute, only it.
    attachments.attach(session, world.consumer, case.id, "授权书.png", PNG)
    session.commit()
    assert _refusal(session, world.provider_reviewer, case.id) == "workflow.not_participant"
    assert _refusal(session, world.authority_reviewer, case.id) == "workflow.not_participant"

    # Disputed: the coordination is the open step; its coordinator attaches. A final refusal closes it.
    engine.escalate(session, world.consumer, case.id, "已取得授权")
    attachments.attach(session, world.authority_coordinator, case.id, "协调意见.pdf", PDF)
    engine.decide(session, world.authority_coordinator, case.id, "reject", "协调不成，维持不予共享")
    session.commit()
    assert _refusal(session, world.consumer, case.id) == "workflow.case_closed"
    assert _refusal(session, world.authority_coordinator, case.id) == "workflow.not_participant"
    assert _stored(session, case.id) == 6

    # The page offers the form only to those the service lets attach, and refuses the others with 403.
    other = sharing_application(session, world, title="申请共享出生医学证明信息（二）")
    client, csrf = page_client("authority.coordinator", session=session)
    assert 'data-testid="attach-file"' not in client.get(f"/cases/{other.id}").text
    refused = client.post(
        f"/cases/{other.id}/attachments", data={"csrf_token": csrf}, files={"file": ("a.pdf", PDF)}
    )
    assert refused.status_code == 403 and "workflow.not_participant" in refused.text
    applicant, _ = page_client("transport.officer", session=session)
    assert 'data-testid="attach-file"' in applicant.get(f"/cases/{other.id}").text
    assert _stored(session, other.id) == 0


def test_r26_a_coordinator_cannot_attach_to_someone_elses_objection(
    session: Session, tmp_path: Path, db_clean: str
) -> None:
    c, case_id = objection_city(session, tmp_path, db_clean)
    coordinator = user(session, "coordinator", c["authority"], "coordinator")
    session.commit()
    assert _refusal(session, coordinator, case_id) == "workflow.not_participant"
    assert _refusal(session, c["reviewer"], case_id) == "workflow.not_participant"
    attachments.attach(session, c["civil_clerk"], case_id, "核实记录.pdf", PDF)  # the provider's handler
    attachments.attach(session, c["citizen"], case_id, "补充证明.jpg", JPEG)  # the objector
    session.commit()
    assert _stored(session, case_id) == 3

    client, csrf = page_client("coordinator", session=session)
    assert 'data-testid="attach-file"' not in client.get(f"/cases/{case_id}").text
    refused = client.post(
        f"/cases/{case_id}/attachments", data={"csrf_token": csrf}, files={"file": ("x.pdf", PDF)}
    )
    assert refused.status_code == 403 and "workflow.not_participant" in refused.text
    assert _stored(session, case_id) == 3


@pytest.mark.parametrize(
    ("name", "body", "kind"),
    [
        ("审核意见.pdf", PDF, "application/pdf"),
        ("电子证照.ofd", OFD, "application/ofd"),
        ("扫描件.JPG", JPEG, "image/jpeg"),
        ("截图.png", PNG, "image/png"),
        ("申请函.docx", DOCX, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("信息项清单.xlsx", XLSX, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("说明.txt", "同意共享。\n".encode(), "text/plain; charset=utf-8"),
    ],
)
def test_r26_documents_and_images_recognised_by_content_are_accepted(
    session: Session, world: World, name: str, body: bytes, kind: str
) -> None:
    case = sharing_application(session, world)
    row = attachments.attach(session, world.consumer, case.id, name, body, "application/octet-stream")
    session.commit()
    assert row.filename == name and row.content_type == kind  # served as what it is, not as claimed


@pytest.mark.parametrize(
    ("name", "body", "code", "words"),
    [
        ("fake.pdf", EXE, "workflow.attachment_content", "内容不是有效的 PDF 文件"),
        ("setup.exe", EXE, "workflow.attachment_type", "“.exe”文件，不被接受"),
        ("notes.csv", b"a,b\n1,2\n", "workflow.attachment_type", "“.csv”文件，不被接受"),
        ("photo.png", JPEG, "workflow.attachment_content", "内容不是有效的 PNG 文件"),
        ("电子证照.ofd", _zip("Doc_0/Document.xml"), "workflow.attachment_content", "OFD"),
        ("申请函.docx", XLSX, "workflow.attachment_content", "DOCX"),
        ("notes.txt", b"MZ\x00\x01binary", "workflow.attachment_content", "TXT"),
        ("README", b"text", "workflow.attachment_type", "无扩展名"),
    ],
)
def test_r26_a_file_whose_content_is_not_what_its_name_says_is_refused(
    session: Session, world: World, name: str, body: bytes, code: str, words: str
) -> None:
    case = sharing_application(session, world)
    before = _files_on_disk()
    with pytest.raises(ValidationFailed) as err:
        attachments.attach(session, world.consumer, case.id, name, body, "application/pdf")
    session.rollback()
    assert err.value.code == code and words in err.value.message_zh and name in err.value.message_zh
    assert _stored(session, case.id) == 0 and _files_on_disk() == before


def test_r26_the_case_page_refuses_a_renamed_executable_with_a_precise_message(
    session: Session, world: World
) -> None:
    case = sharing_application(session, world)
    client, csrf = page_client("transport.officer", session=session)
    refused = client.post(
        f"/cases/{case.id}/attachments",
        data={"csrf_token": csrf},
        files={"file": ("fake.pdf", EXE, "application/pdf")},
    )
    assert refused.status_code == 422 and "workflow.attachment_content" in refused.text
    message = re.search(r'data-testid="error-message">([^<]*)<', refused.text)
    assert (
        message is not None and "附件“fake.pdf”的扩展名是 .pdf，但内容不是有效的 PDF 文件" in message.group(1)
    )
    api = _api(session, world.consumer).post(
        f"/api/v1/cases/{case.id}/attachments", files={"file": ("fake.pdf", EXE, "application/pdf")}
    )
    assert api.status_code == 422 and api.json()["error"]["code"] == "workflow.attachment_content"
    assert _stored(session, case.id) == 0


def test_r26_the_file_check_is_shared_with_its_own_words_and_codes() -> None:
    """Objection evidence (R14) may use the same check with its own accepted kinds, codes and words."""
    kind = attachments.check_file("户口簿.pdf", PDF, ("pdf", "png"), code_prefix="objection.evidence")
    assert kind.content_type == "application/pdf"
    with pytest.raises(ValidationFailed) as err:
        attachments.check_file(
            "证明.docx",
            DOCX,
            ("pdf", "png"),
            code_prefix="objection.evidence",
            what_zh="证明材料",
            field="evidence",
        )
    assert err.value.code == "objection.evidence_type" and "证明材料“证明.docx”" in err.value.message_zh


def test_r26_an_auditor_of_the_applicant_cannot_withdraw_dispute_or_resubmit(
    session: Session, world: World
) -> None:
    """The applicant's own acts are refused to the applicant organisation's auditor too (read only), by the
    engine itself — the page hides the forms, a POST or an API call meets the same refusal."""
    u = identity.create_user(
        session,
        username="transport.auditor",
        display_name="审计员",
        password="Workflow2026pass",
        org_code="transport",
        roles=["auditor"],
    )
    session.commit()
    auditor = identity.build_actor(session, u)
    case = sharing_application(session, world)
    for act in (
        lambda: engine.withdraw(session, auditor, case.id, "不再需要"),
        lambda: engine.escalate(session, auditor, case.id, "不服"),
        lambda: engine.resubmit(session, auditor, case.id),
    ):
        with pytest.raises(Forbidden) as err:
            act()
        session.rollback()
        assert err.value.code == "workflow.read_only"
    session.expire_all()
    assert session.get(type(case), case.id).status == "in_review"  # type: ignore[union-attr]
