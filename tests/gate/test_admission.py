"""The admission webhook over real HTTPS: real AdmissionReview documents for each kind,
decisions from the real evaluator over real signed attestations, JSONPatch pinning,
malformed reviews, failing closed, and the ``sealyard gate`` commands."""

from __future__ import annotations

import base64
import copy
import json
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner

from sealyard.cli.gate import gate
from sealyard.db.engine import Database
from sealyard.errors import TransportError
from sealyard.gate.admission import AdmissionSettings, admission_app, json_pointer
from sealyard.gate.interface import DecisionLog, GateVerdict, PolicyVerifier, Verifier
from sealyard.registry.audit import AuditLog
from tests.fixtures.admission_reviews import (
    KINDS,
    PAUSE,
    RULES,
    Images,
    apply_json_patch,
    container,
    ephemeral_review,
    pod_spec,
    review,
    signed_images,
    store_verifier,
    workload,
)
from tests.fixtures.net import free_port, tail
from tests.gate import TlsFiles, make_tls, serve

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def images() -> Images:
    return signed_images()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


Start = Callable[..., httpx.Client]


@pytest.fixture
def webhook(tls: TlsFiles, images: Images) -> Iterator[Start]:
    """Start the webhook over HTTPS with a verifier (default: the production PolicyVerifier
    on the in-memory attestation store); return a client that trusts only the test CA."""
    with ExitStack() as stack:

        def start(
            verifier: Verifier | None = None,
            settings: AdmissionSettings | None = None,
            log: DecisionLog | None = None,
        ) -> httpx.Client:
            app = admission_app(
                verifier or store_verifier(images.store), settings=settings, log=log
            )
            url = stack.enter_context(serve(app, tls=tls))
            return stack.enter_context(
                httpx.Client(base_url=url, verify=tls.client_context(), timeout=30)
            )

        yield start


def post(client: httpx.Client, doc: Any, path: str = "/validate") -> dict[str, Any]:
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    resp = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["apiVersion"] == "admission.k8s.io/v1"
    assert out["kind"] == "AdmissionReview"
    return out["response"]  # type: ignore[no-any-return]


def spec_of(images: Images, **override: Any) -> dict[str, Any]:
    parts: dict[str, Any] = {
        "containers": [container("app", images.app), container("sidecar", images.sidecar)],
        "init": [container("migrate", images.migrate)],
    }
    parts.update(override)
    return pod_spec(parts["containers"], parts["init"], parts.get("ephemeral", ()))


# --------------------------------------------------------------------------- every kind


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_with_signed_images_is_allowed(webhook: Start, images: Images, kind: str) -> None:
    client = webhook()
    doc = review(workload(kind, spec_of(images)), uid=f"uid-{kind}")
    response = post(client, doc)
    assert response["uid"] == f"uid-{kind}"
    assert response["allowed"] is True, response
    assert "patch" not in response
    assert "status" not in response


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_denies_an_unsigned_init_container_naming_it(
    webhook: Start, images: Images, kind: str
) -> None:
    client = webhook()
    spec = spec_of(images, init=[container("migrate", images.unsigned)])
    response = post(client, review(workload(kind, spec, name="shop-web")))
    assert response["allowed"] is False
    status = response["status"]
    assert status["code"] == 403
    assert status["reason"] == "Forbidden"
    message = status["message"]
    assert f"denied {kind} shop/shop-web" in message
    assert f"image {images.unsigned} (initContainers[0] 'migrate')" in message
    assert "policy 'production' not satisfied" in message
    assert "no valid attestation" in message
    assert images.app not in message
    assert images.sidecar not in message


def test_every_failing_image_is_named_with_its_containers(webhook: Start, images: Images) -> None:
    spec = pod_spec(
        [container("app", images.vulnerable), container("metrics", images.outsider)],
        [container("init", images.vulnerable)],
    )
    message = post(webhook(), review(workload("Deployment", spec)))["status"]["message"]
    assert f"image {images.vulnerable} (initContainers[0] 'init', containers[0] 'app')" in message
    assert "CVE-2099-0001" in message
    assert f"image {images.outsider} (containers[1] 'metrics')" in message


def test_images_outside_any_rule_are_denied(webhook: Start, images: Images) -> None:
    spec = pod_spec([container("app", images.app), container("miner", "evil.example/miner:1")])
    response = post(webhook(), review(workload("Pod", spec)))
    assert response["allowed"] is False
    assert "no gate rule covers evil.example/miner" in response["status"]["message"]


