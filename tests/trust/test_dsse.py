"""DSSE envelopes: PAE and signatures against the spec's vectors, real signers of every key
type, distinct-signer counting, lying keyids, and hostile envelopes."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from securesystemslib.signer import CryptoSigner, Key, Signature, Signer, SSlibKey

from sealyard.errors import SignatureError, SizeLimitError, UntrustedDataError, UsageError
from sealyard.trust import dsse
from sealyard.trust.dsse import DsseSignature, Envelope, pae, sign, verify

IN_TOTO = "application/vnd.in-toto+json"
STATEMENT = b'{"_type":"https://in-toto.io/Statement/v1"}'


def trust(*signers: Signer) -> dict[str, Key]:
    return {s.public_key.keyid: s.public_key for s in signers}


@pytest.fixture(scope="module")
def ed() -> CryptoSigner:
    return CryptoSigner.generate_ed25519()


@pytest.fixture(scope="module")
def ed2() -> CryptoSigner:
    return CryptoSigner.generate_ed25519()


# ------------------------------------------------------------------------------------ PAE


def test_pae_of_the_protocol_example() -> None:
    # protocol.md, "Test Vectors"
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


@pytest.mark.parametrize(
    ("payload_type", "payload", "expected"),
    [
        ("t", b"", b"DSSEv1 1 t 0 "),  # empty body: trailing space, "0" with no leading zeros
        (
            "application/vnd.ex\u00e4mple+json",
            b"{}",
            b"DSSEv1 29 application/vnd.ex\xc3\xa4mple+json 2 {}",
        ),
        ("t", b"a b\x00\xff", b"DSSEv1 1 t 5 a b\x00\xff"),  # body is raw bytes
        ("t", b"x" * 1000, b"DSSEv1 1 t 1000 " + b"x" * 1000),
    ],
    ids=["empty-body", "utf8-type-counts-bytes", "binary-body", "four-digit-length"],
)
def test_pae_lengths_are_byte_counts(payload_type: str, payload: bytes, expected: bytes) -> None:
    assert pae(payload_type, payload) == expected


def test_the_protocol_ecdsa_example_verifies_over_our_pae() -> None:
    """protocol.md's P-256 key and raw r||s signature, checked with an SSlibKey."""
    x = 46950820868899156662930047687818585632848591499744589407958293238635476079160
    y = 5640078356564379163099075877009565129882514886557779369047442380624545832820
    public = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    key = SSlibKey.from_crypto(public, "example", "ecdsa-sha2-nistp256")
    raw = base64.b64decode(
        "A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA=="
    )
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    envelope = Envelope.from_dict(
        {
            "payload": "aGVsbG8gd29ybGQ=",
            "payloadType": "http://example.com/HelloWorld",
            "signatures": [{"sig": base64.b64encode(der).decode()}],
        }
    )
    assert verify(envelope, {"example": key}) == {"example"}
    other = Envelope("http://example.com/HelloWorld", b"hello world!", envelope.signatures)
    assert verify(other, {"example": key}) == set()


# ------------------------------------------------------------------ secure-systems-lab vectors

