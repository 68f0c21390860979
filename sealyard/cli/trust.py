"""``sealyard trust``: a project's TUF trust root — stages, their keys, policies, publishing.

Every command works on a trust repository directory: ``<data dir>/trust/<project>/`` by
default, or ``--repo DIR`` (e.g. an offline admin laptop holding the root keys). Roles are
signed with ``--key NAME|PATH|URI`` (repeatable; loaded through ``sealyard.trust.keys``);
role *membership* is given as public keys with ``--pubkey NAME|PATH``. Private keys never
enter the repository.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from sealyard.cli._common import data_options, emit, output_option, settings_from
from sealyard.errors import UsageError

if TYPE_CHECKING:  # the TUF stack loads only when a command runs
    from securesystemslib.signer import Key, Signer

    from sealyard.trust.root import RoleStatus, TrustRepository

__all__ = ["trust"]

F = TypeVar("F", bound=Callable[..., Any])


# --------------------------------------------------------------------------- plumbing


def repo_options(fn: F) -> F:
    fn = click.option(
        "--keys-dir",
        type=click.Path(path_type=Path, file_okay=False),
        help="Key directory for --key/--pubkey names (default $SEALYARD_KEYS or ~/.sealyard/keys).",
    )(fn)
    fn = click.option(
        "--repo",
        "repo_dir",
        type=click.Path(path_type=Path, file_okay=False),
        help="Trust repository directory (default <data dir>/trust/PROJECT).",
    )(fn)
    return data_options(fn)  # type: ignore[no-any-return]


def signing_option(fn: F) -> F:
    return click.option(
        "--key",
        "key_refs",
        multiple=True,
        metavar="NAME|PATH|URI",
        help="Signing key (repeatable): a key name, a PEM private key file or a signer URI.",
    )(fn)


def _repo_path(
    project: str, repo_dir: Path | None, data_dir: Path | None, config_file: Path | None
) -> Path:
    from sealyard.trust.root import validate_project

    validate_project(project)
    if repo_dir is not None:
        return repo_dir
    return settings_from(data_dir, config_file).data_dir / "trust" / project


def _open(
    project: str, repo_dir: Path | None, data_dir: Path | None, config_file: Path | None
) -> TrustRepository:
    from sealyard.trust.root import TrustRepository

    repo = TrustRepository(_repo_path(project, repo_dir, data_dir, config_file))
    if repo.project != project:
        raise UsageError(
            f"{repo.path} is the trust repository of {repo.project!r}, not {project!r}"
        )
    return repo


def _keys_dir(keys_dir: Path | None) -> Path:
    from sealyard.trust.keys import default_keys_dir

    return keys_dir if keys_dir is not None else default_keys_dir()


def _signers(refs: Sequence[str], keys_dir: Path | None) -> list[Signer]:
    from sealyard.trust.keys import load_signer, secret_for

    directory = _keys_dir(keys_dir)
    return [load_signer(ref, keys_dir=directory, passphrase=secret_for(ref)) for ref in refs]


def _public_keys(refs: Sequence[str], keys_dir: Path | None) -> list[Key]:
    """Public keys from key names (in the key directory) or public key PEM files."""
    from sealyard.trust.keys import get_key, load_public_key

    directory = _keys_dir(keys_dir)
    keys = []
    for ref in refs:
        path = Path(ref).expanduser()
        if path.is_file():
            keys.append(load_public_key(path))
        else:
            keys.append(get_key(ref, directory).key)
    return keys


def _expiry_overrides(values: Sequence[str]) -> dict[str, int]:
    result = {}
    for value in values:
        role, sep, days = value.partition("=")
        if not sep or not days.strip().isdigit():
            raise click.BadParameter(f"{value!r} is not ROLE=DAYS", param_hint="--expires")
        result[role.strip()] = int(days)
    return result


def _fmt(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _report(statuses: Sequence[RoleStatus], project: str) -> None:
    """Show the roles a command wrote and what they still need."""
    rows = [
        {
            "role": s.role,
            "version": s.version,
            "signatures": f"{len(s.signed_by)}/{s.threshold}",
            "expires": _fmt(s.expires),
            "state": "ready" if s.verified else f"needs {s.missing} more signature(s)",
        }
        for s in statuses
    ]
    emit(rows, ["role", "version", "signatures", "expires", "state"], "table")
    pending = [s.role for s in statuses if not s.verified]
    for role in pending:
        click.echo(f"sign {role} with: sealyard trust sign {project} {role} --key …", err=True)
    if not pending:
        click.echo(
            f"publish with: sealyard trust publish {project} "
            "--key SNAPSHOT_KEY --key TIMESTAMP_KEY",
            err=True,
        )


# --------------------------------------------------------------------------- commands


@click.group()
def trust() -> None:
    """A project's trust root: who signs each stage, its policies, rotation and publishing.

    The metadata is TUF (root → targets → one delegated role per stage); clients verify it
    from a pinned root. Private key passphrases come from $SEALYARD_KEY_PASSPHRASE or a prompt.
    """


@trust.command()
@repo_options
@signing_option
@click.argument("project")
@click.option("--root-pubkey", multiple=True, required=True, help="Root key (repeatable).")
@click.option("--root-threshold", type=int, default=1, show_default=True)
@click.option("--targets-pubkey", multiple=True, required=True, help="Targets key (repeatable).")
@click.option("--targets-threshold", type=int, default=1, show_default=True)
@click.option("--snapshot-pubkey", multiple=True, required=True, help="Snapshot (online) key.")
@click.option("--timestamp-pubkey", multiple=True, required=True, help="Timestamp (online) key.")
@click.option(
    "--expires",
    multiple=True,
    metavar="ROLE=DAYS",
    help="Validity in days (root 365, targets 90, stage 90, snapshot 7, timestamp 1).",
)
def init(
    data_dir: Path | None,
    config_file: Path | None,
    repo_dir: Path | None,
    keys_dir: Path | None,
    key_refs: tuple[str, ...],
    project: str,
    root_pubkey: tuple[str, ...],
    root_threshold: int,
    targets_pubkey: tuple[str, ...],
    targets_threshold: int,
    snapshot_pubkey: tuple[str, ...],
    timestamp_pubkey: tuple[str, ...],
    expires: tuple[str, ...],
) -> None:
    """Create PROJECT's trust root: root (k-of-n offline keys), targets, snapshot, timestamp."""
    from sealyard.trust.root import ExpiryPolicy, TrustRepository

    repo = TrustRepository.create(
        _repo_path(project, repo_dir, data_dir, config_file),
        project,
        root_keys=_public_keys(root_pubkey, keys_dir),
        root_threshold=root_threshold,
        targets_keys=_public_keys(targets_pubkey, keys_dir),
        targets_threshold=targets_threshold,
        snapshot_keys=_public_keys(snapshot_pubkey, keys_dir),
        timestamp_keys=_public_keys(timestamp_pubkey, keys_dir),
        signers=_signers(key_refs, keys_dir),
        expiry=ExpiryPolicy.from_dict(_expiry_overrides(expires)),
    )
    click.echo(f"created the trust repository of {project!r} in {repo.path}", err=True)
    _report(repo.status(), project)


