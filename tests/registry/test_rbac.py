"""Role-based access: what each kind of principal may do on public and private projects."""

from __future__ import annotations

import itertools

import pytest

from sealyard.registry.rbac import ACTIONS, ROLES, Principal, actions_for

NONE: frozenset[str] = frozenset()
PULL = frozenset({"pull"})
PUSH = frozenset({"pull", "push"})
DELETE = frozenset({"pull", "push", "delete"})
ADMIN = frozenset({"pull", "push", "delete", "admin"})


def _user(role: str | None, project: str = "proj") -> Principal:
    return Principal(kind="user", name="u", roles={project: role} if role else {})


@pytest.mark.parametrize(
    ("role", "private", "public"),
    [
        (None, NONE, PULL),
        ("guest", PULL, PULL),
        ("developer", PUSH, PUSH),
        ("maintainer", DELETE, DELETE),
        ("project-admin", ADMIN, ADMIN),
        ("owner", NONE, PULL),  # unknown role strings grant nothing
    ],
)
def test_user_roles_matrix(
    role: str | None, private: frozenset[str], public: frozenset[str]
) -> None:
    assert actions_for(_user(role), "proj", public=False) == private
    assert actions_for(_user(role), "proj", public=True) == public


@pytest.mark.parametrize("public", [False, True])
def test_system_admin_may_do_everything_everywhere(public: bool) -> None:
    admin = Principal(kind="user", name="admin", is_admin=True)
    assert actions_for(admin, "anything", public=public) == ACTIONS == ADMIN


def test_anonymous_only_pulls_public_projects() -> None:
    anon = Principal.anonymous()
    assert anon.is_anonymous
    assert actions_for(anon, "proj", public=True) == PULL
    assert actions_for(anon, "proj", public=False) == NONE


def test_anonymous_cannot_gain_rights_from_roles() -> None:
    forged = Principal(kind="anonymous", name="anonymous", roles={"proj": "project-admin"})
    assert actions_for(forged, "proj", public=False) == NONE
    assert actions_for(forged, "proj", public=True) == PULL


def test_role_in_one_project_gives_nothing_in_another() -> None:
    dev = _user("project-admin", project="team-a")
    assert actions_for(dev, "team-a", public=False) == ADMIN
    assert actions_for(dev, "team-b", public=False) == NONE
    assert actions_for(dev, "team-b", public=True) == PULL


def test_robot_permissions() -> None:
    robot = Principal(
        kind="robot",
        name="robot$proj+ci",
        robot_permissions={"proj": frozenset({"pull", "push"})},
    )
    assert actions_for(robot, "proj", public=False) == PUSH
    assert actions_for(robot, "other", public=False) == NONE
    assert actions_for(robot, "other", public=True) == PULL


def test_robot_wildcard_project_and_action_filtering() -> None:
    robot = Principal(
        kind="robot",
        name="robot$all",
        robot_permissions={"*": frozenset({"pull"}), "proj": frozenset({"push", "*", "write"})},
    )
    assert actions_for(robot, "anything", public=False) == PULL
    # Only known actions are ever granted ("*" is not a wildcard action); roles are ignored.
    assert actions_for(robot, "proj", public=False) == PUSH
    with_roles = Principal(kind="robot", name="r", roles={"proj": "project-admin"})
    assert actions_for(with_roles, "proj", public=False) == NONE


def test_role_table_is_cumulative() -> None:
    order = ["guest", "developer", "maintainer", "project-admin"]
    assert list(ROLES) == order
    for lower, higher in itertools.pairwise(order):
        assert ROLES[lower] < ROLES[higher]
    assert ROLES["project-admin"] == ACTIONS
