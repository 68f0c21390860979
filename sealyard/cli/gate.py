"""``sealyard gate``: run the Kubernetes admission webhook or the Docker authz plugin.

Both read the same gate config (``--config rules.yaml``, see docs/gates.md): which images
need which policy, what images no rule covers get (denied by default), cache times and each
gate's limits. Every decision is logged on stderr as one JSON line; with ``--data`` (or
``$SEALYARD_DATA`` / ``$SEALYARD_DATABASE_URL``) it is also written to that Sealyard
instance's audit log as ``gate.admission`` / ``gate.authz``.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from sealyard.errors import UsageError

if TYPE_CHECKING:  # the server stack loads only when a command runs
    from sealyard.gate.interface import DecisionLog, GateConfig

__all__ = ["gate"]


def _config(path: Path | None) -> GateConfig:
    from sealyard.gate.interface import GateConfig, load_gate_config

    if path is not None:
        return load_gate_config(path)
    click.echo(
        "warning: no --config: no image is covered by a rule, so every image is denied", err=True
    )
    return GateConfig()


def _decision_log(gate_name: str, data_dir: Path | None, database_url: str | None) -> DecisionLog:
    from sealyard.gate.interface import DecisionLog

    logger = logging.getLogger(f"sealyard.gate.{gate_name}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if data_dir is None and database_url is None:
        return DecisionLog(gate_name, logger=logger)
    from sealyard.config import load_settings
    from sealyard.db.engine import Database
    from sealyard.registry.audit import AuditLog

    settings = load_settings(None, data_dir=data_dir, database_url=database_url)
    if settings.database_url is None and not settings.data_dir.exists():
        settings.data_dir.mkdir(parents=True, mode=0o700)
    db = Database(settings.db_url)
    db.migrate()
    return DecisionLog(gate_name, AuditLog(db), logger=logger)


def _audit_options(fn: Any) -> Any:
    fn = click.option(
        "--database-url",
        envvar="SEALYARD_DATABASE_URL",
        help="Write decisions to the audit log of this Sealyard database.",
    )(fn)
    fn = click.option(
        "--data",
        "data_dir",
        envvar="SEALYARD_DATA",
        type=click.Path(path_type=Path, file_okay=False),
        help="Write decisions to the audit log of this Sealyard data directory.",
    )(fn)
    fn = click.option(
        "--config",
        "config_path",
        type=click.Path(path_type=Path, exists=True, dir_okay=False),
        help="Gate config (YAML): rules, cache, limits.",
    )(fn)
    return fn


@click.group()
def gate() -> None:
    """Enforcement points: Kubernetes admission webhook, Docker authorization plugin."""


@gate.command()
@click.option("--listen", default="127.0.0.1:8443", show_default=True, help="HOST:PORT.")
@click.option("--tls-cert", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--tls-key", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option(
    "--client-ca",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Require a client certificate from this CA (the API server's admission kubeconfig).",
)
@click.option("--insecure-http", is_flag=True, help="Serve plain HTTP. For testing only.")
@_audit_options
@click.option("--log-level", default="warning", show_default=True, help="uvicorn's log level.")
def admission(
    listen: str,
    tls_cert: Path | None,
    tls_key: Path | None,
    client_ca: Path | None,
    insecure_http: bool,
    config_path: Path | None,
    data_dir: Path | None,
    database_url: str | None,
    log_level: str,
) -> None:
    """Serve the admission webhook: POST /validate, POST /mutate, GET /healthz.

    The API server only calls webhooks over TLS: give --tls-cert and --tls-key (a
    certificate for the name in the webhook's clientConfig).
    """
    import ssl

    import uvicorn

    from sealyard.gate.admission import AdmissionSettings, admission_app
    from sealyard.gate.interface import PolicyVerifier

    if insecure_http and (tls_cert or tls_key):
        raise click.UsageError("--insecure-http and --tls-cert/--tls-key exclude each other")
    if not insecure_http and not (tls_cert and tls_key):
        raise click.UsageError(
            "the webhook needs TLS: give --tls-cert and --tls-key "
            "(or --insecure-http, for testing only)"
        )
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise click.UsageError(f"--listen {listen!r} is not HOST:PORT")
    config = _config(config_path)
    settings = AdmissionSettings.from_config(config.admission)
    app = admission_app(
        PolicyVerifier(config.rules, cache=config.cache),
        settings=settings,
        log=_decision_log("admission", data_dir, database_url),
    )
    scheme = "http" if insecure_http else "https"
    click.echo(f"Sealyard admission webhook on {scheme}://{listen}", err=True)
    uvicorn.run(
        app,
        host=host.strip("[]"),
        port=int(port),
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        ssl_ca_certs=str(client_ca) if client_ca else None,
        ssl_cert_reqs=ssl.CERT_REQUIRED if client_ca else ssl.CERT_NONE,
        log_level=log_level,
        access_log=False,
        server_header=False,
        lifespan="off",
    )


@gate.command("docker-authz")
@click.option(
    "--socket",
    "socket_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("/run/docker/plugins/sealyard.sock"),
    show_default=True,
    help="Unix socket the daemon finds the plugin by (its name: the file name).",
)
@_audit_options
@click.option("--log-level", default="warning", show_default=True, help="uvicorn's log level.")
def docker_authz(
    socket_path: Path,
    config_path: Path | None,
    data_dir: Path | None,
    database_url: str | None,
    log_level: str,
) -> None:
    """Serve the Docker authorization plugin on a unix socket.

    Start dockerd with --authorization-plugin=NAME (NAME: the socket's file name without
    .sock). The socket is created mode 0600: only the daemon's user (root) can talk to it.
    """
    import uvicorn

    from sealyard.gate.authz import DockerSettings, authz_app, bind_unix_socket
    from sealyard.gate.interface import PolicyVerifier

    config = _config(config_path)
    settings = DockerSettings.from_config(config.docker)
    app = authz_app(
        PolicyVerifier(config.rules, cache=config.cache),
        settings=settings,
        log=_decision_log("authz", data_dir, database_url),
    )
    sock = bind_unix_socket(socket_path)
    click.echo(f"Sealyard Docker authz plugin on unix:{socket_path}", err=True)
    server = uvicorn.Server(
        uvicorn.Config(
            app, log_level=log_level, access_log=False, server_header=False, lifespan="off"
        )
    )
    # uvicorn re-raises SIGTERM after its graceful shutdown, with the handler found before
    # it started: make that an ordinary exit so the socket file is removed below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        socket_path.unlink(missing_ok=True)


@gate.command("admission-config")
@click.option("--url", required=True, help="Base https URL the API server reaches the gate at.")
@click.option(
    "--ca-file",
    required=True,
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="PEM CA certificate that issued the gate's TLS certificate (becomes caBundle).",
)
@click.option("--name", default="sealyard-gate", show_default=True)
@click.option("--timeout", type=click.IntRange(1, 30), default=10, show_default=True)
@click.option(
    "--exclude-namespace",
    multiple=True,
    default=("kube-system",),
    show_default=True,
    help="Namespaces the webhooks skip (repeatable); add the gate's own namespace.",
)
@click.option("--mutating/--no-mutating", default=True, show_default=True)
def admission_config(
    url: str,
    ca_file: Path,
    name: str,
    timeout: int,
    exclude_namespace: tuple[str, ...],
    mutating: bool,
) -> None:
    """Print the Validating/MutatingWebhookConfiguration YAML for the webhook at --url."""
    import yaml
    from cryptography import x509

    from sealyard.gate.admission import webhook_configurations

    pem = ca_file.read_bytes()
    try:
        x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise UsageError(f"{ca_file} is not a PEM certificate: {exc}") from exc
    docs = webhook_configurations(
        url,
        pem,
        name=name,
        timeout_seconds=timeout,
        exclude_namespaces=exclude_namespace,
        mutating=mutating,
    )
    click.echo(yaml.safe_dump_all(docs, sort_keys=False), nl=False)