@trust.group()
def stage() -> None:
    """Add or remove a stage (a delegated role whose keys sign that stage's attestations)."""


@stage.command("add")
@repo_options
@signing_option
@click.argument("project")
@click.argument("name")
@click.option("--pubkey", multiple=True, required=True, help="A key of the stage (repeatable).")
@click.option("--threshold", type=int, default=1, show_default=True, help="Distinct signers.")
def stage_add(
    data_dir: Path | None,
    config_file: Path | None,
    repo_dir: Path | None,
    keys_dir: Path | None,
    key_refs: tuple[str, ...],
    project: str,
    name: str,
    pubkey: tuple[str, ...],
    threshold: int,
) -> None:
    """Add stage NAME: THRESHOLD of its keys must sign an image's NAME attestation.

    Sign with the targets key and (now or later, with `trust sign`) the stage's own keys.
    """
    repo = _open(project, repo_dir, data_dir, config_file)
    statuses = repo.add_stage(
        name, _public_keys(pubkey, keys_dir), threshold, _signers(key_refs, keys_dir)
    )
    _report(statuses, project)


@stage.command("remove")
@repo_options
@signing_option
@click.argument("project")
@click.argument("name")
def stage_remove(
    data_dir: Path | None,
    config_file: Path | None,
    repo_dir: Path | None,
    keys_dir: Path | None,
    key_refs: tuple[str, ...],
    project: str,
    name: str,
) -> None:
    """Remove stage NAME: none of its keys is trusted any more once published."""
    repo = _open(project, repo_dir, data_dir, config_file)
    _report(repo.remove_stage(name, _signers(key_refs, keys_dir)), project)