# testvectors/vectors.json of secure-systems-lab/dsse: Ed25519 keys of RFC 8032 7.1 (TEST 1, 2).
VECTOR_KEYS = {
    "A": "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    "B": "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
}
_STMT = "eyJfdHlwZSI6Imh0dHBzOi8vaW4tdG90by5pby9TdGF0ZW1lbnQvdjEifQ=="
_SIG_A = "2WAfaHm5jluo0w+0rk8uVkluELJYWjSmU9x7EUzx+AyteDGJ4/nqyJXfmAUVFIAoQafWm7AxBZNw5M9ixNHiCA=="
_SIG_B = "c1+67/aT0yqEpwx8PsVY3MLHsj9D0CZ014/Fv/QlG59P+9CobUZ7xECJ/V3USG0Ob9CiE5LjReEZUzNF2l7eBw=="
_PAE_STMT = (
    "445353457631203238206170706c69636174696f6e2f766e642e696e2d746f746f2b6a736f6e203433207b225f"
    "74797065223a2268747470733a2f2f696e2d746f746f2e696f2f53746174656d656e742f7631227d"
)
# (id, payload, payloadType, [(sig, keyid)], trusted, threshold, supported, pae hex, accept)
VECTORS: list[tuple[str, str, str, list[tuple[str, str]], str, int, list[str], str, bool]] = [
    ("single-signature", _STMT, IN_TOTO, [(_SIG_A, "A")], "A", 1, [IN_TOTO], _PAE_STMT, True),
    (
        "url-safe-base64",
        "-_-_Pj8=",
        IN_TOTO,
        [
            (
                "P-_KHICeR7tI6S_YyejJTRtrXhcQyQ2LYPaL8h90KjC9qN8HU_svOQ6TuDOT1HIrsGW886DbWNWcCmX5twLrAw==",
                "A",
            )
        ],
        "A",
        1,
        [IN_TOTO],
        "445353457631203238206170706c69636174696f6e2f766e642e696e2d746f746f2b6a736f6e203520fbffbf3e3f",
        True,
    ),
    (
        "payload-type-swapped",
        _STMT,
        "application/vnd.example.other+json",
        [(_SIG_A, "A")],
        "A",
        1,
        [IN_TOTO, "application/vnd.example.other+json"],
        _PAE_STMT,
        False,
    ),
    (
        "non-ascii-payload-type",
        _STMT,
        "application/vnd.ex\u00e4mple+json",
        [
            (
                "xmSk/ug66ysT7ayhkCIjhAq42zgZXSsEWuzUaNL7w2eGAdF/NU6/fRXPtmfN+5DNSAs5/i2lUnHjbbjPsu0tAw==",
                "A",
            )
        ],
        "A",
        1,
        ["application/vnd.ex\u00e4mple+json"],
        "445353457631203239206170706c69636174696f6e2f766e642e6578c3a46d706c652b6a736f6e20343320"
        "7b225f74797065223a2268747470733a2f2f696e2d746f746f2e696f2f53746174656d656e742f7631227d",
        True,
    ),
    (
        "empty-payload",
        "",
        IN_TOTO,
        [
            (
                "gSggCAaTLTYyRH6FIDBem6meyIynsYy8RTHVzwx9tnTb7Bg/1jMWnuVgI/gffqmbsC2VX5/jHfkkDqsj7CDbDg==",
                "A",
            )
        ],
        "A",
        1,
        [IN_TOTO],
        "445353457631203238206170706c69636174696f6e2f766e642e696e2d746f746f2b6a736f6e203020",
        True,
    ),
    (
        "empty-payload-type",
        _STMT,
        "",
        [
            (
                "iC3q/+3Rm0+lpAJRueDmDh15PnwCfxKmS0NAfKsbv+zgulXQC/WM9trc+j1XEqlwDIg/vf/uNfebeD6sxInrDg==",
                "A",
            )
        ],
        "A",
        1,
        [IN_TOTO],
        "445353457631203020203433207b225f74797065223a2268747470733a2f2f696e2d746f746f2e696f2f53"
        "746174656d656e742f7631227d",
        False,
    ),
    (
        "threshold-two-distinct-keys",
        _STMT,
        IN_TOTO,
        [(_SIG_A, "A"), (_SIG_B, "B")],
        "AB",
        2,
        [IN_TOTO],
        _PAE_STMT,
        True,
    ),
    (
        "threshold-two-one-key-twice",
        _STMT,
        IN_TOTO,
        [(_SIG_A, "A"), (_SIG_A, "A")],
        "AB",
        2,
        [IN_TOTO],
        _PAE_STMT,
        False,
    ),
    (
        "threshold-two-without-keyids",
        _STMT,
        IN_TOTO,
        [(_SIG_A, ""), (_SIG_B, "")],
        "AB",
        2,
        [IN_TOTO],
        _PAE_STMT,
        True,
    ),
]


def _vector_key(name: str) -> SSlibKey:
    return SSlibKey(name, "ed25519", "ed25519", {"public": VECTOR_KEYS[name]})


def _accepts(doc: dict[str, Any], trusted: str, threshold: int, supported: list[str]) -> bool:
    try:
        envelope = Envelope.from_dict(doc)
    except SignatureError:
        return False
    if envelope.payload_type not in supported:
        return False
    keys = {name: _vector_key(name) for name in trusted}
    return len(verify(envelope, keys)) >= threshold


