"""Repository side: versions, thresholds, partial signing and what publish refuses."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata, Root, Snapshot, Targets

from sealyard.errors import (
    ConflictError,
    NotFoundError,
    SignatureError,
    UsageError,
)
from sealyard.trust.root import ExpiryPolicy, TrustRepository
from tests.trust.test_tufclient import POLICY, Clock, Project, build_project, make_keys


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return build_project(tmp_path / "data")


def files(directory: Path) -> set[str]:
    return {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()}


def test_init_writes_version_one_and_needs_every_root_signature(tmp_path: Path) -> None:
    keys = make_keys()
    k = {n: s.public_key for n, s in keys.items()}
    repo = TrustRepository.create(
        tmp_path / "repo",
        "shop",
        root_keys=[k["root1"], k["root2"]],
        root_threshold=2,
        targets_keys=[k["targets"]],
        snapshot_keys=[k["snapshot"]],
        timestamp_keys=[k["timestamp"]],
        signers=[keys["root1"], keys["targets"]],
        expiry=ExpiryPolicy(timestamp=2),
    )
    assert files(repo.metadata_dir) == {"1.root.json", "1.targets.json"}
    root_status = {s.role: s for s in repo.status()}["root"]
    assert (root_status.threshold, len(root_status.signed_by), root_status.missing) == (2, 1, 1)
    with pytest.raises(SignatureError, match="root v1 is signed by 1 of 2") as err:
        repo.publish([keys["snapshot"], keys["timestamp"]])
    assert "sealyard trust sign root" in str(err.value)
    assert not repo.published_dir.exists()

    # The second root key holder signs later (another machine, another person).
    statuses = TrustRepository(repo.path).sign("root", [keys["root2"]])
    assert statuses[0].verified
    result = repo.publish([keys["snapshot"], keys["timestamp"]])
    assert (result.root_version, result.snapshot_version, result.timestamp_version) == (1, 1, 1)
    assert files(repo.published_dir / "metadata") == {
        "1.root.json",
        "1.targets.json",
        "1.snapshot.json",
        "root.json",
        "snapshot.json",
        "timestamp.json",
    }
    timestamp = Metadata.from_bytes((repo.metadata_dir / "timestamp.json").read_bytes()).signed
    assert timestamp.expires - repo.clock() <= timedelta(days=2)
    assert timestamp.expires - repo.clock() > timedelta(days=1)
    root: Root = Metadata.from_bytes((repo.metadata_dir / "1.root.json").read_bytes()).signed
    assert root.unrecognized_fields["x-sealyard-project"] == "shop"
    assert root.consistent_snapshot is True
    config = json.loads((repo.path / "config.json").read_text())
    assert config["expiry_days"]["timestamp"] == 2
    # No private key material anywhere in the repository.
    for path in repo.path.rglob("*"):
        if path.is_file():
            assert b"PRIVATE KEY" not in path.read_bytes()


def test_init_refuses_bad_input(tmp_path: Path) -> None:
    keys = make_keys()
    k = {n: s.public_key for n, s in keys.items()}
    base = {
        "root_keys": [k["root1"]],
        "targets_keys": [k["targets"]],
        "snapshot_keys": [k["snapshot"]],
        "timestamp_keys": [k["timestamp"]],
    }
    with pytest.raises(UsageError, match="threshold 3 must be between 1 and 1"):
        TrustRepository.create(tmp_path / "a", "shop", **base, root_threshold=3)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="targets needs at least one key"):
        TrustRepository.create(tmp_path / "b", "shop", **{**base, "targets_keys": []})  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="invalid project name"):
        TrustRepository.create(tmp_path / "c", "Shop/../x", **base)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="expiry for snapshot"):
        ExpiryPolicy(snapshot=0)
    with pytest.raises(UsageError, match="neither a root nor a targets key"):
        TrustRepository.create(
            tmp_path / "d",
            "shop",
            **base,  # type: ignore[arg-type]
            signers=[keys["ci1"]],
        )
    assert not (tmp_path / "d").exists()  # nothing half-written to trip over on retry
    TrustRepository.create(tmp_path / "d", "shop", **base)  # type: ignore[arg-type]
    with pytest.raises(ConflictError, match="already holds a trust repository"):
        TrustRepository.create(tmp_path / "d", "shop", **base)  # type: ignore[arg-type]
    with pytest.raises(NotFoundError, match="trust init"):
        TrustRepository(tmp_path / "nothing")


def test_every_change_is_a_new_version_and_nothing_is_rewritten(project: Project) -> None:
    repo, keys = project.repo, project.keys
    before = {p: p.read_bytes() for p in repo.metadata_dir.glob("[0-9]*.json")}
    published_targets = repo.targets().version
    repo.set_policy("production", b"v: 2\n", [keys["targets"]])
    assert repo.targets().version == published_targets + 1
    # Same content again: no new version.
    repo.set_policy("production", b"v: 2\n", [keys["targets"]])
    assert repo.targets().version == published_targets + 1
    for path, data in before.items():
        assert path.read_bytes() == data, f"{path.name} was rewritten"
    result = repo.publish([keys["snapshot"], keys["timestamp"]])
    assert result.targets_version == published_targets + 1
    assert result.snapshot_version == 2
    assert result.timestamp_version == 2
    assert f"metadata/{published_targets + 1}.targets.json" in result.files
    assert repo.policy_bytes("production") == b"v: 2\n"


def test_publish_keeps_a_fresh_snapshot_and_renews_an_aging_one(project: Project) -> None:
    keys = project.keys
    # Nothing changed: only a new timestamp, which needs only the timestamp key.
    result = project.repo.publish([keys["timestamp"]])
    assert (result.snapshot_version, result.timestamp_version) == (1, 2)
    project.clock.now += timedelta(days=4)  # past half of snapshot's 7 days
    with pytest.raises(SignatureError, match="snapshot needs 1 signature"):
        project.repo.publish([keys["timestamp"]])
    result = project.repo.publish([keys["snapshot"], keys["timestamp"]])
    assert (result.snapshot_version, result.timestamp_version) == (2, 3)


def test_publish_refuses_missing_online_keys_and_foreign_keys(project: Project) -> None:
    keys = project.keys
    project.repo.set_policy("dev", b"a: 1\n", [keys["targets"]])
    published = (project.published / "metadata" / "timestamp.json").read_bytes()
    with pytest.raises(SignatureError, match="snapshot needs 1 signature"):
        project.repo.publish([keys["timestamp"]])
    with pytest.raises(UsageError, match="neither a snapshot nor a timestamp key"):
        project.repo.publish([keys["snapshot"], keys["timestamp"], keys["root1"]])
    assert (project.published / "metadata" / "timestamp.json").read_bytes() == published


def test_signer_that_belongs_to_no_changed_role_is_refused(project: Project) -> None:
    repo, keys = project.repo, project.keys
    version = repo.targets().version
    with pytest.raises(UsageError, match="is not a signing key of targets"):
        repo.set_policy("dev", b"a: 1\n", [keys["targets"], keys["attacker"]])
    assert repo.targets().version == version
    with pytest.raises(UsageError, match="no signing key given"):
        repo.sign("targets", [])
    with pytest.raises(UsageError, match="signed by `sealyard trust publish`"):
        repo.sign("timestamp", [keys["timestamp"]])
    with pytest.raises(ConflictError, match=r"already published.*--renew"):
        repo.sign("ci", [keys["ci2"]])
    with pytest.raises(NotFoundError, match="no role 'deploy'"):
        repo.sign("deploy", [keys["ci2"]])


def test_stage_validation(project: Project) -> None:
    repo, keys = project.repo, project.keys
    ci = [keys["ci1"].public_key]
    with pytest.raises(ConflictError, match="stage 'ci' already exists"):
        repo.add_stage("ci", ci, 1, [keys["targets"]])
    with pytest.raises(UsageError, match="reserved for a top-level TUF role"):
        repo.add_stage("snapshot", ci, 1, [keys["targets"]])
    with pytest.raises(UsageError, match="invalid stage name"):
        repo.add_stage("../ci", ci, 1, [keys["targets"]])
    with pytest.raises(UsageError, match="threshold 2 must be between 1 and 1"):
        repo.add_stage("deploy", ci, 2, [keys["targets"]])
    with pytest.raises(NotFoundError, match="no stage 'deploy'"):
        repo.remove_stage("deploy", [keys["targets"]])
    with pytest.raises(UsageError, match="no keys left"):
        repo.update_stage("scan", [keys["targets"]], revoke_keyids=[keys["scan1"].public_key.keyid])
    with pytest.raises(NotFoundError, match="give 8\\+ hex digits"):
        repo.update_stage("scan", [keys["targets"]], revoke_keyids=["abc"])
    with pytest.raises(UsageError, match="threshold 3 must be between 1 and 2"):
        repo.update_stage("ci", [keys["targets"]], threshold=3)
    with pytest.raises(ConflictError, match="already a key of stage 'ci'"):
        repo.update_stage("ci", [keys["targets"]], add_keys=ci)


def test_stage_role_must_be_signed_by_its_own_keys(project: Project) -> None:
    repo, keys = project.repo, project.keys
    statuses = repo.add_stage(
        "deploy", [keys["staging1"].public_key], 1, [keys["targets"]]
    )  # no deploy key at hand
    status = {s.role: s for s in statuses}
    assert status["targets"].verified
    assert not status["deploy"].verified
    with pytest.raises(SignatureError, match=r"deploy v1 is signed by 0 of 1.*trust sign deploy"):
        project.publish()
    repo.sign("deploy", [keys["staging1"]])
    project.publish()
    assert "deploy" in repo.stages()


def test_revoking_the_signer_of_a_stage_asks_the_others_to_sign(project: Project) -> None:
    repo, keys = project.repo, project.keys
    ci_version = repo.load("ci").signed.version
    # ci v1 carries ci1's signature; ci1 is revoked with only the targets key at hand.
    statuses = repo.update_stage(
        "ci", [keys["targets"]], revoke_keyids=[keys["ci1"].public_key.keyid[:10]]
    )
    by_role = {s.role: s for s in statuses}
    assert by_role["ci"].version == ci_version + 1
    assert not by_role["ci"].verified
    with pytest.raises(SignatureError, match="ci v2 is signed by 0 of 1"):
        project.publish()
    repo.sign("ci", [keys["ci2"]])
    project.publish()
    stage = repo.stages()["ci"]
    assert set(stage.keys) == {keys["ci2"].public_key.keyid}
    # Adding a key that does not invalidate the current signatures keeps the stage version.
    repo.update_stage("ci", [keys["targets"]], add_keys=[keys["ci1"].public_key], threshold=1)
    assert repo.load("ci").signed.version == ci_version + 1


def test_readding_a_removed_stage_continues_its_versions(project: Project) -> None:
    repo, keys = project.repo, project.keys
    repo.remove_stage("scan", [keys["targets"]])
    project.publish()
    raw = (project.published / "metadata" / "snapshot.json").read_bytes()
    snapshot: Metadata[Snapshot] = Metadata.from_bytes(raw)
    assert "scan.json" in snapshot.signed.meta  # clients refuse snapshots that drop entries
    repo.add_stage("scan", [keys["scan1"].public_key], 1, [keys["targets"], keys["scan1"]])
    assert repo.load("scan").signed.version == 2
    project.publish()


def test_policies_are_validated(project: Project) -> None:
    repo, targets = project.repo, project.keys["targets"]
    with pytest.raises(UsageError, match="not valid YAML"):
        repo.set_policy("p", b"a: [1,\n", [targets])
    with pytest.raises(UsageError, match="must be a YAML mapping"):
        repo.set_policy("p", b"- 1\n", [targets])
    with pytest.raises(UsageError, match="larger than"):
        repo.set_policy("p", b"a: " + b"x" * (1024 * 1024) + b"\n", [targets])
    with pytest.raises(UsageError, match="invalid policy name"):
        repo.set_policy("../p", b"a: 1\n", [targets])
    with pytest.raises(NotFoundError, match="no policy 'p'"):
        repo.remove_policy("p", [targets])
    assert repo.policy_bytes("production") == POLICY
    repo.remove_policy("production", [targets])
    assert repo.policies() == {}


def test_root_rotation_needs_old_and_new_thresholds(project: Project) -> None:
    repo, keys = project.repo, project.keys
    statuses = repo.rotate_root(
        [keys["root3"]],
        add_keys=[keys["root3"].public_key],
        revoke_keyids=[keys["root1"].public_key.keyid, keys["root2"].public_key.keyid],
        threshold=1,
    )
    assert statuses[0].version == 2
    assert not statuses[0].verified  # new root is happy, old root's 2-of-2 is not
    problems = repo.problems()
    assert any("root v2 needs 2 more signature(s) from root v1 keys" in p for p in problems)
    repo.sign("root", [keys["root1"]])
    with pytest.raises(SignatureError, match="root v2 needs 1 more"):
        project.publish()
    repo.sign("root", [keys["root2"]])
    project.publish()
    assert set(repo.root().roles["root"].keyids) == {keys["root3"].public_key.keyid}
    with pytest.raises(UsageError, match="is not a signing key of targets"):
        repo.sign("targets", [keys["root1"]])
    with pytest.raises(UsageError, match="not a top-level role"):
        repo.rotate_root([keys["root3"]], role="ci")


def test_expired_roles_block_publish_until_renewed(tmp_path: Path) -> None:
    project = build_project(tmp_path / "data")
    repo, keys, clock = project.repo, project.keys, project.clock
    clock.now += timedelta(days=91)
    with pytest.raises(SignatureError, match=r"targets v\d+ expired") as err:
        project.publish()
    assert "trust sign targets --renew" in str(err.value)
    repo.sign("targets", [keys["targets"]], renew=True)
    for stage, signers in (
        ("ci", ["ci2"]),
        ("scan", ["scan1"]),
        ("staging", ["staging1", "staging2"]),
    ):
        repo.sign(stage, [keys[n] for n in signers], renew=True)
    project.publish()
    assert repo.targets().expires > clock.now + timedelta(days=89)
    assert isinstance(repo.targets(), Targets)


def test_clock_is_injected(tmp_path: Path) -> None:
    clock = Clock()
    signer = CryptoSigner.generate_ed25519()
    repo = TrustRepository.create(
        tmp_path / "r",
        "p",
        root_keys=[signer.public_key],
        targets_keys=[signer.public_key],
        snapshot_keys=[signer.public_key],
        timestamp_keys=[signer.public_key],
        signers=[signer],
        clock=clock,
    )
    assert repo.root().expires.date() == (clock.now + timedelta(days=365)).date()
