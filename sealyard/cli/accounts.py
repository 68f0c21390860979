"""``sealyard user|project|robot``: accounts, projects, memberships and robots.

These commands work directly on the data directory (SQLite or the configured database),
like the server does; every change is written to the audit log as done by ``cli:<os user>``.
"""

from __future__ import annotations

import getpass
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from sealyard.cli._common import data_options, emit, fmt_time, open_from_ctx, output_option
from sealyard.registry.rbac import ROBOT_ACTIONS, ROLES

if TYPE_CHECKING:
    from sealyard.registry.app import Registry

__all__ = ["project", "robot", "user"]


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _audit(registry: Registry, action: str, resource: str, **detail: Any) -> None:
    registry.audit.record(_actor(), action, resource, remote_addr="local", **detail)


def _password(value: str | None, env: str = "SEALYARD_PASSWORD") -> str:
    if value:
        return value
    if os.environ.get(env):
        return os.environ[env]
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@click.group()
def user() -> None:
    """Manage users."""


@user.command("add")
@data_options
@click.argument("username")
@click.option("--password", help="Password (else $SEALYARD_PASSWORD, else a prompt).")
@click.option("--admin", is_flag=True, help="Make the user a system administrator.")
@click.option("--email")
def user_add(
    data_dir: Path | None,
    config_file: Path | None,
    username: str,
    password: str | None,
    admin: bool,
    email: str | None,
) -> None:
    """Create a user."""
    registry = open_from_ctx(data_dir, config_file)
    registry.accounts.create_user(username, _password(password), admin=admin, email=email)
    _audit(registry, "user.create", f"user:{username}", admin=admin)
    click.echo(f"created user {username}")


@user.command("list")
@data_options
@output_option
def user_list(data_dir: Path | None, config_file: Path | None, output: str) -> None:
    """List users."""
    registry = open_from_ctx(data_dir, config_file)
    emit(
        registry.accounts.list_users(),
        ["username", "admin", "disabled", "email", "created_at"],
        output,
    )


@user.command("passwd")
@data_options
@click.argument("username")
@click.option("--password")
def user_passwd(
    data_dir: Path | None, config_file: Path | None, username: str, password: str | None
) -> None:
    """Set a user's password."""
    registry = open_from_ctx(data_dir, config_file)
    registry.accounts.set_password(username, _password(password))
    _audit(registry, "user.password", f"user:{username}")
    click.echo(f"password of {username} changed")


@user.command("set")
@data_options
@click.argument("username")
@click.option("--admin/--no-admin", default=None, help="Grant or revoke system admin.")
@click.option("--disabled/--enabled", default=None, help="Disable or enable the account.")
def user_set(
    data_dir: Path | None,
    config_file: Path | None,
    username: str,
    admin: bool | None,
    disabled: bool | None,
) -> None:
    """Change a user's admin flag or disable the account."""
    registry = open_from_ctx(data_dir, config_file)
    registry.accounts.set_user_flags(username, admin=admin, disabled=disabled)
    _audit(registry, "user.update", f"user:{username}", admin=admin, disabled=disabled)
    click.echo(f"updated {username}")


@user.command("delete")
@data_options
@click.argument("username")
def user_delete(data_dir: Path | None, config_file: Path | None, username: str) -> None:
    """Delete a user."""
    registry = open_from_ctx(data_dir, config_file)
    registry.accounts.delete_user(username)
    _audit(registry, "user.delete", f"user:{username}")
    click.echo(f"deleted {username}")


@click.group()
def project() -> None:
    """Manage projects and their members."""


@project.command("create")
@data_options
@click.argument("name")
@click.option("--public", is_flag=True, help="Allow anonymous pulls.")
def project_create(
    data_dir: Path | None, config_file: Path | None, name: str, public: bool
) -> None:
    """Create a project."""
    registry = open_from_ctx(data_dir, config_file)
    registry.accounts.create_project(name, public=public)
    _audit(registry, "project.create", f"project:{name}", public=public)
    click.echo(f"created project {name} ({'public' if public else 'private'})")