@pytest.mark.parametrize("vector", VECTORS, ids=[v[0] for v in VECTORS])
def test_dsse_test_vectors(vector: tuple[Any, ...]) -> None:
    _, payload, payload_type, sigs, trusted, threshold, supported, pae_hex, accept = vector
    doc = {
        "payload": payload,
        "payloadType": payload_type,
        "signatures": [{"sig": s, **({"keyid": k} if k else {})} for s, k in sigs],
    }
    # the vector's signatures cover its "pae" (checked with the key directly) ...
    for sig, keyid in sigs:
        raw = base64.urlsafe_b64decode(sig) if "-" in sig or "_" in sig else base64.b64decode(sig)
        key = _vector_key(keyid or "AB"[sigs.index((sig, keyid))])
        key.verify_signature(Signature(key.keyid, raw.hex()), bytes.fromhex(pae_hex))
    # ... which is our PAE of the envelope, except where the envelope's type was swapped
    decoded = base64.urlsafe_b64decode(payload) if "-" in payload else base64.b64decode(payload)
    assert (pae(payload_type, decoded).hex() == pae_hex) is (vector[0] != "payload-type-swapped")
    assert _accepts(doc, trusted, threshold, supported) is accept


# ------------------------------------------------------------------------- sign and verify

SIGNER_FACTORIES: dict[str, Callable[[], CryptoSigner]] = {
    "ed25519": CryptoSigner.generate_ed25519,
    "ecdsa-p256": CryptoSigner.generate_ecdsa,
    "ecdsa-p384": lambda: CryptoSigner.generate_ecdsa(scheme="ecdsa-sha2-nistp384"),
    "rsa-pss": lambda: CryptoSigner.generate_rsa(size=2048),
    "rsa-pkcs1v15": lambda: CryptoSigner.generate_rsa(scheme="rsa-pkcs1v15-sha256", size=2048),
}


@pytest.mark.parametrize("kind", SIGNER_FACTORIES)
def test_sign_and_verify_each_key_type(kind: str) -> None:
    signer = SIGNER_FACTORIES[kind]()
    envelope = sign(STATEMENT, IN_TOTO, [signer])
    assert envelope.payload == STATEMENT
    assert [s.keyid for s in envelope.signatures] == [signer.public_key.keyid]
    assert verify(envelope, trust(signer), payload_type=IN_TOTO) == {signer.public_key.keyid}
    # through JSON and back: the same bytes are verified
    again = Envelope.from_json(envelope.to_json())
    assert again == envelope
    assert verify(again, trust(signer)) == {signer.public_key.keyid}
    # tampered payload, swapped payloadType: not counted
    tampered = Envelope(IN_TOTO, STATEMENT.replace(b"v1", b"v2"), envelope.signatures)
    assert verify(tampered, trust(signer)) == set()
    swapped = Envelope("application/vnd.other+json", STATEMENT, envelope.signatures)
    assert verify(swapped, trust(signer)) == set()


def test_expected_payload_type_is_enforced(ed: CryptoSigner) -> None:
    envelope = sign(STATEMENT, "application/vnd.other+json", [ed])
    assert verify(envelope, trust(ed)) == {ed.public_key.keyid}
    with pytest.raises(SignatureError, match="unexpected payloadType"):
        verify(envelope, trust(ed), payload_type=IN_TOTO)


def test_untrusted_key_is_not_counted(ed: CryptoSigner, ed2: CryptoSigner) -> None:
    envelope = sign(STATEMENT, IN_TOTO, [ed])
    assert verify(envelope, trust(ed2)) == set()
    assert verify(envelope, {}) == set()


def test_distinct_signers_are_counted(ed: CryptoSigner, ed2: CryptoSigner) -> None:
    rsa = SIGNER_FACTORIES["rsa-pss"]()
    envelope = sign(STATEMENT, IN_TOTO, [ed, ed2, rsa])
    assert len(envelope.signatures) == 3
    assert verify(envelope, trust(ed, ed2, rsa)) == {
        ed.public_key.keyid,
        ed2.public_key.keyid,
        rsa.public_key.keyid,
    }
    assert verify(envelope, trust(ed, rsa)) == {ed.public_key.keyid, rsa.public_key.keyid}


