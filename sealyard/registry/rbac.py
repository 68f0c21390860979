"""Role-based access control following Harbor's project roles.

======================  =====================================
role                    actions on the project's repositories
======================  =====================================
guest                   pull
developer               pull, push
maintainer              pull, push, delete (and tag management)
project-admin           pull, push, delete, admin (members, settings)
system admin            everything, everywhere
======================  =====================================

Public projects additionally allow anyone, including anonymous clients, to pull.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ACTIONS", "ROLES", "Principal", "actions_for"]

ROLES: dict[str, frozenset[str]] = {
    "guest": frozenset({"pull"}),
    "developer": frozenset({"pull", "push"}),
    "maintainer": frozenset({"pull", "push", "delete"}),
    "project-admin": frozenset({"pull", "push", "delete", "admin"}),
}
ACTIONS = frozenset({"pull", "push", "delete", "admin"})
ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Principal:
    """Who is asking: a user, a robot account, or nobody (``kind == "anonymous"``).

    ``roles`` maps project name to role for users; ``robot_permissions`` maps project name to
    granted actions for robots (``"*"`` as project name grants in every project).
    """

    kind: str
    name: str
    is_admin: bool = False
    roles: dict[str, str] = field(default_factory=dict)
    robot_permissions: dict[str, frozenset[str]] = field(default_factory=dict)

    @property
    def is_anonymous(self) -> bool:
        return self.kind == ANONYMOUS

    @classmethod
    def anonymous(cls) -> Principal:
        return cls(kind=ANONYMOUS, name=ANONYMOUS)


def actions_for(principal: Principal, project: str, *, public: bool) -> frozenset[str]:
    """Actions ``principal`` may perform on repositories of ``project``."""
    if principal.is_admin:
        return ACTIONS
    granted: set[str] = {"pull"} if public else set()
    if principal.kind == "user":
        role = principal.roles.get(project)
        if role is not None:
            granted |= ROLES.get(role, frozenset())
    elif principal.kind == "robot":
        granted |= principal.robot_permissions.get(project, frozenset())
        granted |= principal.robot_permissions.get("*", frozenset())
        granted.discard("admin")  # robots never administer, whatever their row says
    return frozenset(granted & ACTIONS)