def test_exempt_images_pass_with_a_warning(webhook: Start, images: Images) -> None:
    spec = pod_spec([container("app", images.app), container("pause", PAUSE)])
    response = post(webhook(), review(workload("Pod", spec)))
    assert response["allowed"] is True
    assert any(PAUSE in w and "exempt" in w for w in response["warnings"])


def test_each_distinct_image_is_verified_once(webhook: Start, images: Images) -> None:
    store = images.store
    before = len(store.calls)
    spec = pod_spec(
        [container(f"c{i}", images.app) for i in range(5)], [container("i", images.app)]
    )
    assert post(webhook(), review(workload("Deployment", spec)))["allowed"] is True
    assert [c.reference for c in store.calls[before:]] == [images.app]


def test_too_many_images_are_refused(webhook: Start, images: Images) -> None:
    spec = pod_spec([container(f"c{i}", f"registry.example/shop/app{i}:1") for i in range(4)])
    client = webhook(settings=AdmissionSettings(max_images=3))
    response = post(client, review(workload("Pod", spec)))
    assert response["allowed"] is False
    assert "at most 3" in response["status"]["message"]


# --------------------------------------------------------------------------- ephemeral


def test_ephemeral_containers_subresource_is_verified(webhook: Start, images: Images) -> None:
    client = webhook()
    pod = workload("Pod", spec_of(images))
    denied = post(client, ephemeral_review(pod, container("debugger-x1", images.unsigned)))
    assert denied["allowed"] is False
    assert "(ephemeralContainers[0] 'debugger-x1')" in denied["status"]["message"]
    allowed = post(client, ephemeral_review(pod, container("debugger-x2", images.sidecar)))
    assert allowed["allowed"] is True


def test_ephemeralcontainers_update_checks_only_ephemeral_images(
    webhook: Start, images: Images
) -> None:
    """The subresource can change nothing else; a pod admitted before the gate existed can
    still be debugged with a verified image."""
    pod = workload("Pod", pod_spec([container("legacy", images.unsigned)]))
    response = post(webhook(), ephemeral_review(pod, container("dbg", images.sidecar)))
    assert response["allowed"] is True


def test_ephemeral_containers_in_a_pod_object_are_collected(webhook: Start, images: Images) -> None:
    spec = spec_of(images, ephemeral=[container("dbg", images.vulnerable)])
    response = post(webhook(), review(workload("Pod", spec), operation="UPDATE"))
    assert response["allowed"] is False
    assert "ephemeralContainers[0] 'dbg'" in response["status"]["message"]


def test_pre_1_22_ephemeral_containers_kind_is_understood(webhook: Start, images: Images) -> None:
    obj = {
        "kind": "EphemeralContainers",
        "apiVersion": "v1",
        "metadata": {"name": "web", "namespace": "shop"},
        "ephemeralContainers": [container("dbg", images.unsigned)],
    }
    doc = review(obj, operation="UPDATE", sub_resource="ephemeralcontainers")
    response = post(webhook(), doc)
    assert response["allowed"] is False
    assert "ephemeralContainers[0] 'dbg'" in response["status"]["message"]


# --------------------------------------------------------------------------- mutate


def patch_of(response: dict[str, Any]) -> list[dict[str, Any]]:
    assert response["patchType"] == "JSONPatch"
    return json.loads(base64.b64decode(response["patch"], validate=True))  # type: ignore[no-any-return]


