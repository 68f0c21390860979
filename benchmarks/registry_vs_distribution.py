#!/usr/bin/env python3
"""Hand-run benchmark: skopeo push/pull of the same image to Sealyard and to CNCF distribution.

Not a test. Run from the repository root, e.g.::

    .venv/bin/python benchmarks/registry_vs_distribution.py   # 5 rounds, 100 MB, 5 layers
    .venv/bin/python benchmarks/registry_vs_distribution.py --only distribution --rounds 3
    .venv/bin/python benchmarks/registry_vs_distribution.py --json benchmarks/out/run.json

Both registries run on loopback over plain HTTP at the same time; Sealyard is started as
``sealyard serve --data DIR --listen 127.0.0.1:PORT`` with a random admin password, and
distribution is Debian's ``docker-registry`` (2.8) with filesystem storage and no auth.

What one round does, per registry (the order of the registries alternates every round):

* push: ``skopeo copy oci:LAYOUT:bench docker://HOST/library/bench-rN:bench``
* pull: ``skopeo copy docker://HOST/library/bench-rN:bench dir:FRESH_DIR``

Each timing is the wall time of one whole skopeo process (``time.perf_counter``), so it
includes skopeo's start-up and its HTTPS-then-HTTP probe; both registries pay the same.

Every round uses a fresh repository *and* its own image (same size and layer count,
different random bytes; the same image goes to both registries). Fresh repositories alone
are not enough: skopeo remembers where it pushed each blob (its blob-info cache) and, on
the next push to the same registry, asks for a cross-repository mount
(``POST .../blobs/uploads/?mount=...&from=library/bench-r0``) instead of uploading, which
turns a 100 MB push into a ~0.1 s no-op. All images are built before any server starts.
A small untimed warm-up push/pull goes to each registry first.

MB means 10**6 bytes; "image size" is all layer blobs + config + manifest.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import random
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.fixtures.distribution import find_docker_registry, start_distribution  # noqa: E402
from tests.fixtures.images import build_image, random_layer, write_oci_layout  # noqa: E402
from tests.fixtures.net import ServerExitedError, free_port, tail, wait_http  # noqa: E402

TAG = "bench"
MB = 1_000_000
SEALYARD = "sealyard"
DISTRIBUTION = "distribution"
REGISTRIES = (SEALYARD, DISTRIBUTION)
INFO_TIMEOUT = 30.0


class BenchmarkError(RuntimeError):
    """A precondition or a step failed; the message says what and why."""


# --------------------------------------------------------------------------- machine info


def _run_text(cmd: Sequence[str], timeout: float = INFO_TIMEOUT) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({type(exc).__name__})"
    out = proc.stdout.strip()
    if proc.returncode != 0 or not out:
        return f"unavailable (exit {proc.returncode})"
    return out.splitlines()[0].removeprefix(f"{cmd[0]} ")


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                return value.strip()
    return platform.processor() or "unknown"


def _mem_total_gib() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    return None


def _sealyard_version() -> str:
    try:
        from importlib.metadata import version

        return version("sealyard")
    except Exception:  # not installed, or metadata broken
        return "not installed"


def machine_info(skopeo: str, docker_registry: str | None) -> dict[str, Any]:
    """Facts about this machine and the tools, for RESULTS.md."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 0
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gib": _mem_total_gib(),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "skopeo": _run_text([skopeo, "--version"]),
        "docker_registry": _run_text([docker_registry, "--version"]) if docker_registry else "-",
        "sealyard": _sealyard_version(),
        "git": _run_text(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"]),
    }


# --------------------------------------------------------------------------- images


@dataclass(frozen=True)
class BuiltImage:
    """An OCI layout on disk holding one image under tag ``TAG``."""

    layout: Path
    total_bytes: int
    layer_digests: tuple[str, ...]
    layer_sizes: tuple[int, ...]


