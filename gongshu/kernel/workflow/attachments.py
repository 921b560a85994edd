"""Attachments of a case (application materials, review opinions, dispute evidence).

Files are stored once per content under the data folder, named by their SM3 digest; the digest is checked
again on every read, so a file changed on disk is detected. Only those who may see the case may read them.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.kernel.audit.service import record
from gongshu.kernel.config import get_settings
from gongshu.kernel.crypto.sm import sm3_hex
from gongshu.kernel.errors import Conflict, Forbidden, GongshuError, NotFound, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import OrgKind
from gongshu.kernel.workflow.models import Case, CaseAttachment
from gongshu.kernel.workflow.notify import notify_followers
from gongshu.kernel.workflow.steps import active_step, event
from gongshu.kernel.workflow.visibility import can_view, get_case

# A limit of the platform's storage, not of the regulation.
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
NAME_MAX = 255
CONTENT_TYPE_MAX = 120
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
CLOSED_FOR_ATTACHMENTS = ("approved", "withdrawn")


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


def is_participant(actor: Actor, case: Case) -> bool:
    """The applicant organisation, the assignees of its steps, and the authority may add materials."""
    if actor.acts_for(case.applicant_org_id) or actor.org_kind == OrgKind.AUTHORITY:
        return True
    return any(actor.has_role(s.assignee_role, s.assignee_org_id) for s in case.steps)


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
    """Add a file to a case (at most 20 MB, not empty). Without `step_seq`, a file added by the assignee
    of the open step belongs to that step."""
    case = get_case(session, actor, case_id, for_update=True)
    if not is_participant(actor, case):
        raise Forbidden(
            "workflow.not_participant",
            f"您不能向案件 {case.number} 添加附件",
            f"You may not add attachments to case {case.number}",
        )
    if case.status in CLOSED_FOR_ATTACHMENTS:
        raise Conflict(
            "workflow.case_closed",
            f"案件 {case.number} 已办结，不能再添加附件",
            f"Case {case.number} is closed; no more attachments may be added",
        )
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
        content_type=(content_type or "application/octet-stream")[:CONTENT_TYPE_MAX],
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
