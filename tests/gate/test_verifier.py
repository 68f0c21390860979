"""The verifier seam: gate rules, PolicyVerifier over real signed attestations, its cache,
failing closed, and the decision log (structured line + audit event)."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from sealyard.db.engine import Database
from sealyard.errors import TransportError
from sealyard.gate.interface import (
    CacheSettings,
    DecisionLog,
    GateConfigError,
    GateRules,
    GateVerdict,
    PolicyVerifier,
    Rule,
    load_gate_config,
    parse_gate_config,
    verify_images,
    verify_safely,
)
from sealyard.oci.reference import parse_reference
from sealyard.registry.audit import AuditLog
from tests.fixtures.admission_reviews import (
    RULES,
    Images,
    InMemoryAttestationStore,
    signed_images,
    store_verifier,
)
from tests.fixtures.net import free_port


@pytest.fixture(scope="module")
def images() -> Images:
    return signed_images()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --------------------------------------------------------------------------- rules


CONFIG = b"""
apiVersion: sealyard.dev/v1
kind: GateConfig
unmatched: deny
defaults:
  trust: https://registry.example/trust/{project}
  root: roots/{project}.json
rules:
  - images: ["registry.example/shop/**", "registry.example/team/*"]
    policy: production
  - images: "registry.k8s.io/pause"
    policy: exempt
  - images: ["docker.io/library/*"]
    policy: baseline
    trust: /srv/trust/library.tar
    root: /srv/trust/library-root.json
    offline: true