def build_layout(
    dest: Path, size: int, layers: int, files: int, compression: str, seed: int
) -> BuiltImage:
    """Write an image of ``layers`` random (incompressible) layers totalling ``size`` bytes."""
    per_layer = [size // layers] * layers
    per_layer[-1] += size - sum(per_layer)
    built = [
        random_layer(n, seed=seed + j, files=files, compression=compression)
        for j, n in enumerate(per_layer)
    ]
    image = build_image(built)
    write_oci_layout(dest, {TAG: image})
    total = sum(layer.size for layer in built) + len(image.config) + len(image.manifest)
    return BuiltImage(
        dest,
        total,
        tuple(layer.digest for layer in built),
        tuple(layer.size for layer in built),
    )


# --------------------------------------------------------------------------- servers


@dataclass
class Target:
    """A running registry under test."""

    name: str
    host: str
    creds: str | None
    log: Path
    push_s: list[float] = field(default_factory=list)
    pull_s: list[float] = field(default_factory=list)


def _stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


def find_sealyard(explicit: str | None) -> str:
    """The ``sealyard`` executable, checked to start; BenchmarkError if unusable."""
    candidates = [explicit] if explicit else [str(REPO_ROOT / ".venv" / "bin" / "sealyard")]
    if not explicit and (on_path := shutil.which("sealyard")):
        candidates.append(on_path)
    exe = next((c for c in candidates if os.access(c, os.X_OK)), None)
    if exe is None:
        raise BenchmarkError(
            f"sealyard is not installed (looked at {', '.join(candidates)}): run "
            "`.venv/bin/pip install -e .`, or benchmark docker-registry alone with "
            "--only distribution"
        )
    try:
        probe = subprocess.run(
            [exe, "serve", "--help"],
            capture_output=True,
            text=True,
            timeout=INFO_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchmarkError(f"`{exe} serve --help` did not finish in {INFO_TIMEOUT:g}s") from exc
    if probe.returncode != 0:
        output = (probe.stderr or probe.stdout).strip()[-2000:]
        raise BenchmarkError(
            f"`{exe} serve --help` failed (exit {probe.returncode}); is the sealyard server "
            f"implemented yet? Use --only distribution meanwhile.\n{output}"
        )
    return exe


@contextlib.contextmanager
def run_sealyard(exe: str, workdir: Path, start_timeout: float) -> Iterator[Target]:
    """Start ``sealyard serve`` on a free loopback port; stop it on exit."""
    data = workdir / "sealyard-data"
    data.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "sealyard.log"
    password = secrets.token_urlsafe(24)
    port = free_port()
    env = {**os.environ, "SEALYARD_ADMIN_PASSWORD": password}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [exe, "serve", "--data", str(data), "--listen", f"127.0.0.1:{port}"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
        )
    try:
        # Any HTTP answer means it is serving (401 is the expected one).
        wait_http(f"http://127.0.0.1:{port}/v2/", start_timeout, process=process, log=log_path)
        yield Target(SEALYARD, f"127.0.0.1:{port}", f"admin:{password}", log_path)
    finally:
        _stop_process(process)


@contextlib.contextmanager
def run_distribution(binary: str, workdir: Path, start_timeout: float) -> Iterator[Target]:
    """Start docker-registry on a free loopback port; stop it on exit."""
    server = start_distribution(workdir / "distribution", binary=binary, timeout=start_timeout)
    try:
        yield Target(DISTRIBUTION, server.host, None, server.log_path)
    finally:
        server.stop()


# --------------------------------------------------------------------------- skopeo


def _skopeo(skopeo: str, args: list[str], timeout: float, what: str, target: Target) -> float:
    """Run one skopeo command; return its wall time in seconds."""
    cmd = [skopeo, "--insecure-policy", *args]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BenchmarkError(
            f"{what} to {target.name} timed out after {timeout:g}s; server log:\n{tail(target.log)}"
        ) from exc
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise BenchmarkError(
            f"{what} to {target.name} failed (exit {proc.returncode}):\n{proc.stderr.strip()}\n"
            f"--- server log:\n{tail(target.log)}"
        )
    return elapsed


def push(skopeo: str, target: Target, image: BuiltImage, repo: str, timeout: float) -> float:
    """Time ``skopeo copy oci:... docker://...``."""
    args = ["copy", "--dest-tls-verify=false"]
    if target.creds:
        args += ["--dest-creds", target.creds]
    args += [f"oci:{image.layout}:{TAG}", f"docker://{target.host}/{repo}:{TAG}"]
    return _skopeo(skopeo, args, timeout, f"push of {repo}", target)


def pull(
    skopeo: str, target: Target, image: BuiltImage, repo: str, dest: Path, timeout: float
) -> float:
    """Time ``skopeo copy docker://... dir:DEST`` into a fresh directory, then check the blobs."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    args = ["copy", "--src-tls-verify=false"]
    if target.creds:
        args += ["--src-creds", target.creds]
    args += [f"docker://{target.host}/{repo}:{TAG}", f"dir:{dest}"]
    elapsed = _skopeo(skopeo, args, timeout, f"pull of {repo}", target)
    for digest, size in zip(image.layer_digests, image.layer_sizes, strict=True):
        blob = dest / digest.removeprefix("sha256:")
        if not blob.is_file() or blob.stat().st_size != size:
            raise BenchmarkError(
                f"pull of {repo} from {target.name}: layer {digest} missing or truncated"
            )
    shutil.rmtree(dest, ignore_errors=True)
    return elapsed


# --------------------------------------------------------------------------- report


def summarize(target: Target, total_bytes: int) -> dict[str, float]:
    """Median/min seconds and MB/s (at the median) for push and pull."""
    out: dict[str, float] = {}
    for kind, values in (("push", target.push_s), ("pull", target.pull_s)):
        med = statistics.median(values)
        out[f"{kind}_median_s"] = med
        out[f"{kind}_min_s"] = min(values)
        out[f"{kind}_mb_s"] = total_bytes / MB / med
    return out


def render_machine(info: dict[str, Any]) -> list[str]:
    """Markdown lines: date, machine and tool versions."""
    return [
        f"## Sealyard vs distribution: skopeo push/pull ({info['date']})",
        "",
        f"- machine: {info['cpu']}, {info['cores']} cores ({info['usable_cores']} usable), "
        f"{info['memory_gib']} GiB RAM, {info['kernel']}",
        f"- python: {info['python']}; {info['skopeo']}; "
        f"docker-registry: {info['docker_registry']}; "
        f"sealyard: {info['sealyard']} (git {info['git']})",
    ]


def render(
    info: dict[str, Any], params: dict[str, Any], summary: dict[str, dict[str, float]]
) -> str:
    """Markdown report: machine, parameters, results table and ratios."""
    lines = [
        *render_machine(info),
        f"- image: {params['image_mb']:.1f} MB in {params['layers']} {params['compression']} "
        f"layers of random bytes; {params['rounds']} rounds, fresh repository and image per round",
        "",
        "| registry | push median s | push min s | push MB/s "
        "| pull median s | pull min s | pull MB/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in summary.items():
        lines.append(
            f"| {name} | {s['push_median_s']:.3f} | {s['push_min_s']:.3f} | {s['push_mb_s']:.1f} "
            f"| {s['pull_median_s']:.3f} | {s['pull_min_s']:.3f} | {s['pull_mb_s']:.1f} |"
        )
    if SEALYARD in summary and DISTRIBUTION in summary:
        sy, di = summary[SEALYARD], summary[DISTRIBUTION]
        lines += [
            "",
            "Time ratio Sealyard / distribution (median; > 1 means Sealyard is slower): "
            f"push {sy['push_median_s'] / di['push_median_s']:.2f}, "
            f"pull {sy['pull_median_s'] / di['pull_median_s']:.2f}",
        ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    p.add_argument("--size-mb", type=float, default=100.0, help="image size in MB of 10**6 bytes")
    p.add_argument("--layers", type=int, default=5, help="number of layers (default 5)")
    p.add_argument("--files-per-layer", type=int, default=4, help="files in each layer tar")
    p.add_argument(
        "--compression", choices=("gzip", "none"), default="gzip", help="layer compression"
    )
    p.add_argument("--only", choices=REGISTRIES, help="benchmark just one registry (for debugging)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the raw numbers to FILE")
    p.add_argument("--workdir", type=Path, help="scratch directory (default: a new temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory afterwards")
    p.add_argument("--seed", type=int, help="seed for the random layers (default: random)")
    p.add_argument("--timeout", type=float, default=600.0, help="timeout of each skopeo run, s")
    p.add_argument("--start-timeout", type=float, default=30.0, help="server start timeout, s")
    p.add_argument("--sealyard-bin", help="sealyard executable (default .venv/bin/sealyard)")
    p.add_argument("--docker-registry-bin", help="docker-registry executable")
    p.add_argument("--skopeo", default=shutil.which("skopeo") or "/usr/bin/skopeo")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.layers < 1 or args.files_per_layer < 1 or args.size_mb <= 0:
        p.error("--rounds, --layers and --files-per-layer must be >= 1 and --size-mb > 0")
    return args


def benchmark(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Build the images, start the servers, run the rounds; return everything measured."""
    names = [args.only] if args.only else list(REGISTRIES)
    if not os.access(args.skopeo, os.X_OK):
        raise BenchmarkError(f"skopeo not found at {args.skopeo}: apt-get install skopeo")
    registry_bin = args.docker_registry_bin or find_docker_registry()
    if DISTRIBUTION in names and registry_bin is None:
        raise BenchmarkError("docker-registry not found: apt-get install docker-registry")
    sealyard_bin = find_sealyard(args.sealyard_bin) if SEALYARD in names else None

    info = machine_info(args.skopeo, registry_bin)
    print("\n".join(render_machine(info)) + "\n", flush=True)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    size = int(args.size_mb * MB)
    print(
        f"building {args.rounds} + 1 images of {args.size_mb:g} MB in {workdir} (seed {seed}) ..."
    )
    t0 = time.perf_counter()
    step = args.layers + 1
    warmup = build_layout(workdir / "images" / "warmup", MB, 1, 1, args.compression, seed)
    images = [
        build_layout(
            workdir / "images" / f"r{i}",
            size,
            args.layers,
            args.files_per_layer,
            args.compression,
            seed + step * (i + 1),
        )
        for i in range(args.rounds)
    ]
    print(
        f"built in {time.perf_counter() - t0:.1f}s; image size {images[0].total_bytes / MB:.1f} MB"
    )

    with contextlib.ExitStack() as stack:
        targets: list[Target] = []
        for name in names:
            if name == SEALYARD:
                assert sealyard_bin is not None
                targets.append(
                    stack.enter_context(run_sealyard(sealyard_bin, workdir, args.start_timeout))
                )
            else:
                assert registry_bin is not None
                targets.append(
                    stack.enter_context(run_distribution(registry_bin, workdir, args.start_timeout))
                )
        for target in targets:
            print(f"{target.name}: {target.host} (log {target.log})")
            push(args.skopeo, target, warmup, "library/bench-warmup", args.timeout)
            pull(
                args.skopeo, target, warmup, "library/bench-warmup", workdir / "pull", args.timeout
            )

        for i, image in enumerate(images):
            repo = f"library/bench-r{i}"
            for target in targets if i % 2 == 0 else targets[::-1]:
                target.push_s.append(push(args.skopeo, target, image, repo, args.timeout))
                dest = workdir / "pull" / f"{target.name}-r{i}"
                target.pull_s.append(pull(args.skopeo, target, image, repo, dest, args.timeout))
                print(
                    f"round {i + 1}/{args.rounds} {target.name:<12} "
                    f"push {target.push_s[-1]:7.3f}s  pull {target.pull_s[-1]:7.3f}s",
                    flush=True,
                )

    total = images[0].total_bytes
    params = {
        "rounds": args.rounds,
        "size_mb": args.size_mb,
        "image_mb": total / MB,
        "image_bytes": total,
        "layers": args.layers,
        "files_per_layer": args.files_per_layer,
        "compression": args.compression,
        "seed": seed,
    }
    return {
        "machine": info,
        "params": params,
        "raw": {t.name: {"push_s": t.push_s, "pull_s": t.pull_s} for t in targets},
        "summary": {t.name: summarize(t, total) for t in targets},
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = parse_args(argv)
    # Turn SIGTERM into SystemExit so that the `finally` blocks stop the servers.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix="sealyard-bench-", dir=args.workdir))
    else:
        workdir = Path(tempfile.mkdtemp(prefix="sealyard-bench-"))
    try:
        result = benchmark(args, workdir)
    except (BenchmarkError, ServerExitedError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(render(result["machine"], result["params"], result["summary"]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nraw numbers written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
