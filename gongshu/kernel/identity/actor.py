"""The actor of every command: who (user), for which organisation, with which roles, by which channel."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Actor:
    """R5: a user acting for an organisation. `roles` holds (organisation id, role) pairs;
    `managed_org_ids` the public service organisations that the user's department manages."""

    user_id: int | None
    username: str
    display_name: str = ""
    org_id: int | None = None
    org_kind: str | None = None
    org_code: str | None = None
    roles: frozenset[tuple[int, str]] = field(default_factory=frozenset)
    managed_org_ids: frozenset[int] = field(default_factory=frozenset)
    via: str = "session"  # session, token, system, anonymous
    language: str = "zh"

    @property
    def is_anonymous(self) -> bool:
        return self.via == "anonymous"

    @property
    def is_system(self) -> bool:
        return self.via == "system"

    def has_role(self, role: str, org_id: int | None = None) -> bool:
        """Does the actor hold `role` (in `org_id`, if given)?"""
        return any(r == role and (org_id is None or o == org_id) for o, r in self.roles)

    def role_names(self) -> set[str]:
        return {r for _, r in self.roles}

    def acts_for(self, org_id: int) -> bool:
        """R5: a department acts for itself and for the public service organisations it manages."""
        return org_id == self.org_id or org_id in self.managed_org_ids


ANONYMOUS = Actor(user_id=None, username="anonymous", display_name="匿名访问", via="anonymous")
SYSTEM = Actor(user_id=None, username="system", display_name="平台", via="system")