def test_one_key_signing_twice_counts_once(ed: CryptoSigner) -> None:
    # sign() itself signs once per key
    assert len(sign(STATEMENT, IN_TOTO, [ed, ed]).signatures) == 1
    # a hand-made envelope repeating the signature, and one with a second fresh signature
    # by the same key (ECDSA signatures differ each time)
    once = sign(STATEMENT, IN_TOTO, [ed])
    repeated = Envelope(IN_TOTO, STATEMENT, once.signatures * 5)
    assert verify(repeated, trust(ed)) == {ed.public_key.keyid}
    ecdsa = CryptoSigner.generate_ecdsa()
    first = sign(STATEMENT, IN_TOTO, [ecdsa]).signatures[0]
    second = sign(STATEMENT, IN_TOTO, [ecdsa]).signatures[0]
    assert first.sig != second.sig
    both = Envelope(IN_TOTO, STATEMENT, (first, second, DsseSignature(second.sig)))
    assert verify(both, trust(ecdsa)) == {ecdsa.public_key.keyid}


def test_one_key_under_two_keyids_counts_once(ed: CryptoSigner) -> None:
    key = ed.public_key
    alias = SSlibKey("alias-" + key.keyid, key.keytype, key.scheme, dict(key.keyval))
    envelope = sign(STATEMENT, IN_TOTO, [ed])
    aliased = Envelope(
        IN_TOTO,
        STATEMENT,
        (*envelope.signatures, DsseSignature(envelope.signatures[0].sig, alias.keyid)),
    )
    trusted = {key.keyid: key, alias.keyid: alias}
    assert verify(aliased, trusted) == {min(key.keyid, alias.keyid)}
    # the same P-256 key, PEM re-encoded differently, is still one signer
    ecdsa = CryptoSigner.generate_ecdsa()
    pem = ecdsa.public_key.keyval["public"]
    reencoded = SSlibKey(
        "reencoded", "ecdsa", "ecdsa-sha2-nistp256", {"public": pem.replace("\n", "\r\n") + "\n"}
    )
    two = sign(STATEMENT, IN_TOTO, [ecdsa])
    doubled = Envelope(
        IN_TOTO, STATEMENT, (*two.signatures, DsseSignature(two.signatures[0].sig, "reencoded"))
    )
    assert (
        len(verify(doubled, {ecdsa.public_key.keyid: ecdsa.public_key, "reencoded": reencoded}))
        == 1
    )


def test_a_keyid_that_lies_is_not_counted(ed: CryptoSigner, ed2: CryptoSigner) -> None:
    by_ed2 = sign(STATEMENT, IN_TOTO, [ed2]).signatures[0]
    claims_ed = Envelope(IN_TOTO, STATEMENT, (DsseSignature(by_ed2.sig, ed.public_key.keyid),))
    # ed2 is trusted, but the signature says it is ed's: verified against ed only, fails
    assert verify(claims_ed, trust(ed, ed2)) == set()
    unknown = Envelope(IN_TOTO, STATEMENT, (DsseSignature(by_ed2.sig, "no-such-key"),))
    assert verify(unknown, trust(ed, ed2)) == set()
    # without a keyid every trusted key is tried
    anonymous = Envelope(IN_TOTO, STATEMENT, (DsseSignature(by_ed2.sig),))
    assert verify(anonymous, trust(ed, ed2)) == {ed2.public_key.keyid}
    assert verify(anonymous, trust(ed)) == set()


def test_a_signature_of_garbage_bytes_is_not_counted(ed: CryptoSigner) -> None:
    for sig in (b"\x00", b"x" * 64, b"\xff" * 512):
        envelope = Envelope(IN_TOTO, STATEMENT, (DsseSignature(sig, ed.public_key.keyid),))
        assert verify(envelope, trust(ed)) == set()
        assert verify(Envelope(IN_TOTO, STATEMENT, (DsseSignature(sig),)), trust(ed)) == set()


