"""The Docker authz plugin over a real unix socket: the plugin protocol, dangerous container
configurations, images judged by the real evaluator, and malformed requests."""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from sealyard.db.engine import Database
from sealyard.errors import UsageError
from sealyard.gate.authz import (
    DockerSettings,
    authz_app,
    bind_unix_socket,
    dangerous_create,
    normalize_uri,
)
from sealyard.gate.interface import DecisionLog, GateVerdict, Verifier
from sealyard.registry.audit import AuditLog
from tests.fixtures.admission_reviews import PAUSE, Images, signed_images, store_verifier
from tests.fixtures.net import tail
from tests.gate import serve

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def images() -> Images:
    return signed_images()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """Unix socket paths are limited to ~107 bytes; pytest's tmp_path can be longer."""
    path = Path(tempfile.mkdtemp(prefix="sy-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


Start = Callable[..., httpx.Client]


@pytest.fixture
def plugin(short_dir: Path, images: Images) -> Iterator[Start]:
    names = itertools.count()
    with ExitStack() as stack:

        def start(
            verifier: Verifier | None = None,
            settings: DockerSettings | None = None,
            log: DecisionLog | None = None,
        ) -> httpx.Client:
            sock = short_dir / f"sealyard{next(names)}.sock"
            app = authz_app(verifier or store_verifier(images.store), settings=settings, log=log)
            url = stack.enter_context(serve(app, uds=sock))
            transport = httpx.HTTPTransport(uds=str(sock))
            return stack.enter_context(httpx.Client(transport=transport, base_url=url, timeout=30))

        yield start


def authz(
    client: httpx.Client,
    method: str,
    uri: str,
    body: Any = None,
    *,
    user: str = "alice",
    endpoint: str = "/AuthZPlugin.AuthZReq",
) -> dict[str, Any]:
    """One AuthZReq as dockerd sends it (RequestBody: the raw body, base64 by Go's []byte)."""
    raw = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req: dict[str, Any] = {
        "User": user,
        "UserAuthNMethod": "TLS",
        "RequestMethod": method,
        "RequestUri": uri,
        "RequestHeaders": {
            "Content-Type": "application/json",
            "User-Agent": "Docker-Client/27.3.1",
        },
    }
    if raw is not None:
        req["RequestBody"] = base64.b64encode(raw).decode()
    resp = client.post(endpoint, json=req)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert set(out) == {"Allow", "Msg", "Err"}
    return out  # type: ignore[no-any-return]


def create_body(image: str, **host_config: Any) -> dict[str, Any]:
    """A containers/create body as the docker CLI sends it (abridged)."""
    return {
        "Hostname": "",
        "User": "",
        "AttachStdout": True,
        "Tty": False,
        "Env": None,
        "Cmd": None,
        "Image": image,
        "Labels": {},
        "HostConfig": {
            "Binds": None,
            "NetworkMode": "default",
            "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
            "AutoRemove": False,
            "CapAdd": None,
            "CapDrop": None,
            "Privileged": False,
            "Mounts": None,
            "MaskedPaths": None,
            "ReadonlyPaths": None,
            **host_config,
        },
        "NetworkingConfig": {"EndpointsConfig": {}},
    }


CREATE = "/v1.47/containers/create?name=web"


# --------------------------------------------------------------------------- protocol


def test_activate_declares_authz(plugin: Start) -> None:
    resp = plugin().post("/Plugin.Activate", content=b"")
    assert resp.json() == {"Implements": ["authz"]}
    assert resp.headers["content-type"].startswith("application/vnd.docker.plugins.v1")


def test_socket_is_private_to_its_owner(short_dir: Path) -> None:
    sock = bind_unix_socket(short_dir / "private.sock")
    try:
        assert stat.S_IMODE((short_dir / "private.sock").stat().st_mode) == 0o600
        again = short_dir / "private.sock"
        sock.close()
        bind_unix_socket(again).close()  # a stale socket is replaced
        (short_dir / "file.sock").write_text("not a socket")
        with pytest.raises(UsageError, match="not a socket"):
            bind_unix_socket(short_dir / "file.sock")
    finally:
        sock.close()


def test_responses_are_always_allowed(plugin: Start, images: Images) -> None:
    answer = authz(
        plugin(), "POST", CREATE, create_body(images.unsigned), endpoint="/AuthZPlugin.AuthZRes"
    )
    assert answer == {"Allow": True, "Msg": "", "Err": ""}


# --------------------------------------------------------------------------- images


def test_create_with_a_verified_image_is_allowed(plugin: Start, images: Images) -> None:
    client = plugin()
    assert authz(client, "POST", CREATE, create_body(images.app))["Allow"] is True
    pinned = images.pinned[images.app]
    assert authz(client, "POST", "/containers/create", create_body(pinned))["Allow"] is True


@pytest.mark.parametrize(
    ("role", "reason"),
    [("unsigned", "no valid attestation"), ("vulnerable", "CVE-2099-0001"), ("outsider", "ci")],
)
def test_create_with_a_failing_image_is_denied(
    plugin: Start, images: Images, role: str, reason: str
) -> None:
    image = getattr(images, role)
    answer = authz(plugin(), "POST", CREATE, create_body(image))
    assert answer["Allow"] is False
    assert answer["Msg"].startswith(f"Sealyard: image {image} refused: policy 'production'")
    assert reason in answer["Msg"]
    assert answer["Err"] == ""


def test_images_no_rule_covers_and_local_ids_are_denied(plugin: Start) -> None:
    client = plugin()
    answer = authz(client, "POST", CREATE, create_body("alpine:3.20"))
    assert answer["Allow"] is False
    assert "no gate rule covers docker.io/library/alpine" in answer["Msg"]
    for image_id in ("sha256:" + "ab" * 32, "ab" * 32, "0123456789ab"):
        answer = authz(client, "POST", CREATE, create_body(image_id))
        assert answer["Allow"] is False
        assert "local image ID" in answer["Msg"]


def test_exempt_images_are_allowed(plugin: Start) -> None:
    assert authz(plugin(), "POST", CREATE, create_body(PAUSE))["Allow"] is True


def test_require_digest_names_the_verified_digest(plugin: Start, images: Images) -> None:
    client = plugin(settings=DockerSettings(require_digest=True))
    answer = authz(client, "POST", CREATE, create_body(images.app))
    assert answer["Allow"] is False
    assert f"run {images.pinned[images.app]}" in answer["Msg"]
    assert authz(client, "POST", CREATE, create_body(images.pinned[images.app]))["Allow"] is True


class Raising:
    def verify(self, image: str) -> GateVerdict:
        raise RuntimeError("trust root unreadable")


def test_a_raising_verifier_fails_closed(plugin: Start, images: Images) -> None:
    answer = authz(plugin(Raising()), "POST", CREATE, create_body(images.app))
    assert answer["Allow"] is False
    assert "RuntimeError: trust root unreadable" in answer["Msg"]


def test_a_hung_verifier_is_denied_at_the_deadline(plugin: Start, images: Images) -> None:
    release = threading.Event()

    class Hung:
        def verify(self, image: str) -> GateVerdict:
            release.wait(30)
            return GateVerdict(image, True, "late")

    try:
        client = plugin(Hung(), settings=DockerSettings(timeout_seconds=0.3))
        answer = authz(client, "POST", CREATE, create_body(images.app))
    finally:
        release.set()
    assert answer["Allow"] is False
    assert "did not finish within 0.3 s" in answer["Msg"]


# --------------------------------------------------------------------------- dangerous settings

DANGEROUS: list[tuple[dict[str, Any], str]] = [
    ({"Privileged": True}, "privileged container"),
    ({"NetworkMode": "host"}, "HostConfig.NetworkMode=host"),
    ({"PidMode": "host"}, "HostConfig.PidMode=host"),
    ({"IpcMode": "host"}, "HostConfig.IpcMode=host"),
    ({"UTSMode": "host"}, "HostConfig.UTSMode=host"),
    ({"UsernsMode": "host"}, "HostConfig.UsernsMode=host"),
    ({"CgroupnsMode": "host"}, "HostConfig.CgroupnsMode=host"),
    ({"Binds": ["/var/run/docker.sock:/var/run/docker.sock"]}, "exposes /var/run/docker.sock"),
    ({"Binds": ["/run/docker.sock:/d.sock:ro"]}, "exposes /run/docker.sock"),
    ({"Binds": ["//var/run//docker.sock/:/d.sock"]}, "exposes /var/run/docker.sock"),
    ({"Binds": ["/var/run/../run/./docker.sock:/d.sock"]}, "docker.sock"),
    ({"Binds": ["/var/run/:/host-run"]}, "exposes /var/run/docker.sock"),
    ({"Binds": ["/:/host:ro"]}, "bind mount of / exposes"),
    ({"Binds": ["/run/containerd/containerd.sock:/c.sock"]}, "containerd.sock"),
    (
        {"Mounts": [{"Type": "bind", "Source": "/var/run/docker.sock", "Target": "/d.sock"}]},
        "mount of /var/run/docker.sock",
    ),
    (
        {
            "Mounts": [
                {
                    "Type": "volume",
                    "Target": "/host",
                    "VolumeOptions": {
                        "DriverConfig": {
                            "Name": "local",
                            "Options": {"type": "none", "o": "bind", "device": "/run"},
                        }
                    },
                }
            ]
        },
        "volume binding /run",
    ),
    ({"CapAdd": ["ALL"]}, "capability ALL"),
    ({"CapAdd": ["NET_BIND_SERVICE", "SYS_ADMIN"]}, "capability SYS_ADMIN"),
    ({"CapAdd": ["cap_sys_admin"]}, "capability cap_sys_admin"),
    ({"SecurityOpt": ["seccomp=unconfined"]}, "seccomp=unconfined"),
    ({"SecurityOpt": ["seccomp:unconfined"]}, "seccomp:unconfined"),
    ({"SecurityOpt": ["apparmor=unconfined"]}, "apparmor=unconfined"),
    ({"SecurityOpt": ["label=disable"]}, "label=disable"),
    ({"SecurityOpt": ["systempaths=unconfined"]}, "systempaths=unconfined"),
    (
        {
            "Devices": [
                {
                    "PathOnHost": "/dev/sda",
                    "PathInContainer": "/dev/sda",
                    "CgroupPermissions": "rwm",
                }
            ]
        },
        "host devices",
    ),
    ({"DeviceCgroupRules": ["c *:* rwm"]}, "device cgroup rules"),
    ({"MaskedPaths": []}, "MaskedPaths replaces"),
]


@pytest.mark.parametrize(("host_config", "reason"), DANGEROUS)
def test_dangerous_configurations_are_denied(
    plugin: Start, images: Images, host_config: dict[str, Any], reason: str
) -> None:
    answer = authz(plugin(), "POST", CREATE, create_body(images.app, **host_config))
    assert answer["Allow"] is False, host_config
    assert answer["Msg"].startswith("Sealyard: container refused: ")
    assert reason in answer["Msg"]


def test_safe_configurations_are_allowed(plugin: Start, images: Images) -> None:
    body = create_body(
        images.app,
        NetworkMode="bridge",
        PidMode="container:abc",
        Binds=["/srv/data:/data:ro", "named-volume:/cache", "/var/run/docker.sock.bak:/x"],
        Mounts=[
            {"Type": "tmpfs", "Target": "/tmp"},
            {"Type": "volume", "Source": "v", "Target": "/v"},
        ],
        CapAdd=["NET_BIND_SERVICE"],
        CapDrop=["ALL"],
        SecurityOpt=["no-new-privileges", "seccomp=/etc/docker/seccomp.json"],
        Devices=[],
    )
    answer = authz(plugin(), "POST", CREATE, body)
    assert answer == {"Allow": True, "Msg": "", "Err": ""}


def test_symlinks_to_the_socket_are_resolved_on_the_host(short_dir: Path, images: Images) -> None:
    link = short_dir / "innocent"
    link.symlink_to("/run/docker.sock")
    reasons = dangerous_create(create_body(images.app, Binds=[f"{link}:/d.sock"]))
    assert reasons
    assert "exposes /run/docker.sock" in reasons[0]


@pytest.mark.parametrize(
    "body",
    [
        # Go decodes field names case-insensitively, with Unicode folding.
        {"Image": "x", "hostconfig": {"privileged": True}},
        {"Image": "x", "HOSTCONFIG": {"Binds": ["/var/run/docker.sock:/s"]}},
        {"Image": "x", "Ho\u017ftConfig": {"Privileged": True}},
        {"Image": "x", "HostConfig": {"Privileged": 1}},
        {"Image": "x", "HostConfig": {"Privileged": "true"}},
        {"Image": "x", "HostConfig": {"NetworkMode": " HOST "}},
    ],
)
def test_spellings_docker_accepts_are_caught(body: dict[str, Any]) -> None:
    assert dangerous_create(body)


def test_ambiguous_field_spellings_are_refused(plugin: Start, images: Images) -> None:
    raw = (
        b'{"Image": "' + images.app.encode() + b'", "HostConfig": {"Privileged": false},'
        b' "hostConfig": {"Privileged": true}}'
    )
    answer = authz(plugin(), "POST", CREATE, raw)
    assert answer["Allow"] is False
    assert "appears twice" in answer["Err"]


@pytest.mark.parametrize(
    "uri",
    [
        "/containers/create",
        "/v1.41/containers/create",
        "/v1.47/containers/create?name=x&platform=linux/amd64",
        "//v1.47//containers//create/",
        "/v1.47/containers/./create",
        "/v1.47/containers/cre%61te",
        "/v1.47/x/../containers/create",
        "/V1.47/Containers/Create",
    ],
)
def test_every_spelling_of_the_create_path_is_checked(
    plugin: Start, images: Images, uri: str
) -> None:
    answer = authz(plugin(), "POST", uri, create_body(images.app, Privileged=True))
    assert answer["Allow"] is False, uri


def test_normalize_uri() -> None:
    assert normalize_uri("/v1.45//containers/./create/?x=1") == "/containers/create"
    assert normalize_uri("/containers/abc/exec") == "/containers/abc/exec"
    assert normalize_uri("/_ping") == "/_ping"
    assert normalize_uri("/v1.45") == "/v1.45"


# --------------------------------------------------------------------------- exec, volumes, others


def test_privileged_exec_is_denied(plugin: Start) -> None:
    client = plugin()
    body = {"AttachStdout": True, "Cmd": ["sh"], "Privileged": True, "Tty": True}
    answer = authz(client, "POST", "/v1.47/containers/3f2a9b/exec", body)
    assert answer["Allow"] is False
    assert "privileged exec" in answer["Msg"]
    body["Privileged"] = False
    assert authz(client, "POST", "/v1.47/containers/3f2a9b/exec", body)["Allow"] is True


def test_local_volume_binding_the_socket_directory_is_denied(plugin: Start) -> None:
    body = {
        "Name": "sneaky",
        "Driver": "local",
        "DriverOpts": {"type": "none", "o": "bind", "device": "/var/run"},
    }
    answer = authz(plugin(), "POST", "/v1.47/volumes/create", body)
    assert answer["Allow"] is False
    assert "volume binding /var/run" in answer["Msg"]
    ok = {"Name": "data", "Driver": "local", "DriverOpts": {}}
    assert authz(plugin(), "POST", "/v1.47/volumes/create", ok)["Allow"] is True


@pytest.mark.parametrize(
    ("method", "uri", "body"),
    [
        ("GET", "/v1.47/containers/json?all=1", None),
        ("GET", "/_ping", None),
        ("POST", "/v1.47/images/create?fromImage=registry.example/shop/unsigned&tag=1", None),
        ("POST", "/v1.47/containers/3f2a9b/start", None),
        ("DELETE", "/v1.47/containers/3f2a9b?force=1", None),
        ("GET", "/v1.47/containers/create", None),  # not a create: the daemon answers 405
        ("POST", "/v1.47/networks/create", {"Name": "n", "Driver": "bridge"}),
    ],
)
def test_unrelated_requests_are_allowed(plugin: Start, method: str, uri: str, body: Any) -> None:
    assert authz(plugin(Raising()), method, uri, body) == {"Allow": True, "Msg": "", "Err": ""}


# --------------------------------------------------------------------------- malformed


@pytest.mark.parametrize(
    ("request_doc", "err"),
    [
        (b"not json", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (json.dumps({"RequestMethod": "POST"}).encode(), "no RequestUri"),
        (json.dumps({"RequestUri": "/containers/create"}).encode(), "no RequestMethod"),
        (
            json.dumps(
                {"RequestMethod": "POST", "RequestUri": CREATE, "RequestBody": "%%%"}
            ).encode(),
            "not valid base64",
        ),
        (
            json.dumps({"RequestMethod": "POST", "RequestUri": CREATE, "RequestBody": 12}).encode(),
            "must be base64",
        ),
    ],
)
def test_malformed_plugin_requests_are_denied_with_err(
    plugin: Start, request_doc: bytes, err: str
) -> None:
    resp = plugin(Raising()).post("/AuthZPlugin.AuthZReq", content=request_doc)
    assert resp.status_code == 200
    answer = resp.json()
    assert answer["Allow"] is False
    assert err in answer["Err"]
    assert answer["Msg"] == answer["Err"]


@pytest.mark.parametrize(
    ("body", "err"),
    [
        (None, "passed no request body"),  # CVE-2024-41110: a body the daemon did not forward
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"\xff\xfe", "not valid JSON"),
        (b'{"Image": 42}', "names no Image"),
        (b'{"Image": ""}', "names no Image"),
        (b'{"Image": "x", "Image": "y"}', "appears twice"),
    ],
)
def test_unreadable_create_bodies_are_denied(plugin: Start, body: Any, err: str) -> None:
    answer = authz(plugin(Raising()), "POST", CREATE, body)
    assert answer["Allow"] is False
    assert err in answer["Err"]


def test_malformed_host_config_is_denied(plugin: Start, images: Images) -> None:
    client = plugin()
    for host_config, reason in [
        ("privileged", "HostConfig must be an object"),
        ({"Binds": "/var/run/docker.sock:/s"}, "Binds must be a list"),
        ({"CapAdd": [1]}, "CapAdd entries must be strings"),
        ({"NetworkMode": ["host"]}, "NetworkMode must be a string"),
    ]:
        body = create_body(images.app)
        body["HostConfig"] = host_config
        answer = authz(client, "POST", CREATE, body)
        assert answer["Allow"] is False
        assert reason in answer["Msg"]


def test_oversized_plugin_request_is_denied(plugin: Start, images: Images) -> None:
    client = plugin(settings=DockerSettings(max_request_bytes=64 * 1024))
    body = create_body(images.app, Labels={"junk": "x" * 100_000})
    answer = authz(client, "POST", CREATE, body)
    assert answer["Allow"] is False
    assert "the limit is 65536" in answer["Err"]


# --------------------------------------------------------------------------- audit and command


def test_decisions_are_audited(plugin: Start, images: Images, tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'audit.db'}")
    db.migrate()
    audit = AuditLog(db)
    client = plugin(log=DecisionLog("authz", audit))
    authz(client, "POST", CREATE, create_body(images.app), user="bob")
    authz(client, "POST", CREATE, create_body(images.app, Privileged=True), user="mallory")
    authz(client, "POST", CREATE, create_body(images.unsigned), user="bob")
    events = audit.query(action="gate.authz")
    seen = {(e["actor"], e["resource"], e["outcome"]) for e in events}
    assert seen == {
        ("bob", images.app, "success"),
        ("mallory", images.app, "denied"),
        ("bob", images.unsigned, "denied"),
    }
    privileged = next(e for e in events if e["actor"] == "mallory")
    assert "privileged container" in privileged["detail"]["summary"]
    assert privileged["detail"]["uri"] == CREATE
    db.dispose()


RUN_SEALYARD = (
    "import sys\n"
    "from sealyard.cli.main import cli, main\n"
    "from sealyard.cli.gate import gate\n"
    "cli.add_command(gate)\n"
    "main(sys.argv[1:])\n"
)


def test_sealyard_gate_docker_authz_serves_the_plugin_socket(short_dir: Path) -> None:
    config = short_dir / "gate.yaml"
    config.write_text(
        "apiVersion: sealyard.dev/v1\nkind: GateConfig\n"
        "rules: [{images: ['docker.io/library/busybox'], policy: exempt}]\n"
        "docker: {deniedCapabilities: [NET_ADMIN]}\n"
    )
    sock = short_dir / "plugins" / "sealyard.sock"
    log = short_dir / "plugin.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                RUN_SEALYARD,
                "gate",
                "docker-authz",
                "--socket",
                str(sock),
                "--config",
                str(config),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "SEALYARD_DATA": ""},
        )
    try:
        for _ in range(300):
            if sock.exists():
                break
            assert proc.poll() is None, tail(log)
            threading.Event().wait(0.05)
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        transport = httpx.HTTPTransport(uds=str(sock))
        with httpx.Client(transport=transport, base_url="http://plugin", timeout=10) as client:
            for _ in range(100):
                try:
                    assert client.post("/Plugin.Activate").json() == {"Implements": ["authz"]}
                    break
                except httpx.TransportError:
                    threading.Event().wait(0.05)
            assert authz(client, "POST", CREATE, create_body("busybox"))["Allow"] is True
            cap = authz(client, "POST", CREATE, create_body("busybox", CapAdd=["NET_ADMIN"]))
            assert cap["Allow"] is False
            assert "capability NET_ADMIN" in cap["Msg"]
            other = authz(client, "POST", CREATE, create_body("alpine"))
            assert other["Allow"] is False
            assert "no gate rule covers" in other["Msg"]
    finally:
        proc.terminate()
        proc.wait(15)
    assert not sock.exists()  # removed on shutdown
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    assert [(x["image"], x["allowed"]) for x in lines] == [
        ("busybox", True),
        ("busybox", False),
        ("alpine", False),
    ]
