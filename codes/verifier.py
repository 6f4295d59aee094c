"""The e-card QR code: its layout, signing, and the offline verifier a scanner embeds.

No Django here: a scanner vendor can copy this module (it needs ``cryptography``,
``base45`` and PyJWT) and verify codes against a published key set and revocation list.
The online endpoint runs the same checks first, then the ones only the server can make.
``docs/qr-format.md`` describes the layout byte by byte.

Layout, version 1 (all integers big-endian), 97 bytes with an Ed25519 signature::

    0  1  version (1)          7 12  e-card reference     25  8  nonce
    1  1  purpose              19 4  issued at (unix s)   33  .. signature over bytes 0–32
    2  1  flags (bit 0: issued under holder authorisation; bit 1: shown by family)
    3  4  key id               23 2  lifetime (s)

With the family flag, 4 bytes naming the presenter's family link follow the nonce (33–36)
and the signature covers bytes 0–36: 101 bytes, still QR version 6 at level M.

QR text: ``EC1:`` + base45(bytes), which QR alphanumeric mode encodes at 5.5 bits a
character: version 6 at error correction level M.

Changes together with (tests/codes/test_formats_agree.py fails when they drift): the purposes
of ``ecard/matrix.py`` (``PURPOSES`` and the purpose sets below name them again, since vendors
copy this file without the card domain), ``codes/device_signer.py`` and the H5 page's signer
for device-signed codes, ``plumbing/national.py`` for SM2, and docs/qr-format.md, the layout
vendors read.
"""

from __future__ import annotations

import base64
import dataclasses
import struct
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import base45
import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

try:  # SM2 needs tongsuopy; a verifier for Ed25519 codes only does without it
    from plumbing import national
except ImportError:
    try:
        import national  # type: ignore[no-redef]  # copied beside this module
    except ImportError:
        national = None  # type: ignore[assignment]

PREFIX = "EC1:"
VERSION = 1
BODY = struct.Struct(">BBB4s12sIH8s")  # version, purpose, flags, kid, ref, iat, lifetime, nonce
FLAG_AUTHORISED = 0x01
FLAG_FAMILY = 0x02  # 亲情账户: a family member's code, shown by the presenter the next 4 bytes name
PRESENTER_SIZE = 4
# 5: a replacement's pick-up certificate (领卡证明); its lifetime is 0, "until the new card is
# collected", which only the server knows: verified online only.
PURPOSES = {1: "payment", 2: "transit", 3: "culture", 4: "identity", 5: "certificate"}
PURPOSE_CODES = {name: number for number, name in PURPOSES.items()}
SINGLE_USE = {"payment", "culture"}  # transit: once per operator; identity: any number of times
# Device-signed codes (version 2): the phone signs with a P-256 key the issuer certified.
DEVICE_VERSION = 2
# version, issuer key id, e-card reference, serial, not before, not after, purposes, device key
CERTIFICATE = struct.Struct(">B4s12sIIIB33s")
CERTIFICATE_VERSION = 1
ISSUER_SIGNATURE_SIZE = 64
CERTIFICATE_SIZE = CERTIFICATE.size + ISSUER_SIGNATURE_SIZE  # 63 + 64 = 127
DEVICE_TAIL = struct.Struct(">BII")  # purpose, time (unix s), counter
DEVICE_BODY_SIZE = 1 + CERTIFICATE_SIZE + DEVICE_TAIL.size  # 137
DEVICE_SIGNATURE_SIZE = 64  # ECDSA P-256 with SHA-256, raw r‖s
# What a device may sign: never payment, which settles online.
DEVICE_PURPOSES = {"transit", "culture", "identity"}
# How long a device-signed code is good: the code carries no lifetime, the scanner's
# configuration says (GET /api/v1/scanner/config "lifetimes").
DEVICE_LIFETIMES = {"transit": 60, "culture": 120, "identity": 120}

# What a family member's code may be for: one gate pass is one person, so never transit.
FAMILY_PURPOSES = {"payment", "culture", "identity"}
# Medical payment settles online with the insurance system: never accepted offline.
ONLINE_ONLY = {"payment", "certificate"}


# --------------------------------------------------------------------------- algorithms