class WrongKeySigner(Signer):
    """Advertises one public key and signs with another (a misconfigured HSM slot)."""

    def __init__(self, advertised: CryptoSigner, actual: CryptoSigner) -> None:
        self._advertised = advertised
        self._actual = actual

    @property
    def public_key(self) -> Key:
        return self._advertised.public_key

    def sign(self, payload: bytes) -> Signature:
        made = self._actual.sign(payload)
        return Signature(self._advertised.public_key.keyid, made.signature)

    @classmethod
    def from_priv_key_uri(cls, *args: Any, **kwargs: Any) -> Signer:  # pragma: no cover
        raise NotImplementedError


def test_sign_checks_each_signature_against_its_public_key(
    ed: CryptoSigner, ed2: CryptoSigner
) -> None:
    with pytest.raises(SignatureError, match="own public key does not verify"):
        sign(STATEMENT, IN_TOTO, [WrongKeySigner(ed, ed2)])


def test_sign_misuse(ed: CryptoSigner) -> None:
    with pytest.raises(UsageError):
        sign(STATEMENT, IN_TOTO, [])
    with pytest.raises(UsageError):
        sign("text", IN_TOTO, [ed])  # type: ignore[arg-type]
    for bad_type in ("", "a\nb", "x" * 300):
        with pytest.raises(SignatureError):
            sign(STATEMENT, bad_type, [ed])


# ---------------------------------------------------------------------------- hostile input


_ED = CryptoSigner.generate_ed25519()


def _good_doc(ed: CryptoSigner) -> dict[str, Any]:
    return sign(STATEMENT, IN_TOTO, [ed]).to_dict()


def test_base64_alphabets_and_padding(ed: CryptoSigner) -> None:
    doc = _good_doc(ed)
    sig = base64.b64decode(doc["signatures"][0]["sig"])
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for strip in (False, True):
            text = encode(sig).decode()
            payload = encode(STATEMENT).decode()
            if strip:
                text, payload = text.rstrip("="), payload.rstrip("=")
            variant = {
                **doc,
                "payload": payload,
                "signatures": [{**doc["signatures"][0], "sig": text}],
            }
            envelope = Envelope.from_dict(variant)
            assert envelope.payload == STATEMENT
            assert verify(envelope, trust(ed)) == {ed.public_key.keyid}


def _hostile_documents() -> list[tuple[str, bytes]]:
    doc = _good_doc(_ED)
    sig = doc["signatures"][0]

    def js(value: Any) -> bytes:
        return json.dumps(value).encode()

    return [
        ("not-json", b"{nope"),
        ("empty", b""),
        ("array", b"[]"),
        ("string", b'"x"'),
        ("null", b"null"),
        ("utf16", json.dumps(doc).encode("utf-16")),
        ("latin1", b'{"payloadType":"\xe9"}'),
        ("nan", js(doc).replace(b"}", b', "x": NaN}', 1)),
        ("duplicate-key", b'{"payload":"","payloadType":"a","payloadType":"b","signatures":[]}'),
        ("lone-surrogate", js({**doc, "payloadType": "a\ud800"})),
        ("deep", b'{"a":' * 100 + b"1" + b"}" * 100),
        ("very-deep", b"[" * 100_000 + b"]" * 100_000),
        ("huge-int", js(doc).replace(b"}", b', "n": ' + b"9" * 5000 + b"}", 1)),
        ("missing-payload", js({k: v for k, v in doc.items() if k != "payload"})),
        ("missing-signatures", js({k: v for k, v in doc.items() if k != "signatures"})),
        ("no-signatures", js({**doc, "signatures": []})),
        ("signatures-object", js({**doc, "signatures": {"sig": sig["sig"]}})),
        ("signature-not-object", js({**doc, "signatures": ["x"]})),
        ("sig-missing", js({**doc, "signatures": [{"keyid": "k"}]})),
        ("sig-empty", js({**doc, "signatures": [{"sig": ""}]})),
        ("sig-number", js({**doc, "signatures": [{"sig": 5}]})),
        ("sig-not-base64", js({**doc, "signatures": [{"sig": "!!!!"}]})),
        ("sig-mixed-alphabets", js({**doc, "signatures": [{"sig": "ab+-"}]})),
        ("sig-bad-length", js({**doc, "signatures": [{"sig": "abcde"}]})),
        ("keyid-number", js({**doc, "signatures": [{**sig, "keyid": 7}]})),
        ("keyid-huge", js({**doc, "signatures": [{**sig, "keyid": "k" * 10_000}]})),
        ("unknown-sig-field", js({**doc, "signatures": [{**sig, "extra": 1}]})),
        ("unknown-field", js({**doc, "extra": 1})),
        ("payload-number", js({**doc, "payload": 1})),
        ("payload-not-base64", js({**doc, "payload": "a b"})),
        ("payload-type-number", js({**doc, "payloadType": 1})),
        ("payload-type-empty", js({**doc, "payloadType": ""})),
        ("payload-type-control", js({**doc, "payloadType": "a\u0000b"})),
        ("payload-type-long", js({**doc, "payloadType": "a" * 300})),
    ]


