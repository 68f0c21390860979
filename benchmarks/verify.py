"""Verification latency: one image under a 3-stage threshold policy, cold and warm.

    .venv/bin/python benchmarks/verify.py [--images 20] [--rounds 5]

Starts a real ``sealyard serve`` on loopback, publishes a TUF trust root for project
``bench`` (ci 1-of-2, scan 1-of-1, staging 2-of-3, policy ``production``), pushes N images
and attaches 4 signed attestations to each (ci, scan, two staging approvals). Then times
``sealyard.policy.verify.verify_image`` per image:

* cold — empty trust cache: the TUF client walks from the pinned root (root, timestamp,
  snapshot, targets, three stage roles, the policy target), then resolves the image,
  fetches its attestations and evaluates;
* warm, disk cache — the trust metadata is cached on disk (TUF still refreshes timestamp,
  and re-reads what changed: nothing);
* warm, in-process (a gate): the verified trust state is kept in memory for its TTL, so a
  verification is resolve + referrers + 4 bundles over HTTP + 4 signature checks + policy;
* evaluate only — the policy evaluation over bundles already in memory.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from securesystemslib.signer import CryptoSigner  # noqa: E402

from sealyard.client.registry import RegistryClient  # noqa: E402
from sealyard.config import load_settings  # noqa: E402
from sealyard.policy.evaluate import evaluate  # noqa: E402
from sealyard.policy.model import parse_policy  # noqa: E402
from sealyard.policy.verify import TrustCache, load_project_trust, verify_image  # noqa: E402
from sealyard.registry.app import open_registry  # noqa: E402
from sealyard.trust.attach import fetch_attestations  # noqa: E402
from sealyard.trust.predicates import (  # noqa: E402
    APPROVAL_V1,
    SCAN_V1,
    SLSA_PROVENANCE_V1,
    STAGE_PARAMETER,
    Approval,
    DatabaseSource,
    Provenance,
    ScanResult,
)
from sealyard.trust.root import TrustRepository  # noqa: E402
from sealyard.trust.sign import sign_image  # noqa: E402
from tests.fixtures.images import FileEntry, build_image, build_layer  # noqa: E402
from tests.fixtures.sealyard_server import ADMIN_PASSWORD, start_sealyard  # noqa: E402

POLICY = b"""apiVersion: sealyard.dev/v1
kind: Policy
name: production
maxAge: 7d
stages:
  ci: {}
  scan: {maxAge: 24h, failOn: CRITICAL}
  staging: {}