@trust.group("key")
def key_group() -> None:
    """Add or revoke keys of a stage."""


@key_group.command("add")
@repo_options
@signing_option
@click.argument("project")
@click.argument("stage_name", metavar="STAGE")
@click.option("--pubkey", multiple=True, required=True, help="Key to add (repeatable).")
@click.option("--threshold", type=int, help="New threshold of the stage.")
def key_add(
    data_dir: Path | None,
    config_file: Path | None,
    repo_dir: Path | None,
    keys_dir: Path | None,
    key_refs: tuple[str, ...],
    project: str,
    stage_name: str,
    pubkey: tuple[str, ...],
    threshold: int | None,
) -> None:
    """Add keys to STAGE (and optionally change its threshold)."""
    repo = _open(project, repo_dir, data_dir, config_file)
    statuses = repo.update_stage(
        stage_name,
        _signers(key_refs, keys_dir),
        add_keys=_public_keys(pubkey, keys_dir),
        threshold=threshold,
    )
    _report(statuses, project)


@key_group.command("revoke")
@repo_options
@signing_option
@click.argument("project")
@click.argument("stage_name", metavar="STAGE")
@click.argument("keyids", nargs=-1, required=True, metavar="KEYID...")
@click.option("--threshold", type=int, help="New threshold of the stage.")
def key_revoke(
    data_dir: Path | None,
    config_file: Path | None,
    repo_dir: Path | None,
    keys_dir: Path | None,
    key_refs: tuple[str, ...],
    project: str,
    stage_name: str,
    keyids: tuple[str, ...],
    threshold: int | None,
) -> None:
    """Revoke keys (ids, or unique prefixes of 8+ hex digits) from STAGE.

    Clients stop counting a revoked key's attestations once this is published.
    """
    repo = _open(project, repo_dir, data_dir, config_file)
    statuses = repo.update_stage(
        stage_name, _signers(key_refs, keys_dir), revoke_keyids=keyids, threshold=threshold
    )
    _report(statuses, project)


@trust.group()
def policy() -> None:
    """Sign the project's policies into its trust root."""


@policy.command("set")
@repo_options
@signing_option
@click.argument("project")
@click.argument("name")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
def policy_set(
    data_dir: Path | None,
    config_file: Path | None,
    repo_dir: Path | None,
    keys_dir: Path | None,
    key_refs: tuple[str, ...],
    project: str,
    name: str,
    file: str,
) -> None:
    """Set policy NAME to the YAML in FILE ('-' for stdin), signed by the targets key."""
    try:
        content = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        raise click.BadParameter(f"cannot read {file}: {exc.strerror}", param_hint="FILE") from None
    repo = _open(project, repo_dir, data_dir, config_file)
    _report(repo.set_policy(name, content, _signers(key_refs, keys_dir)), project)