def test_mutate_pins_every_tag_to_the_verified_digest(webhook: Start, images: Images) -> None:
    sidecar_by_digest = images.pinned[images.sidecar]
    spec = pod_spec(
        [
            container("app", images.app),
            container("sidecar", sidecar_by_digest),
            container("pause", PAUSE),
        ],
        [container("migrate", images.migrate)],
    )
    obj = workload("CronJob", spec)
    response = post(webhook(), review(obj), "/mutate")
    assert response["allowed"] is True
    patched = apply_json_patch(obj, patch_of(response))
    pod = patched["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert [c["image"] for c in pod["containers"]] == [
        images.pinned[images.app],
        sidecar_by_digest,  # already a digest: verified and left alone
        PAUSE,  # exempt: nothing verified, nothing to pin
    ]
    assert pod["initContainers"][0]["image"] == images.pinned[images.migrate]
    # Nothing else changed.
    restored = copy.deepcopy(patched)
    restored_pod = restored["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    restored_pod["containers"][0]["image"] = images.app
    restored_pod["initContainers"][0]["image"] = images.migrate
    assert restored == obj


def test_mutate_keeps_the_registry_host_and_port(webhook: Start) -> None:
    from tests.fixtures.admission_reviews import InMemoryAttestationStore

    store = InMemoryAttestationStore()
    rules = copy.deepcopy(RULES)
    pinned = store.publish("registry.example/shop/app:2")
    client = webhook(PolicyVerifier(rules, verify_image=store.verify_image))
    obj = workload("Pod", pod_spec([container("app", "registry.example/shop/app:2")]))
    response = post(client, review(obj), "/mutate")
    assert patch_of(response) == [
        {"op": "replace", "path": "/spec/containers/0/image", "value": pinned}
    ]


def test_mutate_of_ephemeral_subresource_patches_the_ephemeral_container(
    webhook: Start, images: Images
) -> None:
    pod = workload("Pod", spec_of(images))
    doc = ephemeral_review(pod, container("dbg", images.sidecar))
    response = post(webhook(), doc, "/mutate")
    assert patch_of(response) == [
        {
            "op": "replace",
            "path": "/spec/ephemeralContainers/0/image",
            "value": images.pinned[images.sidecar],
        }
    ]


def test_mutate_denies_like_validate(webhook: Start, images: Images) -> None:
    spec = spec_of(images, containers=[container("app", images.unsigned)])
    response = post(webhook(), review(workload("StatefulSet", spec)), "/mutate")
    assert response["allowed"] is False
    assert "patch" not in response


def test_mutate_with_nothing_to_pin_sends_no_patch(webhook: Start, images: Images) -> None:
    spec = pod_spec([container("app", images.pinned[images.app])])
    response = post(webhook(), review(workload("Pod", spec)), "/mutate")
    assert response["allowed"] is True
    assert "patch" not in response
    assert "patchType" not in response


def test_json_pointer_escapes_rfc_6901() -> None:
    assert json_pointer(["spec", "a/b", "m~n", 0, "image"]) == "/spec/a~1b/m~0n/0/image"
    doc = {"spec": {"a/b": {"m~n": [{"image": "x"}]}}}
    op = {"op": "replace", "path": json_pointer(["spec", "a/b", "m~n", 0, "image"]), "value": "y"}
    assert apply_json_patch(doc, [op]) == {"spec": {"a/b": {"m~n": [{"image": "y"}]}}}


# --------------------------------------------------------------------------- what is not verified


class Tripwire:
    """A verifier that must not be asked."""

    def verify(self, image: str) -> GateVerdict:
        raise AssertionError(f"verified {image}")


@pytest.mark.parametrize("operation", ["DELETE", "CONNECT"])
def test_delete_and_connect_are_allowed_without_verification(
    webhook: Start, images: Images, operation: str
) -> None:
    pod = workload("Pod", pod_spec([container("app", images.unsigned)]))
    doc = review(None, old=pod, operation=operation, kind="Pod", name="web")
    response = post(webhook(Tripwire()), doc)
    assert response == {"uid": doc["request"]["uid"], "allowed": True}


def test_unknown_kind_is_allowed_with_a_warning(webhook: Start, images: Images) -> None:
    rollout = workload("Rollout", pod_spec([container("app", images.unsigned)]))
    rollout["apiVersion"] = "argoproj.io/v1alpha1"
    doc = review(rollout, kind="Rollout", group_version=("argoproj.io", "v1alpha1"))
    response = post(webhook(Tripwire()), doc)
    assert response["allowed"] is True
    assert "argoproj.io/Rollout is not one the gate knows" in response["warnings"][0]


def test_other_subresources_are_allowed_with_a_warning(webhook: Start, images: Images) -> None:
    pod = workload("Pod", pod_spec([container("app", images.unsigned)]))
    doc = review(pod, operation="UPDATE", sub_resource="status", old=pod)
    response = post(webhook(Tripwire()), doc)
    assert response["allowed"] is True
    assert "subresource 'status'" in response["warnings"][0]


def test_containers_without_image_are_warned_about(webhook: Start, images: Images) -> None:
    spec = pod_spec([container("app", images.app), container("filled-by-kustomize", None)])
    response = post(webhook(), review(workload("Deployment", spec)))
    assert response["allowed"] is True
    assert "has no image" in response["warnings"][0]


# --------------------------------------------------------------------------- failing closed


class Raising:
    def verify(self, image: str) -> GateVerdict:
        raise RuntimeError(f"registry on fire while verifying {image}")


def test_a_raising_verifier_fails_closed(webhook: Start, images: Images) -> None:
    response = post(webhook(Raising()), review(workload("Pod", spec_of(images))))
    assert response["allowed"] is False
    assert "RuntimeError: registry on fire" in response["status"]["message"]


def test_an_unreachable_registry_fails_closed(webhook: Start, images: Images) -> None:
    def down(reference: str, **kw: Any) -> Any:
        raise TransportError(f"GET https://registry.example/v2/…/{reference}: connection refused")

    client = webhook(PolicyVerifier(RULES, verify_image=down))
    response = post(client, review(workload("Job", spec_of(images))))
    assert response["allowed"] is False
    assert "TransportError" in response["status"]["message"]
    assert "connection refused" in response["status"]["message"]


def test_a_hung_verifier_is_denied_at_the_deadline(webhook: Start, images: Images) -> None:
    release = threading.Event()

    class Hung:
        def verify(self, image: str) -> GateVerdict:
            release.wait(30)
            return GateVerdict(image, True, "too late")

    try:
        client = webhook(Hung(), settings=AdmissionSettings(timeout_seconds=0.5))
        response = post(client, review(workload("Pod", spec_of(images))))
    finally:
        release.set()
    assert response["allowed"] is False
    assert "did not finish within 0.5 s" in response["status"]["message"]


# --------------------------------------------------------------------------- malformed reviews


def _error(client: httpx.Client, body: bytes, path: str = "/validate") -> httpx.Response:
    return client.post(path, content=body, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    "body",
    [b"not json", b"", b"[]", json.dumps({"apiVersion": "admission.k8s.io/v1"}).encode()],
)
def test_unreadable_review_without_uid_is_a_400(webhook: Start, body: bytes) -> None:
    resp = _error(webhook(Tripwire()), body)
    assert resp.status_code == 400
    assert resp.json()["message"].startswith("malformed AdmissionReview")


def test_missing_uid_is_a_400(webhook: Start, images: Images) -> None:
    doc = review(workload("Pod", spec_of(images)))
    del doc["request"]["uid"]
    resp = _error(webhook(Tripwire()), json.dumps(doc).encode())
    assert resp.status_code == 400
    assert "request.uid" in resp.json()["message"]


def test_v1beta1_review_is_denied_with_its_uid(webhook: Start, images: Images) -> None:
    doc = review(workload("Pod", spec_of(images)), uid="old-1")
    doc["apiVersion"] = "admission.k8s.io/v1beta1"
    response = post(webhook(Tripwire()), doc)
    assert response["uid"] == "old-1"
    assert response["allowed"] is False
    assert response["status"]["code"] == 400
    assert "admissionReviewVersions: [v1]" in response["status"]["message"]


def test_huge_review_is_denied_with_its_uid(webhook: Start, images: Images) -> None:
    spec = spec_of(images)
    spec["containers"][0]["env"] = [{"name": "BLOB", "value": "x" * (2 * 1024 * 1024)}]
    doc = review(workload("Pod", spec), uid="big-1")
    client = webhook(Tripwire(), settings=AdmissionSettings(max_review_bytes=1024 * 1024))
    response = post(client, doc)
    assert response["uid"] == "big-1"
    assert response["allowed"] is False
    assert "the limit is 1048576" in response["status"]["message"]
    anonymous = json.dumps({"x": "y" * (2 * 1024 * 1024)}).encode()
    assert _error(client, anonymous).status_code == 400


def test_broken_json_with_a_readable_uid_is_denied(webhook: Start, images: Images) -> None:
    raw = json.dumps(review(workload("Pod", spec_of(images)), uid="cut-1")).encode()
    response = post(webhook(Tripwire()), raw[: len(raw) // 2])
    assert (response["uid"], response["allowed"]) == ("cut-1", False)


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    node: Any = doc["request"]
    *parents, last = path.split(".")
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("object.spec", ["containers"], "object.spec must be an object"),
        ("object.spec.template.spec", "nginx", "object.spec.template.spec must be an object"),
        ("object.spec.template.spec.containers", "nginx", "containers must be a list"),
        ("object.spec.template.spec.containers.0", "nginx", "containers[0] must be an object"),
        (
            "object.spec.template.spec.containers.0.image",
            42,
            "containers[0].image must be a string",
        ),
        ("object.spec.template.spec.initContainers.0.name", 7, "initContainers[0].name must be"),
        ("object", "Deployment", "request.object must be an object"),
        ("object.kind", "Pod", "contradicts request.kind"),
        ("operation", "PATCH", "request.operation"),
        ("kind", "Deployment", "request.kind must be an object"),
        ("dryRun", "yes", "request.dryRun"),
        ("userInfo.username", ["alice"], "request.userInfo.username must be a string"),
    ],
)
def test_fields_of_the_wrong_type_are_denied_with_their_path(
    webhook: Start, images: Images, path: str, value: Any, message: str
) -> None:
    doc = _set(review(workload("Deployment", spec_of(images)), uid="bad-1"), path, value)
    response = post(webhook(Tripwire()), doc)
    assert (response["uid"], response["allowed"]) == ("bad-1", False)
    assert message in response["status"]["message"]


def test_duplicate_keys_are_refused(webhook: Start, images: Images) -> None:
    raw = json.dumps(review(workload("Pod", spec_of(images)), uid="dup-1"))
    raw = raw.replace('"image": "', '"image": "registry.example/shop/app:1.0", "image": "', 1)
    response = post(webhook(Tripwire()), raw.encode())
    assert (response["uid"], response["allowed"]) == ("dup-1", False)
    assert "duplicate key 'image'" in response["status"]["message"]


# --------------------------------------------------------------------------- TLS, health, audit


def test_tls_is_real_and_verified_against_the_ca(
    webhook: Start, images: Images, tmp_path: Path
) -> None:
    client = webhook()
    base = str(client.base_url).rstrip("/")
    assert base.startswith("https://127.0.0.1:")
    assert client.get("/healthz").json() == {"status": "ok"}
    with (
        httpx.Client(verify=ssl.create_default_context(), timeout=10) as untrusting,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        untrusting.get(f"{base}/healthz")
    other_ca = make_tls(tmp_path / "other")
    with (
        httpx.Client(verify=other_ca.client_context(), timeout=10) as wrong,
        pytest.raises(httpx.ConnectError),
    ):
        wrong.get(f"{base}/healthz")
    plain = base.replace("https://", "http://")
    with httpx.Client(timeout=10) as cleartext, pytest.raises(httpx.HTTPError):
        cleartext.get(f"{plain}/healthz")


def test_every_decision_is_logged_and_audited(
    webhook: Start, images: Images, tmp_path: Path
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'audit.db'}")
    db.migrate()
    audit = AuditLog(db)
    client = webhook(log=DecisionLog("admission", audit))
    spec = spec_of(images, init=[container("migrate", images.unsigned)])
    post(client, review(workload("Deployment", spec), uid="audit-1"))
    _error(client, b"{")
    events = {e["resource"]: e for e in audit.query(action="gate.admission")}
    assert set(events) == {images.app, images.sidecar, images.unsigned, "AdmissionReview"}
    unsigned = events[images.unsigned]
    assert (unsigned["actor"], unsigned["outcome"]) == ("alice@example.com", "denied")
    assert unsigned["detail"]["uid"] == "audit-1"
    assert unsigned["detail"]["kind"] == "Deployment"
    assert "not satisfied" in unsigned["detail"]["summary"]
    app = events[images.app]
    assert app["outcome"] == "success"
    assert app["detail"]["pinned"] == images.pinned[images.app]
    assert events["AdmissionReview"]["outcome"] == "denied"
    db.dispose()


# --------------------------------------------------------------------------- the commands


def test_admission_config_prints_both_webhook_configurations(tls: TlsFiles) -> None:
    result = CliRunner().invoke(
        gate,
        [
            "admission-config",
            "--url",
            "https://sealyard-gate.sealyard.svc:8443/",
            "--ca-file",
            str(tls.ca),
            "--exclude-namespace",
            "kube-system",
            "--exclude-namespace",
            "sealyard",
            "--timeout",
            "15",
        ],
    )
    assert result.exit_code == 0, result.output
    validating, mutating = yaml.safe_load_all(result.output)
    assert validating["kind"] == "ValidatingWebhookConfiguration"
    assert mutating["kind"] == "MutatingWebhookConfiguration"
    [hook] = validating["webhooks"]
    assert hook["clientConfig"]["url"] == "https://sealyard-gate.sealyard.svc:8443/validate"
    assert base64.b64decode(hook["clientConfig"]["caBundle"]) == tls.ca.read_bytes()
    assert (hook["failurePolicy"], hook["sideEffects"], hook["timeoutSeconds"]) == (
        "Fail",
        "None",
        15,
    )
    assert hook["admissionReviewVersions"] == ["v1"]
    [selector] = hook["namespaceSelector"]["matchExpressions"]
    assert selector == {
        "key": "kubernetes.io/metadata.name",
        "operator": "NotIn",
        "values": ["kube-system", "sealyard"],
    }
    resources = {r for rule in hook["rules"] for r in rule["resources"]}
    assert resources == {
        "pods",
        "pods/ephemeralcontainers",
        "replicationcontrollers",
        "deployments",
        "statefulsets",
        "daemonsets",
        "replicasets",
        "jobs",
        "cronjobs",
    }
    assert all(rule["operations"] == ["CREATE", "UPDATE"] for rule in hook["rules"])
    [pin] = mutating["webhooks"]
    assert pin["clientConfig"]["url"].endswith("/mutate")
    assert pin["reinvocationPolicy"] == "IfNeeded"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "http://gate:8080"], "https only"),
        (["--url", "https://gate", "--timeout", "31"], "31"),
    ],
)
def test_admission_config_refuses_what_the_api_server_would(
    tls: TlsFiles, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(gate, ["admission-config", "--ca-file", str(tls.ca), *args])
    assert result.exit_code != 0
    assert message in (result.output + str(result.exception))


def test_admission_refuses_to_serve_without_tls() -> None:
    result = CliRunner().invoke(gate, ["admission", "--listen", "127.0.0.1:1"])
    assert result.exit_code == 2
    assert "needs TLS" in result.output


RUN_SEALYARD = (
    "import sys\n"
    "from sealyard.cli.main import cli, main\n"
    "from sealyard.cli.gate import gate\n"
    "cli.add_command(gate)\n"
    "main(sys.argv[1:])\n"
)


def test_sealyard_gate_admission_serves_tls_with_the_configured_rules(
    tls: TlsFiles, tmp_path: Path, images: Images
) -> None:
    config = tmp_path / "gate.yaml"
    config.write_text(
        "apiVersion: sealyard.dev/v1\nkind: GateConfig\n"
        "rules:\n  - {images: ['registry.k8s.io/**'], policy: exempt}\n"
        "admission: {timeoutSeconds: 5}\n"
    )
    port = free_port()
    log = tmp_path / "gate.log"
    data = tmp_path / "data"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                RUN_SEALYARD,
                "gate",
                "admission",
                "--listen",
                f"127.0.0.1:{port}",
                "--tls-cert",
                str(tls.cert),
                "--tls-key",
                str(tls.key),
                "--config",
                str(config),
                "--data",
                str(data),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "SEALYARD_DATA": ""},
        )
    try:
        with httpx.Client(
            base_url=f"https://127.0.0.1:{port}", verify=tls.client_context(), timeout=10
        ) as client:
            for _ in range(300):
                try:
                    client.get("/healthz")
                    break
                except httpx.TransportError:
                    assert proc.poll() is None, tail(log)
                    threading.Event().wait(0.05)
            pause = post(client, review(workload("Pod", pod_spec([container("p", PAUSE)]))))
            assert pause["allowed"] is True
            other = review(workload("Pod", pod_spec([container("app", images.app)])))
            denied = post(client, other)
            assert denied["allowed"] is False
            assert "no gate rule covers registry.example/shop/app" in denied["status"]["message"]
    finally:
        proc.terminate()
        proc.wait(15)
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    assert {(x["image"], x["allowed"]) for x in lines} == {(PAUSE, True), (images.app, False)}
    db = Database(f"sqlite:///{data / 'sealyard.db'}")
    events = AuditLog(db).query(action="gate.admission")
    db.dispose()
    assert {(e["resource"], e["outcome"]) for e in events} == {
        (PAUSE, "success"),
        (images.app, "denied"),
    }
