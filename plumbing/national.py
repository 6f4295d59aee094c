"""SM2 signatures with SM3 (GB/T 32918, GM/T 0003), through tongsuopy: the one place that
touches it.

No Django here, like ``codes/verifier.py``: a scanner vendor who verifies SM2 codes copies
both into one folder. Signatures are raw r‖s (64 bytes) like Ed25519's, so an SM2 code is the same size;
public keys are the uncompressed point (65 bytes, 04‖x‖y). The signer's distinguishing id is
the standard default ``1234567812345678`` (GM/T 0009), which Tongsuo uses when none is set:
an independent implementation (gmssl, gmalg) verifies with its own default.

Changes together with ``codes/verifier.py``, which calls it for the "SM2" algorithm.

tongsuopy is native (about 4,000 verifications a second on one core here); the pure-Python
implementations are twenty times slower and are used only in tests, as the independent check.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from jwt.algorithms import Algorithm as JWTAlgorithm
from tongsuopy.crypto import hashes, serialization
from tongsuopy.crypto.asymciphers import ec
from tongsuopy.crypto.exceptions import InvalidSignature

DEFAULT_ID = b"1234567812345678"
JWS_ALG = "SM2SM3"  # no IANA name exists; documented in docs/qr-format.md
_SM2_SM3 = ec.ECDSA(hashes.SM3())  # tongsuopy runs SM2 (with Z over the default id) for SM2 keys


def generate() -> Any:
    return ec.generate_private_key(ec.SM2())


def private_pem(private_key: Any) -> bytes:
    pem: bytes = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem


def load_private_pem(data: bytes) -> Any:
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "SM2":
        raise ValueError("not an SM2 private key")
    return key


def is_private_pem(data: bytes) -> bool:
    try:
        load_private_pem(data)
        return True
    except (ValueError, TypeError):
        return False


def sign(private_key: Any, data: bytes) -> bytes:
    r, s = decode_dss_signature(private_key.sign(data, _SM2_SM3))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def verify(public_key: Any, signature: bytes, data: bytes) -> bool:
    if len(signature) != 64:
        return False
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    try:
        public_key.verify(encode_dss_signature(r, s), data, _SM2_SM3)
        return True
    except (InvalidSignature, ValueError):
        return False


def public_from_raw(raw: bytes) -> Any:
    """A public key from its uncompressed (65 bytes) or compressed (33 bytes) point."""
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SM2(), raw)


def public_raw(public_key: Any) -> bytes:
    raw: bytes = public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return raw


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwk_fields(raw_public: bytes) -> dict:
    """``kty: EC, crv: SM2`` with the point's coordinates, as RFC 7518 writes a P-256 key."""
    return {"kty": "EC", "crv": "SM2", "x": _b64url(raw_public[1:33]), "y": _b64url(raw_public[33:65])}


def raw_from_jwk(jwk: dict) -> bytes:
    x, y = _b64url_decode(jwk["x"]), _b64url_decode(jwk["y"])
    if len(x) != 32 or len(y) != 32:
        raise ValueError("an SM2 JWK's x and y are 32 bytes each")
    return b"\x04" + x + y


def load_public(text: str) -> Any:
    """An SM2 public key from PEM or from the base64 / base64url of its point."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "SM2":
            raise ValueError("not an SM2 public key")
        return key
    return public_from_raw(_b64url_decode(text.replace("+", "-").replace("/", "_").rstrip("=")))


class SM2JWS(JWTAlgorithm):
    """PyJWT's algorithm ``SM2SM3``: JWS signatures as raw r‖s, like ES256's."""

    def prepare_key(self, key: Any) -> Any:
        if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
            return key
        raise jwt.InvalidKeyError("an SM2 key object is expected")

    def sign(self, msg: bytes, key: Any) -> bytes:
        return sign(key, msg)

    def verify(self, msg: bytes, key: Any, sig: bytes) -> bool:
        if isinstance(key, ec.EllipticCurvePrivateKey):
            key = key.public_key()
        return verify(key, sig, msg)

    @staticmethod
    def to_jwk(key_obj: Any, as_dict: bool = False) -> Any:
        fields = jwk_fields(public_raw(key_obj))
        return fields if as_dict else json.dumps(fields)

    @staticmethod
    def from_jwk(jwk: Any) -> Any:
        return public_from_raw(raw_from_jwk(jwk if isinstance(jwk, dict) else json.loads(jwk)))


try:
    jwt.register_algorithm(JWS_ALG, SM2JWS())
except ValueError:
    pass  # registered already (the module imported under a second name)
