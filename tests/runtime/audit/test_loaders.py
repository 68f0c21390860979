"""Format detection and normalisation, and rejection of malformed and hostile input."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from sealyard.errors import SizeLimitError, UntrustedDataError, UsageError
from sealyard.runtime.audit import audit_workloads
from sealyard.runtime.audit.loaders import ParseLimits, load_bytes, load_path
from tests.runtime.audit.documents import base, deployment, docker_inspect, encode, oci_config

MULTI_DOC = """\
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  LOG_LEVEL: info
---
# a comment-only document follows
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  namespace: shop
spec:
  serviceName: db
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - name: postgres
        image: postgres:16.2
        securityContext:
          privileged: true
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      hostPID: true
      containers:
      - name: agent
        image: registry.example/agent:2.0
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-7d9f
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: registry.example/web:1.4.2
---
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
        image: registry.example/migrate:1.4.2
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: backup
  namespace: ops
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          hostNetwork: true
          containers:
          - name: backup
            image: registry.example/backup:3
---
apiVersion: v1
kind: Pod
metadata:
  name: debug
spec:
  containers:
  - name: shell
    image: busybox:1.36
---
apiVersion: v1
kind: ReplicationController
metadata:
  name: legacy
spec:
  replicas: 1
  template:
    metadata:
      labels: {app: legacy}
    spec:
      containers:
      - name: legacy
        image: nginx:1.25
---
apiVersion: v1
kind: PodTemplate
metadata:
  name: tmpl
template:
  metadata:
    labels: {app: tmpl}
  spec:
    containers:
    - name: t
      image: alpine:3.19
"""

KUBECTL_LIST = """\
apiVersion: v1
items:
- apiVersion: v1
  kind: Pod
  metadata:
    creationTimestamp: "2025-03-04T10:21:33Z"
    labels:
      app: web
    name: web-6c8d7f9b5-x2k4q
    namespace: shop
    ownerReferences:
    - apiVersion: apps/v1
      blockOwnerDeletion: true
      controller: true
      kind: ReplicaSet
      name: web-6c8d7f9b5
      uid: 7b1f3c2e-aaaa-bbbb-cccc-0123456789ab
  spec:
    containers:
    - image: registry.example/web:1.4.2
      imagePullPolicy: IfNotPresent
      name: web
      ports:
      - containerPort: 8080
        protocol: TCP
      resources: {}
      terminationMessagePath: /dev/termination-log
      terminationMessagePolicy: File
    dnsPolicy: ClusterFirst
    enableServiceLinks: true
    nodeName: node-1
    preemptionPolicy: PreemptLowerPriority
    priority: 0
    restartPolicy: Always
    schedulerName: default-scheduler
    securityContext: {}
    serviceAccountName: default
    terminationGracePeriodSeconds: 30
  status:
    phase: Running
    podIP: 10.244.1.17
kind: List
metadata:
  resourceVersion: ""
"""

COMPOSE_ANCHORS = """\
x-hardened: &hardened
  read_only: true
  cap_drop: [ALL]
  security_opt:
    - no-new-privileges:true
  pids_limit: 100

services:
  api:
    <<: *hardened
    image: registry.example/api:2.1
    ports:
      - "[::1]:9000:9000/tcp"
      - target: 9443
        published: "9443"
        protocol: tcp
        mode: host
  worker:
    <<: *hardened
    image: registry.example/worker:2.1
    privileged: true
    volumes:
      - type: bind
        source: /var/run/docker.sock
        target: /var/run/docker.sock
