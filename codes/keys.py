"""QR signing keys: rotation, the private halves outside the database, and the published key set.

A new key is published ``QR_KEY_PUBLISH_LEAD_SECONDS`` before it signs, so offline
scanners have it when the first code signed by it arrives. The key it replaces stops
signing then and keeps verifying until every code it signed has expired.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
import threading
import time
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from plumbing import outage

from . import verifier
from .models import SigningKey

log = logging.getLogger(__name__)


def _kid(raw_public: bytes) -> str:
    return hashlib.sha256(raw_public).hexdigest()[:8]


def verify_window() -> datetime.timedelta:
    """How long a key keeps verifying after it stops signing."""
    return datetime.timedelta(seconds=max(settings.QR_LIFETIMES.values()) + settings.QR_CLOCK_SKEW_SECONDS)


def _env_private_keys() -> dict[str, bytes]:
    """``QR_SIGNING_PRIVATE_KEYS=kid:base64url-raw-private,…`` (e.g. from a secret store)."""
    keys = {}
    for item in filter(None, (settings.QR_SIGNING_PRIVATE_KEYS or "").split(",")):
        kid, _, raw = item.strip().partition(":")
        keys[kid] = verifier.b64url_decode(raw)
    return keys


_private_keys: dict[str, object] = {}

# What each profile signs new keys with (CRYPTO_PROFILE); keys already made keep theirs.
PROFILE_ALGORITHMS = {"international": "Ed25519", "national": "SM2"}


def default_algorithm() -> str:
    return PROFILE_ALGORITHMS[settings.CRYPTO_PROFILE]


def private_key(key: SigningKey):
    """The private half of a key, loaded once per process (it signs every code and list)."""
    cached = _private_keys.get(key.kid)
    if cached is not None:
        return cached
    algorithm = verifier.ALGORITHMS[key.algorithm]
    raw = _env_private_keys().get(key.kid)
    if raw is not None:
        private = algorithm.private_from_raw(raw)
    else:
        path = Path(settings.QR_SIGNING_KEYS_DIR) / f"{key.kid}.pem"
        try:
            private = algorithm.load_private_pem(path.read_bytes())
        except FileNotFoundError:
            raise RuntimeError(f"the private key of signing key {key.kid} is not in {path.parent}") from None
    _private_keys[key.kid] = private
    return private


def sign(key: SigningKey, data: bytes) -> bytes:
    """``data`` signed with ``key``'s private half, by the key's own algorithm."""
    return verifier.ALGORITHMS[key.algorithm].sign(private_key(key), data)


@transaction.atomic
def signing_key_rotate(*, now=None, algorithm: str | None = None) -> SigningKey:
    """Make a new key; it signs at once if nothing signs now, else after the publish lead.

    ``algorithm`` is Ed25519 or SM2; by default the one ``CRYPTO_PROFILE`` names.
    """
    now = now or timezone.now()
    algorithm = algorithm or default_algorithm()
    scheme = verifier.ALGORITHMS[algorithm]
    private = scheme.generate()
    raw_public = scheme.public_raw(private.public_key())
    kid = _kid(raw_public)
    directory = Path(settings.QR_SIGNING_KEYS_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{kid}.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(scheme.private_pem(private))
    current = list(SigningKey.objects.select_for_update().filter(deactivated_at__isnull=True))
    signing_now = [k for k in current if k.activates_at <= now]
    activates_at = (
        now + datetime.timedelta(seconds=settings.QR_KEY_PUBLISH_LEAD_SECONDS) if signing_now else now
    )
    for old in current:
        old.deactivated_at = max(activates_at, old.activates_at)
        old.retires_at = old.deactivated_at + verify_window()
        old.save(update_fields=["deactivated_at", "retires_at"])
    key = SigningKey.objects.create(
        kid=kid,
        algorithm=algorithm,
        public_key=verifier.b64url(raw_public),
        created_at=now,
        activates_at=activates_at,
    )
    forget_cached_keys()
    return key


def signing_key_current(now=None) -> SigningKey:
    now = now or timezone.now()
    key = (
        SigningKey.objects.filter(activates_at__lte=now)
        .exclude(deactivated_at__lte=now)
        .order_by("-activates_at")
        .first()
    )
    if key is None:
        if not settings.QR_SIGNING_GENERATE_KEYS:
            raise RuntimeError("no QR signing key is active: run manage.py rotate_signing_key")
        key = signing_key_rotate(now=now)
    return key


def _published(now=None):
    now = now or timezone.now()
    return SigningKey.objects.exclude(retires_at__lte=now).order_by("activates_at")


def _jwk(key: SigningKey) -> dict:
    algorithm = verifier.ALGORITHMS[key.algorithm]
    jwk = {
        **algorithm.jwk_fields(verifier.b64url_decode(key.public_key)),
        "alg": algorithm.jws_alg,
        "use": "sig",
        "kid": key.kid,
        "nbf": int(key.activates_at.timestamp()),
    }
    if key.deactivated_at:
        jwk["ecard_sign_until"] = int(key.deactivated_at.timestamp())
    if key.retires_at:
        jwk["exp"] = int(key.retires_at.timestamp())
    return jwk


_last_jwks: dict | None = None


def jwks(now=None) -> dict:
    """The key set scanners fetch: every key not yet retired, with its window (Ed25519 as
    RFC 8037 OKP, SM2 as ``kty: EC, crv: SM2``). While the database is unreachable, the set
    this process read last: keys change in days, an outage lasts seconds to minutes."""
    global _last_jwks
    if _last_jwks is not None and now is None and outage.database_down():
        return _last_jwks
    try:
        _last_jwks = {"keys": [_jwk(key) for key in _published(now)]}
    except DatabaseError:
        outage.database_failed()
        if _last_jwks is None or now is not None:
            raise
        log.warning("the database is unavailable: publishing the key set read last")
    return _last_jwks


# The verify hot path reads the key set from memory, refreshed every few seconds.
_cache_lock = threading.Lock()
_cached: tuple[float, verifier.KeySet] | None = None


def keyset() -> verifier.KeySet:
    global _cached
    cached = _cached
    if cached and time.monotonic() - cached[0] < settings.QR_KEYSET_CACHE_SECONDS:
        return cached[1]
    with _cache_lock:
        fresh = verifier.KeySet.from_jwks(jwks())
        _cached = (time.monotonic(), fresh)
        return fresh


def keyset_every_key() -> verifier.KeySet:
    """Every key ever published, retired ones too: for what outlives a key's published
    window (a pick-up certificate, checked online against its own application). Only the
    signature is checked with it, never a key's window."""
    return verifier.KeySet.from_jwks(
        {"keys": [_jwk(key) for key in SigningKey.objects.order_by("activates_at")]}
    )


def forget_cached_keys() -> None:
    global _cached, _last_jwks
    _cached = None
    _last_jwks = None
    _private_keys.clear()