@project.command("list")
@data_options
@output_option
def project_list(data_dir: Path | None, config_file: Path | None, output: str) -> None:
    """List projects."""
    registry = open_from_ctx(data_dir, config_file)
    emit(registry.accounts.list_projects(), ["name", "public", "created_at"], output)


_ALLOW = re.compile(
    r"^(?P<id>[^:\s]+(?::[^:\s]+)*?):(?P<expires>\d{4}-\d{2}-\d{2}):(?P<reason>.+)$"
)
_PREVENT = ["CRITICAL", "HIGH", "MEDIUM", "LOW"]


def _allow_entry(spec: str) -> dict[str, str]:
    match = _ALLOW.fullmatch(spec.strip())
    if match is None or not match.group("reason").strip():
        raise click.BadParameter(
            f"{spec!r} is not ID:YYYY-MM-DD:REASON (e.g. CVE-2024-3651:2027-01-31:not reachable)",
            param_hint="--allow",
        )
    return {
        "id": match.group("id"),
        "expires": match.group("expires"),
        "reason": match.group("reason").strip(),
    }


@project.command("set")
@data_options
@click.argument("name")
@click.option("--public/--private", default=None, help="Allow or refuse anonymous pulls.")
@click.option(
    "--policy",
    metavar="POLICY",
    help="Refuse pulls of images that do not satisfy this policy of the project's trust root.",
)
@click.option("--no-policy", is_flag=True, help="Stop enforcing signatures on pull.")
@click.option(
    "--prevent-vulnerable",
    type=click.Choice(_PREVENT, case_sensitive=False),
    help="Refuse pulls of images with a finding rated at least this (not allowlisted), and "
    "of images not scanned yet.",
)
@click.option("--no-prevent-vulnerable", is_flag=True, help="Stop refusing vulnerable images.")
@click.option(
    "--allow",
    "allows",
    multiple=True,
    metavar="ID:YYYY-MM-DD:REASON",
    help="Accept a vulnerability until (not including) a date, saying why; replaces an "
    "entry with the same id (repeatable).",
)
@click.option(
    "--unallow", "unallows", multiple=True, metavar="ID", help="Remove an allowlist entry."
)
@click.option("--clear-allowlist", is_flag=True, help="Remove every allowlist entry first.")
@click.option(
    "--scan-on-push/--no-scan-on-push", default=None, help="Scan pushed images (default on)."
)
def project_set(
    data_dir: Path | None,
    config_file: Path | None,
    name: str,
    public: bool | None,
    policy: str | None,
    no_policy: bool,
    prevent_vulnerable: str | None,
    no_prevent_vulnerable: bool,
    allows: tuple[str, ...],
    unallows: tuple[str, ...],
    clear_allowlist: bool,
    scan_on_push: bool | None,
) -> None:
    """Change a project's visibility and pull gate settings.

    \b
    sealyard project set team --policy production --prevent-vulnerable HIGH \\
        --allow CVE-2024-3651:2027-01-31:"not reachable, see SEC-42"
    """
    if policy is not None and no_policy:
        raise click.UsageError("--policy and --no-policy contradict each other")
    if prevent_vulnerable is not None and no_prevent_vulnerable:
        raise click.UsageError("--prevent-vulnerable and --no-prevent-vulnerable contradict")
    entries = [_allow_entry(spec) for spec in allows]
    changes: dict[str, Any] = {}
    if policy is not None or no_policy:
        changes["policy"] = policy
    if prevent_vulnerable is not None or no_prevent_vulnerable:
        changes["prevent_vulnerable"] = prevent_vulnerable.upper() if prevent_vulnerable else None
    if scan_on_push is not None:
        changes["scan_on_push"] = scan_on_push
    registry = open_from_ctx(data_dir, config_file)
    if entries or unallows or clear_allowlist:
        kept: list[dict[str, str]] = (
            []
            if clear_allowlist
            else registry.accounts.project_settings(name).to_dict()["allowlist"]
        )
        unknown = sorted(set(unallows) - {e["id"] for e in kept})
        if unknown:
            raise click.BadParameter(
                f"not in the allowlist of {name}: {', '.join(unknown)}", param_hint="--unallow"
            )
        replaced = {e["id"] for e in entries} | set(unallows)
        changes["allowlist"] = [e for e in kept if e["id"] not in replaced] + entries
    if public is None and not changes:
        raise click.UsageError("nothing to change; see --help")
    settings = registry.accounts.update_project(name, public=public, settings=changes)
    detail: dict[str, Any] = {"public": public}
    if changes:
        shown = settings.to_dict()
        detail["settings"] = {k: shown[k] for k in changes}
    _audit(registry, "project.update", f"project:{name}", **detail)
    click.echo(f"updated project {name}")
    if changes:
        _show_settings(settings.to_dict())


