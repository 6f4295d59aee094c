"""docs/qr-format.md is the contract: its test vectors are checked against the implementation."""

import re

import pytest
import qrcode
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from qrcode.constants import ERROR_CORRECT_M

from codes import verifier
from tests.support import ROOT

DOC = ROOT / "docs" / "qr-format.md"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def vectors():
    block = re.search(r"```text vectors\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S).group(1)
    public, *codes = block.strip().split("\n\n")
    parsed = [dict(line.split(": ", 1) for line in chunk.splitlines()) for chunk in codes]
    return public.split(": ", 1)[1], parsed


PUBLIC, VECTORS = vectors()


def documented_keys() -> verifier.KeySet:
    """The key set a gate would have fetched, holding the document's public key."""
    jwk = {"kty": "OKP", "crv": "Ed25519", "kid": "5a1e0c0d", "x": verifier.b64url(bytes.fromhex(PUBLIC))}
    return verifier.KeySet.from_jwks({"keys": [{**jwk, "nbf": 1767225600}]})


def test_the_documents_public_key_is_the_fixed_keys():
    assert verifier.ALGORITHMS["Ed25519"].public_raw(KEY.public_key()).hex() == PUBLIC


IDS = [v["purpose"] + ("-family" if "presenter" in v else "") for v in VECTORS]


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_encoding_the_vectors_fields_gives_its_bytes_and_text(vector):
    text = verifier.encode(
        purpose=vector["purpose"],
        kid="5a1e0c0d",
        ecard="00112233445566778899aabb",
        issued_at=1767225600,
        lifetime=int(vector["lifetime"]),
        nonce=bytes.fromhex("0102030405060708"),
        authorised_by_holder=vector["authorised_by_holder"] == "yes",
        sign=KEY.sign,
        presenter=vector.get("presenter"),
    )
    assert text == vector["text"]
    code = verifier.parse(text)
    assert code.body.hex() == vector["body"] and code.signature.hex() == vector["signature"]
    assert code.presenter == vector.get("presenter")


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_the_vectors_text_verifies_against_the_documented_key_and_fits_version_6_or_7_for_family(vector):
    gate = verifier.Verifier(documented_keys(), clock=lambda: 1767225630)
    result = gate.verify(vector["text"])
    assert result.accepted and result.parsed.purpose == vector["purpose"]
    assert result.parsed.authorised_by_holder == (vector["authorised_by_holder"] == "yes")
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M)
    qr.add_data(vector["text"])
    qr.make(fit=True)
    assert qr.version == (7 if "presenter" in vector else 6)


def test_a_key_outside_its_window_refuses():
    jwks = {
        "keys": [
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "kid": "5a1e0c0d",
                "x": verifier.b64url(bytes.fromhex(PUBLIC)),
                "nbf": 1767225600 + 3600,
            }
        ]
    }
    gate = verifier.Verifier(verifier.KeySet.from_jwks(jwks), clock=lambda: 1767225630)
    assert gate.verify(VECTORS[0]["text"]).code == "code.key_not_valid"


def test_the_fast_base45_decoder_agrees_with_the_base45_package():
    import os

    import base45

    for size in range(0, 120):
        data = os.urandom(size)
        assert verifier.b45decode(base45.b45encode(data).decode()) == data
    for bad in ("A", "GGW", "::::", "abc", "ÄÄÄ"):
        with pytest.raises((ValueError, UnicodeEncodeError)):
            verifier.b45decode(bad)


def device_vector() -> dict:
    block = re.search(r"```text device-vectors\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S).group(1)
    return dict(line.split(": ", 1) for line in block.strip().splitlines())


def test_the_device_vector_is_what_the_reference_signer_makes_and_it_verifies_offline():
    from cryptography.hazmat.primitives.asymmetric import ec

    from codes.device_signer import DeviceSigner

    vector = device_vector()
    signer = DeviceSigner(ec.derive_private_key(int.from_bytes(bytes(range(1, 33)), "big"), ec.SECP256R1()))
    assert signer.public_key.hex() == vector["device_public_key"]
    signer.certificate = verifier.encode_certificate(
        kid="5a1e0c0d",
        ecard="00112233445566778899aabb",
        serial=42,
        not_before=1767225600,
        not_after=1767225600 + 86400,
        purposes=["transit", "culture", "identity"],
        device_key=signer.public_key,
        sign=KEY.sign,
    )
    assert signer.certificate.hex() == vector["certificate"]
    text = signer.code("transit", now=1767225630, counter=1)
    assert text == vector["text"]
    code = verifier.parse(text)
    assert code.body.hex() == vector["body"] and code.signature.hex() == vector["signature"]
    gate = verifier.Verifier(documented_keys(), clock=lambda: 1767225640)
    result = gate.verify(text)
    assert result.accepted and result.parsed.certificate.serial == 42 and result.parsed.purpose == "transit"
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M)
    qr.add_data(text)
    qr.make(fit=True)
    assert qr.version == 10