"""


def ms(values: list[float]) -> str:
    p90 = sorted(values)[int(len(values) * 0.9) - 1]
    return f"median {statistics.median(values) * 1000:.1f} ms, p90 {p90 * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sy-verify-"))
    # Production defaults for the auth cache (tests turn it off): a pull-time verifier
    # authenticates once, not per request.
    server = start_sealyard(work / "data", auth_cache_seconds=10.0)
    try:
        keys = {
            n: CryptoSigner.generate_ed25519()
            for n in ("root", "targets", "online", "ci1", "ci2", "scan", "st1", "st2", "st3")
        }
        pub = {n: s.public_key for n, s in keys.items()}
        repo = TrustRepository.create(
            server.data_dir / "trust" / "bench",
            "bench",
            root_keys=[pub["root"]],
            root_threshold=1,
            targets_keys=[pub["targets"]],
            snapshot_keys=[pub["online"]],
            timestamp_keys=[pub["online"]],
            signers=[keys["root"], keys["targets"]],
        )
        repo.add_stage("ci", [pub["ci1"], pub["ci2"]], 1, [keys["targets"], keys["ci1"]])
        repo.add_stage("scan", [pub["scan"]], 1, [keys["targets"], keys["scan"]])
        repo.add_stage(
            "staging",
            [pub["st1"], pub["st2"], pub["st3"]],
            2,
            [keys["targets"], keys["st1"], keys["st2"]],
        )
        repo.set_policy("production", POLICY, [keys["targets"]])
        repo.publish([keys["online"]])
        root_file = work / "root.json"
        root_file.write_bytes((repo.metadata_dir / "1.root.json").read_bytes())
        registry = open_registry(
            load_settings(server.config, data_dir=server.data_dir), migrate=False
        )
        registry.accounts.create_project("bench")
        registry.close()

        client = RegistryClient(server.host, credentials=("admin", ADMIN_PASSWORD))
        now = datetime.now(UTC)
        refs = []
        for i in range(args.images):
            image = build_image([build_layer([FileEntry(f"etc/image-{i}", str(i).encode())])])
            for _digest, data in image.blobs():
                client.push_blob(f"bench/app{i}", data)
            client.put_manifest(f"bench/app{i}", "1", image.manifest, image.media_type)
            stages = [
                (
                    "ci",
                    SLSA_PROVENANCE_V1,
                    Provenance(
                        build_type="https://sealyard.dev/build/bench/v1",
                        external_parameters={},
                        builder_id="https://ci.example/1",
                        finished_on=now - timedelta(hours=1),
                        internal_parameters={STAGE_PARAMETER: "ci"},
                    ).to_dict(),
                    [keys["ci1"]],
                ),
                (
                    "scan",
                    SCAN_V1,
                    ScanResult.build(
                        scanner_name="sealyard",
                        scanner_version="0.1.0",
                        sources=[DatabaseSource("pypa", now)],
                        sbom_digest="sha256:" + "a" * 64,
                        sbom_media_type="application/vnd.cyclonedx+json",
                        summary={"high": 1},
                        findings=["CVE-2099-1"],
                        ratings={"CVE-2099-1": "high"},
                        scanned_at=now - timedelta(minutes=30),
                    ).to_dict(),
                    [keys["scan"]],
                ),
                ("staging", APPROVAL_V1, Approval("staging", "qa", now).to_dict(), [keys["st1"]]),
                ("staging", APPROVAL_V1, Approval("staging", "ops", now).to_dict(), [keys["st3"]]),
            ]
            for stage, kind, predicate, signers in stages:
                sign_image(
                    client,
                    f"bench/app{i}",
                    image.digest,
                    stage=stage,
                    predicate_type=kind,
                    predicate=predicate,
                    signers=signers,
                )
            refs.append(f"{server.host}/bench/app{i}:1")
        creds = ("admin", ADMIN_PASSWORD)

        cold, warm_disk, warm_mem, evaluate_only = [], [], [], []
        for r in range(args.rounds):
            for i, ref in enumerate(refs):
                cache = work / f"cache-cold-{r}-{i}"
                import os

                os.environ["SEALYARD_CACHE"] = str(cache)
                t0 = time.perf_counter()
                decision, _ = verify_image(
                    ref, policy="production", trust=None, root=root_file, credentials=creds
                )
                cold.append(time.perf_counter() - t0)
                assert decision.allowed, decision.explain()
        import os

        os.environ["SEALYARD_CACHE"] = str(work / "cache-warm")
        verify_image(refs[0], policy="production", trust=None, root=root_file, credentials=creds)
        for _ in range(args.rounds):
            for ref in refs:
                t0 = time.perf_counter()
                decision, _ = verify_image(
                    ref, policy="production", trust=None, root=None, credentials=creds
                )
                warm_disk.append(time.perf_counter() - t0)
                assert decision.allowed
        trust_cache = TrustCache(ttl=300)
        gate = RegistryClient(server.host, credentials=creds)
        pinned = [
            f"{ref.rsplit(':', 1)[0]}@{gate.get_manifest(f'bench/app{i}', '1')[2]}"
            for i, ref in enumerate(refs)
        ]
        warm_pinned: list[float] = []
        for mode, targets, sink in (("tag", refs, warm_mem), ("digest", pinned, warm_pinned)):
            for ref in targets:  # a gate's first look: pull token per repository, referrers
                verify_image(
                    ref,
                    policy="production",
                    trust=None,
                    root=None,
                    trust_cache=trust_cache,
                    client=gate,
                )
            for _ in range(args.rounds):
                for ref in targets:
                    t0 = time.perf_counter()
                    decision, digest = verify_image(
                        ref,
                        policy="production",
                        trust=None,
                        root=None,
                        trust_cache=trust_cache,
                        client=gate,
                    )
                    sink.append(time.perf_counter() - t0)
                    assert decision.allowed, (mode, decision.explain())
        state = load_project_trust("bench", trust=None, root=None, registry=server.host)
        policy = parse_policy(state.policies["production"])
        bundles = {}
        for i in range(args.images):
            digest = client.get_manifest(f"bench/app{i}", "1")[2]
            bundles[i] = (
                digest,
                [
                    (str(f.descriptor.digest), f.bundle)
                    for f in fetch_attestations(client, f"bench/app{i}", digest)
                ],
            )
        for _ in range(args.rounds):
            for i, (digest, found) in bundles.items():
                t0 = time.perf_counter()
                decision = evaluate(
                    policy, state, repository=f"bench/app{i}", digest=digest, attestations=found
                )
                evaluate_only.append(time.perf_counter() - t0)
                assert decision.allowed
        client.close()
        print(f"machine: {platform.machine()}, python {platform.python_version()}")
        print(
            f"{args.images} images x {args.rounds} rounds, 4 attestations each, policy of 3 stages"
        )
        print(f"cold (empty trust cache)        : {ms(cold)}")
        print(f"warm (trust cached on disk)     : {ms(warm_disk)}")
        print(f"warm, gate cache, by tag        : {ms(warm_mem)}")
        print(f"warm, gate cache, by digest     : {ms(warm_pinned)}")
        print(f"evaluate only (bundles in hand) : {ms(evaluate_only)}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
