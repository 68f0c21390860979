"""Accounts: bootstrap, users, robots, projects, memberships and authentication.

Argon2 is deliberately slow, so each test hashes and verifies as few secrets as it can.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from sealyard.db import Database
from sealyard.db.models import Repository, Robot, User
from sealyard.errors import AuthenticationError, ConflictError, NotFoundError, UsageError
from sealyard.registry.accounts import AccountService
from sealyard.registry.passwords import hash_secret, new_secret, verify_secret
from sealyard.registry.rbac import actions_for

PASSWORD = "correct horse battery"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 't.db'}")
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def accounts(db: Database) -> AccountService:
    return AccountService(db, cache_seconds=0)


def _user_row(db: Database, username: str) -> User:
    with db.session() as s:
        return s.scalars(select(User).where(User.username == username)).one()


def _add_user(db: Database, username: str) -> None:
    """A user row without paying for Argon2 (for tests that never authenticate)."""
    with db.session() as s:
        s.add(User(username=username, password_hash="!"))


def _robot_row(db: Database, name: str) -> Robot:
    with db.session() as s:
        return s.scalars(select(Robot).where(Robot.name == name)).one()


# ------------------------------------------------------------------------------ bootstrap


def test_bootstrap_generates_an_admin_password_once(db: Database, accounts: AccountService) -> None:
    generated = accounts.bootstrap(None)
    assert generated is not None
    assert len(generated) >= 24
    admin = accounts.authenticate("admin", generated)
    assert admin.is_admin
    assert admin.kind == "user"
    stored = _user_row(db, "admin").password_hash
    assert accounts.bootstrap(None) is None  # already bootstrapped: nothing generated
    assert accounts.bootstrap("another-password") is None
    assert _user_row(db, "admin").password_hash == stored  # and nothing changed
    library = accounts.project("library")
    assert library is not None
    assert library.public is False
    assert [p["name"] for p in accounts.list_projects()] == ["library"]
    assert [u["username"] for u in accounts.list_users()] == ["admin"]


def test_bootstrap_with_a_given_password_returns_none(
    db: Database, accounts: AccountService
) -> None:
    assert accounts.bootstrap(PASSWORD) is None
    assert verify_secret(_user_row(db, "admin").password_hash, PASSWORD)
    assert accounts.project("library") is not None


def test_bootstrap_refuses_a_short_password(accounts: AccountService) -> None:
    with pytest.raises(UsageError, match="at least 8"):
        accounts.bootstrap("short")
    assert accounts.list_users() == []


# ---------------------------------------------------------------------------------- users


@pytest.mark.parametrize(
    "username",
    ["Alice", "", "-alice", ".alice", "al ice", "al/ice", "robot$x", "a" * 65, "alice\n", "élan"],
)
def test_create_user_validates_the_name(accounts: AccountService, username: str) -> None:
    with pytest.raises(UsageError, match="invalid username"):
        accounts.create_user(username, PASSWORD)
    assert accounts.list_users() == []


def test_create_user_validates_the_password(accounts: AccountService) -> None:
    with pytest.raises(UsageError, match="at least 8"):
        accounts.create_user("alice", "1234567")
    assert accounts.list_users() == []


def test_create_user_and_duplicates(accounts: AccountService) -> None:
    accounts.create_user("alice", PASSWORD, email="alice@example.com")
    with pytest.raises(ConflictError, match="already exists"):
        accounts.create_user("alice", "another password")
    users = accounts.list_users()
    assert [(u["username"], u["admin"], u["email"]) for u in users] == [
        ("alice", False, "alice@example.com")
    ]


def test_password_hashes_are_argon2id_and_never_the_password(
    db: Database, accounts: AccountService
) -> None:
    accounts.create_user("alice", PASSWORD)
    stored = _user_row(db, "alice").password_hash
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert verify_secret(stored, PASSWORD)
    assert not verify_secret(stored, PASSWORD + "!")
    assert not verify_secret(None, PASSWORD)
    assert not verify_secret("not-a-hash", PASSWORD)
    assert hash_secret(PASSWORD) != stored  # salted
    assert new_secret() != new_secret()


def test_authenticate(db: Database, accounts: AccountService) -> None:
    accounts.create_user("alice", PASSWORD)
    principal = accounts.authenticate("alice", PASSWORD)
    assert (principal.kind, principal.name, principal.is_admin) == ("user", "alice", False)
    with pytest.raises(AuthenticationError, match="invalid username or password"):
        accounts.authenticate("alice", "wrong password")
    with pytest.raises(AuthenticationError, match="invalid username or password"):
        accounts.authenticate("mallory", PASSWORD)
    accounts.set_user_flags("alice", disabled=True)
    with pytest.raises(AuthenticationError, match="disabled"):
        accounts.authenticate("alice", PASSWORD)
    with pytest.raises(AuthenticationError):
        accounts.principal("user", "alice")


def test_local_changes_take_effect_despite_the_cache(db: Database) -> None:
    cached = AccountService(db, cache_seconds=3600)
    cached.create_user("alice", PASSWORD)
    assert cached.authenticate("alice", PASSWORD).name == "alice"
    assert cached.authenticate("alice", PASSWORD).name == "alice"  # served from the cache
    cached.set_password("alice", "a brand new password")
    with pytest.raises(AuthenticationError):
        cached.authenticate("alice", PASSWORD)
    cached.delete_user("alice")
    with pytest.raises(AuthenticationError):
        cached.authenticate("alice", "a brand new password")


def test_set_user_flags_and_delete(db: Database, accounts: AccountService) -> None:
    _add_user(db, "alice")
    accounts.set_user_flags("alice", admin=True)
    assert accounts.principal("user", "alice").is_admin
    accounts.delete_user("alice")
    assert accounts.list_users() == []
    with pytest.raises(NotFoundError):
        accounts.delete_user("alice")
    with pytest.raises(NotFoundError):
        accounts.set_user_flags("ghost", disabled=True)
    with pytest.raises(UsageError, match="cannot be deleted"):
        accounts.delete_user("admin")


# ------------------------------------------------------------------------------- projects


def test_projects(db: Database, accounts: AccountService) -> None:
    accounts.create_project("team-a", public=True)
    with pytest.raises(ConflictError):
        accounts.create_project("team-a")
    for bad in ("Team", "-x", "a//b", "a/b", "x" * 65, "team\n", ""):
        with pytest.raises(UsageError, match="invalid project name"):
            accounts.create_project(bad)
    info = accounts.project("team-a")
    assert info is not None
    assert (info.name, info.public, info.settings) == ("team-a", True, {})
    accounts.set_project("team-a", public=False, scan_on_push=True)
    info = accounts.project("team-a")
    assert info is not None
    assert (info.public, info.settings) == (False, {"scan_on_push": True})
    assert accounts.project("missing") is None
    with pytest.raises(NotFoundError):
        accounts.set_project("missing", public=True)


def test_delete_project_refuses_a_non_empty_project(db: Database, accounts: AccountService) -> None:
    accounts.create_project("team-a")
    info = accounts.project("team-a")
    assert info is not None
    with db.session() as s:
        s.add(Repository(project_id=info.id, name="team-a/app"))
    with pytest.raises(ConflictError, match="still has repositories"):
        accounts.delete_project("team-a")
    assert accounts.project("team-a") is not None
    with db.session() as s:
        s.delete(s.scalars(select(Repository)).one())
    accounts.delete_project("team-a")
    assert accounts.project("team-a") is None
    with pytest.raises(NotFoundError):
        accounts.delete_project("team-a")


# -------------------------------------------------------------------------------- members


def test_membership_changes_are_visible_through_principal(db: Database) -> None:
    local = AccountService(db, cache_seconds=0)
    elsewhere = AccountService(db, cache_seconds=0)  # another process on the same database
    local.create_project("team-a")
    _add_user(db, "bob")
    assert elsewhere.principal("user", "bob").roles == {}
    local.set_member("team-a", "bob", "developer")
    bob = elsewhere.principal("user", "bob")
    assert bob.roles == {"team-a": "developer"}
    assert actions_for(bob, "team-a", public=False) == {"pull", "push"}
    local.set_member("team-a", "bob", "maintainer")
    assert elsewhere.principal("user", "bob").roles == {"team-a": "maintainer"}
    assert local.list_members("team-a") == [{"username": "bob", "role": "maintainer"}]
    local.remove_member("team-a", "bob")
    bob = elsewhere.principal("user", "bob")
    assert bob.roles == {}
    assert actions_for(bob, "team-a", public=False) == frozenset()
    with pytest.raises(NotFoundError):
        local.remove_member("team-a", "bob")


def test_other_processes_see_changes_only_after_the_cache_expires(db: Database) -> None:
    local = AccountService(db, cache_seconds=0)
    cached = AccountService(db, cache_seconds=3600)
    local.create_project("team-a")
    _add_user(db, "bob")
    assert cached.principal("user", "bob").roles == {}
    local.set_member("team-a", "bob", "guest")
    assert cached.principal("user", "bob").roles == {}  # documented delay
    cached.invalidate()
    assert cached.principal("user", "bob").roles == {"team-a": "guest"}


def test_set_member_validation(db: Database, accounts: AccountService) -> None:
    accounts.create_project("team-a")
    _add_user(db, "bob")
    with pytest.raises(UsageError, match="unknown role"):
        accounts.set_member("team-a", "bob", "owner")
    with pytest.raises(NotFoundError):
        accounts.set_member("missing", "bob", "guest")
    with pytest.raises(NotFoundError):
        accounts.set_member("team-a", "ghost", "guest")
    assert accounts.list_members("team-a") == []


def test_deleting_a_user_removes_memberships(db: Database, accounts: AccountService) -> None:
    accounts.create_project("team-a")
    _add_user(db, "bob")
    accounts.set_member("team-a", "bob", "guest")
    accounts.delete_user("bob")
    assert accounts.list_members("team-a") == []
    with pytest.raises(AuthenticationError, match="unknown"):
        accounts.principal("user", "bob")


# --------------------------------------------------------------------------------- robots


def test_robot_lifecycle(db: Database, accounts: AccountService) -> None:
    accounts.create_project("team-a")
    created = accounts.create_robot("ci", {"team-a": ["pull", "push", "pull"]}, created_by="al")
    assert created.name == "robot$team-a+ci"
    assert created.expires_at == pytest.approx(time.time() + 30 * 86400, abs=60)
    # Only a hash of the secret is stored, and nothing lists the secret again.
    row = _robot_row(db, created.name)
    assert row.secret_hash.startswith("$argon2id$")
    assert created.secret not in repr([getattr(row, c.key) for c in Robot.__table__.columns])
    assert created.secret not in repr(accounts.list_robots())
    assert accounts.list_robots()[0]["permissions"] == {"team-a": ["pull", "push"]}
    robot = accounts.authenticate(created.name, created.secret)
    assert (robot.kind, robot.name, robot.is_admin) == ("robot", created.name, False)
    assert actions_for(robot, "team-a", public=False) == {"pull", "push"}
    assert actions_for(robot, "team-b", public=False) == frozenset()
    with pytest.raises(AuthenticationError):
        accounts.authenticate(created.name, created.secret[:-1])
    with pytest.raises(AuthenticationError):
        accounts.authenticate("robot$team-a+other", created.secret)
    accounts.set_robot_disabled(created.name, True)
    with pytest.raises(AuthenticationError, match="disabled"):
        accounts.authenticate(created.name, created.secret)
    with pytest.raises(AuthenticationError, match="disabled"):
        accounts.principal("robot", created.name)
    accounts.set_robot_disabled(created.name, False)
    assert accounts.principal("robot", created.name).name == created.name
    accounts.delete_robot(created.name)
    with pytest.raises(AuthenticationError):
        accounts.principal("robot", created.name)
    assert accounts.list_robots() == []


def test_expired_robot_is_refused(db: Database, accounts: AccountService) -> None:
    accounts.create_project("team-a")
    created = accounts.create_robot("ci", {"team-a": ["pull"]}, expires_in_days=None)
    assert created.expires_at is None
    assert accounts.principal("robot", created.name).kind == "robot"
    with db.session() as s:
        s.execute(
            update(Robot).where(Robot.name == created.name).values(expires_at=time.time() - 1)
        )
    with pytest.raises(AuthenticationError, match="expired"):
        accounts.authenticate(created.name, created.secret)
    with pytest.raises(AuthenticationError, match="expired"):
        accounts.principal("robot", created.name)


def test_robot_created_already_expired_is_refused(accounts: AccountService) -> None:
    accounts.create_project("team-a")
    created = accounts.create_robot("old", {"team-a": ["pull"]}, expires_in_days=-1)
    with pytest.raises(AuthenticationError, match="expired"):
        accounts.principal("robot", created.name)


def test_robot_cannot_get_admin(accounts: AccountService) -> None:
    accounts.create_project("team-a")
    for actions in (["admin"], ["pull", "admin"], ["*"], ["write"]):
        with pytest.raises(UsageError, match="robots may pull, push or delete"):
            accounts.create_robot("ci", {"team-a": actions})
    assert accounts.list_robots() == []


def test_robot_validation(accounts: AccountService) -> None:
    accounts.create_project("team-a")
    with pytest.raises(UsageError, match="at least one project"):
        accounts.create_robot("ci", {})
    for bad in ("CI", "", "a+b", "a$b", "-ci", "ci\n"):
        with pytest.raises(UsageError, match="invalid robot name"):
            accounts.create_robot(bad, {"team-a": ["pull"]})
    with pytest.raises(NotFoundError):
        accounts.create_robot("ci", {"missing": ["pull"]})
    assert accounts.list_robots() == []


def test_robot_naming_and_duplicates(accounts: AccountService) -> None:
    accounts.create_project("team-a")
    accounts.create_project("team-b")
    assert accounts.create_robot("one", {"team-a": ["pull"]}).name == "robot$team-a+one"
    both = accounts.create_robot("two", {"team-a": ["pull"], "team-b": ["push"]})
    assert both.name == "robot$two"
    everywhere = accounts.create_robot("three", {"*": ["pull"]})
    assert everywhere.name == "robot$three"
    with pytest.raises(ConflictError):
        accounts.create_robot("one", {"team-a": ["push"]})
    assert sorted(r["name"] for r in accounts.list_robots()) == [
        "robot$team-a+one",
        "robot$three",
        "robot$two",
    ]
    wildcard = accounts.principal("robot", everywhere.name)
    assert actions_for(wildcard, "team-b", public=False) == {"pull"}
    with pytest.raises(NotFoundError):
        accounts.delete_robot("robot$missing")


def test_deleting_a_project_removes_its_robot_grants(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    db.migrate()
    accounts = AccountService(db, cache_seconds=0)
    accounts.create_project("gone")
    accounts.create_project("kept")
    only = accounts.create_robot("only", {"gone": ["pull"]})
    both = accounts.create_robot("both", {"gone": ["pull"], "kept": ["push"]})
    accounts.delete_project("gone")
    accounts.create_project("gone")  # same name again: must not inherit old robots
    names = {r["name"]: r["permissions"] for r in accounts.list_robots()}
    assert only.name not in names
    assert names[both.name] == {"kept": ["push"]}
    principal = accounts.authenticate(both.name, both.secret)
    assert "pull" not in actions_for(principal, "gone", public=False)
