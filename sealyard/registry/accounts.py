"""Users, robot accounts, projects and memberships.

Authentication results are cached for a few seconds (keyed by a hash of the credentials) so
that clients sending Basic credentials on every request do not pay for Argon2 each time.
Local changes (password, disable, delete, membership) clear the cache at once; another
process sees them within ``cache_seconds``.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sealyard.db.engine import Database
from sealyard.db.models import Member, Project, Repository, Robot, User
from sealyard.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    UsageError,
)
from sealyard.registry.passwords import hash_secret, new_secret, verify_secret
from sealyard.registry.project_settings import SETTINGS_KEYS, ProjectSettings
from sealyard.registry.rbac import ROBOT_ACTIONS, ROLES, Principal

__all__ = ["AccountService", "ProjectInfo", "RobotCreated"]

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_PROJECT = re.compile(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$")
_ROBOT_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
ROBOT_PREFIX = "robot$"
MIN_PASSWORD = 8


@dataclass(frozen=True)
class ProjectInfo:
    id: int
    name: str
    public: bool
    settings: dict[str, Any]


@dataclass(frozen=True)
class RobotCreated:
    name: str
    secret: str
    expires_at: float | None


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"password must have at least {MIN_PASSWORD} characters")


class AccountService:
    """Account, project and membership operations on the metadata database."""

    def __init__(self, db: Database, *, cache_seconds: float = 10.0) -> None:
        self.db = db
        self.cache_seconds = cache_seconds
        self._auth_cache: dict[str, tuple[float, Principal]] = {}
        self._project_cache: dict[str, tuple[float, ProjectInfo | None]] = {}
        self._principal_cache: dict[tuple[str, str], tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        with self._lock:
            self._auth_cache.clear()
            self._project_cache.clear()
            self._principal_cache.clear()

    # bootstrap
    def ensure_defaults(self) -> None:
        """Create the ``library`` project if it does not exist (idempotent)."""
        with self.db.session() as s:
            if s.scalars(select(Project).where(Project.name == "library")).first() is None:
                s.add(Project(name="library", public=False, settings={}))

    def bootstrap(self, admin_password: str | None) -> str | None:
        """Create ``admin`` (and the default project) on first start.

        Returns the generated admin password when one was generated, else ``None``.
        """
        self.ensure_defaults()
        with self.db.session() as s:
            if s.scalars(select(User).where(User.username == "admin")).first() is not None:
                return None
            password = admin_password or new_secret()
            _check_password(password)
            s.add(User(username="admin", password_hash=hash_secret(password), is_admin=True))
        return None if admin_password else password

    # users
    def create_user(
        self, username: str, password: str, *, admin: bool = False, email: str | None = None
    ) -> None:
        if not _USERNAME.fullmatch(username):
            raise UsageError(f"invalid username {username!r}: lowercase letters, digits, . _ -")
        _check_password(password)
        try:
            with self.db.session() as s:
                s.add(
                    User(
                        username=username,
                        password_hash=hash_secret(password),
                        is_admin=admin,
                        email=email,
                    )
                )
        except IntegrityError as exc:
            raise ConflictError(f"user {username!r} already exists") from exc

    def _user(self, s: Session, username: str) -> User:
        user = s.scalars(select(User).where(User.username == username)).first()
        if user is None:
            raise NotFoundError(f"no user {username!r}")
        return user

    def set_password(self, username: str, password: str) -> None:
        _check_password(password)
        with self.db.session() as s:
            self._user(s, username).password_hash = hash_secret(password)
        self.invalidate()

    def set_user_flags(
        self, username: str, *, admin: bool | None = None, disabled: bool | None = None
    ) -> None:
        with self.db.session() as s:
            user = self._user(s, username)
            if admin is not None:
                user.is_admin = admin
            if disabled is not None:
                user.disabled = disabled
        self.invalidate()

    def delete_user(self, username: str) -> None:
        if username == "admin":
            raise UsageError("the admin user cannot be deleted; disable it instead")
        with self.db.session() as s:
            s.delete(self._user(s, username))
        self.invalidate()

    def list_users(self) -> list[dict[str, Any]]:
        with self.db.session() as s:
            return [
                {
                    "username": u.username,
                    "admin": u.is_admin,
                    "disabled": u.disabled,
                    "email": u.email,
                    "created_at": u.created_at,
                }
                for u in s.scalars(select(User).order_by(User.username))
            ]

    # projects
    def create_project(self, name: str, *, public: bool = False) -> None:
        if not _PROJECT.fullmatch(name) or len(name) > 64:
            raise UsageError(f"invalid project name {name!r}")
        try:
            with self.db.session() as s:
                s.add(Project(name=name, public=public, settings={}))
        except IntegrityError as exc:
            raise ConflictError(f"project {name!r} already exists") from exc
        self.invalidate()

    def _project(self, s: Session, name: str) -> Project:
        project = s.scalars(select(Project).where(Project.name == name)).first()
        if project is None:
            raise NotFoundError(f"no project {name!r}")
        return project

    def project(self, name: str) -> ProjectInfo | None:
        """The project called ``name`` (cached briefly), or ``None``."""
        now = time.monotonic()
        hit = self._project_cache.get(name)
        if hit and hit[0] > now:
            return hit[1]
        with self.db.session() as s:
            p = s.scalars(select(Project).where(Project.name == name)).first()
            info = None if p is None else ProjectInfo(p.id, p.name, p.public, dict(p.settings))
        self._project_cache[name] = (now + self.cache_seconds, info)
        return info

    def set_project(self, name: str, *, public: bool | None = None, **settings: Any) -> None:
        """Change visibility and/or settings (validated, see :meth:`update_project`)."""
        self.update_project(name, public=public, settings=settings)

    def update_project(
        self,
        name: str,
        *,
        public: bool | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> ProjectSettings:
        """Change a project's visibility and settings in one transaction; return the settings.

        ``settings`` holds the settings to change (a key given replaces that setting); the
        result must be valid as a whole.

        Raises:
            NotFoundError: no such project.
            SettingsError: an unknown setting or an invalid value (nothing is changed).
        """
        changes = dict(settings or {})
        with self.db.session() as s:
            project = self._project(s, name)
            stored = dict(project.settings or {})
            known = {k: v for k, v in stored.items() if k in SETTINGS_KEYS}
            updated = ProjectSettings.from_dict({**known, **changes})
            if public is not None:
                project.public = public
            if changes:
                # Only the keys given are written: unset settings keep meaning "the default".
                normalised = updated.to_dict()
                project.settings = {**stored, **{k: normalised[k] for k in changes}}
        self.invalidate()
        return updated

    def project_settings(self, name: str) -> ProjectSettings:
        """The validated settings of project ``name`` (read now, not from the cache).

        Raises:
            NotFoundError: no such project.
            SettingsError: the stored settings are invalid.
        """
        with self.db.session() as s:
            stored = dict(self._project(s, name).settings or {})
        return ProjectSettings.from_stored(stored)

    def delete_project(self, name: str) -> None:
        with self.db.session() as s:
            project = self._project(s, name)
            if s.scalars(select(Repository).where(Repository.project_id == project.id)).first():
                raise ConflictError(f"project {name!r} still has repositories; delete them first")
            # Robots hold grants by project name: a later project of the same name must not
            # inherit them. Robots left without any grant are deleted.
            for robot in s.scalars(select(Robot)):
                if name in robot.permissions:
                    remaining = {p: a for p, a in robot.permissions.items() if p != name}
                    if remaining:
                        robot.permissions = remaining
                    else:
                        s.delete(robot)
            s.delete(project)
        self.invalidate()

    def list_projects(self) -> list[dict[str, Any]]:
        with self.db.session() as s:
            return [
                {"name": p.name, "public": p.public, "created_at": p.created_at}
                for p in s.scalars(select(Project).order_by(Project.name))
            ]

    # members
    def set_member(self, project: str, username: str, role: str) -> None:
        if role not in ROLES:
            raise UsageError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
        with self.db.session() as s:
            p = self._project(s, project)
            u = self._user(s, username)
            member = s.get(Member, (p.id, u.id))
            if member is None:
                s.add(Member(project_id=p.id, user_id=u.id, role=role))
            else:
                member.role = role
        self.invalidate()

    def remove_member(self, project: str, username: str) -> None:
        with self.db.session() as s:
            p = self._project(s, project)
            u = self._user(s, username)
            result = s.execute(
                delete(Member).where(Member.project_id == p.id, Member.user_id == u.id)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise NotFoundError(f"{username!r} is not a member of {project!r}")
        self.invalidate()

    def list_members(self, project: str) -> list[dict[str, str]]:
        with self.db.session() as s:
            p = self._project(s, project)
            rows = s.execute(
                select(User.username, Member.role)
                .join(Member, Member.user_id == User.id)
                .where(Member.project_id == p.id)
                .order_by(User.username)
            )
            return [{"username": name, "role": role} for name, role in rows]

    # robots
    def create_robot(
        self,
        name: str,
        permissions: Mapping[str, Sequence[str]],
        *,
        expires_in_days: float | None = 30,
        description: str = "",
        created_by: str = "",
    ) -> RobotCreated:
        """Create a robot; its secret is returned once and only its hash is stored.

        ``permissions`` maps project names to actions. A robot with exactly one project is
        named ``robot$<project>+<name>``, otherwise ``robot$<name>``.
        """
        if not _ROBOT_NAME.fullmatch(name):
            raise UsageError(f"invalid robot name {name!r}")
        if not permissions:
            raise UsageError("a robot needs permissions on at least one project")
        clean: dict[str, list[str]] = {}
        with self.db.session() as s:
            for project, actions in permissions.items():
                bad = set(actions) - ROBOT_ACTIONS
                if bad:
                    raise UsageError(
                        f"robots may pull, push or delete (or promote), not {sorted(bad)}"
                    )
                if project != "*":
                    self._project(s, project)
                clean[project] = sorted(set(actions))
        full = (
            f"{ROBOT_PREFIX}{next(iter(clean))}+{name}"
            if len(clean) == 1
            else (f"{ROBOT_PREFIX}{name}")
        )
        full = full.replace("$*+", "$")
        secret = new_secret()
        expires = None if expires_in_days is None else time.time() + expires_in_days * 86400
        try:
            with self.db.session() as s:
                s.add(
                    Robot(
                        name=full,
                        secret_hash=hash_secret(secret),
                        permissions=clean,
                        expires_at=expires,
                        description=description,
                        created_by=created_by,
                    )
                )
        except IntegrityError as exc:
            raise ConflictError(f"robot {full!r} already exists") from exc
        return RobotCreated(full, secret, expires)

    def _robot(self, s: Session, name: str) -> Robot:
        robot = s.scalars(select(Robot).where(Robot.name == name)).first()
        if robot is None:
            raise NotFoundError(f"no robot {name!r}")
        return robot

    def delete_robot(self, name: str) -> None:
        with self.db.session() as s:
            s.delete(self._robot(s, name))
        self.invalidate()

    def set_robot_disabled(self, name: str, disabled: bool) -> None:
        with self.db.session() as s:
            self._robot(s, name).disabled = disabled
        self.invalidate()

    def list_robots(self) -> list[dict[str, Any]]:
        with self.db.session() as s:
            return [
                {
                    "name": r.name,
                    "permissions": r.permissions,
                    "expires_at": r.expires_at,
                    "disabled": r.disabled,
                    "description": r.description,
                    "created_by": r.created_by,
                }
                for r in s.scalars(select(Robot).order_by(Robot.name))
            ]

    # authentication
    def _principal(self, s: Session, kind: str, name: str) -> Principal:
        if kind == "robot":
            robot = self._robot(s, name)
            if robot.disabled:
                raise AuthenticationError(f"robot {name!r} is disabled")
            if robot.expires_at is not None and robot.expires_at < time.time():
                raise AuthenticationError(f"robot {name!r} expired")
            perms = {p: frozenset(a) for p, a in robot.permissions.items()}
            return Principal(kind="robot", name=name, robot_permissions=perms)
        user = s.scalars(select(User).where(User.username == name)).first()
        if user is None or user.disabled:
            raise AuthenticationError(f"user {name!r} is unknown or disabled")
        rows = s.execute(
            select(Project.name, Member.role)
            .join(Member, Member.project_id == Project.id)
            .where(Member.user_id == user.id)
        )
        return Principal(
            kind="user", name=name, is_admin=user.is_admin, roles={str(p): str(r) for p, r in rows}
        )

    def principal(self, kind: str, name: str) -> Principal:
        """Current rights of a known account (cached briefly). Raises AuthenticationError."""
        now = time.monotonic()
        hit = self._principal_cache.get((kind, name))
        if hit and hit[0] > now:
            return hit[1]
        try:
            with self.db.session() as s:
                principal = self._principal(s, kind, name)
        except NotFoundError as exc:
            raise AuthenticationError(f"{kind} {name!r} no longer exists") from exc
        self._principal_cache[(kind, name)] = (now + self.cache_seconds, principal)
        return principal

    def authenticate(self, username: str, password: str) -> Principal:
        """Check credentials of a user or robot (``robot$…``).

        Raises:
            AuthenticationError: unknown account, wrong secret, disabled or expired.
        """
        key = hashlib.sha256(f"{username}\0{password}".encode()).hexdigest()
        now = time.monotonic()
        hit = self._auth_cache.get(key)
        if hit and hit[0] > now:
            return hit[1]
        kind = "robot" if username.startswith(ROBOT_PREFIX) else "user"
        with self.db.session() as s:
            if kind == "robot":
                row = s.scalars(select(Robot).where(Robot.name == username)).first()
                stored = row.secret_hash if row else None
            else:
                urow = s.scalars(select(User).where(User.username == username)).first()
                stored = urow.password_hash if urow else None
            if not verify_secret(stored, password):
                raise AuthenticationError("invalid username or password")
            principal = self._principal(s, kind, username)
        with self._lock:
            if len(self._auth_cache) > 10_000:
                self._auth_cache.clear()
            self._auth_cache[key] = (now + self.cache_seconds, principal)
        return principal
