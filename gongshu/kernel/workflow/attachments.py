"""Attachments of a case (application materials, review opinions, dispute evidence).

Files are stored once per content under the data folder, named by their SM3 digest; the digest is checked
again on every read, so a file changed on disk is detected. Only those who may see the case may read them.

R26 (secure handling, default deny): a file is added only by a party acting for its side of an open case —
the applicant (the objector, for an objection, R14), the handling role of a party organisation (the
provider's reviewer of a sharing application, R17; its data officer for an objection, R14), or the assignee
of the open step. Everyone else who may see the case (the authority's other staff, followers, auditors) reads
it and adds nothing; an auditor never changes anything.

Accepted files are documents and images recognised by their content, not by their name alone (an
executable renamed to .pdf is refused): PDF, OFD (GB/T 33190: a ZIP package with OFD.xml at its root),
JPEG and PNG — what review opinions, consents, certificates and scanned evidence are; Word (DOCX) and Excel
(XLSX) — what an application letter, a list of requested items or a catalog change's supporting table is
(R6, R9, R17, R23); and plain UTF-8 text (.txt) — a short written opinion or statement. CSV and other data
files are refused: data reaches the platform through aggregation (R7), never as a case attachment.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.kernel.audit.service import record
from gongshu.kernel.config import get_settings
from gongshu.kernel.crypto.sm import sm3_hex
from gongshu.kernel.errors import Conflict, Forbidden, GongshuError, NotFound, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.workflow.models import Case, CaseAttachment
from gongshu.kernel.workflow.notify import notify_followers
from gongshu.kernel.workflow.steps import active_step, decision_is_final, event, policy_of
from gongshu.kernel.workflow.visibility import can_view, get_case, is_read_only

# A limit of the platform's storage, not of the regulation.
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
NAME_MAX = 255
CONTENT_TYPE_MAX = 120
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
# Closed whatever the actor: nothing more may be added to an approved or withdrawn case (a refusal is closed
# too once it is final, see `attach_refusal`).
CLOSED_FOR_ATTACHMENTS = ("approved", "withdrawn")


# ---- what a file is, by its content -------------------------------------------------------------------


def _zip_names(content: bytes) -> set[str] | None:
    """The member names of a ZIP package (lower case, without a leading slash), None if it is not one."""
    if not content.startswith(b"PK\x03\x04"):
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as package:
            return {n.lstrip("/").lower() for n in package.namelist()}
    except (zipfile.BadZipFile, ValueError):
        return None


def _is_ofd(content: bytes) -> bool:
    names = _zip_names(content)
    return names is not None and "ofd.xml" in names


def _is_docx(content: bytes) -> bool:
    names = _zip_names(content)
    return names is not None and {"[content_types].xml", "word/document.xml"} <= names


def _is_xlsx(content: bytes) -> bool:
    names = _zip_names(content)
    return names is not None and {"[content_types].xml", "xl/workbook.xml"} <= names


_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _is_text(content: bytes) -> bool:
    """Plain UTF-8 text (a byte-order mark allowed), without NUL or other control characters."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    return not _TEXT_CONTROL.search(text)


@dataclass(frozen=True)
class FileKind:
    """A kind of file the platform accepts: its name, the content type it is served with, and the check
    that the content really is one."""

    label: str
    content_type: str
    matches: Callable[[bytes], bool]


