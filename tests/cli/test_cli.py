"""The ``sealyard`` command on a data directory, as an operator uses it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sealyard.cli.main import cli


def run(data: Path, *args: str, ok: bool = True, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(cli, [*args, "--data", str(data)], env=env)
    if ok:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code != 0, result.output
    return result.output


def test_help_lists_every_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sealyard", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in (
        "serve",
        "gc",
        "user",
        "project",
        "robot",
        "audit-log",
        "worker",
        "alerts",
        "webhook",
        "key",
        "db",
        "scan",
        "sbom",
    ):
        assert command in out


def test_user_project_member_lifecycle_is_audited(tmp_path: Path) -> None:
    data = tmp_path / "d"
    run(data, "project", "create", "team", "--public")
    run(data, "user", "add", "alice", "--password", "alice-password")
    run(data, "project", "member", "add", "team", "alice", "--role", "developer")
    members = json.loads(run(data, "project", "member", "list", "team", "-o", "json"))
    assert members == [{"username": "alice", "role": "developer"}]
    projects = json.loads(run(data, "project", "list", "-o", "json"))
    assert {"name": "team", "public": True}.items() <= projects[-1].items()
    run(data, "user", "set", "alice", "--disabled")
    users = {u["username"]: u for u in json.loads(run(data, "user", "list", "-o", "json"))}
    assert users["alice"]["disabled"] is True
    run(data, "project", "member", "remove", "team", "alice")
    log = json.loads(run(data, "audit-log", "-o", "json", "--limit", "20"))
    actions = [e["action"] for e in log]
    for expected in ("project.create", "user.create", "member.set", "user.update", "member.remove"):
        assert expected in actions
    assert all(e["remote_addr"] == "local" for e in log)


def test_errors_are_clear_and_exit_nonzero(tmp_path: Path) -> None:
    data = tmp_path / "d"
    run(data, "user", "add", "bob", "--password", "bob-password")
    result = CliRunner().invoke(
        cli, ["user", "add", "--data", str(data), "bob", "--password", "bob-password"]
    )
    assert result.exit_code != 0
    assert "already exists" in str(result.exception)
    short = CliRunner().invoke(
        cli, ["user", "add", "--data", str(data), "carol", "--password", "short"]
    )
    assert "at least 8 characters" in str(short.exception)


def test_main_prints_error_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sealyard",
            "project",
            "member",
            "add",
            "--data",
            str(tmp_path / "d"),
            "nope",
            "nobody",
            "--role",
            "guest",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "error: no project 'nope'"


def test_robot_secret_shown_once_and_hashed(tmp_path: Path) -> None:
    data = tmp_path / "d"
    out = json.loads(
        run(data, "robot", "create", "ci", "--project", "library=pull,push", "-o", "json")
    )
    assert out["name"] == "robot$library+ci"
    assert len(out["secret"]) >= 24
    listed = run(data, "robot", "list", "-o", "json")
    assert out["secret"] not in listed
    assert json.loads(listed)[0]["permissions"] == {"library": ["pull", "push"]}
    db = (data / "sealyard.db").read_bytes()
    assert out["secret"].encode() not in db


@pytest.mark.parametrize("grant", ["library", "=pull", "library=admin"])
def test_robot_create_rejects_bad_grants(tmp_path: Path, grant: str) -> None:
    result = CliRunner().invoke(
        cli, ["robot", "create", "--data", str(tmp_path / "d"), "x", "--project", grant]
    )
    assert result.exit_code != 0


def test_gc_dry_run_reports_counts(tmp_path: Path) -> None:
    out = json.loads(run(tmp_path / "d", "gc", "--dry-run", "-o", "json"))
    assert {row["what"] for row in out} >= {"blobs_deleted", "uploads_removed", "bytes_freed"}


def test_new_data_directory_is_private(tmp_path: Path) -> None:
    data = tmp_path / "fresh"
    run(data, "project", "list")
    assert data.stat().st_mode & 0o777 == 0o700
    key = data / "keys" / "token-signing.pem"
    assert key.stat().st_mode & 0o077 == 0