HOSTILE = _hostile_documents()


@pytest.mark.parametrize("raw", [raw for _, raw in HOSTILE], ids=[name for name, _ in HOSTILE])
def test_hostile_envelopes_are_clear_errors(raw: bytes) -> None:
    with pytest.raises(SignatureError):
        Envelope.from_json(raw)


def test_size_limits(ed: CryptoSigner) -> None:
    doc = _good_doc(ed)
    sig = doc["signatures"][0]
    with pytest.raises(SizeLimitError):
        Envelope.from_json(b" " * (dsse.MAX_ENVELOPE_BYTES + 1))
    with pytest.raises(SizeLimitError):
        Envelope.from_json(json.dumps(doc).encode(), max_bytes=100)
    with pytest.raises(SizeLimitError):
        Envelope.from_json(
            json.dumps({**doc, "signatures": [sig] * (dsse.MAX_SIGNATURES + 1)}).encode()
        )
    huge_sig = base64.b64encode(b"s" * (dsse.MAX_SIGNATURE_BYTES + 1)).decode()
    with pytest.raises(SizeLimitError):
        Envelope.from_json(json.dumps({**doc, "signatures": [{"sig": huge_sig}]}).encode())
    # a big payload within the cap is fine and still verifies only over its own bytes
    big = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    envelope = sign(big, IN_TOTO, [ed])
    assert verify(Envelope.from_json(envelope.to_json()), trust(ed)) == {ed.public_key.keyid}


def test_random_corruption_never_crashes(ed: CryptoSigner) -> None:
    raw = sign(STATEMENT, IN_TOTO, [ed]).to_json()
    rng = random.Random(1234)
    outcomes = {"rejected": 0, "parsed": 0}
    for _ in range(2000):
        data = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            envelope = Envelope.from_json(bytes(data))
        except UntrustedDataError:
            outcomes["rejected"] += 1
            continue
        outcomes["parsed"] += 1
        counted = verify(envelope, trust(ed))
        if envelope.payload != STATEMENT or envelope.payload_type != IN_TOTO:
            assert counted == set()
    assert outcomes["rejected"] > 0
    assert outcomes["parsed"] > 0


def test_envelope_constructor_invariants() -> None:
    sig = DsseSignature(b"s")
    with pytest.raises(SignatureError):
        Envelope(IN_TOTO, STATEMENT, ())
    with pytest.raises(SignatureError):
        Envelope(IN_TOTO, "text", (sig,))  # type: ignore[arg-type]
    with pytest.raises(SignatureError):
        Envelope(IN_TOTO, STATEMENT, [sig])  # type: ignore[arg-type]
    with pytest.raises(SignatureError):
        DsseSignature(b"")
    with pytest.raises(SignatureError):
        DsseSignature(b"s", "\ud800")
    assert DsseSignature(b"s").to_dict() == {"sig": "cw=="}


def test_public_key_identity_uses_key_material() -> None:
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    a = SSlibKey("a", "ecdsa", "ecdsa-sha2-nistp256", {"public": pem})
    b = SSlibKey("b", "ecdsa", "ecdsa-sha2-nistp384", {"public": pem})
    assert dsse._key_identity(a) == dsse._key_identity(b)
    garbage = SSlibKey("g", "ecdsa", "ecdsa-sha2-nistp256", {"public": "-----BEGIN nonsense"})
    assert dsse._key_identity(garbage) != dsse._key_identity(a)
