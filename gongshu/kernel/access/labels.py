"""R5 R28: the administrative actions of the access decision point in words, Chinese and English — what a
refusal tells the person refused (“当前账号没有‘汇聚数据’的权限”), never the action's code."""

from __future__ import annotations

# Action value → (Chinese, English). The English is a verb phrase that follows "may not".
ACTION_LABELS: dict[str, tuple[str, str]] = {
    "policy.load": ("加载政策版本", "load a policy version"),
    "calendar.load": ("加载节假日安排", "load a holiday notice"),
    "audit.read": ("查阅审计日志", "read the audit log"),
    "user.manage": ("管理用户账号", "manage user accounts"),
    "catalog.compile": ("编制数据目录", "compile catalog entries"),
    "catalog.review": ("审核数据目录", "review catalog entries"),
    "data.ingest": ("汇聚数据（上传、推送、定时拉取）", "aggregate data (upload, push, scheduled pull)"),
    "data.manage": (
        "管理本单位的数据（质量规则、异议更正、服务接口、文书印章）",
        "manage its organisation's data (quality rules, corrections, service interfaces, seals)",
    ),
    "sharing.apply": ("提出共享申请", "apply for shared data"),
    "sharing.review": ("审核共享申请", "review sharing applications"),
    "grant.revoke": ("撤销共享授权", "revoke sharing grants"),
    "open.pre_review": ("初审开放申请", "pre-review applications for open data"),
    "open.apply": ("申请开放数据", "apply for open data"),
    "objection.file": ("提出数据异议", "file objections to data"),
    "supervise": ("监督汇聚、共享和开放", "supervise aggregation, sharing and opening"),
    "emergency.manage": ("管理突发事件数据", "manage emergency data"),
    "data.reports_read": ("查看汇聚报告（数据时效、质量、批次）", "read the aggregation's reports"),
    "base.coverage_read": ("查看基础数据汇聚情况", "see the base data coverage"),
}


def action_label(action: str, lang: str = "zh") -> str:
    """The action in words in a language; an action not in the table: a neutral phrase, never its code."""
    zh, en = ACTION_LABELS.get(str(action), ("执行此操作", "do this"))
    return zh if lang.startswith("zh") else en


def refusal_messages(action: str) -> tuple[str, str]:
    """R28: why a role-based refusal (`access.no_role`) was made, in words: (Chinese, English)."""
    if str(action) in ACTION_LABELS:
        return (
            f"当前账号没有“{action_label(action, 'zh')}”的权限",
            f"Your account may not {action_label(action, 'en')}",
        )
    return "当前账号没有执行此操作的权限", "Your account may not do this"
