"""Client side: load_trust verifies a published trust root over HTTP, from a bundle, offline.

The helpers at the top (keys, a clock, a fully built project, a real uvicorn server serving
the trust sub-app) are shared with ``test_trust_attacks.py``.
"""

from __future__ import annotations

import io
import shutil
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from securesystemslib.signer import CryptoSigner
from starlette.applications import Starlette
from starlette.routing import Mount

from sealyard.errors import (
    DigestMismatchError,
    ExpiredMetadataError,
    NotFoundError,
    TransportError,
    UntrustedDataError,
    VerificationError,
)
from sealyard.trust.bundle_export import export_bundle, open_bundle
from sealyard.trust.root import TrustRepository
from sealyard.trust.serve import published_file, trust_app
from sealyard.trust.tufclient import load_trust
from tests.fixtures.net import free_port, wait_http

PROJECT = "shop"
POLICY = b"name: production\nrequire:\n  stages: [ci, scan, staging]\n"

KEY_NAMES = (
    "root1",
    "root2",
    "root3",
    "targets",
    "snapshot",
    "timestamp",
    "ci1",
    "ci2",
    "scan1",
    "staging1",
    "staging2",
    "staging3",
    "attacker",
)


@dataclass
class Clock:
    """The repository's notion of now; tests move it to make metadata age."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Project:
    repo: TrustRepository
    keys: dict[str, CryptoSigner]
    clock: Clock
    data_dir: Path

    @property
    def root_v1(self) -> bytes:
        return (self.repo.metadata_dir / "1.root.json").read_bytes()

    @property
    def published(self) -> Path:
        return self.repo.published_dir

    def pub(self, *names: str) -> list[object]:
        return [self.keys[n].public_key for n in names]

    def publish(self) -> None:
        self.repo.publish([self.keys["snapshot"], self.keys["timestamp"]])


def make_keys() -> dict[str, CryptoSigner]:
    return {name: CryptoSigner.generate_ed25519() for name in KEY_NAMES}


def build_project(data_dir: Path, *, project: str = PROJECT) -> Project:
    """init (root 2-of-2) → stages ci 1-of-2, scan 1-of-1, staging 2-of-3 → policy → publish."""
    keys = make_keys()
    clock = Clock()
    k = {n: s.public_key for n, s in keys.items()}
    repo = TrustRepository.create(
        data_dir / "trust" / project,
        project,
        root_keys=[k["root1"], k["root2"]],
        root_threshold=2,
        targets_keys=[k["targets"]],
        snapshot_keys=[k["snapshot"]],
        timestamp_keys=[k["timestamp"]],
        signers=[keys["root1"], keys["root2"], keys["targets"]],
        clock=clock,
    )
    repo.add_stage("ci", [k["ci1"], k["ci2"]], 1, [keys["targets"], keys["ci1"]])
    repo.add_stage("scan", [k["scan1"]], 1, [keys["targets"], keys["scan1"]])
    repo.add_stage(
        "staging",
        [k["staging1"], k["staging2"], k["staging3"]],
        2,
        [keys["targets"], keys["staging1"], keys["staging3"]],
    )
    repo.set_policy("production", POLICY, [keys["targets"]])
    proj = Project(repo, keys, clock, data_dir)
    proj.publish()
    return proj


@contextmanager
def serve_trust(data_dir: Path) -> Iterator[str]:
    """A real uvicorn server with the trust app mounted as the registry mounts it."""
    app = Starlette(routes=[Mount("/trust", app=trust_app(data_dir))])
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/trust/none/metadata/timestamp.json", timeout=15)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return build_project(tmp_path / "data")


@pytest.fixture
def server(project: Project) -> Iterator[str]:
    with serve_trust(project.data_dir) as base:
        yield base


# --------------------------------------------------------------------------- happy path


@pytest.mark.integration
def test_load_trust_over_http_from_pinned_root(
    project: Project, server: str, tmp_path: Path
) -> None:
    state = load_trust(
        f"{server}/trust/{PROJECT}",
        trusted_root=project.root_v1,
        cache_dir=tmp_path / "cache",
        project=PROJECT,
    )
    assert state.project == PROJECT
    assert list(state.stages) == ["ci", "scan", "staging"]
    keys = project.keys
    ci = state.stage("ci")
    assert ci.threshold == 1
    assert set(ci.keys) == {keys["ci1"].public_key.keyid, keys["ci2"].public_key.keyid}
    assert state.stage("scan").threshold == 1
    assert set(state.stage("scan").keys) == {keys["scan1"].public_key.keyid}
    staging = state.stage("staging")
    assert (staging.threshold, len(staging.keys)) == (2, 3)
    assert state.policies == {"production": POLICY}
    assert state.root_version == 1
    assert state.roles["timestamp"].version == 1
    assert state.roles["targets"].version == project.repo.targets().version
    with pytest.raises(NotFoundError, match="no stage 'deploy'"):
        state.stage("deploy")


@pytest.mark.integration
def test_revoked_key_stops_counting_after_publish(
    project: Project, server: str, tmp_path: Path
) -> None:
    url, cache = f"{server}/trust/{PROJECT}", tmp_path / "cache"
    keys = project.keys
    before = load_trust(url, trusted_root=project.root_v1, cache_dir=cache)
    assert keys["ci1"].public_key.keyid in before.stage("ci").keys

    # ci's metadata was signed by ci1 only: revoking ci1 needs a fresh version signed by ci2.
    project.repo.update_stage(
        "ci", [keys["targets"], keys["ci2"]], revoke_keyids=[keys["ci1"].public_key.keyid[:12]]
    )
    project.publish()

    after = load_trust(url, trusted_root=project.root_v1, cache_dir=cache)
    assert set(after.stage("ci").keys) == {keys["ci2"].public_key.keyid}
    assert after.roles["timestamp"].version == before.roles["timestamp"].version + 1
    assert after.stage("ci").version == before.stage("ci").version + 1


@pytest.mark.integration
def test_policy_update_and_stage_removal_reach_the_client(
    project: Project, server: str, tmp_path: Path
) -> None:
    url, cache = f"{server}/trust/{PROJECT}", tmp_path / "cache"
    load_trust(url, trusted_root=project.root_v1, cache_dir=cache)
    targets = project.keys["targets"]
    project.repo.set_policy("production", POLICY + b"  max_severity: high\n", [targets])
    project.repo.set_policy("dev", b"allow: all\n", [targets])
    project.repo.remove_stage("scan", [targets])
    project.publish()
    state = load_trust(url, trusted_root=project.root_v1, cache_dir=cache)
    assert state.policies["production"].endswith(b"max_severity: high\n")
    assert state.policies["dev"] == b"allow: all\n"
    assert "scan" not in state.stages


@pytest.mark.integration
def test_server_serves_only_published_files(project: Project, server: str) -> None:
    base = f"{server}/trust/{PROJECT}"
    with httpx.Client(timeout=10) as http:
        ts = http.get(f"{base}/metadata/timestamp.json")
        assert ts.status_code == 200
        assert ts.headers["cache-control"] == "no-cache"
        assert ts.content == (project.published / "metadata" / "timestamp.json").read_bytes()
        one = http.get(f"{base}/metadata/1.root.json")
        assert "immutable" in one.headers["cache-control"]
        head = http.head(f"{base}/metadata/1.root.json")
        assert head.status_code == 200
        assert int(head.headers["content-length"]) == len(one.content)
        policy = project.repo.policies()["production"]
        target = http.get(f"{base}/targets/policies/{policy.sha256}.production.yaml")
        assert target.content == POLICY

        # A change that is not published yet is not served.
        project.repo.set_policy("production", b"draft: true\n", [project.keys["targets"]])
        unpublished = project.repo.targets().version
        assert http.get(f"{base}/metadata/{unpublished}.targets.json").status_code == 404
        # The working tree, config and anything outside published/ are unreachable.
        for path in (
            "metadata/..%2F..%2Fconfig.json",
            "metadata/%2e%2e/%2e%2e/config.json",
            "metadata/../../config.json",
            "../config.json",
            "config/x",
            "metadata/.lock",
        ):
            assert http.get(f"{base}/{path}").status_code == 404, path
        assert http.get(f"{server}/trust/NoSuch/metadata/timestamp.json").status_code == 404


def test_published_file_refuses_traversal_and_symlinks(project: Project, tmp_path: Path) -> None:
    data = project.data_dir
    assert published_file(data, PROJECT, "metadata", "timestamp.json") is not None
    assert published_file(data, PROJECT, "metadata", "../../config.json") is None
    assert published_file(data, PROJECT, "metadata", "..") is None
    assert published_file(data, PROJECT, "elsewhere", "timestamp.json") is None
    assert published_file(data, "../etc", "metadata", "timestamp.json") is None
    secret = tmp_path / "secret.json"
    secret.write_text("{}")
    (project.published / "metadata" / "leak.json").symlink_to(secret)
    assert published_file(data, PROJECT, "metadata", "leak.json") is None


# --------------------------------------------------------------------------- offline


def test_offline_bundle_verifies_without_network(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "shop-trust.tar"
    info = export_bundle(project.published, bundle, project=PROJECT)
    assert info.files >= 6
    pinned = project.root_v1
    project.repo.path.rename(tmp_path / "gone")  # the repository (and its server) are away

    state = load_trust(bundle, trusted_root=pinned, cache_dir=tmp_path / "c1", offline=True)
    assert set(state.stages) == {"ci", "scan", "staging"}
    assert state.policies == {"production": POLICY}

    extracted = open_bundle(bundle, tmp_path / "extracted")
    again = load_trust(extracted, trusted_root=pinned, cache_dir=tmp_path / "c2")
    assert again.stage("staging").threshold == 2
    with monkeypatch.context() as m:  # relative paths work too
        m.chdir(tmp_path)
        relative = load_trust("extracted", trusted_root=pinned, cache_dir=Path("c3"))
    assert relative.policies == {"production": POLICY}


def test_offline_bundle_still_enforces_expiry(project: Project, tmp_path: Path) -> None:
    bundle = tmp_path / "b.tar"
    export_bundle(project.published, bundle, project=PROJECT)
    later = project.clock.now + timedelta(days=1, seconds=1)
    with pytest.raises(ExpiredMetadataError, match=r"timestamp\.json is expired"):
        load_trust(
            bundle, trusted_root=project.root_v1, cache_dir=tmp_path / "c", offline=True, now=later
        )


@pytest.mark.integration
def test_offline_url_uses_only_the_cache(project: Project, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with serve_trust(project.data_dir) as base:
        url = f"{base}/trust/{PROJECT}"
        with pytest.raises(TransportError, match="no cached trust metadata"):
            load_trust(url, trusted_root=project.root_v1, cache_dir=cache, offline=True)
        online = load_trust(url, trusted_root=project.root_v1, cache_dir=cache)
    # The server is gone now.
    offline = load_trust(url, trusted_root=project.root_v1, cache_dir=cache, offline=True)
    assert offline.policies == online.policies
    assert offline.roles == online.roles
    with pytest.raises(ExpiredMetadataError):
        load_trust(
            url,
            trusted_root=project.root_v1,
            cache_dir=cache,
            offline=True,
            now=project.clock.now + timedelta(days=2),
        )
    with pytest.raises(TransportError, match="cannot fetch"):
        load_trust(url, trusted_root=project.root_v1, cache_dir=cache)


def test_bundle_that_is_tampered_or_hostile_is_refused(project: Project, tmp_path: Path) -> None:
    bundle = tmp_path / "b.tar"
    export_bundle(project.published, bundle, project=PROJECT)

    hostile = tmp_path / "hostile.tar"
    with tarfile.open(hostile, "w") as tar:
        tar.add(project.repo.path / "config.json", arcname="metadata/../../escape.json")
    with pytest.raises(UntrustedDataError, match="refusing tar member"):
        open_bundle(hostile, tmp_path / "x")
    assert not (tmp_path / "escape.json").exists()

    # Same member list, one file's content replaced.
    changed = tmp_path / "changed.tar"
    with tarfile.open(bundle) as src, tarfile.open(changed, "w") as dst:
        for member in src:
            f = src.extractfile(member)
            assert f is not None
            data = f.read()
            if member.name == "metadata/1.root.json":
                data = data.replace(b'"version": 1', b'"version": 1 ')
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    with pytest.raises(DigestMismatchError, match=r"1\.root\.json"):
        open_bundle(changed, tmp_path / "y")

    with pytest.raises(UntrustedDataError, match="not a readable tar"):
        open_bundle(project.repo.path / "config.json", tmp_path / "z")


def test_wrong_project_or_source_is_a_clear_error(project: Project, tmp_path: Path) -> None:
    with pytest.raises(VerificationError, match="belongs to project 'shop', not 'other'"):
        load_trust(
            project.published,
            trusted_root=project.root_v1,
            cache_dir=tmp_path / "c",
            project="other",
        )
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(Exception, match="neither a trust bundle nor a directory"):
        load_trust(empty, trusted_root=project.root_v1, cache_dir=tmp_path / "c2")
    with pytest.raises(VerificationError, match="failed verification"):
        load_trust(project.published, trusted_root=b"not json", cache_dir=tmp_path / "c3")


@pytest.mark.integration
def test_unpublished_project_names_the_fix(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proj = build_project(data)
    shutil.rmtree(proj.published)
    with serve_trust(data) as base, pytest.raises(TransportError, match="trust publish"):
        load_trust(f"{base}/trust/{PROJECT}", trusted_root=proj.root_v1, cache_dir=tmp_path / "c")
