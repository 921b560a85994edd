"""In-app notifications and the followers of a case.

R17, R14, R23: statutory periods only work when the people who must act know about it. The applicant and
the assignees of every step that is reached follow the case, and every change of the case is sent to its
followers (never to the person who made the change).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from gongshu.kernel.audit.service import record
from gongshu.kernel.errors import NotFound, Unauthenticated
from gongshu.kernel.identity import service as identity
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.timeutil import now
from gongshu.kernel.workflow.models import Case, CaseFollower, Notification


def case_link(case: Case) -> str:
    return f"/cases/{case.id}"


def users_with_role(session: Session, org_id: int, role: str) -> list[int]:
    """R5: the ids of the active users holding `role` in organisation `org_id` (a step's assignees)."""
    return [user.id for user in identity.users_with_role(session, org_id, role)]


def followers(session: Session, case_id: int) -> list[int]:
    query = select(CaseFollower.user_id).where(CaseFollower.case_id == case_id).order_by(CaseFollower.user_id)
    return list(session.scalars(query))


def follow(session: Session, case: Case, user_ids: Iterable[int | None]) -> None:
    """Make users followers of a case (those already following are left as they are)."""
    wanted = {u for u in user_ids if u is not None}
    if not wanted:
        return
    present = set(followers(session, case.id))
    for user_id in sorted(wanted - present):
        session.add(CaseFollower(case_id=case.id, user_id=user_id))
    session.flush()


def notify(
    session: Session,
    user_ids: Iterable[int | None],
    case: Case | None,
    kind: str,
    message_zh: str,
    message_en: str,
    link: str | None = None,
) -> list[Notification]:
    """Send one notification to each of the users (duplicates and empty ids dropped)."""
    rows = [
        Notification(
            user_id=user_id,
            case_id=case.id if case is not None else None,
            kind=kind,
            message_zh=message_zh,
            message_en=message_en,
            link=link if link is not None else (case_link(case) if case is not None else None),
        )
        for user_id in sorted({u for u in user_ids if u is not None})
    ]
    session.add_all(rows)
    session.flush()
    return rows


def notify_followers(
    session: Session,
    case: Case,
    kind: str,
    message_zh: str,
    message_en: str,
    *,
    also: Iterable[int | None] = (),
    exclude: int | None = None,
) -> list[Notification]:
    """Tell every follower of the case (and `also`) about a change, except the user who made it."""
    recipients = set(followers(session, case.id)) | {u for u in also if u is not None}
    if exclude is not None:
        recipients.discard(exclude)
    return notify(session, recipients, case, kind, message_zh, message_en)


def _require_user(actor: Actor) -> int:
    if actor.user_id is None:
        raise Unauthenticated("auth.login_required", "请先登录", "Please log in first")
    return actor.user_id


def list_notifications(
    session: Session, actor: Actor, unread_only: bool = False, limit: int = 200
) -> list[Notification]:
    """The actor's notifications, newest first."""
    user_id = _require_user(actor)
    query = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    query = query.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)
    return list(session.scalars(query))


def unread_count(session: Session, actor: Actor) -> int:
    if actor.user_id is None:
        return 0
    query = select(func.count(Notification.id)).where(
        Notification.user_id == actor.user_id, Notification.read_at.is_(None)
    )
    return int(session.scalar(query) or 0)


def mark_read(session: Session, actor: Actor, ids: Sequence[int] | Literal["all"]) -> int:
    """Mark the actor's notifications read (`"all"` or a list of ids). An id that is not one of the
    actor's own notifications refuses the whole request. Returns how many were marked."""
    user_id = _require_user(actor)
    base = update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    if ids == "all":
        stmt = base
    else:
        wanted = {int(i) for i in ids}
        own = set(
            session.scalars(
                select(Notification.id).where(Notification.user_id == user_id, Notification.id.in_(wanted))
            )
        )
        missing = sorted(wanted - own)
        if missing:
            raise NotFound(
                "workflow.notification_not_found",
                f"没有编号为 {missing[0]} 的通知",
                f"No notification {missing[0]}",
                field="ids",
            )
        if not wanted:
            return 0
        stmt = base.where(Notification.id.in_(wanted))
    result = session.execute(stmt.values(read_at=now()))
    count = int(getattr(result, "rowcount", 0) or 0)
    record(
        session,
        actor,
        "workflow.notifications_read",
        object_type="notification",
        object_id="all" if ids == "all" else ",".join(str(i) for i in sorted(set(ids))),
        detail={"count": count},
    )
    return count