@policy.command("remove")
@repo_options
@signing_option
@click.argument("project")
@click.argument("name")
def policy_remove(
    data_dir: Path | None,
    config_file: Path | None,
    repo_dir: Path | None,
    keys_dir: Path | None,
    key_refs: tuple[str, ...],
    project: str,
    name: str,
) -> None:
    """Remove policy NAME."""
    repo = _open(project, repo_dir, data_dir, config_file)
    _report(repo.remove_policy(name, _signers(key_refs, keys_dir)), project)


@trust.command("rotate-root")
@repo_options
@signing_option
@click.argument("project")
@click.option(
    "--role",
    type=click.Choice(["root", "targets", "snapshot", "timestamp"]),
    default="root",
    show_default=True,
    help="Top-level role whose keys change.",
)
@click.option("--add-pubkey", multiple=True, help="Key to add to ROLE (repeatable).")
@click.option("--remove", "remove_keyids", multiple=True, metavar="KEYID", help="Key to remove.")
@click.option("--threshold", type=int, help="New threshold of ROLE.")
def rotate_root(
    data_dir: Path | None,
    config_file: Path | None,
    repo_dir: Path | None,
    keys_dir: Path | None,
    key_refs: tuple[str, ...],
    project: str,
    role: str,
    add_pubkey: tuple[str, ...],
    remove_keyids: tuple[str, ...],
    threshold: int | None,
) -> None:
    """Write the next root version (key changes of a top-level role, or just renewal).

    It must be signed by a threshold of the OLD root keys and of the NEW ones; key holders
    who are elsewhere add their signatures with `trust sign PROJECT root --repo DIR --key …`.
    """
    repo = _open(project, repo_dir, data_dir, config_file)
    statuses = repo.rotate_root(
        _signers(key_refs, keys_dir),
        role=role,
        add_keys=_public_keys(add_pubkey, keys_dir),
        revoke_keyids=remove_keyids,
        threshold=threshold,
    )
    _report(statuses, project)


@trust.command()
@repo_options
@signing_option
@click.argument("project")
@click.argument("role")
@click.option("--renew", is_flag=True, help="Write a new version with a fresh expiry first.")
def sign(
    data_dir: Path | None,
    config_file: Path | None,
    repo_dir: Path | None,
    keys_dir: Path | None,
    key_refs: tuple[str, ...],
    project: str,
    role: str,
    renew: bool,
) -> None:
    """Add signatures to ROLE (root, targets or a stage) — multi-party threshold signing."""
    repo = _open(project, repo_dir, data_dir, config_file)
    _report(repo.sign(role, _signers(key_refs, keys_dir), renew=renew), project)


@trust.command()
@repo_options
@signing_option
@click.argument("project")
def publish(
    data_dir: Path | None,
    config_file: Path | None,
    repo_dir: Path | None,
    keys_dir: Path | None,
    key_refs: tuple[str, ...],
    project: str,
) -> None:
    """Sign snapshot and timestamp and publish the current metadata for clients.

    Refuses when any role lacks threshold signatures or is expired. Run it at least once a
    timestamp period (1 day by default) — clients refuse an expired timestamp.
    """
    repo = _open(project, repo_dir, data_dir, config_file)
    result = repo.publish(_signers(key_refs, keys_dir))
    click.echo(
        f"published {project}: root v{result.root_version}, targets v{result.targets_version}, "
        f"snapshot v{result.snapshot_version}, timestamp v{result.timestamp_version} "
        f"({len(result.files)} file(s) written to {repo.published_dir})"
    )


@trust.command()
@repo_options
@click.argument("project")
@click.option(
    "-o",
    "--out",
    "out",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Bundle file to write (a tar).",
)
def export(
    data_dir: Path | None,
    config_file: Path | None,
    repo_dir: Path | None,
    keys_dir: Path | None,
    project: str,
    out: Path,
) -> None:
    """Write PROJECT's published trust metadata to an air-gapped bundle (tar)."""
    from sealyard.trust.bundle_export import export_bundle

    repo = _open(project, repo_dir, data_dir, config_file)
    info = export_bundle(repo.published_dir, out, project=project)
    click.echo(f"wrote {info.files} file(s) of {project!r} to {info.path}", err=True)


