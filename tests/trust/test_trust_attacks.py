"""Attacks on the trust root, each refused by real python-tuf verification with a clear reason.

The "server" is the project's ``published/`` directory (read through the same fetcher seam as a
bundle) or a real uvicorn server; the attacker edits what it serves. Where an attack needs a
compromised online key (snapshot/timestamp), the test signs with the project's real one.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from securesystemslib.signer import CryptoSigner, Signer
from tuf.api.metadata import Metadata, MetaFile, Root, Snapshot, Targets

from sealyard.errors import (
    ExpiredMetadataError,
    RollbackError,
    SignatureError,
    SizeLimitError,
    VerificationError,
)
from sealyard.trust.tufclient import TrustState, load_trust
from tests.trust.test_tufclient import PROJECT, Project, build_project, serve_trust


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return build_project(tmp_path / "data")


def verify(project: Project, cache: Path, **kwargs: Any) -> TrustState:
    return load_trust(project.published, trusted_root=project.root_v1, cache_dir=cache, **kwargs)


def served(project: Project, name: str) -> Metadata[Any]:
    return Metadata.from_bytes((project.published / "metadata" / name).read_bytes())


def serve(project: Project, name: str, md: Metadata[Any], *signers: Signer) -> bytes:
    """Sign ``md`` with ``signers`` (only) and put it where the server serves ``name``."""
    md.signatures.clear()
    for signer in signers:
        md.sign(signer, append=True)
    data = md.to_bytes()
    (project.published / "metadata" / name).write_bytes(data)
    return data


def forge_online(
    project: Project,
    snapshot: Metadata[Snapshot] | None = None,
    *,
    snapshot_signer: Signer | None = None,
    timestamp_signer: Signer | None = None,
) -> None:
    """Serve ``snapshot`` (if given) and a new timestamp pointing at it, as an attacker who
    holds the online keys would (defaults: the project's real snapshot/timestamp keys)."""
    keys = project.keys
    timestamp = served(project, "timestamp.json")
    if snapshot is None:
        version = timestamp.signed.snapshot_meta.version
        data = (project.published / "metadata" / f"{version}.snapshot.json").read_bytes()
    else:
        version = snapshot.signed.version
        data = serve(
            project, f"{version}.snapshot.json", snapshot, snapshot_signer or keys["snapshot"]
        )
    timestamp.signed.version += 1
    timestamp.signed.snapshot_meta = MetaFile.from_data(version, data, ["sha256"])
    serve(project, "timestamp.json", timestamp, timestamp_signer or keys["timestamp"])


def next_snapshot(project: Project, **versions: int) -> Metadata[Snapshot]:
    snapshot: Metadata[Snapshot] = served(project, "snapshot.json")
    snapshot.signed.version += 1
    for role, version in versions.items():
        snapshot.signed.meta[f"{role}.json"] = MetaFile(version)
    return snapshot


# --------------------------------------------------------------------------- freshness


def test_expired_timestamp_is_refused_as_freeze(project: Project, tmp_path: Path) -> None:
    """The server stopped publishing (or an attacker replays a frozen view)."""
    assert verify(project, tmp_path / "c", now=project.clock.now + timedelta(hours=23))
    later = project.clock.now + timedelta(days=1, minutes=1)
    with pytest.raises(ExpiredMetadataError, match="freeze attack") as err:
        verify(project, tmp_path / "c", now=later)
    assert "sealyard trust publish" in str(err.value)


def test_expired_stage_role_is_refused(project: Project, tmp_path: Path) -> None:
    """Timestamp and snapshot fresh, but the ci role was not renewed for 90 days."""
    project.clock.now += timedelta(days=91)
    with pytest.raises(SignatureError, match="ci v1 expired"):
        project.publish()  # the repository refuses to publish it ...
    # ... and a server that publishes it anyway does not get it accepted.
    forge_online(project, next_snapshot(project))
    with pytest.raises(ExpiredMetadataError, match="expired"):
        verify(project, tmp_path / "c", now=project.clock.now)


@pytest.mark.integration
def test_rolled_back_timestamp_over_http_is_refused(project: Project, tmp_path: Path) -> None:
    old = tmp_path / "old-published"
    shutil.copytree(project.published, old)
    project.repo.set_policy("production", b"stricter: true\n", [project.keys["targets"]])
    project.publish()
    cache = tmp_path / "cache"
    with serve_trust(project.data_dir) as base:
        url = f"{base}/trust/{PROJECT}"
        seen = load_trust(url, trusted_root=project.root_v1, cache_dir=cache)
        assert seen.policies["production"] == b"stricter: true\n"
        # The server (or a mirror in between) goes back to yesterday's metadata.
        shutil.rmtree(project.published)
        shutil.copytree(old, project.published)
        with pytest.raises(RollbackError, match="rollback attack") as err:
            load_trust(url, trusted_root=project.root_v1, cache_dir=cache)
        assert "timestamp version 1 must be >= 2" in str(err.value)
        # A client that never saw the newer state has nothing to compare with: that is why the
        # cache directory must be kept.
        assert load_trust(url, trusted_root=project.root_v1, cache_dir=tmp_path / "fresh")


def test_timestamp_pointing_at_older_snapshot_is_refused(project: Project, tmp_path: Path) -> None:
    """Even with the timestamp key, an attacker cannot point clients back at an old snapshot."""
    cache = tmp_path / "c"
    project.repo.remove_stage("scan", [project.keys["targets"]])
    project.publish()
    assert "scan" not in verify(project, cache).stages
    forge_online(project, served(project, "1.snapshot.json"))
    with pytest.raises(RollbackError, match="snapshot version must be >= 2"):
        verify(project, cache)


def test_snapshot_rolling_back_a_revocation_is_refused(project: Project, tmp_path: Path) -> None:
    """With both online keys, an attacker re-serves targets from before a key was revoked."""
    keys, cache = project.keys, tmp_path / "c"
    old_targets = project.repo.targets().version
    old_ci = project.repo.load("ci").signed.version
    project.repo.update_stage(
        "ci", [keys["targets"], keys["ci2"]], revoke_keyids=[keys["ci1"].public_key.keyid]
    )
    project.publish()
    assert keys["ci1"].public_key.keyid not in verify(project, cache).stage("ci").keys
    forge_online(project, next_snapshot(project, targets=old_targets, ci=old_ci))
    with pytest.raises(RollbackError, match=r"(targets|ci)\.json version"):
        verify(project, cache)


# --------------------------------------------------------------------------- integrity


def test_policy_edited_on_server_without_resigning(project: Project, tmp_path: Path) -> None:
    policy = project.repo.policies()["production"]
    file = project.published / "targets" / "policies" / f"{policy.sha256}.production.yaml"
    file.write_bytes(file.read_bytes().replace(b"staging", b"nothing"))
    with pytest.raises(VerificationError, match="changed without being re-signed"):
        verify(project, tmp_path / "c")


def test_snapshot_edited_on_server_is_refused(project: Project, tmp_path: Path) -> None:
    snapshot = served(project, "1.snapshot.json")
    snapshot.signed.meta["targets.json"] = MetaFile(1)
    # Correctly signed by the snapshot key, but not the file the timestamp vouches for.
    serve(project, "1.snapshot.json", snapshot, project.keys["snapshot"])
    with pytest.raises(VerificationError, match="changed without being re-signed"):
        verify(project, tmp_path / "c")


def test_oversized_metadata_is_refused(project: Project, tmp_path: Path) -> None:
    (project.published / "metadata" / "timestamp.json").write_bytes(b" " * 20_000)
    with pytest.raises(SizeLimitError, match="larger than allowed"):
        verify(project, tmp_path / "c")


def test_malformed_metadata_is_refused(project: Project, tmp_path: Path) -> None:
    (project.published / "metadata" / "timestamp.json").write_bytes(b'{"signed": 1}')
    with pytest.raises(VerificationError, match="failed verification"):
        verify(project, tmp_path / "c")


# --------------------------------------------------------------------------- untrusted keys


def test_timestamp_signed_by_untrusted_key(project: Project, tmp_path: Path) -> None:
    forge_online(project, timestamp_signer=project.keys["attacker"])
    with pytest.raises(SignatureError, match="timestamp was signed by 0/1 keys"):
        verify(project, tmp_path / "c")


def test_targets_signed_by_untrusted_key(project: Project, tmp_path: Path) -> None:
    """The attacker adds its own key to the ci stage; even valid online signatures don't help."""
    keys = project.keys
    targets: Metadata[Targets] = served(project, f"{project.repo.targets().version}.targets.json")
    targets.signed.version += 1
    targets.signed.add_key(keys["attacker"].public_key, "ci")
    serve(project, f"{targets.signed.version}.targets.json", targets, keys["attacker"])
    forge_online(project, next_snapshot(project, targets=targets.signed.version))
    with pytest.raises(SignatureError, match="targets was signed by 0/1 keys"):
        verify(project, tmp_path / "c")


def test_stage_metadata_signed_by_revoked_key(project: Project, tmp_path: Path) -> None:
    keys = project.keys
    project.repo.update_stage(
        "ci", [keys["targets"], keys["ci2"]], revoke_keyids=[keys["ci1"].public_key.keyid]
    )
    project.publish()
    ci: Metadata[Targets] = served(project, f"{project.repo.load('ci').signed.version}.ci.json")
    ci.signed.version += 1
    serve(project, f"{ci.signed.version}.ci.json", ci, keys["ci1"])
    forge_online(project, next_snapshot(project, ci=ci.signed.version))
    with pytest.raises(SignatureError, match="ci was signed by 0/1 keys"):
        verify(project, tmp_path / "c")


def test_root_of_another_project_is_not_trusted(project: Project, tmp_path: Path) -> None:
    other = build_project(tmp_path / "other", project="other")
    with pytest.raises(SignatureError, match="not signed by a threshold of trusted keys"):
        load_trust(project.published, trusted_root=other.root_v1, cache_dir=tmp_path / "c")


# --------------------------------------------------------------------------- root rotation


def test_root_rotated_without_old_threshold_is_refused(project: Project, tmp_path: Path) -> None:
    keys = project.keys
    # Repository side: signed by the new root key and one of two old ones — not publishable.
    project.repo.rotate_root(
        [keys["root1"], keys["root3"]],
        add_keys=[keys["root3"].public_key],
        revoke_keyids=[keys["root2"].public_key.keyid],
    )
    with pytest.raises(SignatureError, match="root v2 needs 1 more signature"):
        project.publish()
    # Client side: a server that serves it anyway.
    (project.published / "metadata" / "2.root.json").write_bytes(
        (project.repo.metadata_dir / "2.root.json").read_bytes()
    )
    with pytest.raises(SignatureError, match="root was signed by 1/2 keys"):
        verify(project, tmp_path / "c")

    # An attacker's own root, signed by itself only.
    attacker = CryptoSigner.generate_ed25519()
    root: Metadata[Root] = served(project, "1.root.json")
    root.signed.version = 2
    for keyid in list(root.signed.roles["root"].keyids):
        root.signed.revoke_key(keyid, "root")
    root.signed.add_key(attacker.public_key, "root")
    root.signed.roles["root"].threshold = 1
    serve(project, "2.root.json", root, attacker)
    with pytest.raises(SignatureError, match="root was signed by 0/2 keys"):
        verify(project, tmp_path / "c2")


def test_root_rotation_chain_is_followed(project: Project, tmp_path: Path) -> None:
    keys, cache = project.keys, tmp_path / "c"
    assert verify(project, cache).root_version == 1
    # v2: add root3 (2-of-3). Old root (root1+root2) and new (2 of 3) both satisfied.
    project.repo.rotate_root(
        [keys["root1"], keys["root2"]], add_keys=[keys["root3"].public_key], threshold=2
    )
    # v3: retire root1, signed by root2+root3 — a threshold of v2 and of v3.
    project.repo.rotate_root([keys["root2"]], revoke_keyids=[keys["root1"].public_key.keyid])
    project.repo.sign("root", [keys["root3"]])
    # v4: replace the timestamp key (e.g. after the online host was compromised).
    new_ts = CryptoSigner.generate_ed25519()
    project.repo.rotate_root(
        [keys["root2"], keys["root3"]],
        role="timestamp",
        add_keys=[new_ts.public_key],
        revoke_keyids=[keys["timestamp"].public_key.keyid],
    )
    project.repo.publish([keys["snapshot"], new_ts])

    state = verify(project, cache)  # the client pinned v1 and walks 1→2→3→4
    assert state.root_version == 4
    fresh = verify(project, tmp_path / "fresh")
    assert fresh.root_version == 4

    # The old timestamp key is worthless now ...
    forge_online(project, timestamp_signer=keys["timestamp"])
    with pytest.raises(SignatureError, match="timestamp was signed by 0/1 keys"):
        verify(project, cache)
    # ... and so is the retired root key.
    root5: Metadata[Root] = served(project, "4.root.json")
    root5.signed.version = 5
    serve(project, "5.root.json", root5, keys["root1"])
    with pytest.raises(SignatureError, match="root was signed by 0/2 keys"):
        verify(project, tmp_path / "fresh2")


def test_rotation_of_targets_key_needs_new_targets(project: Project, tmp_path: Path) -> None:
    keys = project.keys
    new_targets = CryptoSigner.generate_ed25519()
    statuses = project.repo.rotate_root(
        [keys["root1"], keys["root2"], new_targets],
        role="targets",
        add_keys=[new_targets.public_key],
        revoke_keyids=[keys["targets"].public_key.keyid],
    )
    assert {s.role: s.verified for s in statuses} == {"root": True, "targets": True}
    project.publish()
    state = verify(project, tmp_path / "c")
    assert state.policies == {"production": project.repo.policy_bytes("production")}
    assert state.roles["targets"].version == project.repo.targets().version