FILE_KINDS: dict[str, FileKind] = {  # by extension
    "pdf": FileKind("PDF", "application/pdf", lambda b: b.startswith(b"%PDF")),
    "ofd": FileKind("OFD", "application/ofd", _is_ofd),
    "jpg": FileKind("JPEG", "image/jpeg", lambda b: b.startswith(b"\xff\xd8\xff")),
    "jpeg": FileKind("JPEG", "image/jpeg", lambda b: b.startswith(b"\xff\xd8\xff")),
    "png": FileKind("PNG", "image/png", lambda b: b.startswith(b"\x89PNG\r\n\x1a\n")),
    "docx": FileKind(
        "DOCX",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        _is_docx,
    ),
    "xlsx": FileKind("XLSX", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", _is_xlsx),
    "txt": FileKind("TXT", "text/plain; charset=utf-8", _is_text),
}
# R26: what a case attachment may be (see the module's docstring for why).
CASE_ATTACHMENT_TYPES = ("pdf", "ofd", "jpg", "jpeg", "png", "docx", "xlsx", "txt")
_ACCEPTED_ZH = "PDF、OFD、Word（.docx）、Excel（.xlsx）文档，JPG、PNG 图片或 UTF-8 纯文本（.txt）"
_ACCEPTED_EN = (
    "a PDF, OFD, Word (.docx) or Excel (.xlsx) document, a JPG or PNG image or UTF-8 plain text (.txt)"
)


def extension(filename: str) -> str:
    """The file name's extension, lower case, without the dot ("" when there is none)."""
    name = (filename or "").strip().lower()
    return name.rsplit(".", 1)[-1] if "." in name else ""


def check_file(
    filename: str,
    content: bytes,
    accepted: tuple[str, ...] = CASE_ATTACHMENT_TYPES,
    *,
    code_prefix: str = "workflow.attachment",
    what_zh: str = "附件",
    what_en: str = "The attachment",
    accepted_zh: str = _ACCEPTED_ZH,
    accepted_en: str = _ACCEPTED_EN,
    field: str = "file",
) -> FileKind:
    """R26: the kind of an uploaded file, recognised by its extension and confirmed by its content.
    Refuses a name whose extension is not `accepted` (`<code_prefix>_type`) and content that is not what the
    extension says (`<code_prefix>_content`: an executable renamed to .pdf, a text file renamed to .png).
    Shared by every upload of documents (case attachments; objection evidence, R14, may use it with its own
    `accepted`, codes and words)."""
    ext = extension(filename)
    kind = FILE_KINDS.get(ext) if ext in accepted else None
    if kind is None:
        shown = f"“.{ext}”" if ext else "无扩展名的"
        raise ValidationFailed(
            f"{code_prefix}_type",
            f"{what_zh}“{filename}”是{shown}文件，不被接受；只接受{accepted_zh}",
            f"{what_en} {filename!r} is not an accepted type; give {accepted_en}",
            field=field,
        )
    if not kind.matches(content):
        raise ValidationFailed(
            f"{code_prefix}_content",
            f"{what_zh}“{filename}”的扩展名是 .{ext}，但内容不是有效的 {kind.label} 文件；"
            f"请上传真实的 {kind.label} 文件，或改用与内容相符的扩展名",
            f"The content of {what_en.lower()} {filename!r} is not a valid {kind.label} file although its "
            f"name ends in .{ext}; upload a real {kind.label} file or name it after its content",
            field=field,
        )
    return kind


def storage_dir() -> Path:
    path = get_settings().ensure_data_dir() / "attachments"
    path.mkdir(parents=True, exist_ok=True)
    return path


def clean_filename(filename: str) -> str:
    """The file's own name, without any folder part or control characters, at most 255 characters."""
    name = _UNSAFE.sub("", re.split(r"[\\/]", filename or "")[-1]).strip().lstrip(".")
    if len(name) > NAME_MAX:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: NAME_MAX - len(ext) - 1] + dot + ext) if dot and len(ext) < 16 else name[:NAME_MAX]
    return name


def acts_for_applicant(actor: Actor, case: Case) -> bool:
    """The applicant's side: a user of the applicant organisation (or of the department managing it, R5),
    or the person who objected / applied from their own account."""
    return actor.acts_for(case.applicant_org_id)


def handles_for_a_party(actor: Actor, case: Case) -> bool:
    """A party organisation's handling role: the actor holds the role of a step assigned to one of the
    case's parties (the provider's reviewer of a sharing application, R17; its data officer for an
    objection, R14; the receiving department of a duty transfer, R9)."""
    parties = {int(v) for v in (case.parties or {}).values()}
    return any(
        actor.has_role(s.assignee_role, s.assignee_org_id) for s in case.steps if s.assignee_org_id in parties
    )


def assignee_of_open_step(actor: Actor, case: Case) -> bool:
    step = active_step(case)
    return (
        case.status == "in_review"
        and step is not None
        and actor.has_role(step.assignee_role, step.assignee_org_id)
    )


def _disputable(session: Session, case: Case) -> bool:
    """R15, R17: a refusal (or return) that is not yet final may still be disputed by the applicant."""
    return case.status in ("rejected", "returned") and not decision_is_final(policy_of(session, case), case)


def attach_refusal(session: Session, actor: Actor, case: Case) -> GongshuError | None:
    """R26 (default deny): why this actor may not add a file to this case now, or None if they may.

    While the case is in review: the applicant's side, a party's handling role, and the open step's
    assignee. While it is returned for correction or refused but still disputable (R15, R17): the applicant's
    side only (its corrections, its evidence for a dispute). Never once it is closed (approved, withdrawn, or
    finally refused), and never by a read-only account (an auditor, R28)."""
    number = case.number
    if is_read_only(actor):
        return Forbidden(
            "workflow.read_only",
            f"审计人员只能查阅案件 {number}，不能添加附件或作出任何更改",
            f"An auditor may read case {number} but not add files or change anything",
        )
    applicant = actor.is_system or acts_for_applicant(actor, case)
    party = handles_for_a_party(actor, case)
    assignee = assignee_of_open_step(actor, case)
    if not (applicant or party or assignee):
        return Forbidden(
            "workflow.not_participant",
            f"只有案件 {number} 的当事方（申请方、数据提供单位经办人员）和当前环节的办理人员可以添加附件",
            f"Only the parties to case {number} (the applicant, the provider's handling staff) and the "
            "assignee of its open step may add files",
        )
    open_to_applicant = case.status == "in_review" or _disputable(session, case)
    if case.status in CLOSED_FOR_ATTACHMENTS or not open_to_applicant:
        return Conflict(
            "workflow.case_closed",
            f"案件 {number} 已办结，不能再添加附件",
            f"Case {number} is closed; no more attachments may be added",
        )
    if case.status != "in_review" and not applicant:
        return Forbidden(
            "workflow.not_participant",
            f"案件 {number} 目前在申请方处（已退回或不予通过），只有申请方可以添加附件",
            f"Case {number} is with the applicant (returned or refused); only the applicant may add files",
        )
    return None


