"""Project settings: the strict model, storage through the account service, the management
API (GET/PATCH of a project) and ``sealyard project set|show``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from sealyard.cli.main import cli
from sealyard.db import Database
from sealyard.db.models import Project
from sealyard.errors import NotFoundError, SealyardError
from sealyard.registry.accounts import AccountService
from sealyard.registry.app import Registry
from sealyard.registry.openapi import openapi_document
from sealyard.registry.project_settings import (
    ProjectSettings,
    SettingsError,
    is_enforcing,
    scan_on_push,
)
from tests.fixtures.push import push_image
from tests.fixtures.sealyard_server import ADMIN_PASSWORD, SealyardServer
from tests.registry.test_pull_gate import gate_image

API = "/api/v1"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

# ------------------------------------------------------------------------------ the model


def test_defaults_enforce_nothing_and_scan() -> None:
    settings = ProjectSettings.from_dict({})
    assert settings == ProjectSettings()
    assert not settings.enforcing
    assert settings.to_dict() == {
        "policy": None,
        "prevent_vulnerable": None,
        "allowlist": [],
        "scan_on_push": True,
    }


def test_round_trip_and_normalisation() -> None:
    stored = {
        "policy": "production",
        "prevent_vulnerable": " high ",
        "allowlist": [
            {"id": "CVE-2099-0001", "expires": "2027-01-31", "reason": " not reachable "},
            {"id": "ALSA-2024:1234", "expires": "2027-01-31T06:30:00+02:00", "reason": "x"},
        ],
        "scan_on_push": False,
    }
    settings = ProjectSettings.from_dict(stored)
    assert settings.enforcing
    assert settings.prevent_vulnerable == "HIGH"
    shown = settings.to_dict()
    assert shown["allowlist"] == [
        {"id": "CVE-2099-0001", "expires": "2027-01-31", "reason": "not reachable"},
        {"id": "ALSA-2024:1234", "expires": "2027-01-31T04:30:00Z", "reason": "x"},
    ]
    assert ProjectSettings.from_dict(shown) == settings
    assert settings.updated({"policy": None}).to_dict() == {**shown, "policy": None}


def test_allowlist_entries_apply_until_not_including_expiry() -> None:
    settings = ProjectSettings.from_dict(
        {"allowlist": [{"id": "CVE-1", "expires": "2026-12-01", "reason": "accepted"}]}
    )
    assert settings.allowed_ids(NOW) == {"CVE-1"}
    assert settings.allowed_ids(datetime(2026, 12, 1, tzinfo=UTC)) == frozenset()
    assert settings.allowed_ids(NOW + timedelta(days=2)) == frozenset()


def test_threshold_blocks_ratings_at_or_above_it() -> None:
    high = ProjectSettings(prevent_vulnerable="HIGH")
    assert [r for r in ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN") if high.blocks(r)] == [
        "CRITICAL",
        "HIGH",
    ]
    assert not ProjectSettings().blocks("CRITICAL")


@pytest.mark.parametrize(
    ("stored", "fragment"),
    [
        ({"polcy": "production"}, "unknown setting(s) polcy"),
        ({"policy": 7}, "policy must be a string"),
        ({"policy": "Production!"}, "is not a policy name"),
        ({"policy": ""}, "is not a policy name"),
        ({"prevent_vulnerable": "SEVERE"}, "prevent_vulnerable: 'SEVERE' is not one of"),
        ({"prevent_vulnerable": "UNKNOWN"}, "is not one of CRITICAL, HIGH, MEDIUM, LOW"),
        ({"prevent_vulnerable": ["HIGH"]}, "prevent_vulnerable must be a rating"),
        ({"scan_on_push": "yes"}, "scan_on_push must be true or false"),
        ({"allowlist": {"id": "CVE-1"}}, "allowlist must be a list"),
        ({"allowlist": [{"id": "CVE-1", "expires": "2027-01-01"}]}, "allowlist[0].reason"),
        ({"allowlist": [{"id": "CVE-1", "reason": "ok"}]}, "allowlist[0].expires is required"),
        (
            {"allowlist": [{"id": "CVE-1", "expires": "someday", "reason": "ok"}]},
            "allowlist[0].expires",
        ),
        ({"allowlist": [{"id": "../x", "expires": "2027-01-01", "reason": "ok"}]}, "[0].id"),
        (
            {"allowlist": [{"id": "CVE-1", "expires": "2027-01-01", "reason": "a", "by": "me"}]},
            "unknown field(s) by",
        ),
        (
            {
                "allowlist": [
                    {"id": "CVE-1", "expires": "2027-01-01", "reason": "a"},
                    {"id": "CVE-1", "expires": "2028-01-01", "reason": "b"},
                ]
            },
            "allowlist[1].id: CVE-1 is listed twice",
        ),
    ],
)
def test_invalid_settings_name_the_field(stored: dict[str, Any], fragment: str) -> None:
    with pytest.raises(SettingsError) as info:
        ProjectSettings.from_dict(stored)
    assert fragment in str(info.value)


def test_stored_keys_of_older_versions_are_ignored_but_settings_checked() -> None:
    assert ProjectSettings.from_stored({"k": "v", "policy": "p"}).policy == "p"
    with pytest.raises(SettingsError):
        ProjectSettings.from_stored({"k": "v", "policy": 1})


@pytest.mark.parametrize(
    ("stored", "enforcing"),
    [
        ({}, False),
        ({"scan_on_push": False, "allowlist": []}, False),
        ({"policy": None, "prevent_vulnerable": None}, False),
        ({"policy": "production"}, True),
        ({"policy": ""}, True),  # malformed: parsed strictly (and refused), never "off"
        ({"prevent_vulnerable": 5}, True),
    ],
)
def test_cheap_enforcement_test_on_stored_json(stored: dict[str, Any], enforcing: bool) -> None:
    assert is_enforcing(stored) is enforcing


# ------------------------------------------------------------------------------ storage


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 't.db'}")
    database.migrate()
    yield database
    database.dispose()


def _stored(db: Database, name: str) -> dict[str, Any]:
    with db.session() as s:
        return dict(s.scalars(select(Project.settings).where(Project.name == name)).one())


def test_account_service_writes_only_the_settings_given(db: Database) -> None:
    accounts = AccountService(db, cache_seconds=0)
    accounts.create_project("team")
    assert scan_on_push(db, "team") is True
    settings = accounts.update_project("team", settings={"prevent_vulnerable": "medium"})
    assert settings.prevent_vulnerable == "MEDIUM"
    assert _stored(db, "team") == {"prevent_vulnerable": "MEDIUM"}
    accounts.set_project("team", public=True, scan_on_push=False)
    assert _stored(db, "team") == {"prevent_vulnerable": "MEDIUM", "scan_on_push": False}
    assert scan_on_push(db, "team") is False
    info = accounts.project("team")
    assert info is not None
    assert info.public
    assert accounts.project_settings("team").to_dict() == {
        "policy": None,
        "prevent_vulnerable": "MEDIUM",
        "allowlist": [],
        "scan_on_push": False,
    }


def test_an_invalid_change_changes_nothing(db: Database) -> None:
    accounts = AccountService(db, cache_seconds=0)
    accounts.create_project("team")
    accounts.set_project("team", policy="production")
    with pytest.raises(SettingsError, match="prevent_vulnerable"):
        accounts.update_project("team", public=True, settings={"prevent_vulnerable": "BAD"})
    with pytest.raises(SettingsError, match="unknown setting"):
        accounts.set_project("team", owner="other")
    assert _stored(db, "team") == {"policy": "production"}
    info = accounts.project("team")
    assert info is not None
    assert not info.public
    with pytest.raises(NotFoundError):
        accounts.project_settings("nope")
    with pytest.raises(NotFoundError):
        accounts.update_project("nope", settings={"policy": "x"})


def test_scan_on_push_helper_defaults_to_scanning(db: Database) -> None:
    accounts = AccountService(db, cache_seconds=0)
    accounts.create_project("team")
    with db.session() as s:
        s.scalars(select(Project).where(Project.name == "team")).one().settings = {
            "scan_on_push": "no"
        }
    assert scan_on_push(db, "team") is True  # malformed: the safe default
    assert scan_on_push(db, "unknown") is True


# ------------------------------------------------------------------------------ the API


def _conforms(schema: str, value: dict[str, Any]) -> None:
    spec = openapi_document()["components"]["schemas"][schema]
    assert set(spec["required"]) <= set(value), (schema, value)
    assert set(value) <= set(spec["properties"]), (schema, value)


def test_api_shows_and_changes_settings(
    server: SealyardServer,
    registry: Registry,
    project: str,
    make_user: Callable[..., tuple[str, str]],
) -> None:
    padmin, developer = make_user(project, "project-admin"), make_user(project, "developer")
    outsider = make_user()
    path = f"{server.url}{API}/projects/{project}"
    registry.accounts.set_project(project, public=True)

    def call(user: tuple[str, str] | None, method: str, **kw: Any) -> httpx.Response:
        return httpx.request(method, path, auth=user, timeout=30, **kw)

    mine = call(developer, "GET").json()
    _conforms("Project", mine)
    _conforms("ProjectSettings", mine["settings"])
    assert mine["settings"] == ProjectSettings().to_dict()
    assert "settings" not in call(outsider, "GET").json()  # public project, not a member
    assert "settings" not in call(None, "GET").json()

    change = {
        "prevent_vulnerable": "high",
        "allowlist": [{"id": "CVE-2099-7", "expires": "2099-01-01", "reason": "lab only"}],
    }
    r = call(padmin, "PATCH", json={"settings": change})
    assert r.status_code == 200, r.text
    assert r.json()["settings"] == {
        "policy": None,
        "prevent_vulnerable": "HIGH",
        "allowlist": change["allowlist"],
        "scan_on_push": True,
    }
    assert r.json()["public"] is True
    assert registry.accounts.project_settings(project).prevent_vulnerable == "HIGH"

    refused = call(developer, "PATCH", json={"settings": {"prevent_vulnerable": None}})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "DENIED"
    for body, fragment in [
        ({"settings": {"prevent_vulnerable": "SEVERE"}}, "prevent_vulnerable"),
        ({"settings": {"allowlist": [{"id": "CVE-1", "expires": "2099-01-01"}]}}, "reason"),
        ({"settings": {"scan_on_pusj": False}}, "scan_on_pusj"),
        ({"settings": ["policy"]}, "'settings' must be an object"),
        ({"public": True, "setings": {}}, "setings"),
        ({}, "public and/or settings"),
        ({"public": "no"}, "public"),
    ]:
        r = call(padmin, "PATCH", json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["code"] == "INVALID"
        assert fragment in r.json()["error"]["message"], (body, r.text)
    assert registry.accounts.project_settings(project).prevent_vulnerable == "HIGH"

    both = call(padmin, "PATCH", json={"public": False, "settings": {"scan_on_push": False}})
    assert (both.json()["public"], both.json()["settings"]["scan_on_push"]) == (False, False)

    events = registry.audit.query(action="project.update", resource_prefix=f"project:{project}")
    ok = [e for e in events if e["outcome"] == "success"]
    assert [e["detail"] for e in ok[:2]] == [
        {"public": False, "settings": {"scan_on_push": False}},
        {"settings": {"prevent_vulnerable": "HIGH", "allowlist": change["allowlist"]}},
    ]
    assert ok[0]["actor"] == padmin[0]
    assert any(e["outcome"] == "denied" and e["actor"] == developer[0] for e in events), events


def test_api_policy_setting_takes_effect_on_the_next_pull(
    server: SealyardServer,
    registry: Registry,
    project: str,
    make_user: Callable[..., tuple[str, str]],
) -> None:
    image = gate_image()
    with httpx.Client(base_url=server.url, auth=("admin", ADMIN_PASSWORD), timeout=30) as admin:
        push_image(admin, f"{project}/app", "v1", image)
        guest = make_user(project, "guest")
        url = f"/v2/{project}/app/manifests/v1"
        accept = {"Accept": image.media_type}
        assert httpx.get(server.url + url, auth=guest, headers=accept).status_code == 200
        patched = admin.patch(f"{API}/projects/{project}", json={"settings": {"policy": "gold"}})
        assert patched.status_code == 200, patched.text
        refused = httpx.get(server.url + url, auth=guest, headers=accept)
        assert refused.status_code == 403
        assert "no published trust root" in refused.json()["errors"][0]["message"]
        admin.patch(f"{API}/projects/{project}", json={"settings": {"policy": None}})
        assert httpx.get(server.url + url, auth=guest, headers=accept).status_code == 200


# ------------------------------------------------------------------------------ the CLI


def run(data: Path, *args: str, ok: bool = True) -> str:
    """Output of ``sealyard ARGS --data DATA``; with ``ok=False`` also the error that
    ``sealyard`` prints for a Sealyard error (``cli`` itself lets it propagate)."""
    result = CliRunner().invoke(cli, [*args, "--data", str(data)])
    assert (result.exit_code == 0) is ok, result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        assert isinstance(result.exception, SealyardError), result.exception
        return result.output + str(result.exception)
    return result.output


def test_cli_project_set_and_show(tmp_path: Path) -> None:
    data = tmp_path / "d"
    run(data, "project", "create", "team")
    out = run(
        data,
        "project",
        "set",
        "team",
        "--policy",
        "production",
        "--prevent-vulnerable",
        "high",
        "--allow",
        "CVE-2099-0001:2099-01-31:not reachable: see SEC-42",
        "--allow",
        "ALSA-2024:1234:2000-01-01:old",
        "--no-scan-on-push",
    )
    assert "updated project team" in out
    assert "ALSA-2024:1234  until 2000-01-01  old  [expired]" in out
    shown = json.loads(run(data, "project", "show", "team", "-o", "json"))
    assert shown == {
        "name": "team",
        "public": False,
        "settings": {
            "policy": "production",
            "prevent_vulnerable": "HIGH",
            "allowlist": [
                {
                    "id": "CVE-2099-0001",
                    "expires": "2099-01-31",
                    "reason": "not reachable: see SEC-42",
                },
                {"id": "ALSA-2024:1234", "expires": "2000-01-01", "reason": "old"},
            ],
            "scan_on_push": False,
        },
    }
    # --allow replaces an entry with the same id; --unallow removes one.
    run(data, "project", "set", "team", "--allow", "CVE-2099-0001:2099-02-01:still not")
    run(data, "project", "set", "team", "--unallow", "ALSA-2024:1234", "--no-policy")
    text = run(data, "project", "show", "team")
    assert "policy:             (none: signatures not enforced)" in text
    assert "CVE-2099-0001  until 2099-02-01  still not" in text
    assert "ALSA" not in text
    run(data, "project", "set", "team", "--clear-allowlist", "--no-prevent-vulnerable")
    assert "allowlist:          (empty)" in run(data, "project", "show", "team")

    log = json.loads(run(data, "audit-log", "-o", "json", "--limit", "5"))
    updates = [e for e in log if e["action"] == "project.update"]
    assert updates[0]["detail"] == {
        "public": None,
        "settings": {"prevent_vulnerable": None, "allowlist": []},
    }


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--allow", "CVE-1:2099-01-01"), "ID:YYYY-MM-DD:REASON"),
        (("--allow", "CVE-1:tomorrow:why"), "ID:YYYY-MM-DD:REASON"),
        (("--allow", "CVE-1:2099-13-45:why"), "allowlist[0].expires"),
        (("--policy", "p", "--no-policy"), "contradict"),
        (("--prevent-vulnerable", "SEVERE"), "SEVERE"),
        (("--unallow", "CVE-404"), "not in the allowlist"),
        ((), "nothing to change"),
        (("--policy", "Bad Name"), "is not a policy name"),
    ],
)
def test_cli_project_set_refuses_bad_input(
    tmp_path: Path, args: tuple[str, ...], fragment: str
) -> None:
    data = tmp_path / "d"
    run(data, "project", "create", "team")
    out = run(data, "project", "set", "team", *args, ok=False)
    assert fragment in out
    assert json.loads(run(data, "project", "show", "team", "-o", "json"))["settings"] == (
        ProjectSettings().to_dict()
    )
    assert "no project 'ghost'" in run(data, "project", "show", "ghost", ok=False)