class Algorithm(Protocol):
    """What a key's algorithm must do: Ed25519, or SM2 with SM3 (the national profile)."""

    name: str
    jws_alg: str
    jwk_kty: str
    jwk_crv: str

    def sign(self, private_key, data: bytes) -> bytes: ...

    def verify(self, public_key, signature: bytes, data: bytes) -> bool: ...

    def public_from_raw(self, raw: bytes): ...

    def public_raw(self, public_key) -> bytes: ...

    def jwk_fields(self, raw_public: bytes) -> dict: ...

    # The signing side, which the server uses and a scanner never needs.
    def generate(self) -> Any: ...

    def private_from_raw(self, raw: bytes) -> Any: ...

    def private_pem(self, private_key: Any) -> bytes: ...

    def load_private_pem(self, data: bytes) -> Any: ...

    def raw_from_jwk(self, jwk: dict) -> bytes: ...


class Ed25519:
    name = "Ed25519"
    jws_alg = "EdDSA"
    jwk_kty, jwk_crv = "OKP", "Ed25519"

    def sign(self, private_key: Ed25519PrivateKey, data: bytes) -> bytes:
        return private_key.sign(data)

    def verify(self, public_key: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
        try:
            public_key.verify(signature, data)
            return True
        except InvalidSignature:
            return False

    def public_from_raw(self, raw: bytes) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(raw)

    def public_raw(self, public_key: Ed25519PublicKey) -> bytes:
        return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def jwk_fields(self, raw_public: bytes) -> dict:
        return {"kty": self.jwk_kty, "crv": self.jwk_crv, "x": b64url(raw_public)}

    def raw_from_jwk(self, jwk: dict) -> bytes:
        return b64url_decode(jwk["x"])

    def generate(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.generate()

    def private_from_raw(self, raw: bytes) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(raw)

    def private_pem(self, private_key: Ed25519PrivateKey) -> bytes:
        return private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def load_private_pem(self, data: bytes) -> Ed25519PrivateKey:
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("not an Ed25519 private key")
        return key


class SM2:
    """SM2 with SM3 and the default id, raw r‖s: ``national.py`` (tongsuopy) does the work."""

    name = "SM2"
    jwk_kty, jwk_crv = "EC", "SM2"

    def __init__(self, module):
        self.jws_alg = module.JWS_ALG
        self.sign = module.sign
        self.verify = module.verify
        self.public_from_raw = module.public_from_raw
        self.public_raw = module.public_raw
        self.jwk_fields = module.jwk_fields
        self.raw_from_jwk = module.raw_from_jwk
        self.generate = module.generate
        self.private_pem = module.private_pem
        self.load_private_pem = module.load_private_pem
        self._module = module

    def private_from_raw(self, raw: bytes):
        return self._module.ec.derive_private_key(int.from_bytes(raw, "big"), self._module.ec.SM2())


ALGORITHMS: dict[str, Algorithm] = {"Ed25519": Ed25519()}
if national is not None:
    ALGORITHMS["SM2"] = SM2(national)
# A JWK names its algorithm by key type and curve.
_BY_JWK = {(a.jwk_kty, a.jwk_crv): a for a in ALGORITHMS.values()}


_ALPHABET = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_VALUES = bytes(_ALPHABET.index(i) if i in _ALPHABET else 255 for i in range(256))


def b45decode(text: str) -> bytes:
    """RFC 9285 base45, decoded with C-speed translate and pack.

    The ``base45`` package (used to encode) decodes in a Python loop that costs about a
    sixth of an Ed25519 verification; a gate verifies thousands of codes a minute.
    """
    values = text.encode("ascii").translate(_VALUES)
    if b"\xff" in values:
        raise ValueError("not base45")
    size = len(values)
    whole = size - size % 3
    words = [values[i] + values[i + 1] * 45 + values[i + 2] * 2025 for i in range(0, whole, 3)]
    try:
        raw = struct.pack(f">{len(words)}H", *words)
    except struct.error:
        raise ValueError("not base45") from None
    if size - whole == 2:
        last = values[whole] + values[whole + 1] * 45
        if last > 255:
            raise ValueError("not base45")
        raw += bytes((last,))
    elif size - whole == 1:
        raise ValueError("not base45")
    return raw


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --------------------------------------------------------------------------- keys


@dataclasses.dataclass(frozen=True)
class PublicKey:
    kid: str  # 8 hex characters: the code's 4 key-id bytes
    algorithm: Algorithm
    key: Any
    not_before: int  # unix seconds: codes issued earlier are not this key's
    sign_until: int | None  # codes issued later are not this key's
    verify_until: int | None  # the key verifies nothing after this


class KeySet:
    """Public keys by key id, from the JWK set at ``GET /api/v1/scanner/keys``."""

    def __init__(self, keys: Iterable[PublicKey] = ()):
        self.keys = {k.kid: k for k in keys}

    @classmethod
    def from_jwks(cls, jwks: dict) -> KeySet:
        keys = []
        for jwk in jwks.get("keys", []):
            algorithm = _BY_JWK.get((jwk.get("kty"), jwk.get("crv")))
            if algorithm is None:
                continue  # a key type this verifier does not know cannot vouch for a code
            keys.append(
                PublicKey(
                    kid=jwk["kid"],
                    algorithm=algorithm,
                    key=algorithm.public_from_raw(algorithm.raw_from_jwk(jwk)),
                    not_before=int(jwk["nbf"]),
                    sign_until=jwk.get("ecard_sign_until"),
                    verify_until=jwk.get("exp"),
                )
            )
        return cls(keys)

    def get(self, kid: str) -> PublicKey | None:
        return self.keys.get(kid)


# --------------------------------------------------------------------------- codes


@dataclasses.dataclass(frozen=True)
class Code:
    version: int
    purpose: str
    authorised_by_holder: bool
    kid: str
    ecard: str  # hex of the 12-byte e-card reference
    issued_at: int
    lifetime: int
    nonce: str  # hex
    body: bytes
    signature: bytes
    presenter: str | None = None  # hex of the 4-byte family link reference; None: the holder's own
    certificate: Certificate | None = None  # a device-signed code's certificate
    counter: int | None = None  # a device-signed code's counter

    @property
    def expires_at(self) -> int:
        return self.issued_at + self.lifetime


@dataclasses.dataclass(frozen=True)
class Certificate:
    """The issuer's word that a device key may sign an e-card's codes for a while."""

    kid: str  # the issuer key that signed it
    ecard: str  # hex of the e-card reference: what revocations name
    serial: int
    not_before: int
    not_after: int
    purposes: frozenset
    device_key: bytes  # compressed P-256 point, 33 bytes
    body: bytes
    signature: bytes


def _purpose_mask(purposes: Iterable[str]) -> int:
    return sum(1 << (PURPOSE_CODES[p] - 1) for p in set(purposes))


def encode_certificate(
    *,
    kid: str,
    ecard: str,
    serial: int,
    not_before: int,
    not_after: int,
    purposes: Iterable[str],
    device_key: bytes,
    sign: Callable[[bytes], bytes],
) -> bytes:
    body = CERTIFICATE.pack(
        CERTIFICATE_VERSION,
        bytes.fromhex(kid),
        bytes.fromhex(ecard),
        serial,
        not_before,
        not_after,
        _purpose_mask(purposes),
        device_key,
    )
    return body + sign(body)


def parse_certificate(raw: bytes) -> Certificate:
    if len(raw) != CERTIFICATE_SIZE or raw[0] != CERTIFICATE_VERSION:
        raise Refusal("certificate.malformed")
    _, kid, ref, serial, not_before, not_after, mask, device_key = CERTIFICATE.unpack_from(raw)
    purposes = frozenset(name for code, name in PURPOSES.items() if mask & (1 << (code - 1)))
    if mask >= 1 << len(PURPOSES) or not purposes <= DEVICE_PURPOSES or device_key[0] not in (2, 3):
        raise Refusal("certificate.malformed")
    return Certificate(
        kid=kid.hex(),
        ecard=ref.hex(),
        serial=serial,
        not_before=not_before,
        not_after=not_after,
        purposes=purposes,
        device_key=device_key,
        body=raw[: CERTIFICATE.size],
        signature=raw[CERTIFICATE.size :],
    )


def encode_device_code(
    *, certificate: bytes, purpose: str, issued_at: int, counter: int, sign: Callable[[bytes], bytes]
) -> str:
    """A device-signed code's QR text; ``sign`` is the device's P-256 signing function (raw r‖s)."""
    body = (
        bytes((DEVICE_VERSION,)) + certificate + DEVICE_TAIL.pack(PURPOSE_CODES[purpose], issued_at, counter)
    )
    return PREFIX + base45.b45encode(body + sign(body)).decode("ascii")


# The version byte and the certificate are the first 128 bytes: 64 whole base45 groups, so the
# first 192 characters after the prefix are the same in every code of one certificate.
DEVICE_HEAD_CHARACTERS = (1 + CERTIFICATE_SIZE) // 2 * 3
DEVICE_TEXT_LENGTH = len(PREFIX) + (DEVICE_BODY_SIZE + DEVICE_SIGNATURE_SIZE) // 2 * 3 + 2


def _parse_device_code(raw: bytes, lifetimes: dict[str, int]) -> Code:
    if len(raw) != DEVICE_BODY_SIZE + DEVICE_SIGNATURE_SIZE:
        raise Refusal("code.malformed")
    certificate = parse_certificate(raw[1 : 1 + CERTIFICATE_SIZE])
    return _device_code(raw[: 1 + CERTIFICATE_SIZE], certificate, raw[1 + CERTIFICATE_SIZE :], lifetimes)


def _device_code(head: bytes, certificate: Certificate, tail: bytes, lifetimes: dict[str, int]) -> Code:
    """The code from its head (version and certificate) and its tail (purpose, time, counter,
    signature)."""
    if len(tail) != DEVICE_TAIL.size + DEVICE_SIGNATURE_SIZE:
        raise Refusal("code.malformed")
    purpose, issued_at, counter = DEVICE_TAIL.unpack_from(tail)
    if PURPOSES.get(purpose) not in DEVICE_PURPOSES:
        raise Refusal("code.malformed")
    name = PURPOSES[purpose]
    return Code(
        version=DEVICE_VERSION,
        purpose=name,
        authorised_by_holder=False,
        kid=certificate.kid,
        ecard=certificate.ecard,
        issued_at=issued_at,
        lifetime=lifetimes.get(name, DEVICE_LIFETIMES[name]),
        # Serial and counter: what single use and upload de-duplication count by.
        nonce=f"{certificate.serial:08x}{counter:08x}",
        body=head + tail[: DEVICE_TAIL.size],
        signature=tail[DEVICE_TAIL.size :],
        certificate=certificate,
        counter=counter,
    )


_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def p256_verify(device_key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> bool:
    """ECDSA P-256 with SHA-256 over ``data``; ``signature`` is raw r‖s (64 bytes)."""
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    try:
        device_key.verify(encode_dss_signature(r, s), data, _ECDSA_SHA256)
        return True
    except (InvalidSignature, ValueError):
        return False


class Refusal(Exception):
    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def encode(
    *,
    purpose: str,
    kid: str,
    ecard: str,
    issued_at: int,
    lifetime: int,
    nonce: bytes,
    authorised_by_holder: bool,
    sign: Callable[[bytes], bytes],
    presenter: str | None = None,
) -> str:
    """The QR text for a code; ``sign`` is the key's signing function; ``presenter`` (8 hex
    characters) marks a family member's code shown by that family link's presenter."""
    body = BODY.pack(
        VERSION,
        PURPOSE_CODES[purpose],
        (FLAG_AUTHORISED if authorised_by_holder else 0) | (FLAG_FAMILY if presenter else 0),
        bytes.fromhex(kid),
        bytes.fromhex(ecard),
        issued_at,
        lifetime,
        nonce,
    )
    if presenter:
        body += bytes.fromhex(presenter)
    return PREFIX + base45.b45encode(body + sign(body)).decode("ascii")


def parse(text: str, *, device_lifetimes: dict[str, int] = DEVICE_LIFETIMES) -> Code:
    """Decode the QR text without checking anything but its shape."""
    if not isinstance(text, str) or not text.startswith(PREFIX):
        raise Refusal("code.malformed")
    try:
        raw = b45decode(text[len(PREFIX) :])
    except (ValueError, UnicodeEncodeError):
        raise Refusal("code.malformed") from None
    if len(raw) < 1:
        raise Refusal("code.malformed")
    if raw[0] == DEVICE_VERSION:
        return _parse_device_code(raw, device_lifetimes)
    if raw[0] != VERSION:
        raise Refusal("code.unsupported_version")
    if len(raw) <= BODY.size:
        raise Refusal("code.malformed")
    version, purpose, flags, kid, ref, issued_at, lifetime, nonce = BODY.unpack_from(raw)
    if purpose not in PURPOSES or flags & ~(FLAG_AUTHORISED | FLAG_FAMILY):
        raise Refusal("code.malformed")
    size, presenter = BODY.size, None
    if flags & FLAG_FAMILY:
        size += PRESENTER_SIZE
        if len(raw) <= size:
            raise Refusal("code.malformed")
        presenter = raw[BODY.size : size].hex()
    return Code(
        version=version,
        purpose=PURPOSES[purpose],
        authorised_by_holder=bool(flags & FLAG_AUTHORISED),
        kid=kid.hex(),
        ecard=ref.hex(),
        issued_at=issued_at,
        lifetime=lifetime,
        nonce=nonce.hex(),
        body=raw[:size],
        signature=raw[size:],
        presenter=presenter,
    )


# --------------------------------------------------------------------------- revocations


@dataclasses.dataclass(frozen=True)
class Revocation:
    not_before: int  # every code of the e-card issued before this is refused
    reason: str


class RevocationList:
    """The server's revocations, kept current by applying signed deltas by cursor.

    An entry names an e-card, or an e-card and a family presenter (``presenter``): the latter
    refuses only the codes that presenter shows. They are kept apart, so lifting a card's loss
    does not bring back a family link its member ended.
    """

    def __init__(self):
        self.entries: dict[str, Revocation] = {}
        self.cursor = 0
        self.fetched_at: int | None = None

    def apply(self, jws: str, keys: KeySet) -> dict:
        """Check a delta's signature with the key set and fold it in; returns its payload."""
        try:
            header = jwt.get_unverified_header(jws)
            key = keys.get(header.get("kid", ""))
            if key is None:
                raise Refusal("revocations.unknown_key")
            payload = jwt.decode(
                jws,
                key.key,
                algorithms=[key.algorithm.jws_alg],
                audience="ecard:scanner",
                options={"require": ["iat"]},
            )
        except jwt.PyJWTError:
            raise Refusal("revocations.bad_signature") from None
        if payload.get("since", 0) > self.cursor:
            raise Refusal("revocations.gap")  # a delta that skips entries would hide some
        if payload["cursor"] < self.cursor or (payload["cursor"] == self.cursor and payload["entries"]):
            # Older than what this list holds (a delta sent again, or an old one replayed):
            # applying it would undo later entries, a lifted loss over a new one.
            return payload
        for entry in payload["entries"]:
            if "id" in entry and entry["id"] <= self.cursor:
                continue  # held already, and maybe superseded since
            if "id" not in entry and payload.get("since", 0) < self.cursor:
                raise Refusal("revocations.overlap")  # cannot tell which entries are older
            entry_key = _entry_key(entry["ecard"], entry.get("presenter"), entry.get("serial"))
            if entry.get("lifted"):
                self.entries.pop(entry_key, None)
            else:
                self.entries[entry_key] = Revocation(entry["not_before"], entry["reason"])
        self.cursor = payload["cursor"]
        if not payload.get("more"):
            # The list was whole at ``iat``. Only a newer signature makes it younger: an old
            # delta replayed never does.
            self.fetched_at = max(self.fetched_at or 0, payload["iat"])
        return payload

    def age(self, now: float) -> float | None:
        """Seconds since the server signed the newest delta applied; None before any."""
        return None if self.fetched_at is None else max(0.0, now - self.fetched_at)

    def refusal_for(self, code: Code) -> str | None:
        if code.certificate is not None:
            # A revoked certificate refuses every code it vouches for, whatever time the
            # phone wrote into them.
            entry = self.entries.get(_entry_key(code.ecard, serial=code.certificate.serial))
            if entry:
                return entry.reason
        keys = [code.ecard] + ([_entry_key(code.ecard, code.presenter)] if code.presenter else [])
        for key in keys:
            entry = self.entries.get(key)
            if entry and code.issued_at < entry.not_before:
                return entry.reason
        return None


def _entry_key(ecard: str, presenter: str | None = None, serial: int | None = None) -> str:
    if serial is not None:
        return f"{ecard}#{serial}"
    return f"{ecard}/{presenter}" if presenter else ecard


# --------------------------------------------------------------------------- device side


def device_assertion(device_id: str, private_key, *, lifetime: int = 300, now: int | None = None) -> str:
    """The bearer JWT a scanner signs with its own key (Ed25519, or SM2 when registered so)
    for ``/api/v1/scanner/*``.

    Reuse it until it expires; the server accepts at most 300 seconds of lifetime.
    """
    import secrets

    issued = int(time.time()) if now is None else now
    claims = {
        "iss": device_id,
        "aud": "ecard:scanner",
        "iat": issued,
        "exp": issued + lifetime,
        "jti": secrets.token_hex(8),
    }
    algorithm = "EdDSA" if isinstance(private_key, Ed25519PrivateKey) else national.JWS_ALG
    return jwt.encode(claims, private_key, algorithm=algorithm)


# --------------------------------------------------------------------------- verifying


@dataclasses.dataclass(frozen=True)
class Result:
    accepted: bool
    code: str | None  # the reason when refused
    parsed: Code | None = None
    # Offline: how old the revocation list was that the verdict relied on (None online, or
    # before any list was applied), for the gate's log and its upload.
    revocations_age: float | None = None


# How old a revocation list may be, per purpose, before an offline gate refuses a code
# (``revocations.stale``) rather than judge it on old data: a day for transit and culture, whose
# gates sit underground and in parks; an hour for identity at counters that are mostly online.
# Payment is never judged offline. The server publishes its own figures in /scanner/config.
REVOCATIONS_MAX_AGE = {"transit": 86_400, "culture": 86_400, "identity": 3_600}


class Verifier:
    """Verify a code with no server: format, signature, key window, lifetime, purpose, revocations.

    ``revocations=None`` skips the revocation check: the online endpoint checks the card's
    current state instead. Offline, a code whose purpose's ``max_revocation_age`` (seconds,
    per purpose; one number for all) the list has outlived is refused with
    ``revocations.stale``, so the gate falls back to online verification for that purpose
    and goes on judging the others: it degrades, it does not stop.
    """

    def __init__(
        self,
        keys: KeySet,
        revocations: RevocationList | None = None,
        *,
        skew: int = 15,
        max_revocation_age: int | dict[str, int] = REVOCATIONS_MAX_AGE,
        clock: Callable[[], float] = time.time,
        device_lifetimes: dict[str, int] = DEVICE_LIFETIMES,
        single_use: bool | None = None,
        certificate_cache: int = 10_000,
    ):
        self.keys = keys
        self.revocations = revocations
        self.skew = skew
        self.max_revocation_age = max_revocation_age
        self.clock = clock
        self.device_lifetimes = device_lifetimes
        # Certificates whose issuer signature checked out, by the text of their codes' first 192
        # characters, which name the certificate: a phone shows the same one all day.
        self.certificate_cache = certificate_cache
        self._heads: dict[str, tuple[bytes, Certificate, PublicKey, ec.EllipticCurvePublicKey]] = {}
        # Offline, the gate itself counts device-signed codes once (serial and counter);
        # online the server does. Kept until the code has expired.
        self.single_use = revocations is not None if single_use is None else single_use
        self._used: dict[str, float] = {}

    def _certified(self, certificate: Certificate) -> tuple[PublicKey, ec.EllipticCurvePublicKey]:
        """The issuer key, and the device key the certificate vouches for, once the issuer
        signature checks out."""
        key = self.keys.get(certificate.kid)
        if key is None:
            raise Refusal("code.unknown_key")
        if not key.algorithm.verify(key.key, certificate.signature, certificate.body):
            raise Refusal("certificate.bad_signature")
        try:
            return key, ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), certificate.device_key)
        except ValueError:
            raise Refusal("certificate.malformed") from None

    def signed(self, text: str) -> tuple[Code, PublicKey]:
        """The parsed code and the known key whose signature it carries; nothing about time."""
        seen = (
            self._heads.get(text[: len(PREFIX) + DEVICE_HEAD_CHARACTERS])
            if len(text) == DEVICE_TEXT_LENGTH
            else None
        )
        if seen is not None:
            # A certificate this gate checked already: decode and check only the code's own part.
            head, certificate, key, device_key = seen
            try:
                tail = b45decode(text[len(PREFIX) + DEVICE_HEAD_CHARACTERS :])
            except (ValueError, UnicodeEncodeError):
                raise Refusal("code.malformed") from None
            code = _device_code(head, certificate, tail, self.device_lifetimes)
            if not p256_verify(device_key, code.signature, code.body):
                raise Refusal("code.bad_signature")
            return code, key
        code = parse(text, device_lifetimes=self.device_lifetimes)
        if code.certificate is not None:
            key, device_key = self._certified(code.certificate)
            if not p256_verify(device_key, code.signature, code.body):
                raise Refusal("code.bad_signature")
            if self.certificate_cache:
                self._heads[text[: len(PREFIX) + DEVICE_HEAD_CHARACTERS]] = (
                    code.body[: 1 + CERTIFICATE_SIZE],
                    code.certificate,
                    key,
                    device_key,
                )
                if len(self._heads) > self.certificate_cache:
                    self._heads.pop(next(iter(self._heads)))
            return code, key
        issuer = self.keys.get(code.kid)
        if issuer is None:
            raise Refusal("code.unknown_key")
        if not issuer.algorithm.verify(issuer.key, code.signature, code.body):
            raise Refusal("code.bad_signature")
        return code, issuer

    def _check_key_window(self, key: PublicKey, signed_at: int, now: float) -> None:
        """Something ``key`` signed at ``signed_at`` is the key's, and the key still verifies."""
        if (
            signed_at + self.skew < key.not_before
            or (key.sign_until is not None and signed_at - self.skew > key.sign_until)
            or (key.verify_until is not None and now > key.verify_until)
        ):
            raise Refusal("code.key_not_valid")

    def _check_certificate(self, code: Code, key: PublicKey, now: float) -> None:
        certificate = code.certificate
        if certificate is None:  # a server-signed code has none to check
            raise Refusal("code.malformed")
        # The issuer key signed the certificate, not the code: judged at the certificate's start.
        self._check_key_window(key, certificate.not_before, now)
        if now + self.skew < certificate.not_before:
            raise Refusal("certificate.not_yet_valid")
        if now - self.skew > certificate.not_after or code.issued_at - self.skew > certificate.not_after:
            raise Refusal("certificate.expired")
        if code.purpose not in certificate.purposes:
            raise Refusal("certificate.purpose_not_allowed")

    def check(self, text: str, *, purposes: Iterable[str] | None = None) -> Code:
        """The parsed code, or ``Refusal`` with the first check it failed."""
        code, key = self.signed(text)
        if code.purpose == "certificate":
            # Good until its card is collected, which only the server knows: never here.
            raise Refusal("code.online_only")
        now = self.clock()
        if code.certificate is not None:
            self._check_certificate(code, key, now)
        else:
            self._check_key_window(key, code.issued_at, now)
        if code.issued_at > now + self.skew:
            raise Refusal("code.not_yet_valid")
        if now > code.expires_at + self.skew:
            raise Refusal("code.expired")
        if purposes is not None and code.purpose not in purposes:
            raise Refusal("code.purpose_not_allowed")
        if code.presenter and code.purpose not in FAMILY_PURPOSES:
            raise Refusal("family.purpose_not_allowed")
        if self.revocations is not None:
            if code.purpose in ONLINE_ONLY:
                raise Refusal("code.online_only")
            age = self.revocations.age(now)
            if age is None or age > self._max_age(code.purpose):
                raise Refusal("revocations.stale")
            reason = self.revocations.refusal_for(code)
            if reason:
                raise Refusal(reason)
        if self.single_use and code.certificate is not None and code.purpose != "identity":
            self._use_once(code, now)
        return code

    def _max_age(self, purpose: str) -> float:
        limit = self.max_revocation_age
        if isinstance(limit, dict):
            return limit.get(purpose, min(limit.values(), default=0))
        return limit

    def _use_once(self, code: Code, now: float) -> None:
        if len(self._used) > 100_000:
            self._used = {nonce: until for nonce, until in self._used.items() if until > now}
        key = f"{code.ecard}:{code.nonce}"
        if self._used.get(key, 0) > now:
            raise Refusal("code.replayed")
        self._used[key] = code.expires_at + 2 * self.skew

    def verify(self, text: str, *, purposes: Iterable[str] | None = None) -> Result:
        age = None if self.revocations is None else self.revocations.age(self.clock())
        try:
            code = self.check(text, purposes=purposes)
        except Refusal as refusal:
            return Result(False, refusal.code, revocations_age=age)
        return Result(True, None, code, revocations_age=age)