def may_attach(session: Session, actor: Actor, case: Case) -> bool:
    """R26: may this actor add a file to this case now (the case page shows its upload form only then)?"""
    return attach_refusal(session, actor, case) is None


def _store(content: bytes, digest: str) -> Path:
    path = storage_dir() / digest
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        os.replace(tmp, path)
    return path


def attach(
    session: Session,
    actor: Actor,
    case_id: int,
    filename: str,
    content: bytes,
    content_type: str | None = None,
    step_seq: int | None = None,
) -> CaseAttachment:
    """Add a file to a case: R26, only by those `attach_refusal` lets add one, and only a document or
    image recognised by its content (`check_file`; at most 20 MB, not empty). Without `step_seq`, a file
    added by the assignee of the open step belongs to that step. `content_type` (what the browser claimed)
    is not trusted: the file is served with the type of what its content is."""
    case = get_case(session, actor, case_id, for_update=True)
    refusal = attach_refusal(session, actor, case)
    if refusal is not None:
        raise refusal
    name = clean_filename(filename)
    if not name:
        raise ValidationFailed(
            "workflow.attachment_name", "附件需要文件名", "An attachment needs a file name", field="file"
        )
    if not content:
        raise ValidationFailed(
            "workflow.attachment_empty",
            f"附件“{name}”是空文件",
            f"Attachment {name!r} is empty",
            field="file",
        )
    if len(content) > MAX_ATTACHMENT_BYTES:
        raise ValidationFailed(
            "workflow.attachment_too_large",
            f"附件“{name}”超过 {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB",
            f"Attachment {name!r} is larger than {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB",
            field="file",
            status_code=413,
        )
    kind = check_file(name, content)
    open_step = active_step(case)
    if (
        step_seq is None
        and open_step is not None
        and actor.has_role(open_step.assignee_role, open_step.assignee_org_id)
    ):
        step_seq = open_step.seq
    if step_seq is not None and all(s.seq != step_seq for s in case.steps):
        raise ValidationFailed(
            "workflow.unknown_step",
            f"案件 {case.number} 没有第 {step_seq} 个环节",
            f"Case {case.number} has no step {step_seq}",
            field="step_seq",
        )

    digest = sm3_hex(content)
    path = _store(content, digest)
    row = CaseAttachment(
        case_id=case.id,
        step_seq=step_seq,
        filename=name,
        content_type=kind.content_type[:CONTENT_TYPE_MAX],  # what the content is, not what was claimed
        size=len(content),
        sm3=digest,
        storage_path=str(path.relative_to(storage_dir().parent)),
        uploaded_by_user_id=actor.user_id,
    )
    session.add(row)
    session.flush()
    event(
        session,
        case,
        actor,
        "attachment_added",
        step_seq=step_seq,
        message=name,
        data={"attachment_id": row.id, "sm3": digest, "size": len(content)},
    )
    record(
        session,
        actor,
        "workflow.attach",
        object_type="case",
        object_id=case.id,
        detail={
            "number": case.number,
            "attachment_id": row.id,
            "filename": name,
            "sm3": digest,
            "size": len(content),
        },
    )
    notify_followers(
        session,
        case,
        "attachment_added",
        f"案件 {case.number}《{case.title}》新增附件“{name}”",
        f"Case {case.number} “{case.title_in('en')}”: attachment {name!r} added",
        exclude=actor.user_id,
    )
    return row


def list_attachments(session: Session, actor: Actor, case: Case) -> list[CaseAttachment]:
    if not can_view(actor, case):
        return []
    query = select(CaseAttachment).where(CaseAttachment.case_id == case.id).order_by(CaseAttachment.id)
    return list(session.scalars(query))


def read_attachment(session: Session, actor: Actor, attachment_id: int) -> tuple[CaseAttachment, bytes]:
    """The attachment and its bytes, for those who may see its case (the read is audited)."""
    row = session.get(CaseAttachment, attachment_id)
    case = session.get(Case, row.case_id) if row is not None else None
    if row is None or case is None or not can_view(actor, case):
        raise NotFound(
            "workflow.attachment_not_found",
            f"附件 {attachment_id} 不存在",
            f"Attachment {attachment_id} does not exist",
        )
    path = storage_dir().parent / row.storage_path
    content = path.read_bytes() if path.is_file() else b""
    if sm3_hex(content) != row.sm3:
        raise GongshuError(
            "workflow.attachment_corrupt",
            f"附件“{row.filename}”的存储内容已损坏或丢失",
            f"The stored content of attachment {row.filename!r} is damaged or missing",
            status_code=500,
        )
    record(
        session,
        actor,
        "workflow.attachment_read",
        object_type="case",
        object_id=case.id,
        detail={"number": case.number, "attachment_id": row.id, "sm3": row.sm3},
    )
    return row, content
