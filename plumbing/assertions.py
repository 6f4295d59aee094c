"""Server-to-server calls signed by the caller's own key: scanners and payment providers send
``Authorization: Bearer <JWT>`` with ``iss`` = their id; the server keeps only their public
key. The key registered decides the algorithm: Ed25519 (EdDSA) or, for vendors held to the
national standards, SM2 with SM3 (``SM2SM3``). One place for reading the key, the header and
the JWT's claims."""

from __future__ import annotations

import base64
from typing import Any

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from . import national
from .errors import DomainError


class AssertionRefused(Exception):
    """``expired`` or ``invalid``: the caller's codes map these onto their own error codes."""

    def __init__(self, why: str):
        super().__init__(why)
        self.why = why


def load_public_key(text: str) -> Any:
    """An Ed25519 or SM2 public key from PEM, or from base64 / base64url of its raw form
    (32 bytes: Ed25519; a 65-byte uncompressed or 33-byte compressed point: SM2); ValueError."""
    text = (text or "").strip()
    try:
        if text.startswith("-----BEGIN"):
            try:
                key = serialization.load_pem_public_key(text.encode())
            except (ValueError, UnsupportedAlgorithm):  # a curve cryptography lacks: SM2
                return national.load_public(text)
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError("neither an Ed25519 nor an SM2 key")
            return key
        encoded = text.replace("+", "-").replace("/", "_").rstrip("=")
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        if len(raw) == 32:
            return Ed25519PublicKey.from_public_bytes(raw)
        return national.public_from_raw(raw)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not an Ed25519 or SM2 public key: {exc}") from None


def algorithm_of(key: Any) -> str:
    """The JWS algorithm a key's owner signs with: the only one accepted from it."""
    return "EdDSA" if isinstance(key, Ed25519PublicKey) else national.JWS_ALG


def public_key_text(key: Any) -> str:
    """How a key is stored: raw (Ed25519's 32 bytes, SM2's uncompressed point), base64url
    without padding."""
    if isinstance(key, Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        raw = national.public_raw(key)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def bearer(request: Any) -> str | None:
    """The bearer token of a Django or DRF request; None when there is no bearer header,
    ``AssertionRefused("invalid")`` when there is one that is not a token."""
    # From META, which a Django, a DRF and plumbing.fastpath's request all have.
    header = request.META.get("HTTP_AUTHORIZATION", b"")
    if isinstance(header, str):
        header = header.encode("iso-8859-1")  # HTTP's own encoding of a header, as DRF reads it
    parts: list[bytes] = header.split()
    if not parts or parts[0].lower() != b"bearer":
        return None
    if len(parts) != 2:
        raise AssertionRefused("invalid")
    try:
        return parts[1].decode("ascii")
    except UnicodeDecodeError:
        raise AssertionRefused("invalid") from None


def bearer_or_refuse(request: Any, caller: str) -> str:
    """The bearer token, or the caller kind's own refusal (``scanner.unauthenticated``,
    ``provider.token_invalid``, …)."""
    try:
        token = bearer(request)
    except AssertionRefused:
        raise DomainError(f"{caller}.token_invalid") from None
    if token is None:
        raise DomainError(f"{caller}.unauthenticated")
    return token


def read_key_file(path: str) -> str:
    """A public key file's text, for the registration commands; OSError / ValueError."""
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read()
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not a PEM or base64 text file") from exc


def unverified_issuer(token: str) -> str:
    try:
        return str(jwt.decode(token, options={"verify_signature": False}).get("iss", ""))
    except jwt.PyJWTError:
        raise AssertionRefused("invalid") from None


def verify(token: str, key: Any, *, issuer: str, audience: str, skew: int, max_lifetime: int) -> dict:
    """The claims of a JWT the issuer signed for us: only the algorithm of its registered key,
    ``exp``, ``iat``, ``iss``, ``aud`` and ``jti`` required, and no longer-lived than
    ``max_lifetime`` seconds."""
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm_of(key)],
            audience=audience,
            issuer=issuer,
            options={"require": ["exp", "iat", "iss", "aud", "jti"]},
            leeway=skew,
        )
    except jwt.ExpiredSignatureError:
        raise AssertionRefused("expired") from None
    except jwt.PyJWTError:
        raise AssertionRefused("invalid") from None
    # PyJWT accepts a number written as a string ("exp": "1767225600") and hands it back as
    # it was; only numbers are times here, and a jti is a short string.
    times = (claims["exp"], claims["iat"])
    if not all(isinstance(t, int | float) and not isinstance(t, bool) for t in times):
        raise AssertionRefused("invalid")
    if not isinstance(claims["jti"], str) or not 0 < len(claims["jti"]) <= 128:
        raise AssertionRefused("invalid")
    if claims["exp"] - claims["iat"] > max_lifetime:
        raise AssertionRefused("invalid")
    return claims


def use_once(caller: str, claims: dict, *, lifetime: int, replayed: str) -> None:
    """Refuse a token whose ``jti`` this caller used before (``replayed``), remembering it for
    ``lifetime`` seconds, longer than any token of the caller lives. If the store that remembers
    cannot be reached, the call is refused as unavailable: a replay is never let through."""
    from django.core.cache import cache

    try:
        fresh = cache.add(f"jti:{caller}:{claims['jti']}", 1, timeout=lifetime)
    except Exception:  # whichever client the cache uses: its connection failed
        raise DomainError("request.unavailable") from None
    if not fresh:
        raise DomainError(replayed)
