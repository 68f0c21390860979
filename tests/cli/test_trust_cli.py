"""``sealyard trust …`` through click, with real encrypted key files and real TUF metadata."""

from __future__ import annotations

import json
import shlex
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from sealyard.cli.trust import trust
from sealyard.errors import ExpiredMetadataError, NotFoundError, SignatureError, UsageError
from sealyard.trust.keys import generate_key, get_key, load_signer
from sealyard.trust.root import TrustRepository

PW = "trust cli passphrase"
KEYS = ("root1", "root2", "root3", "targets", "online", "ci1", "ci2", "scan", "st1", "st2", "st3")
INIT = (
    "init shop --root-pubkey root1 --root-pubkey root2 --root-threshold 2 "
    "--targets-pubkey targets --snapshot-pubkey online --timestamp-pubkey online "
    "--key root1 --key targets"
)


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "keys"
    for name in KEYS:
        generate_key(name, "ed25519", directory, PW.encode())
    return directory


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, keys_dir: Path) -> CliRunner:
    monkeypatch.setenv("SEALYARD_KEYS", str(keys_dir))
    monkeypatch.setenv("SEALYARD_KEY_PASSPHRASE", PW)
    monkeypatch.delenv("SEALYARD_DATA", raising=False)
    return CliRunner()


def run(runner: CliRunner, command: str, *extra: str | Path, ok: bool = True) -> Result:
    """Invoke ``sealyard trust COMMAND EXTRA…`` (COMMAND is split like a shell would)."""
    result = runner.invoke(trust, [*shlex.split(command), *map(str, extra)])
    if ok:
        assert result.exit_code == 0, (result.output, result.exception)
    else:
        assert result.exit_code != 0, result.output
    return result


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


def keyid(keys_dir: Path, name: str) -> str:
    return get_key(name, keys_dir).keyid


