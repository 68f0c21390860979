"""Acceptance: the full CI → scan → staging → verify flow against a real registry, keys on
disk and in SoftHSM2, then the same verification offline from an exported trust bundle and
an image copied with its attestations, with the registry stopped."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from sealyard.config import load_settings
from sealyard.registry.app import open_registry
from tests.conftest import need
from tests.fixtures.images import FileEntry, build_image, build_layer, write_oci_layout
from tests.fixtures.sealyard_server import ADMIN_PASSWORD, start_sealyard
from tests.fixtures.softhsm import make_token

pytestmark = pytest.mark.integration

PASSPHRASE = "e2e key passphrase"
SITE = "usr/local/lib/python3.11/site-packages"
POLICY = """\
apiVersion: sealyard.dev/v1
kind: Policy
name: production
scope: {repositories: ["shop/*"]}
maxAge: 7d
stages:
  ci: {}
  scan: {maxAge: 24h, failOn: CRITICAL}
  staging: {}
"""
PROVENANCE = {
    "predicateType": "https://slsa.dev/provenance/v1",
    "predicate": {
        "buildDefinition": {
            "buildType": "https://sealyard.dev/build/e2e/v1",
            "externalParameters": {"source": "https://git.example/shop/app@abc123"},
        },
        "runDetails": {
            "builder": {"id": "https://ci.example/runner/7"},
            "metadata": {"finishedOn": "REPLACED"},
        },
    },
}


class Cli:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def __call__(
        self, command: str, *extra: str | Path, ok: bool = True
    ) -> subprocess.CompletedProcess[str]:
        args = [sys.executable, "-m", "sealyard", *shlex.split(command), *map(str, extra)]
        result = subprocess.run(
            args, capture_output=True, text=True, env=self.env, timeout=300, check=False
        )
        if ok:
            assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
        return result


def test_ci_scan_staging_then_offline_verification(tmp_path: Path) -> None:
    server = start_sealyard(tmp_path / "data")
    data = server.data_dir
    token = make_token(tmp_path / "hsm")
    token.generate_key(3)
    env = {
        **os.environ,
        "SEALYARD_KEYS": str(tmp_path / "keys"),
        "SEALYARD_KEY_PASSPHRASE": PASSPHRASE,
        "SEALYARD_HSM_PIN": token.pin,
        "SOFTHSM2_CONF": str(token.conf),
        "PYKCS11LIB": str(token.module),
        "SEALYARD_CACHE": str(tmp_path / "cache"),
    }
    env.pop("SEALYARD_DATA", None)
    sealyard = Cli(env)
    d = ("--data", data)
    try:
        registry = open_registry(load_settings(server.config, data_dir=data), migrate=False)
        registry.accounts.create_project("shop")
        registry.close()
        for name in ("root", "targets", "online", "ci1", "ci2", "st1", "st2"):
            sealyard(f"key generate {name} --type ed25519")
        sealyard("key generate scanner --type ecdsa-p256")
        sealyard(f"key hsm-pubkey {token.uri(3)} --save st3")

        # The project's trust root: ci 1-of-2, scan 1-of-1, staging 2-of-3 (one in the HSM).
        sealyard(
            "trust init shop --root-pubkey root --targets-pubkey targets "
            "--snapshot-pubkey online --timestamp-pubkey online --key root --key targets",
            *d,
        )
        sealyard("trust stage add shop ci --pubkey ci1 --pubkey ci2 --key targets --key ci1", *d)
        sealyard("trust stage add shop scan --pubkey scanner --key targets --key scanner", *d)
        sealyard(
            "trust stage add shop staging --threshold 2 --pubkey st1 --pubkey st2 --pubkey st3 "
            "--key targets --key st1 --key st2",
            *d,
        )
        policy = tmp_path / "production.yaml"
        policy.write_text(POLICY)
        sealyard("trust policy set shop production --key targets", policy, *d)
        sealyard("trust publish shop --key online", *d)
        root = tmp_path / "pinned-root.json"
        root.write_bytes((data / "trust" / "shop" / "metadata" / "1.root.json").read_bytes())

        # An image with a vulnerable package (high, not critical), pushed with skopeo.
        layer = build_layer(
            [
                FileEntry("etc/os-release", b'ID=debian\nVERSION_ID="12"\n'),
                FileEntry(
                    f"{SITE}/requests-2.31.0.dist-info/METADATA",
                    b"Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\n",
                ),
            ]
        )
        image = build_image([layer])
        unsigned = build_image([build_layer([FileEntry("etc/hostname", b"other\n")])])
        layout = write_oci_layout(tmp_path / "layout", {"v1": image, "other": unsigned})
        for tag, target in (("v1", "app:1"), ("other", "app:unsigned")):
            subprocess.run(
                [
                    need("skopeo"),
                    "--insecure-policy",
                    "copy",
                    "--dest-tls-verify=false",
                    "--dest-creds",
                    f"admin:{ADMIN_PASSWORD}",
                    f"oci:{layout}:{tag}",
                    f"docker://{server.host}/shop/{target}",
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
        ref = f"{server.host}/shop/app:1"
        creds = ("--creds", f"admin:{ADMIN_PASSWORD}")

        # Nothing signed yet: refused, and the reason names the stages.
        denied = sealyard("verify", ref, "--policy", "production", "--root", root, *creds, ok=False)
        assert denied.returncode == 1
        assert "DENIED" in denied.stdout
        assert "[FAIL] ci" in denied.stdout

        # CI: SLSA provenance signed by one of the two CI keys.
        from datetime import UTC, datetime

        PROVENANCE["predicate"]["runDetails"]["metadata"]["finishedOn"] = (  # type: ignore[index]
            datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        )
        provenance = tmp_path / "provenance.json"
        provenance.write_text(json.dumps(PROVENANCE))
        sealyard("sign", ref, "--stage", "ci", "--key", "ci1", "--predicate", provenance, *creds)

        # Scan: advisories imported, scan attests, the scanner key signs.
        advisory = tmp_path / "GHSA-e2e.json"
        advisory.write_text(
            json.dumps(
                {
                    "id": "GHSA-e2e",
                    "modified": "2026-11-01T00:00:00Z",
                    "aliases": ["CVE-2099-4242"],
                    "database_specific": {"severity": "HIGH"},
                    "affected": [
                        {
                            "package": {"ecosystem": "PyPI", "name": "requests"},
                            "ranges": [
                                {
                                    "type": "ECOSYSTEM",
                                    "events": [{"introduced": "0"}, {"fixed": "2.32.0"}],
                                }
                            ],
                        }
                    ],
                }
            )
        )
        scan_data = tmp_path / "scan-data"
        sealyard("db import --data", scan_data, advisory)
        attest = tmp_path / "scan.json"
        sealyard("scan --data", scan_data, ref, "--attest", attest, *creds)
        scan_doc = json.loads(attest.read_text())
        assert scan_doc["predicate"]["summary"]["high"] == 1
        assert scan_doc["predicate"]["findingRatings"] == {"CVE-2099-4242": "high"}
        sealyard("sign", ref, "--stage", "scan", "--key", "scanner", "--predicate", attest, *creds)

        # Staging: one approval from a key file is not enough (2-of-3) …
        sealyard("sign", ref, "--stage", "staging", "--key", "st1", "--approver", "qa", *creds)
        partial = sealyard(
            "verify", ref, "--policy", "production", "--root", root, *creds, ok=False
        )
        assert partial.returncode == 1
        assert "[FAIL] staging: 1 of 2" in partial.stdout
        # … the same key again still counts once …
        sealyard("sign", ref, "--stage", "staging", "--key", "st1", "--approver", "qa", *creds)
        again = sealyard("verify", ref, "--policy", "production", "--root", root, *creds, ok=False)
        assert "[FAIL] staging: 1 of 2" in again.stdout
        # … the HSM key makes it two.
        sealyard(
            "sign", ref, "--stage", "staging", "--key", token.uri(3), "--approver", "ops", *creds
        )
        allowed = sealyard("verify", ref, "--policy", "production", "--root", root, *creds)
        assert allowed.stdout.startswith("ALLOWED")
        assert "[ok ] staging: 2 of 2" in allowed.stdout
        decision = json.loads(
            sealyard("verify", ref, "--policy", "production", "-o", "json", *creds).stdout
        )  # the root is now cached: no --root needed
        assert decision["allowed"] is True
        assert decision["digest"] == image.digest

        # A tampered manifest under a tag (same layers, one annotation more) is another digest:
        # none of the signatures are about it.
        from sealyard.client.registry import RegistryClient

        tampered = json.loads(image.manifest)
        tampered["annotations"] = {"org.opencontainers.image.title": "not what was signed"}
        client = RegistryClient(server.host, credentials=("admin", ADMIN_PASSWORD))
        client.put_manifest("shop/app", "tampered", json.dumps(tampered).encode(), image.media_type)
        client.close()
        forged = sealyard(
            "verify", f"{server.host}/shop/app:tampered", "--policy", "production", *creds, ok=False
        )
        assert forged.returncode == 1
        assert "no valid attestation" in forged.stdout

        # The unsigned neighbour stays refused.
        other = sealyard(
            "verify", f"{server.host}/shop/app:unsigned", "--policy", "production", *creds, ok=False
        )
        assert other.returncode == 1

        # Air gap: copy the image with its referrers, export the trust bundle, stop the registry.
        copied = sealyard(
            "copy", ref, f"oci:{tmp_path / 'airgap'}:1", "--src-creds", f"admin:{ADMIN_PASSWORD}"
        )
        assert "referrer(s)" in copied.stdout
        bundle = tmp_path / "shop-trust.tar"
        sealyard("trust export shop -o", bundle, *d)
    finally:
        server.stop()
    offline_env = {**env, "SEALYARD_CACHE": str(tmp_path / "offline-cache")}
    offline = Cli(offline_env)(
        "verify",
        f"oci:{tmp_path / 'airgap'}:1",
        "--policy",
        "production",
        "--trust",
        bundle,
        "--root",
        root,
        "--offline",
    )
    assert offline.stdout.startswith("ALLOWED"), offline.stdout
    assert "[ok ] ci: 1 of 1" in offline.stdout
    assert "[ok ] scan: 1 of 1" in offline.stdout
