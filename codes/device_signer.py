"""The phone's side of device-signed codes, in Python: the reference the JavaScript signer of the
H5 page follows, and what the tests and the bench sign with.

The phone makes a P-256 key pair, sends the public key (``public_key_b64``) to
``POST /api/v1/device-certificates`` and keeps the certificate it gets back; from then on it
signs each code itself, with no network, until the certificate expires. Like ``verifier`` it
needs no Django.

Changes together with ``codes/verifier.py`` (the layout it signs) and
``ecard/static/ecard/device.js`` (the same signer in the phone's browser); the device-code tests
sign with both and verify with the verifier.
"""

from __future__ import annotations

import base64
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from . import verifier


class DeviceSigner:
    def __init__(self, private_key: ec.EllipticCurvePrivateKey | None = None):
        self.private_key = private_key or ec.generate_private_key(ec.SECP256R1())
        self.certificate: bytes | None = None
        self.counter = 0

    @property
    def public_key(self) -> bytes:
        """The compressed point (33 bytes) the certificate carries."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
        )

    @property
    def public_key_b64(self) -> str:
        return base64.b64encode(self.public_key).decode()

    def accept(self, certificate_b64: str) -> verifier.Certificate:
        """Keep the certificate the server answered with; it must name this device's key."""
        raw = base64.urlsafe_b64decode(certificate_b64 + "=" * (-len(certificate_b64) % 4))
        certificate = verifier.parse_certificate(raw)
        if certificate.device_key != self.public_key:
            raise ValueError("the certificate is for another device key")
        self.certificate = raw
        return certificate

    def sign(self, data: bytes) -> bytes:
        """ECDSA P-256 with SHA-256, as raw r‖s: what WebCrypto returns, 64 bytes.

        Deterministic (RFC 6979) so that docs/qr-format.md can give fixed test vectors; a
        verifier accepts any valid signature, WebCrypto's random ones included.
        """
        algorithm = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
        r, s = decode_dss_signature(self.private_key.sign(data, algorithm))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def code(self, purpose: str, *, now: int | None = None, counter: int | None = None) -> str:
        """A fresh code; the counter goes up by one each time (single use is counted by it)."""
        if self.certificate is None:
            raise ValueError("no certificate yet")
        if counter is None:
            self.counter += 1
            counter = self.counter
        return verifier.encode_device_code(
            certificate=self.certificate,
            purpose=purpose,
            issued_at=int(time.time()) if now is None else now,
            counter=counter,
            sign=self.sign,
        )
