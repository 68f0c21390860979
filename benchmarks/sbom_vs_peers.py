"""Time Sealyard, syft and trivy producing an SBOM of the same images, in one run.

Images are built from a Debian root filesystem made by ``debootstrap`` (see
``benchmarks/build_debian_rootfs.sh``): a small one (minbase + Python, ~100 MB) and a large
one (plus Node.js/npm, Go, a JRE and Java libraries, ~1 GB, many files). Each becomes a
one-layer OCI layout; every tool reads the same layout from disk. Reported per tool: wall
time (median of N runs) and peak resident memory of the tool's process (``wait4`` rusage).

    .venv/bin/python benchmarks/sbom_vs_peers.py --rootfs /var/tmp/sy-peers/base-rootfs \
        --rootfs /var/tmp/sy-peers/rootfs --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixtures.peers import find_syft, find_trivy  # noqa: E402
from tests.fixtures.rootfs import write_layer_file  # noqa: E402


def build_layout(rootfs: Path, dest: Path) -> int:
    """A one-layer OCI layout of ``rootfs``; returns the layer size."""
    blobs = dest / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    tmp = dest / "layer.tmp"
    digest, diff_id, size = write_layer_file(rootfs, tmp)
    tmp.rename(blobs / digest.split(":")[1])
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "config": {},
            "created": "1970-01-01T00:00:00Z",
        }
    ).encode()
    import hashlib

    cfg_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    (blobs / cfg_digest.split(":")[1]).write_bytes(config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": cfg_digest,
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": digest,
                    "size": size,
                }
            ],
        }
    ).encode()
    man_digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    (blobs / man_digest.split(":")[1]).write_bytes(manifest)
    (dest / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (dest / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": man_digest,
                        "size": len(manifest),
                        "annotations": {"org.opencontainers.image.ref.name": "latest"},
                    }
                ],
            }
        )
    )
    return size


def measure(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one run of ``cmd``."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env or os.environ.copy()
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise SystemExit(f"{cmd[0]} failed:\n{err[-2000:]}")
    return elapsed, usage.ru_maxrss


def count_files(root: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(root))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rootfs", type=Path, action="append", required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    syft, trivy = find_syft(), find_trivy()
    if not syft or not trivy:
        raise SystemExit("syft/trivy missing: run scripts/install-peers.sh")
    sealyard = str(ROOT / ".venv" / "bin" / "sealyard")
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    print(f"# SBOM: Sealyard vs syft vs trivy ({datetime.now(UTC):%Y-%m-%d %H:%M UTC})")
    print(f"- machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}")
    results = []
    with tempfile.TemporaryDirectory(prefix="sbom-bench-") as work:
        for rootfs in args.rootfs:
            layout = Path(work) / rootfs.name
            size = build_layout(rootfs, layout)
            files = count_files(rootfs)
            print(f"\n## {rootfs.name}: {files} files, layer {size / 1e6:.0f} MB (gzip -1)")
            cache = Path(work) / "trivy-cache"
            tools = {
                "sealyard": [
                    sealyard,
                    "sbom",
                    f"oci:{layout}:latest",
                    "-o",
                    "json",
                    "--output-file",
                    str(Path(work) / "s.json"),
                ],
                "syft": [
                    syft,
                    "scan",
                    f"oci-dir:{layout}",
                    "-q",
                    "-o",
                    f"syft-json={Path(work) / 'y.json'}",
                ],
                "trivy": [
                    trivy,
                    "image",
                    "--input",
                    str(layout),
                    "--offline-scan",
                    "--skip-db-update",
                    "--skip-java-db-update",
                    "--skip-files",
                    "**/*.jar",
                    "--cache-dir",
                    str(cache),
                    "--format",
                    "cyclonedx",
                    "--output",
                    str(Path(work) / "t.json"),
                    "-q",
                ],
            }
            env = {**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"}
            print("| tool | median s | min s | peak RSS MB |\n|---|---:|---:|---:|")
            for name, cmd in tools.items():
                times, rss = [], []
                for _ in range(args.runs):
                    if name == "trivy":
                        subprocess.run(
                            ["rm", "-rf", str(cache)], check=True
                        )  # cold, like the others
                    t, m = measure(cmd, env)
                    times.append(t)
                    rss.append(m)
                row = {
                    "image": rootfs.name,
                    "tool": name,
                    "median": statistics.median(times),
                    "min": min(times),
                    "peak_rss_mb": max(rss) / 1024,
                    "times": times,
                }
                results.append(row)
                cells = f"{row['median']:.2f} | {row['min']:.2f} | {row['peak_rss_mb']:.0f}"
                print(f"| {name} | {cells} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