def test_full_lifecycle(runner: CliRunner, keys_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    d = ("--data", data)
    run(runner, f"{INIT} --key root2 --expires timestamp=2", *d)
    run(runner, "stage add shop ci --pubkey ci1 --pubkey ci2 --key targets --key ci1", *d)
    run(runner, "stage add shop scan --pubkey scan --key targets --key scan", *d)
    added = run(
        runner,
        "stage add shop staging --threshold 2 --pubkey st1 --pubkey st2 --pubkey st3 "
        "--key targets --key st1 --key st2",
        *d,
    )
    assert "staging" in added.stdout
    assert "2/2" in added.stdout
    assert "trust publish shop" in added.stderr
    policy = tmp_path / "prod.yaml"
    policy.write_text("require:\n  stages: [ci, scan, staging]\n")
    run(runner, "policy set shop production --key targets", policy, *d)
    published = run(runner, "publish shop --key online", *d)
    assert "timestamp v1" in published.stdout
    assert (data / "trust" / "shop" / "published" / "metadata" / "timestamp.json").is_file()

    shown = as_json(run(runner, "show shop -o json", *d))
    assert [s["stage"] for s in shown["stages"]] == ["ci", "scan", "staging"]
    staging = shown["stages"][2]
    assert staging["threshold"] == 2
    assert len(staging["keys"]) == 3
    assert [p["policy"] for p in shown["policies"]] == ["production"]
    assert all(r["published"] for r in shown["roles"])
    assert shown["problems"] == []
    table = run(runner, "show shop", *d).stdout
    assert "staging" in table
    assert "production" in table

    bundle = tmp_path / "shop.tar"
    run(runner, "export shop -o", bundle, *d)
    pinned = tmp_path / "pinned-root.json"
    shutil.copyfile(data / "trust" / "shop" / "metadata" / "1.root.json", pinned)
    v = ("--root", pinned, "--cache", tmp_path / "cache")
    verified = as_json(run(runner, "verify --offline --project shop -o json", bundle, *v))
    ci_keys = sorted([keyid(keys_dir, "ci1"), keyid(keys_dir, "ci2")])
    assert verified["stages"]["ci"]["keys"] == ci_keys
    assert verified["policies"] == ["production"]

    # Revoke ci1: ci's metadata (signed by ci1) must be re-signed by ci2 before publishing.
    revoked = run(runner, f"key revoke shop ci {keyid(keys_dir, 'ci1')[:12]} --key targets", *d)
    assert "needs 1 more signature" in revoked.stdout
    assert "trust sign shop ci" in revoked.stderr
    refused = run(runner, "publish shop --key online", *d, ok=False)
    assert isinstance(refused.exception, SignatureError)
    assert "ci v2 is signed by 0 of 1" in str(refused.exception)
    run(runner, "sign shop ci --key ci2", *d)
    run(runner, "publish shop --key online", *d)
    run(runner, "export shop -o", bundle, *d)
    again = as_json(run(runner, "verify -o json", bundle, *v))
    assert again["stages"]["ci"]["keys"] == [keyid(keys_dir, "ci2")]
    assert again["roles"]["timestamp"]["version"] == 2
    assert "verified trust root of 'shop'" in run(runner, "verify", bundle, *v).stdout


def test_multi_party_root_signing_and_rotation_offline_repo(
    runner: CliRunner, keys_dir: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "laptop"
    r = ("--repo", repo)
    run(runner, INIT, *r)
    refused = run(runner, "publish shop --key online", *r, ok=False)
    assert "root v1 is signed by 1 of 2" in str(refused.exception)
    assert "2/2" in run(runner, "sign shop root --key root2", *r).stdout
    run(runner, "publish shop --key online", *r)

    # Rotate: add root3, drop root1 — signed by the old keys (root1, root2) and the new ones.
    rotated = run(
        runner,
        "rotate-root shop --add-pubkey root3 --key root1 --key root3 --remove",
        keyid(keys_dir, "root1"),
        *r,
    )
    assert "needs 1 more signature" in rotated.stdout
    run(runner, "sign shop root --key root2", *r)
    run(runner, "publish shop --key online", *r)
    shown = as_json(run(runner, "show shop -o json", *r))
    assert {row["role"]: row["version"] for row in shown["roles"]}["root"] == 2

    # A client pinned to v1 follows the chain from the published directory.
    pinned = repo / "metadata" / "1.root.json"
    out = as_json(
        run(runner, "verify -o json", repo / "published", "--root", pinned, "--cache", tmp_path)
    )
    assert out["roles"]["root"]["version"] == 2


def test_public_key_files_and_clear_errors(
    runner: CliRunner, keys_dir: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    d = ("--data", data)
    run(runner, f"{INIT} --key root2", *d)
    # A stage key given as a PEM file instead of a key name.
    pem = tmp_path / "partner.pub"
    shutil.copyfile(keys_dir / "ci1.pub", pem)
    run(runner, "stage add shop ci --key targets --pubkey", pem, *d)

    missing = run(runner, "stage add shop x --pubkey nokey", *d, ok=False)
    assert isinstance(missing.exception, NotFoundError)
    assert "no key named 'nokey'" in str(missing.exception)
    good = tmp_path / "good.yaml"
    good.write_text("a: 1\n")
    foreign = run(runner, "policy set shop p --key ci2", good, *d, ok=False)
    assert isinstance(foreign.exception, UsageError)
    assert "not a signing key of targets" in str(foreign.exception)
    bad_policy = tmp_path / "bad.yaml"
    bad_policy.write_text("- not a mapping\n")
    bad = run(runner, "policy set shop p --key targets", bad_policy, *d, ok=False)
    assert "must be a YAML mapping" in str(bad.exception)
    nofile = run(runner, "policy set shop p", tmp_path / "nope.yaml", *d, ok=False)
    assert "nope.yaml" in nofile.output
    other = run(runner, "show other --repo", data / "trust" / "shop", ok=False)
    assert "not 'other'" in str(other.exception)
    unknown = run(runner, "show nothing", *d, ok=False)
    assert "trust init" in str(unknown.exception)
    expires = run(runner, f"{INIT.replace('shop', 'p2')} --expires timestamp", *d, ok=False)
    assert "ROLE=DAYS" in expires.output
    unpublished = run(runner, "export shop -o", tmp_path / "b.tar", *d, ok=False)
    assert "trust publish" in str(unpublished.exception)


def test_verify_reports_expiry(runner: CliRunner, keys_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    run(runner, f"{INIT} --key root2", "--data", data)
    repo_dir = data / "trust" / "shop"
    # Publish as if it happened two days ago: the 1-day timestamp is stale now.
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    online = load_signer("online", keys_dir=keys_dir, passphrase=lambda: PW.encode())
    TrustRepository(repo_dir, clock=lambda: two_days_ago).publish([online])
    published = repo_dir / "published"
    v = ("--root", published / "metadata" / "1.root.json", "--cache", tmp_path / "c")
    stale = run(runner, "verify", published, *v, ok=False)
    assert isinstance(stale.exception, ExpiredMetadataError)
    assert "timestamp.json is expired" in str(stale.exception)
    run(runner, "publish shop --key online", "--data", data)
    assert "policies: none" in run(runner, "verify", published, *v).stdout