@trust.command()
@repo_options
@click.argument("project")
@output_option
def show(
    data_dir: Path | None,
    config_file: Path | None,
    repo_dir: Path | None,
    keys_dir: Path | None,
    project: str,
    output: str,
) -> None:
    """Show roles (versions, expiry, signatures), stages (keys, threshold) and policies."""
    repo = _open(project, repo_dir, data_dir, config_file)
    roles = [
        {
            "role": s.role,
            "version": s.version,
            "expires": _fmt(s.expires),
            "signatures": f"{len(s.signed_by)}/{s.threshold}",
            "published": s.published,
        }
        for s in repo.status()
    ]
    stages: list[dict[str, Any]] = [
        {
            "stage": st.name,
            "threshold": st.threshold,
            "keys": sorted(st.keys),
            "version": st.version,
            "expires": _fmt(st.expires),
        }
        for st in repo.stages().values()
    ]
    policies = [
        {"policy": p.name, "sha256": p.sha256, "length": p.length} for p in repo.policies().values()
    ]
    if output == "json":
        doc = {
            "project": repo.project,
            "path": str(repo.path),
            "roles": roles,
            "stages": stages,
            "policies": policies,
            "problems": repo.problems(),
        }
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    click.echo(f"project {repo.project} ({repo.path})")
    emit(roles, ["role", "version", "expires", "signatures", "published"], "table")
    click.echo()
    stage_rows = [{**s, "keys": " ".join(k[:16] for k in s["keys"])} for s in stages]
    emit(stage_rows, ["stage", "threshold", "keys", "version", "expires"], "table")
    click.echo()
    policy_rows = [{**p, "sha256": str(p["sha256"])[:16]} for p in policies]
    emit(policy_rows, ["policy", "sha256", "length"], "table")
    for problem in repo.problems():
        click.echo(f"! {problem}", err=True)


@trust.command()
@click.argument("source")
@click.option(
    "--root",
    "root_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
    help="The pinned root metadata (e.g. 1.root.json obtained out of band).",
)
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Cache of verified metadata (default ~/.cache/sealyard/trust/<project or host>).",
)
@click.option("--offline", is_flag=True, help="No network: use the cache (or the bundle) only.")
@click.option("--project", help="Require the trust root to belong to this project.")
@output_option
def verify(
    source: str,
    root_file: Path,
    cache_dir: Path | None,
    offline: bool,
    project: str | None,
    output: str,
) -> None:
    """Verify trust metadata at SOURCE (URL, bundle tar or directory) from a pinned root."""
    import hashlib

    from sealyard.trust.tufclient import load_trust

    if cache_dir is None:
        tag = hashlib.sha256(source.encode()).hexdigest()[:16]
        cache_dir = Path.home() / ".cache" / "sealyard" / "trust" / (project or tag)
    state = load_trust(
        source,
        trusted_root=root_file.read_bytes(),
        cache_dir=cache_dir,
        offline=offline,
        project=project,
    )
    if output == "json":
        doc = {
            "project": state.project,
            "roles": {
                r: {"version": v.version, "expires": _fmt(v.expires)}
                for r, v in state.roles.items()
            },
            "stages": {
                s.name: {"threshold": s.threshold, "keys": sorted(s.keys)}
                for s in state.stages.values()
            },
            "policies": sorted(state.policies),
        }
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    click.echo(f"verified trust root of {state.project!r} (root v{state.root_version})")
    rows = [
        {"stage": s.name, "threshold": s.threshold, "keys": " ".join(k[:16] for k in s.keys)}
        for s in state.stages.values()
    ]
    emit(rows, ["stage", "threshold", "keys"], "table")
    click.echo("policies: " + (", ".join(sorted(state.policies)) or "none"))