def _show_settings(settings: dict[str, Any]) -> None:
    from datetime import UTC, datetime

    from sealyard.registry.project_settings import ProjectSettings

    parsed = ProjectSettings.from_dict(settings)
    now = datetime.now(UTC)
    click.echo(f"policy:             {settings['policy'] or '(none: signatures not enforced)'}")
    click.echo(f"prevent vulnerable: {settings['prevent_vulnerable'] or '(off)'}")
    click.echo(f"scan on push:       {'on' if settings['scan_on_push'] else 'off'}")
    if not parsed.allowlist:
        click.echo("allowlist:          (empty)")
        return
    click.echo("allowlist:")
    for shown, entry in zip(settings["allowlist"], parsed.allowlist, strict=True):
        state = "" if entry.active(now) else "  [expired]"
        click.echo(f"  {shown['id']}  until {shown['expires']}  {shown['reason']}{state}")


@project.command("show")
@data_options
@click.argument("name")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text")
def project_show(data_dir: Path | None, config_file: Path | None, name: str, output: str) -> None:
    """Show a project's visibility and pull gate settings."""
    registry = open_from_ctx(data_dir, config_file)
    info = registry.accounts.project(name)
    settings = registry.accounts.project_settings(name).to_dict()  # raises for a missing one
    public = bool(info and info.public)
    if output == "json":
        click.echo(json.dumps({"name": name, "public": public, "settings": settings}, indent=2))
        return
    click.echo(f"project:            {name} ({'public' if public else 'private'})")
    _show_settings(settings)


@project.command("delete")
@data_options
@click.argument("name")
def project_delete(data_dir: Path | None, config_file: Path | None, name: str) -> None:
    """Delete an empty project."""
    registry = open_from_ctx(data_dir, config_file)
    registry.accounts.delete_project(name)
    _audit(registry, "project.delete", f"project:{name}")
    click.echo(f"deleted project {name}")


@project.group("member")
def member() -> None:
    """Manage project members and their roles."""


@member.command("add")
@data_options
@click.argument("project_name", metavar="PROJECT")
@click.argument("username")
@click.option("--role", type=click.Choice(list(ROLES)), required=True)
def member_add(
    data_dir: Path | None, config_file: Path | None, project_name: str, username: str, role: str
) -> None:
    """Add a member to a project (or change the member's role)."""
    registry = open_from_ctx(data_dir, config_file)
    registry.accounts.set_member(project_name, username, role)
    _audit(registry, "member.set", f"project:{project_name}", user=username, role=role)
    click.echo(f"{username} is {role} in {project_name}")


@member.command("remove")
@data_options
@click.argument("project_name", metavar="PROJECT")
@click.argument("username")
def member_remove(
    data_dir: Path | None, config_file: Path | None, project_name: str, username: str
) -> None:
    """Remove a member from a project."""
    registry = open_from_ctx(data_dir, config_file)
    registry.accounts.remove_member(project_name, username)
    _audit(registry, "member.remove", f"project:{project_name}", user=username)
    click.echo(f"removed {username} from {project_name}")


