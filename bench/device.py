"""bench/device: device-signed codes at an offline gate, as ratios against a bare P-256
verification of the same bytes measured in the same run.

- ``chain``: the verifier checks both signatures every time (no certificate cache);
- ``cached``: a realistic mix, each phone's certificate seen 20 times (first sight checks
  the issuer signature, later ones only the phone's);
- the QR version (level M) of a device-signed code.

Needs no database: the issuer key, phones and codes are made here. The last line reads
``offline-device: chain/raw_p256=R cached/raw_p256=R2 qr_version=V`` (targets: chain ≥ 0.40,
cached ≥ 0.85, version ≤ 10).
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import interleaved_rates, qr_version  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature  # noqa: E402

from codes import verifier  # noqa: E402
from codes.device_signer import DeviceSigner  # noqa: E402

PHONES = 100
SIGHTINGS = 20  # codes of each phone a gate sees while its certificate lives


def main():
    issuer = Ed25519PrivateKey.generate()
    now = int(time.time())
    jwks = {
        "keys": [
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "kid": "0badc0de",
                "x": verifier.b64url(verifier.ALGORITHMS["Ed25519"].public_raw(issuer.public_key())),
                "nbf": now - 3600,
            }
        ]
    }
    keys = verifier.KeySet.from_jwks(jwks)
    codes = []
    for serial in range(1, PHONES + 1):
        phone = DeviceSigner()
        phone.certificate = verifier.encode_certificate(
            kid="0badc0de",
            ecard=f"{serial:024x}",
            serial=serial,
            not_before=now - 60,
            not_after=now + 86400,
            purposes=["transit", "culture", "identity"],
            device_key=phone.public_key,
            sign=issuer.sign,
        )
        codes += [phone.code("transit", now=now) for _ in range(SIGHTINGS)]
    random.Random(7).shuffle(codes)

    # The baseline: the phone's signature over the same bytes, key already loaded.
    parsed = [verifier.parse(text) for text in codes]
    raw = [
        (
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), code.certificate.device_key),
            encode_dss_signature(
                int.from_bytes(code.signature[:32], "big"), int.from_bytes(code.signature[32:], "big")
            ),
            code.body,
        )
        for code in parsed
    ]
    algorithm = ec.ECDSA(hashes.SHA256())

    def bare():
        for key, signature, body in raw:
            key.verify(signature, body, algorithm)

    def chain():
        gate = verifier.Verifier(keys, None, certificate_cache=0)
        for text in codes:
            gate.check(text)

    def cached():
        gate = verifier.Verifier(keys, None)  # a fresh gate: every certificate is new to it once
        for text in codes:
            gate.check(text)

    rate = interleaved_rates({"bare": bare, "chain": chain, "cached": cached}, len(codes), rounds=5)
    version = qr_version(codes[0])
    print(f"bench/device: {PHONES} phones, each certificate seen {SIGHTINGS} times, {len(codes)} codes")
    print(
        f"  offline  raw P-256 verify {rate['bare']:8.0f}/s   chain {rate['chain']:8.0f}/s   "
        f"cached {rate['cached']:8.0f}/s"
    )
    print(f"  qr       device-signed transit {len(codes[0])} characters, version {version} at level M")
    print(
        f"offline-device: chain/raw_p256={rate['chain'] / rate['bare']:.2f} "
        f"cached/raw_p256={rate['cached'] / rate['bare']:.2f} qr_version={version}"
    )


if __name__ == "__main__":
    main()