"""


def _ids(data: bytes, source: str) -> list[tuple[str, str]]:
    result = load_bytes(data, source)
    return [(w.resource.kind, w.resource.name) for w in result.workloads]


def test_docker_inspect_array_of_containers() -> None:
    second = docker_inspect()
    second["Name"] = "/db"
    data = json.dumps([docker_inspect(), second], indent=4).encode()
    result = load_bytes(data, "inspect.json")
    assert result.formats == ("docker-inspect",)
    assert [w.resource.name for w in result.workloads] == ["web", "db"]
    assert [w.resource.document for w in result.workloads] == [0, 1]
    web = result.workloads[0].containers[0]
    assert web.user == "10001:10001"
    assert web.cap_drop == ("ALL",)
    assert web.memory_limit == 256 * 1024 * 1024
    assert web.cpu_limit == 0.5
    assert web.ports[0].host_ip == "127.0.0.1"
    assert web.ports[0].host_port == 8080


def test_a_single_docker_inspect_object_is_accepted() -> None:
    result = load_bytes(json.dumps(docker_inspect()).encode(), "one.json")
    assert [w.resource.name for w in result.workloads] == ["web"]


def test_every_kind_that_templates_pods_and_skipped_kinds() -> None:
    result = load_bytes(MULTI_DOC.encode(), "all.yaml")
    assert [(w.resource.kind, w.resource.name) for w in result.workloads] == [
        ("StatefulSet", "db"),
        ("DaemonSet", "agent"),
        ("ReplicaSet", "web-7d9f"),
        ("Job", "migrate"),
        ("CronJob", "backup"),
        ("Pod", "debug"),
        ("ReplicationController", "legacy"),
        ("PodTemplate", "tmpl"),
    ]
    assert any("ConfigMap, Service" in n for n in result.notes)
    cron = result.workloads[4]
    assert cron.host_network is True
    assert cron.resource.namespace == "ops"
    assert cron.path == "spec.jobTemplate.spec.template.spec"
    report = audit_workloads(result.workloads, "pss-baseline")
    fired = {(f.resource.name, f.rule.id) for f in report.findings}
    assert ("db", "PSS-BASELINE-PRIVILEGED") in fired
    assert ("agent", "PSS-BASELINE-HOST-NAMESPACES") in fired
    assert ("backup", "PSS-BASELINE-HOST-NAMESPACES") in fired
    privileged = next(f for f in report.findings if f.rule.id == "PSS-BASELINE-PRIVILEGED")
    assert privileged.resource.document == 3  # the comment-only document still counts
    assert privileged.line == MULTI_DOC.splitlines().index("          privileged: true") + 1


def test_kubectl_list_yaml_and_json() -> None:
    yaml_ids = _ids(KUBECTL_LIST.encode(), "pods.yaml")
    assert yaml_ids == [("Pod", "web-6c8d7f9b5-x2k4q")]
    import yaml

    as_json = json.dumps(yaml.safe_load(KUBECTL_LIST), indent=4).encode()
    assert _ids(as_json, "pods.json") == yaml_ids
    typed = {
        "apiVersion": "apps/v1",
        "kind": "DeploymentList",
        "metadata": {"resourceVersion": "1"},
        "items": [{k: v for k, v in deployment().items() if k not in ("kind", "apiVersion")}],
    }
    assert _ids(json.dumps(typed).encode(), "deps.json") == [("Deployment", "web")]


def test_compose_anchors_merge_keys_and_port_syntaxes() -> None:
    result = load_bytes(COMPOSE_ANCHORS.encode(), "compose.yaml")
    api, _worker = result.workloads
    assert api.containers[0].read_only_rootfs is True
    assert api.containers[0].no_new_privileges is True
    assert [(p.host_ip, p.host_port, p.container_port) for p in api.containers[0].ports] == [
        ("::1", 9000, 9000),
        ("", 9443, 9443),
    ]
    report = audit_workloads(result.workloads, "cis")
    worker_ids = {f.rule.id for f in report.findings if f.resource.name == "worker"}
    assert {"CIS-5.5", "CIS-5.32"} <= worker_ids
    sock = next(f for f in report.findings if f.rule.id == "CIS-5.32")
    assert sock.line == COMPOSE_ANCHORS.splitlines().index("      - type: bind") + 1


def test_oci_bundle_is_named_after_its_directory(tmp_path: Path) -> None:
    bundle = tmp_path / "web-bundle"
    bundle.mkdir()
    (bundle / "config.json").write_bytes(encode("oci", oci_config()))
    result = load_path(bundle / "config.json")
    assert result.formats == ("oci",)
    [workload] = result.workloads
    assert workload.resource.name == "web-bundle"
    assert workload.host_users is False
    assert workload.containers[0].capabilities == ("CHOWN", "SETUID", "SETGID", "NET_BIND_SERVICE")


@pytest.mark.parametrize(
    ("fmt", "path", "value", "expected"),
    [
        ("compose", ("services", "web", "privileged"), [1], "services.web.privileged"),
        ("compose", ("services", "web", "ports"), "8080:8080", "services.web.ports"),
        ("compose", ("services", "web", "mem_limit"), "lots", "not a byte size"),
        ("compose", ("services", "web"), ["image"], "a service must be a mapping"),
        ("kubernetes", ("spec", "template", "spec", "containers"), "web", "expected a list"),
        (
            "kubernetes",
            ("spec", "template", "spec", "containers", 0, "resources", "limits", "memory"),
            "a lot",
            "not a Kubernetes quantity",
        ),
        (
            "kubernetes",
            ("spec", "template", "spec", "securityContext", "runAsUser"),
            "root",
            "expected an integer",
        ),
        ("kubernetes", ("spec", "template"), None, "needs a pod template"),
        ("docker-inspect", ("HostConfig",), [], "expected a mapping"),
        ("docker-inspect", ("HostConfig", "CapAdd"), "SYS_ADMIN", "HostConfig.CapAdd"),
        ("docker-inspect", ("HostConfig", "Memory"), {"limit": 1}, "expected an integer"),
        ("oci", ("process",), "sh", "expected a mapping"),
        ("oci", ("linux", "namespaces"), {"type": "pid"}, "linux.namespaces"),
        ("oci", ("process", "noNewPrivileges"), "yes", "expected a boolean"),
    ],
)
def test_wrong_types_are_rejected_with_the_path(
    fmt: str, path: tuple[str | int, ...], value: object, expected: str
) -> None:
    doc = base(fmt)
    target: Any = doc
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    with pytest.raises(UntrustedDataError) as info:
        load_bytes(encode(fmt, doc), "bad")
    assert expected in str(info.value)
    assert str(info.value).startswith("bad")


def test_billion_laughs_is_rejected_quickly() -> None:
    bomb = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        bomb.append(f"{name}: &{name} [{','.join(['*' + prev] * 9)}]")
    bomb.append("services: {web: {image: x, environment: *i}}")
    start = time.monotonic()
    with pytest.raises(SizeLimitError, match="alias"):
        load_bytes("\n".join(bomb).encode(), "bomb.yaml")
    assert time.monotonic() - start < 2


def test_recursive_aliases_are_rejected() -> None:
    with pytest.raises(UntrustedDataError, match="recursive alias"):
        load_bytes(b"services: &s\n  web: *s\n", "loop.yaml")


def test_python_tags_are_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    data = f'services: !!python/object/apply:os.system ["touch {marker}"]\n'.encode()
    with pytest.raises(UntrustedDataError, match="not valid YAML"):
        load_bytes(data, "evil.yaml")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
        (b"- " * 3000 + b"x", "nest"),
        (b'{"ociVersion": "1.0.2", "process": {"user": {"uid": NaN}}}', "NaN"),
        (b'{"ociVersion": "1.0.2", "root": {"readonly": ' + b"9" * 5000 + b"}}", "not valid JSON"),
        (b"\xff\xfeh\x00i\x00", "UTF-16"),
        ("services:\n  caf\xe9: {image: x}\n".encode("latin-1"), "not UTF-8"),
        (b"services:\n  web: {image: \x00x}\n", "NUL"),
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"foo: bar\n", "not a recognised container configuration"),
        (b"[1, 2, 3]", "not a recognised"),
        (b"kind: Deployment\nmetadata: {name: x}\n", "apiVersion and kind"),
        (b"services: [1\n", "not valid YAML"),
        (b'{"services": ', "not valid JSON"),
    ],
)
def test_malformed_input_is_a_clear_error(data: bytes, match: str) -> None:
    with pytest.raises(UntrustedDataError, match=match):
        load_bytes(data, "input")


def test_image_inspect_output_is_explained() -> None:
    image = [
        {
            "Id": "sha256:9c7a54a9a43cca047013b82af109fe963fde787f63f9e016fdc3384500c2823d",
            "RepoTags": ["registry.example/web:1.4.2"],
            "RepoDigests": [],
            "Created": "2025-03-01T09:00:00Z",
            "Config": {"User": "10001", "Cmd": ["web"]},
            "Architecture": "amd64",
            "Os": "linux",
            "RootFS": {"Type": "layers", "Layers": ["sha256:aa"]},
        }
    ]
    with pytest.raises(UntrustedDataError, match="of an image, not of a container"):
        load_bytes(json.dumps(image).encode(), "image.json")


def test_size_limits(tmp_path: Path) -> None:
    small = ParseLimits(max_bytes=512)
    with pytest.raises(SizeLimitError, match="larger than the limit"):
        load_bytes(encode("compose", base("compose")), "c.yaml", limits=small)
    big = tmp_path / "huge.yaml"
    with big.open("wb") as fh:
        fh.write(b"services:\n  web:\n    image: x\n    labels:\n")
        fh.write(b"      k: " + b"v" * (9 * 1024 * 1024) + b"\n")
    with pytest.raises(SizeLimitError):
        load_path(big)
    few = ParseLimits(max_nodes=50)
    with pytest.raises(SizeLimitError, match="more than 50 values"):
        load_bytes(encode("kubernetes", base("kubernetes")), "d.yaml", limits=few)


def test_unreadable_paths_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        load_path(tmp_path / "missing.yaml")
    with pytest.raises(UsageError, match="is a directory"):
        load_path(tmp_path)


def test_utf8_bom_and_crlf_are_fine() -> None:
    data = b"\xef\xbb\xbf" + encode("compose", base("compose")).replace(b"\n", b"\r\n")
    assert [w.resource.name for w in load_bytes(data, "c.yaml").workloads] == ["web"]


def test_compose_interpolation_and_extends_are_noted() -> None:
    data = b"""\
services:
  web:
    extends:
      file: common.yaml
      service: base
    image: registry.example/web:${TAG:-latest}
    ports: ["${PORT}:8080"]
"""
    result = load_bytes(data, "compose.yaml")
    assert any("extends" in n for n in result.notes)
    assert any("interpolation" in n for n in result.notes)
    [port] = result.workloads[0].containers[0].ports
    assert port.host_port is None
    assert port.container_port == 8080