@member.command("list")
@data_options
@click.argument("project_name", metavar="PROJECT")
@output_option
def member_list(
    data_dir: Path | None, config_file: Path | None, project_name: str, output: str
) -> None:
    """List the members of a project."""
    registry = open_from_ctx(data_dir, config_file)
    emit(registry.accounts.list_members(project_name), ["username", "role"], output)


@click.group()
def robot() -> None:
    """Manage robot accounts (for CI)."""


@robot.command("create")
@data_options
@click.argument("name")
@click.option(
    "--project",
    "grants",
    multiple=True,
    required=True,
    metavar="PROJECT=ACTIONS",
    help="Grant actions in a project, e.g. library=pull,push or team=pull,promote "
    f"({', '.join(sorted(ROBOT_ACTIONS))}; repeatable; * = every project).",
)
@click.option(
    "--expires-days",
    type=float,
    default=30.0,
    show_default=True,
    help="Lifetime in days; 0 for never.",
)
@click.option("--description", default="")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text")
def robot_create(
    data_dir: Path | None,
    config_file: Path | None,
    name: str,
    grants: tuple[str, ...],
    expires_days: float,
    description: str,
    output: str,
) -> None:
    """Create a robot account; its secret is printed once."""
    permissions: dict[str, list[str]] = {}
    for grant in grants:
        proj, sep, actions = grant.partition("=")
        if not sep or not proj:
            raise click.BadParameter(f"{grant!r} is not PROJECT=ACTIONS", param_hint="--project")
        permissions.setdefault(proj, []).extend(a for a in actions.split(",") if a)
    registry = open_from_ctx(data_dir, config_file)
    created = registry.accounts.create_robot(
        name,
        permissions,
        expires_in_days=expires_days or None,
        description=description,
        created_by=_actor(),
    )
    _audit(registry, "robot.create", f"robot:{created.name}", permissions=permissions)
    if output == "json":
        click.echo(
            json.dumps(
                {"name": created.name, "secret": created.secret, "expires_at": created.expires_at}
            )
        )
        return
    click.echo(f"name:    {created.name}")
    click.echo(f"secret:  {created.secret}")
    click.echo(f"expires: {fmt_time(created.expires_at)}")
    click.echo("The secret is shown only now; store it in your CI's secret store.", err=True)


@robot.command("list")
@data_options
@output_option
def robot_list(data_dir: Path | None, config_file: Path | None, output: str) -> None:
    """List robot accounts."""
    registry = open_from_ctx(data_dir, config_file)
    rows = [
        {**r, "permissions": json.dumps(r["permissions"])} if output == "table" else r
        for r in registry.accounts.list_robots()
    ]
    emit(rows, ["name", "permissions", "expires_at", "disabled", "description"], output)


@robot.command("disable")
@data_options
@click.argument("name")
@click.option("--enable", is_flag=True, help="Enable instead.")
def robot_disable(data_dir: Path | None, config_file: Path | None, name: str, enable: bool) -> None:
    """Disable (or re-enable) a robot account."""
    registry = open_from_ctx(data_dir, config_file)
    registry.accounts.set_robot_disabled(name, not enable)
    _audit(registry, "robot.update", f"robot:{name}", disabled=not enable)
    click.echo(f"{'enabled' if enable else 'disabled'} {name}")


@robot.command("delete")
@data_options
@click.argument("name")
def robot_delete(data_dir: Path | None, config_file: Path | None, name: str) -> None:
    """Delete a robot account."""
    registry = open_from_ctx(data_dir, config_file)
    registry.accounts.delete_robot(name)
    _audit(registry, "robot.delete", f"robot:{name}")
    click.echo(f"deleted {name}")
