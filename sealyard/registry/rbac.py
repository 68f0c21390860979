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

Robot accounts hold explicit grants per project: ``pull``, ``push``, ``delete`` and
``promote``. ``promote`` is push for CI stages that judge images rather than build them: it
travels as the wire action ``push`` (so tokens and clients need nothing new), but a robot whose
push right comes from ``promote`` alone (:func:`promote_only`) may only push blobs, referrer
artifacts (attestations, SBOMs: manifests with a ``subject`` that are not images) and tags of
manifests already in the repository — never new image content. The registry enforces that on
manifest upload.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "ACTIONS",
    "PROMOTE",
    "ROBOT_ACTIONS",
    "ROLES",
    "Principal",
    "actions_for",
    "promote_only",
]

ROLES: dict[str, frozenset[str]] = {
    "guest": frozenset({"pull"}),
    "developer": frozenset({"pull", "push"}),
    "maintainer": frozenset({"pull", "push", "delete"}),
    "project-admin": frozenset({"pull", "push", "delete", "admin"}),
}
ACTIONS = frozenset({"pull", "push", "delete", "admin"})
PROMOTE = "promote"
#: What a robot may be granted (robots never administer).
ROBOT_ACTIONS = frozenset({"pull", "push", "delete", PROMOTE})
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
        grants = _robot_grants(principal, project)
        granted |= grants
        if PROMOTE in grants:
            granted.add("push")  # limited to promotion: see promote_only()
        granted.discard("admin")  # robots never administer, whatever their row says
    return frozenset(granted & ACTIONS)


def _robot_grants(principal: Principal, project: str) -> frozenset[str]:
    return principal.robot_permissions.get(project, frozenset()) | principal.robot_permissions.get(
        "*", frozenset()
    )


def promote_only(principal: Principal, project: str) -> bool:
    """Whether ``principal``'s push right in ``project`` is the limited one of ``promote``.

    True for a robot granted ``promote`` but not ``push`` there (directly or through ``*``).
    """
    if principal.kind != "robot" or principal.is_admin:
        return False
    grants = _robot_grants(principal, project)
    return PROMOTE in grants and "push" not in grants
