"""``sealyard run IMAGE [-- CMD…]``: verify, unpack and run an image with hardened defaults.

The order is the point: the image is judged against the signed policy first, and only the
manifest digest that was judged is then read, unpacked and run. Nothing is run without a
policy unless ``--insecure-allow-unsigned`` says so, and then the configuration records it.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

import click

from sealyard.cli._common import parse_creds
from sealyard.errors import SealyardError, UsageError

if TYPE_CHECKING:
    from sealyard.runtime.spec import HardenedOptions
    from sealyard.sbom.source import ImageSource

__all__ = [
    "EXIT_CANNOT_EXECUTE",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_FOUND",
    "EXIT_REFUSED",
    "EXIT_TIMEOUT",
    "run",
]

#: Sealyard could not prepare or start the container (bad image, hostile layer, no runtime).
EXIT_FAILED = 123
#: ``--timeout`` passed; the container was killed.
EXIT_TIMEOUT = 124
#: The image was refused: the policy denied it, no policy was named, or the evidence could
#: not be verified. Nothing was pulled for running and nothing ran.
EXIT_REFUSED = 125
#: The command exists in the image but is not an executable file (as docker).
EXIT_CANNOT_EXECUTE = 126
#: The command is not in the image (as docker).
EXIT_NOT_FOUND = 127
#: Interrupted (Ctrl-C or SIGTERM); the container was killed and removed.
EXIT_INTERRUPTED = 130

_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def _size(text: str) -> int | None:
    """Bytes for ``512m``, ``1g``, ``1048576``; ``None`` for ``0`` or ``unlimited``."""
    if text.strip().lower() in ("0", "-1", "unlimited"):
        return None
    match = _SIZE.match(text)
    if not match:
        raise click.BadParameter(
            f"{text!r} is not a size such as 512m or 1g", param_hint="--memory"
        )
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def _fail(code: int, message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    """SIGTERM behaves like Ctrl-C, so the container and bundle are cleaned up either way."""
    raise KeyboardInterrupt


def _verify(
    image: str,
    policy: str,
    *,
    trust: str | None,
    root: Path | None,
    credentials: tuple[str, str] | None,
    insecure: bool | None,
    offline: bool,
) -> str:
    """The verified manifest digest, or exit with :data:`EXIT_REFUSED`."""
    from sealyard.policy.verify import verify_image

    try:
        decision, digest = verify_image(
            image,
            policy=policy,
            trust=trust,
            root=root,
            credentials=credentials,
            insecure=insecure,
            offline=offline,
        )
    except SealyardError as exc:
        _fail(EXIT_REFUSED, f"refusing to run {image}: cannot verify it: {exc}")
    if not decision.allowed:
        click.echo("\n".join(decision.explain()), err=True)
        _fail(EXIT_REFUSED, f"refusing to run {image}: {decision.summary()}")
    click.echo(f"verified {image}@{digest}: {decision.summary()}", err=True)
    return digest


def _options(**values: Any) -> HardenedOptions:
    from sealyard.runtime.spec import HardenedOptions

    try:
        return HardenedOptions(**values)
    except UsageError as exc:
        raise click.UsageError(str(exc)) from exc


def _run_source(
    source: ImageSource,
    options: HardenedOptions,
    *,
    annotations: dict[str, str],
    runtime: str,
    runtime_root: Path | None,
    bundle_dir: Path | None,
    command: Sequence[str],
    process_overrides: dict[str, Any],
    save_config: Path | None,
    dry_run: bool,
    timeout: float | None,
    interactive: bool,
) -> int:
    from sealyard.runtime.runner import Runner, create_bundle
    from sealyard.runtime.spec import build_config, resolve_process
    from sealyard.runtime.unpack import find_command, image_config, unpack_image

    runner = None if dry_run else Runner(runtime, state_root=runtime_root)
    bundle = create_bundle(bundle_dir)
    handed_over = False
    try:
        layers = len(source.info.layers)
        click.echo(f"unpacking {layers} layer(s) of {source.info.reference}", err=True)
        report = unpack_image(
            source, bundle.rootfs, ids=options.ids, keep_setuid=options.keep_setuid
        )
        for warning in report.warnings:
            click.echo(f"warning: {warning}", err=True)
        if report.stripped_setuid:
            shown = ", ".join(report.stripped_setuid[:5])
            more = " …" if len(report.stripped_setuid) > 5 else ""
            click.echo(
                f"note: removed set-user/group-ID bits from {len(report.stripped_setuid)} "
                f"file(s) ({shown}{more}); --keep-setuid keeps them",
                err=True,
            )
        process = resolve_process(
            image_config(source), rootfs=bundle.rootfs, command=command, **process_overrides
        )
        search = next((e[5:] for e in process.env if e.startswith("PATH=")), "")
        where, executable = find_command(bundle.rootfs, process.args[0], search, process.cwd)
        if not executable:
            what = "is not an executable file" if where else "is not found"
            click.echo(f"error: {process.args[0]!r} {what} in the image", err=True)
            return EXIT_CANNOT_EXECUTE if where else EXIT_NOT_FOUND
        config = build_config(process, options, annotations=annotations)
        bundle.write_config(config)
        if save_config is not None:
            save_config.write_text(json.dumps(config, indent=2) + "\n")
            click.echo(f"runtime config written to {save_config}", err=True)
        if dry_run or runner is None:
            if save_config is None:
                click.echo(json.dumps(config, indent=2))
            return 0
        handed_over = True
        result = runner.run(
            bundle, timeout=timeout, stdin=None if interactive else subprocess.DEVNULL
        )
        if result.timed_out:
            click.echo(f"error: the container ran longer than {timeout} s and was killed", err=True)
            return EXIT_TIMEOUT
        return result.exit_code
    finally:
        if not handed_over:
            bundle.remove()


_HELP_CAP = "Grant a capability (repeatable; none by default). Recorded as cap-add:CAP."


@click.command(context_settings={"allow_interspersed_args": False})
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option(
    "--policy",
    envvar="SEALYARD_RUN_POLICY",
    help="Signed policy the image must satisfy (or $SEALYARD_RUN_POLICY). Required unless "
    "--insecure-allow-unsigned.",
)
@click.option(
    "--trust",
    "--trust-bundle",
    "trust",
    envvar="SEALYARD_TRUST",
    help="Trust metadata: URL, exported bundle or directory (default: the registry's).",
)
@click.option(
    "--root",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Pinned root metadata (root.json), obtained out of band. Needed on first use.",
)
@click.option("--offline", is_flag=True, help="Use no network for trust metadata.")
@click.option("--creds", help="USER:PASSWORD for the registry (else docker/containers auth).")
@click.option(
    "--insecure",
    is_flag=True,
    default=None,
    help="Plain HTTP to the registry (default only for loopback hosts).",
)
@click.option(
    "--insecure-allow-unsigned",
    is_flag=True,
    help="Run WITHOUT verifying the image against any policy. Recorded as 'unsigned'.",
)
@click.option("--platform", help="os/arch[/variant] to pick from an index (default: host).")
@click.option("--cap-add", "--privileged-caps", "cap_add", multiple=True, help=_HELP_CAP)
@click.option("--no-seccomp", is_flag=True, help="Run without the seccomp allowlist.")
@click.option("--no-userns", is_flag=True, help="No user namespace: root inside is host root.")
@click.option("--writable-rootfs", is_flag=True, help="Mount the root filesystem read-write.")
@click.option(
    "--no-new-privileges",
    type=click.BOOL,
    default=True,
    show_default=True,
    help="--no-new-privileges=false lets set-user-ID programs gain privileges.",
)
@click.option(
    "--pids-limit", type=int, default=256, show_default=True, help="Most processes (0: no limit)."
)
@click.option("--memory", default="512m", show_default=True, help="Memory limit (0: no limit).")
@click.option(
    "--network",
    type=click.Choice(["none", "host"]),
    default="none",
    show_default=True,
    help="none: own network namespace with loopback only; host: the host's network.",
)
@click.option("--keep-setuid", is_flag=True, help="Keep set-user/group-ID bits when unpacking.")
@click.option(
    "--userns-uid",
    type=int,
    default=100_000,
    show_default=True,
    help="Host uid of the container's root.",
)
@click.option(
    "--userns-gid",
    type=int,
    default=100_000,
    show_default=True,
    help="Host gid of the container's root group.",
)
@click.option(
    "--userns-size", type=int, default=65_536, show_default=True, help="Number of mapped ids."
)
@click.option("-u", "--user", help="UID[:GID] or NAME[:GROUP] to run as (default: image's).")
@click.option("--entrypoint", help="Replace the image's entrypoint ('' clears it).")
@click.option("-e", "--env", multiple=True, help="NAME=VALUE (repeatable).")
@click.option("-w", "--workdir", help="Working directory inside the container.")
@click.option("--tmpfs", multiple=True, help="Extra private tmpfs mount point (repeatable).")
@click.option("--hostname", default="sealyard", show_default=True)
@click.option("-i", "--interactive", is_flag=True, help="Connect stdin to the container.")
@click.option("--runtime", type=click.Choice(["runc", "crun"]), default="runc", show_default=True)
@click.option(
    "--runtime-root",
    type=click.Path(path_type=Path, file_okay=False),
    help="State directory of the runtime (default /run/sealyard/RUNTIME).",
)
@click.option(
    "--bundle-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where bundles are unpacked (default $SEALYARD_RUN_DIR or /var/tmp).",
)
@click.option(
    "--save-config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the generated config.json here (for `sealyard audit`).",
)
@click.option("--dry-run", is_flag=True, help="Verify, unpack and print the config; run nothing.")
@click.option("--timeout", type=float, help="Kill the container after this many seconds.")
def run(
    image: str,
    command: tuple[str, ...],
    policy: str | None,
    trust: str | None,
    root: Path | None,
    offline: bool,
    creds: str | None,
    insecure: bool | None,
    insecure_allow_unsigned: bool,
    platform: str | None,
    cap_add: tuple[str, ...],
    no_seccomp: bool,
    no_userns: bool,
    writable_rootfs: bool,
    no_new_privileges: bool,
    pids_limit: int,
    memory: str,
    network: str,
    keep_setuid: bool,
    userns_uid: int,
    userns_gid: int,
    userns_size: int,
    user: str | None,
    entrypoint: str | None,
    env: tuple[str, ...],
    workdir: str | None,
    tmpfs: tuple[str, ...],
    hostname: str,
    interactive: bool,
    runtime: str,
    runtime_root: Path | None,
    bundle_dir: Path | None,
    save_config: Path | None,
    dry_run: bool,
    timeout: float | None,
) -> None:
    """Verify IMAGE against a signed policy, then run it with hardened defaults.

    IMAGE: [docker://]REGISTRY/REPO[:TAG|@DIGEST], oci:DIR[:TAG] or docker-archive:FILE
    (the last only with --insecure-allow-unsigned: it has no manifest digest to verify).
    CMD replaces the image's command.

    Defaults: no capabilities, seccomp allowlist, no-new-privileges, read-only root with a
    tmpfs /tmp, user namespace (root inside = uid 100000 outside), own network namespace
    (loopback only), masked /proc and /sys paths, 256 processes, 512 MiB. Every relaxation
    flag is recorded in the config's dev.sealyard.relaxed annotation.

    Exit status: the container's; 125 refused (policy denied, no policy, unverifiable);
    126 command not executable, 127 command not found; 123 could not prepare or start;
    124 timed out; 130 interrupted.
    """
    from sealyard.runtime.unpack import open_pinned

    if policy and insecure_allow_unsigned:
        raise click.UsageError("--policy and --insecure-allow-unsigned exclude each other")
    if command[:1] == ("--",):  # after IMAGE, click keeps the separator as an argument
        command = command[1:]
    caps = tuple(c for value in cap_add for c in value.split(",") if c.strip())
    options = _options(
        cap_add=caps,
        seccomp=not no_seccomp,
        user_namespace=not no_userns,
        readonly_rootfs=not writable_rootfs,
        no_new_privileges=no_new_privileges,
        pids_limit=pids_limit if pids_limit > 0 else None,
        memory_bytes=_size(memory),
        network=network,
        host_uid=userns_uid,
        host_gid=userns_gid,
        id_count=userns_size,
        tmpfs=tmpfs,
        hostname=hostname,
        keep_setuid=keep_setuid,
        allow_unsigned=insecure_allow_unsigned,
    )
    credentials = parse_creds(creds)
    annotations = {"dev.sealyard.image.reference": image}
    if not policy and not insecure_allow_unsigned:
        _fail(
            EXIT_REFUSED,
            f"refusing to run {image}: no policy to verify it against; name one with "
            "--policy (or $SEALYARD_RUN_POLICY), or accept the risk with "
            "--insecure-allow-unsigned",
        )
    # Cleanup depends on seeing Ctrl-C and SIGTERM: take them explicitly, whatever this
    # process inherited (a parent may start it with SIGINT ignored or blocked).
    try:
        previous = (
            signal.signal(signal.SIGTERM, _interrupt),
            signal.signal(signal.SIGINT, _interrupt),
        )
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    except ValueError:  # not the main thread: signals stay as they are
        previous = None
    try:
        if policy:
            digest = _verify(
                image,
                policy,
                trust=trust,
                root=root,
                credentials=credentials,
                insecure=insecure,
                offline=offline,
            )
            annotations["dev.sealyard.policy"] = policy
            source = open_pinned(
                image, digest, platform=platform, credentials=credentials, insecure=insecure
            )
        else:
            from sealyard.sbom.source import open_source

            click.echo(
                f"WARNING: running {image} without verifying it (--insecure-allow-unsigned)",
                err=True,
            )
            source = open_source(
                image, platform=platform, credentials=credentials, insecure=insecure
            )
        if source.info.manifest_digest:
            annotations["dev.sealyard.image.digest"] = source.info.manifest_digest
        relaxed = options.relaxations()
        if relaxed:
            click.echo(f"warning: relaxed defaults: {', '.join(relaxed)}", err=True)
        overrides: dict[str, Any] = {"user": user, "env": env, "workdir": workdir}
        if entrypoint is not None:
            overrides["entrypoint"] = [entrypoint] if entrypoint else []
        with source:
            code = _run_source(
                source,
                options,
                annotations=annotations,
                runtime=runtime,
                runtime_root=runtime_root,
                bundle_dir=bundle_dir,
                command=command,
                process_overrides=overrides,
                save_config=save_config,
                dry_run=dry_run,
                timeout=timeout,
                interactive=interactive,
            )
    except KeyboardInterrupt:
        click.echo("interrupted: the container was stopped and removed", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except SealyardError as exc:
        _fail(EXIT_FAILED, str(exc))
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous[0])
            signal.signal(signal.SIGINT, previous[1])
    sys.exit(code)