cache: {tagSeconds: 5, digestSeconds: 600, maxEntries: 10}
admission: {timeoutSeconds: 4}
docker: {requireDigest: true}
"""


def test_config_parses_rules_defaults_and_sections(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "gate.yaml"
    path.parent.mkdir()
    path.write_bytes(CONFIG)
    config = load_gate_config(path)
    shop, pause, library = config.rules.rules
    assert shop.policy == "production"
    assert shop.patterns[1] == "registry.example/team/*"
    assert shop.trust == "https://registry.example/trust/{project}"
    assert shop.root == str(path.parent / "roots/{project}.json")  # relative to the file
    assert pause.exempt
    assert pause.patterns == ("registry.k8s.io/pause",)
    assert (library.trust, library.offline) == ("/srv/trust/library.tar", True)
    assert config.rules.unmatched == "deny"
    assert config.cache == CacheSettings(tag_seconds=5, digest_seconds=600, max_entries=10)
    assert config.admission == {"timeoutSeconds": 4}
    assert config.docker == {"requireDigest": True}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (b"apiVersion: sealyard.dev/v1\nkind: Policy\n", "kind: GateConfig"),
        (b"apiVersion: sealyard.dev/v1\nkind: GateConfig\nunmatched: maybe\n", "unmatched"),
        (b"apiVersion: sealyard.dev/v1\nkind: GateConfig\nrulez: []\n", "unknown field(s) rulez"),
        (
            b"apiVersion: sealyard.dev/v1\nkind: GateConfig\nrules: [{policy: p}]\n",
            "rules[0].images",
        ),
        (
            b"apiVersion: sealyard.dev/v1\nkind: GateConfig\nrules: [{images: [a/b]}]\n",
            "rules[0].policy",
        ),
        (
            b"apiVersion: sealyard.dev/v1\nkind: GateConfig\n"
            b"rules: [{images: ['a b'], policy: p}]\n",
            "not an image pattern",
        ),
        (
            b"apiVersion: sealyard.dev/v1\nkind: GateConfig\nrules: [{images: [a], policy: p, "
            b"offline: yes please}]\n",
            "rules[0].offline",
        ),
        (b"apiVersion: sealyard.dev/v1\nkind: GateConfig\ncache: {tagSeconds: -1}\n", "cache.tag"),
        (b"apiVersion: sealyard.dev/v1\nkind: GateConfig\ndocker: [1]\n", "docker must be"),
        (b"{{{", "not valid YAML"),
    ],
)
def test_config_errors_name_the_field(doc: bytes, message: str) -> None:
    with pytest.raises(GateConfigError, match=None) as info:
        parse_gate_config(doc)
    assert message in str(info.value)


def _rule_for(rules: GateRules, image: str) -> str | None:
    rule = rules.match(parse_reference(image))
    return rule.policy if rule else None


def test_globs_stay_in_their_path_component_unless_doubled() -> None:
    rules = parse_gate_config(CONFIG).rules
    assert _rule_for(rules, "registry.example/shop/app:1") == "production"
    assert _rule_for(rules, "registry.example/shop/a/b/c@sha256:" + "a" * 64) == "production"
    assert _rule_for(rules, "registry.example/team/app") == "production"
    assert _rule_for(rules, "registry.example/team/sub/app") is None  # * is one component
    assert _rule_for(rules, "registry.example:5000/shop/app") is None  # another host
    assert _rule_for(rules, "evil.example/registry.example/shop/app") is None
    assert _rule_for(rules, "registry.k8s.io/pause:3.9") == "exempt"
    assert _rule_for(rules, "registry.k8s.io/pause-evil:1") is None


def test_docker_hub_names_are_matched_fully_qualified() -> None:
    rules = parse_gate_config(CONFIG).rules
    for image in (
        "nginx",
        "nginx:1.25",
        "docker.io/library/nginx",
        "index.docker.io/library/nginx",
    ):
        assert _rule_for(rules, image) == "baseline", image
    assert _rule_for(rules, "someone/nginx") is None


def test_first_matching_rule_wins() -> None:
    rules = GateRules((Rule(("r.example/shop/debug",), "exempt"), Rule(("r.example/**",), "prod")))
    assert _rule_for(rules, "r.example/shop/debug:1") == "exempt"
    assert _rule_for(rules, "r.example/shop/app:1") == "prod"


# --------------------------------------------------------------------------- PolicyVerifier


def test_signed_image_is_allowed_and_pinned(images: Images) -> None:
    verdict = store_verifier(images.store).verify(images.app)
    assert verdict.allowed, verdict.message
    assert verdict.pinned == images.pinned[images.app]
    assert verdict.pinned.startswith("registry.example/shop/app@sha256:")
    assert verdict.decision is not None
    assert verdict.decision.allowed
    assert verdict.rule == "production"
    assert "policy 'production' satisfied" in verdict.message


@pytest.mark.parametrize(
    ("role", "reason"),
    [
        ("unsigned", "no valid attestation signed by this stage's trusted keys"),
        ("vulnerable", "CVE-2099-0001"),
        ("outsider", "stage ci"),
    ],
)
def test_failing_images_are_denied_with_the_decisions_summary(
    images: Images, role: str, reason: str
) -> None:
    verdict = store_verifier(images.store).verify(getattr(images, role))
    assert not verdict.allowed
    assert verdict.decision is not None
    assert not verdict.decision.allowed
    assert verdict.message == verdict.decision.summary()
    assert reason in verdict.message


def test_exempt_and_unmatched_images_are_not_verified() -> None:
    store = InMemoryAttestationStore()
    verifier = store_verifier(store)
    exempt = verifier.verify("registry.k8s.io/pause:3.9")
    assert exempt.allowed
    assert exempt.rule == "exempt"
    assert exempt.pinned is None
    denied = verifier.verify("evil.example/miner:latest")
    assert not denied.allowed
    assert "no gate rule covers evil.example/miner" in denied.message
    allowing = PolicyVerifier(GateRules((), unmatched="allow"), verify_image=store.verify_image)
    assert allowing.verify("evil.example/miner:latest").allowed
    assert store.calls == []


def test_invalid_reference_is_denied() -> None:
    verdict = store_verifier(InMemoryAttestationStore()).verify("Registry.example/SHOP/app::")
    assert not verdict.allowed
    assert "not a valid image reference" in verdict.message


def test_trust_and_root_are_filled_in_per_project(images: Images) -> None:
    store = images.store
    rules = GateRules(
        (
            Rule(
                ("registry.example/**",),
                "production",
                trust="https://t.example/trust/{project}",
                root="/etc/roots/{project}.json",
                offline=True,
                insecure=False,
            ),
        )
    )
    before = len(store.calls)
    assert PolicyVerifier(rules, verify_image=store.verify_image).verify(images.app).allowed
    call = store.calls[before]
    assert call.reference == images.app
    assert (call.trust, call.root) == ("https://t.example/trust/shop", Path("/etc/roots/shop.json"))
    assert (call.offline, call.insecure, call.policy) == (True, False, "production")


def test_untagged_images_are_verified_as_latest() -> None:
    store = InMemoryAttestationStore()
    store.publish("registry.example/shop/app:latest")
    verifier = store_verifier(store)
    assert verifier.verify("registry.example/shop/app").allowed
    assert store.calls[-1].reference == "registry.example/shop/app:latest"


def test_digest_reference_is_verified_at_that_digest(images: Images) -> None:
    pinned = images.pinned[images.app]
    verdict = store_verifier(images.store).verify(pinned)
    assert verdict.allowed
    assert verdict.pinned == pinned
    missing = store_verifier(images.store).verify("registry.example/shop/app@sha256:" + "0" * 64)
    assert not missing.allowed
    assert "NotFoundError" in missing.message


def test_a_verifier_that_resolves_another_digest_is_not_believed(images: Images) -> None:
    pinned = images.pinned[images.app]

    def lying(reference: str, **kw: Any) -> Any:
        decision, _ = images.store.verify_image(images.app, **kw)
        return decision, "sha256:" + "1" * 64

    verdict = PolicyVerifier(RULES, verify_image=lying).verify(pinned)
    assert not verdict.allowed
    assert "not the requested" in verdict.message


@pytest.mark.parametrize(
    "error",
    [TransportError("registry.example: connection refused"), RuntimeError("bug"), KeyError("x")],
)
def test_any_exception_fails_closed_with_the_error(images: Images, error: Exception) -> None:
    def broken(reference: str, **kw: Any) -> Any:
        raise error

    verdict = PolicyVerifier(RULES, verify_image=broken).verify(images.app)
    assert not verdict.allowed
    assert verdict.message.startswith(f"verification failed: {type(error).__name__}")
    assert str(error) in verdict.message


def test_the_real_verify_image_fails_closed_on_an_unreachable_registry() -> None:
    """No verify_image injected: the lead's sealyard.policy.verify is imported lazily and
    called; a registry that refuses connections is a denial, not a crash."""
    port = free_port()
    rules = GateRules((Rule((f"127.0.0.1:{port}/**",), "production", insecure=True),))
    verdict = PolicyVerifier(rules).verify(f"127.0.0.1:{port}/shop/app:1")
    assert not verdict.allowed
    assert verdict.message.startswith("verification failed:")


# --------------------------------------------------------------------------- cache


class Counting:
    def __init__(self, store: InMemoryAttestationStore) -> None:
        self.store = store
        self.calls = 0
        self.fail = False

    def __call__(self, reference: str, **kw: Any) -> Any:
        self.calls += 1
        if self.fail:
            raise TransportError("registry down")
        return self.store.verify_image(reference, **kw)


def test_tags_are_cached_briefly_and_digests_longer(images: Images) -> None:
    clock = Clock()
    counting = Counting(images.store)
    verifier = PolicyVerifier(
        RULES,
        verify_image=counting,
        clock=clock,
        cache=CacheSettings(tag_seconds=30, digest_seconds=300),
    )
    pinned = images.pinned[images.app]
    for _ in range(3):
        assert verifier.verify(images.app).allowed
        assert verifier.verify(pinned).allowed
    assert counting.calls == 2
    clock.now += 31
    verifier.verify(images.app)
    verifier.verify(pinned)
    assert counting.calls == 3  # the tag was verified again, the digest was not
    clock.now += 300
    verifier.verify(pinned)
    assert counting.calls == 4


def test_a_moved_tag_is_seen_after_the_tag_ttl() -> None:
    store = InMemoryAttestationStore()
    clock = Clock()
    verifier = PolicyVerifier(RULES, verify_image=store.verify_image, clock=clock)
    store.publish("registry.example/shop/moving:1")
    assert verifier.verify("registry.example/shop/moving:1").allowed
    store.publish("registry.example/shop/moving:1", signed=False)  # the tag now names junk
    assert verifier.verify("registry.example/shop/moving:1").allowed  # cached
    clock.now += 31
    assert not verifier.verify("registry.example/shop/moving:1").allowed


def test_denials_are_cached_errors_are_not(images: Images) -> None:
    counting = Counting(images.store)
    verifier = PolicyVerifier(RULES, verify_image=counting, clock=Clock())
    verifier.verify(images.unsigned)
    verifier.verify(images.unsigned)
    assert counting.calls == 1
    counting.fail = True
    assert not verifier.verify(images.sidecar).allowed
    counting.fail = False
    assert verifier.verify(images.sidecar).allowed  # the error was not remembered
    assert counting.calls == 3


def test_cache_is_bounded(images: Images) -> None:
    counting = Counting(images.store)
    verifier = PolicyVerifier(
        RULES, verify_image=counting, clock=Clock(), cache=CacheSettings(max_entries=2)
    )
    for image in (images.app, images.sidecar, images.migrate, images.app):
        verifier.verify(image)
    assert counting.calls == 4  # app was evicted by the third image


# --------------------------------------------------------------------------- helpers


class Raising:
    def verify(self, image: str) -> GateVerdict:
        raise RuntimeError(f"verifier exploded on {image}")


class Blocking:
    def __init__(self) -> None:
        self.release = threading.Event()

    def verify(self, image: str) -> GateVerdict:
        self.release.wait(30)
        return GateVerdict(image, True, "late")


def test_verify_safely_turns_exceptions_into_denials() -> None:
    verdict = verify_safely(Raising(), "x/y:1")
    assert not verdict.allowed
    assert "RuntimeError: verifier exploded on x/y:1" in verdict.message


def test_verify_images_denies_what_misses_the_deadline(images: Images) -> None:
    blocking = Blocking()
    start = time.monotonic()
    try:
        verdicts = anyio.run(verify_images, blocking, ["a/b:1", "a/b:1", "c/d:2"], 0.3)
    finally:
        blocking.release.set()
    assert time.monotonic() - start < 5
    assert set(verdicts) == {"a/b:1", "c/d:2"}
    assert not any(v.allowed for v in verdicts.values())
    assert "did not finish within 0.3 s" in verdicts["a/b:1"].message


def test_decision_log_writes_a_json_line_and_an_audit_event(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'audit.db'}")
    db.migrate()
    audit = AuditLog(db)
    log = DecisionLog("admission", audit)
    with caplog.at_level(logging.INFO, logger="sealyard.gate"):
        log.verdict(
            GateVerdict("registry.example/shop/app:1", False, "policy 'p' not satisfied", rule="p"),
            actor="alice",
            remote_addr="10.0.0.1",
            uid="u-1",
        )
    [record] = [r for r in caplog.records if r.name == "sealyard.gate.admission"]
    line = json.loads(record.getMessage())
    assert line == {
        "gate": "admission",
        "image": "registry.example/shop/app:1",
        "allowed": False,
        "summary": "policy 'p' not satisfied",
        "actor": "alice",
        "policy": "p",
        "uid": "u-1",
    }
    assert record.levelno == logging.WARNING
    [event] = audit.query(action="gate.admission")
    assert (event["actor"], event["resource"], event["outcome"]) == (
        "alice",
        "registry.example/shop/app:1",
        "denied",
    )
    assert event["remote_addr"] == "10.0.0.1"
    assert event["detail"]["summary"] == "policy 'p' not satisfied"
    db.dispose()


def test_a_failing_audit_write_does_not_change_the_decision(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'empty.db'}")  # never migrated: no audit table
    with caplog.at_level(logging.INFO, logger="sealyard.gate"):
        DecisionLog("authz", AuditLog(db)).record("x/y:1", True, "ok")
    assert any("could not write the audit event" in r.getMessage() for r in caplog.records)
    db.dispose()
