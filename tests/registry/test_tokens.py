"""Registry bearer tokens: scope parsing, ES256 signing and strict verification."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from sealyard.errors import AuthenticationError, UsageError
from sealyard.registry.tokens import Scope, TokenService, granted_actions, parse_scopes

PULL_PUSH = [Scope("repository", "library/alpine", frozenset({"pull", "push"}))]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _claims(svc: TokenService, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": svc.issuer,
        "sub": "alice",
        "aud": svc.service,
        "iat": now,
        "nbf": now - 5,
        "exp": now + 300,
        "kind": "user",
        "access": [s.to_claim() for s in PULL_PUSH],
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _signing_key(key_dir: Path) -> Any:
    return serialization.load_pem_private_key(
        (key_dir / "token-signing.pem").read_bytes(), password=None
    )


@pytest.fixture
def svc(tmp_path: Path) -> TokenService:
    return TokenService(tmp_path / "keys", "sealyard", ttl=300)


# ------------------------------------------------------------------------------- scopes


def test_parse_single_scope() -> None:
    (scope,) = parse_scopes(["repository:library/alpine:pull"])
    assert scope == Scope("repository", "library/alpine", frozenset({"pull"}))
    assert str(scope) == "repository:library/alpine:pull"
    assert scope.to_claim() == {"type": "repository", "name": "library/alpine", "actions": ["pull"]}


def test_parse_multiple_scopes_in_one_and_several_parameters() -> None:
    scopes = parse_scopes(
        ["repository:library/a:pull repository:team/b:push,pull", "repository:library/c:*"]
    )
    assert {(s.name, s.actions) for s in scopes} == {
        ("library/a", frozenset({"pull"})),
        ("team/b", frozenset({"pull", "push"})),
        ("library/c", frozenset({"*"})),
    }


def test_scopes_for_the_same_resource_are_merged() -> None:
    scopes = parse_scopes(
        ["repository:library/a:pull", "repository:library/a:push", "repository:library/a:pull"]
    )
    assert scopes == [Scope("repository", "library/a", frozenset({"pull", "push"}))]


def test_registry_catalog_scope() -> None:
    assert parse_scopes(["registry:catalog:*"]) == [Scope("registry", "catalog", frozenset({"*"}))]


def test_empty_actions_and_no_scopes() -> None:
    assert parse_scopes([]) == []
    assert parse_scopes(["", "   "]) == []
    assert parse_scopes(["repository:library/a:"]) == [
        Scope("repository", "library/a", frozenset())
    ]


@pytest.mark.parametrize(
    "value",
    [
        "repository",
        "repository:library/a",
        "repo:library/a:pull",
        "repository:Library/a:pull",
        "repository:library/a:PULL",
        "repository:library/a:pull;delete",
        "repository:library/a:b:pull",
        "registry:catalog",
        "repository:library/a:pull\x00",
        ":library/a:pull",
    ],
)
def test_malformed_scopes_are_refused(value: str) -> None:
    with pytest.raises(UsageError, match="invalid scope"):
        parse_scopes([value])


def test_one_malformed_scope_refuses_the_request() -> None:
    with pytest.raises(UsageError):
        parse_scopes(["repository:library/a:pull bogus"])


# ------------------------------------------------------------------------ issue & verify


def test_issue_verify_roundtrip(svc: TokenService) -> None:
    token, expires_in, issued_at = svc.issue("alice", "user", PULL_PUSH)
    assert expires_in == 300
    assert issued_at == pytest.approx(time.time(), abs=5)
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    claims = svc.verify(token)
    assert claims["sub"] == "alice"
    assert claims["kind"] == "user"
    assert claims["aud"] == "sealyard"
    assert claims["iss"] == "sealyard-token-issuer"
    assert claims["exp"] - claims["iat"] == 300
    assert granted_actions(claims, "repository", "library/alpine") == {"pull", "push"}
    assert granted_actions(claims, "repository", "library/other") == frozenset()
    assert granted_actions(claims, "registry", "catalog") == frozenset()
    other, _, _ = svc.issue("alice", "user", PULL_PUSH)
    assert svc.verify(other)["jti"] != claims["jti"]


def test_granted_actions_ignores_malformed_access_entries() -> None:
    claims = {
        "access": [
            "repository:library/a:pull",
            {"type": "repository", "name": "library/a", "actions": ["pull", 7, None]},
            {"type": "repository", "name": "library/a"},
            {"type": "registry", "name": "library/a", "actions": ["push"]},
        ]
    }
    assert granted_actions(claims, "repository", "library/a") == {"pull"}
    assert granted_actions({"access": None}, "repository", "library/a") == frozenset()


def test_expired_token_is_refused(tmp_path: Path) -> None:
    expired = TokenService(tmp_path / "keys", "sealyard", ttl=-60)
    token, _, _ = expired.issue("alice", "user", PULL_PUSH)
    fresh = TokenService(tmp_path / "keys", "sealyard")
    with pytest.raises(AuthenticationError, match="expired"):
        fresh.verify(token)


def test_token_for_another_service_is_refused(tmp_path: Path) -> None:
    other = TokenService(tmp_path / "keys", "other-registry")
    token, _, _ = other.issue("alice", "user", PULL_PUSH)
    ours = TokenService(tmp_path / "keys", "sealyard")  # same key, different service
    with pytest.raises(AuthenticationError):
        ours.verify(token)


def test_wrong_audience_with_the_right_key_is_refused(tmp_path: Path, svc: TokenService) -> None:
    key = _signing_key(tmp_path / "keys")
    good = jwt.encode(_claims(svc), key, algorithm="ES256")
    assert svc.verify(good)["sub"] == "alice"
    for changes in ({"aud": "other"}, {"aud": None}, {"aud": ["other", "another"]}):
        token = jwt.encode(_claims(svc, **changes), key, algorithm="ES256")
        with pytest.raises(AuthenticationError, match="invalid token"):
            svc.verify(token)


def test_wrong_issuer_with_the_right_key_is_refused(tmp_path: Path, svc: TokenService) -> None:
    key = _signing_key(tmp_path / "keys")
    for changes in ({"iss": "someone-else"}, {"iss": None}):
        token = jwt.encode(_claims(svc, **changes), key, algorithm="ES256")
        with pytest.raises(AuthenticationError, match="invalid token"):
            svc.verify(token)


@pytest.mark.parametrize("missing", ["exp", "iat", "sub"])
def test_required_claims(tmp_path: Path, svc: TokenService, missing: str) -> None:
    key = _signing_key(tmp_path / "keys")
    token = jwt.encode(_claims(svc, **{missing: None}), key, algorithm="ES256")
    with pytest.raises(AuthenticationError):
        svc.verify(token)


def test_not_yet_valid_token_is_refused(tmp_path: Path, svc: TokenService) -> None:
    key = _signing_key(tmp_path / "keys")
    token = jwt.encode(_claims(svc, nbf=int(time.time()) + 600), key, algorithm="ES256")
    with pytest.raises(AuthenticationError):
        svc.verify(token)


def test_token_signed_by_another_key_is_refused(tmp_path: Path, svc: TokenService) -> None:
    stranger = TokenService(tmp_path / "elsewhere", "sealyard")
    token, _, _ = stranger.issue("admin", "user", PULL_PUSH)
    assert stranger.verify(token)["sub"] == "admin"
    with pytest.raises(AuthenticationError, match="invalid token"):
        svc.verify(token)


def test_tampered_payload_is_refused(svc: TokenService) -> None:
    token, _, _ = svc.issue("alice", "user", PULL_PUSH)
    header, payload, signature = token.split(".")
    claims = json.loads(_unb64(payload))
    claims["sub"] = "admin"
    claims["access"] = [{"type": "repository", "name": "library/alpine", "actions": ["*"]}]
    forged = ".".join([header, _b64(json.dumps(claims).encode()), signature])
    with pytest.raises(AuthenticationError, match="invalid token"):
        svc.verify(forged)
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    with pytest.raises(AuthenticationError):
        svc.verify(".".join([header, payload, flipped]))


def test_alg_none_token_is_refused(svc: TokenService) -> None:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(_claims(svc, sub="admin")).encode())
    for token in (f"{header}.{payload}.", jwt.encode(_claims(svc), None, algorithm="none")):
        with pytest.raises(AuthenticationError, match="invalid token"):
            svc.verify(token)


def test_hmac_token_keyed_with_the_public_key_is_refused(tmp_path: Path, svc: TokenService) -> None:
    public_pem = (
        _signing_key(tmp_path / "keys")
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(_claims(svc, sub="admin")).encode())
    mac = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    with pytest.raises(AuthenticationError, match="invalid token"):
        svc.verify(f"{header}.{payload}.{_b64(mac)}")


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "a.b", "....."])
def test_garbage_tokens_are_refused(svc: TokenService, token: str) -> None:
    with pytest.raises(AuthenticationError):
        svc.verify(token)


# --------------------------------------------------------------------------------- key


def test_key_is_persisted_with_private_permissions(tmp_path: Path) -> None:
    key_dir = tmp_path / "keys"
    first = TokenService(key_dir, "sealyard")
    key_file = key_dir / "token-signing.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in key_file.read_bytes()
    assert not list(key_dir.glob("*.tmp"))
    pem = key_file.read_bytes()
    token, _, _ = first.issue("alice", "user", PULL_PUSH)
    restarted = TokenService(key_dir, "sealyard")
    assert key_file.read_bytes() == pem  # reused, not regenerated
    assert restarted.verify(token)["sub"] == "alice"
    later, _, _ = restarted.issue("bob", "user", [])
    assert first.verify(later)["sub"] == "bob"


def test_a_non_ec_key_file_is_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key_dir = tmp_path / "keys"
    key_dir.mkdir()
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (key_dir / "token-signing.pem").write_bytes(pem)
    with pytest.raises(UsageError, match="not an EC private key"):
        TokenService(key_dir, "sealyard")
