"""Client tokens: short EdDSA-signed access JWTs and rotating refresh JWTs.

The algorithm is pinned on decode (a token cannot choose HS256 or ``none``), ``iss``,
``aud`` and ``exp`` are required, and the header's ``kid`` picks the key so keys can
rotate. A refresh token is good for one rotation: presenting a used one again means it
leaked, and the whole session (its family) is revoked.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import os
import secrets
import uuid
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.signals import setting_changed
from django.db import transaction
from django.utils import timezone

from plumbing.errors import DomainError

from .models import RefreshToken, TokenFamily, User

ALGORITHM = "EdDSA"
ACCESS_AUDIENCE = "ecard:app"
REFRESH_AUDIENCE = "ecard:app-refresh"
_REQUIRED = ["exp", "iat", "iss", "aud", "sub", "jti"]


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short stable id: the first 8 bytes of SHA-256 of the raw public key, hex."""
    import hashlib

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class Keyring:
    signing_kid: str
    signing_key: Ed25519PrivateKey
    public_keys: dict[str, Ed25519PublicKey]


def _generate_first_key(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    temporary = directory / f".new-{os.getpid()}-{secrets.token_hex(4)}"
    temporary.write_bytes(pem)
    temporary.chmod(0o600)
    try:
        # A hard link fails if another process made the key first: then use theirs.
        os.link(temporary, directory / "0001-generated.pem")
    except FileExistsError:
        pass
    finally:
        temporary.unlink()


@functools.cache
def keyring() -> Keyring:
    directory = Path(settings.AUTH_JWT_KEYS_DIR)
    files = sorted(directory.glob("*.pem")) if directory.is_dir() else []
    if not files:
        if not settings.AUTH_JWT_GENERATE_KEYS:
            raise RuntimeError(f"no client-token signing key (*.pem) in {directory}")
        _generate_first_key(directory)
        files = sorted(directory.glob("*.pem"))
    keys = []
    for path in files:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(private, Ed25519PrivateKey):
            raise RuntimeError(f"{path} is not an Ed25519 private key")
        keys.append(private)
    public = {key_id(k.public_key()): k.public_key() for k in keys}
    return Keyring(key_id(keys[-1].public_key()), keys[-1], public)


def _forget_keys(*, setting, **kwargs):
    if setting.startswith("AUTH_JWT"):
        keyring.cache_clear()


setting_changed.connect(_forget_keys)


def _encode(claims: dict) -> str:
    ring = keyring()
    return jwt.encode(claims, ring.signing_key, algorithm=ALGORITHM, headers={"kid": ring.signing_kid})


def decode(token: str, *, audience: str) -> dict:
    """The verified claims, or ``auth.token_invalid`` / ``auth.token_expired``."""
    try:
        header = jwt.get_unverified_header(token)
        key = keyring().public_keys.get(header.get("kid") or "")
        if key is None or header.get("alg") != ALGORITHM:
            raise DomainError("auth.token_invalid")
        return jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=settings.AUTH_JWT_ISSUER,
            options={"require": _REQUIRED},
        )
    except jwt.ExpiredSignatureError:
        raise DomainError("auth.token_expired") from None
    except jwt.PyJWTError:
        raise DomainError("auth.token_invalid") from None


@dataclasses.dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str
    family: uuid.UUID


def _pair(user: User, family: TokenFamily) -> TokenPair:
    now = timezone.now()
    common = {
        "iss": settings.AUTH_JWT_ISSUER,
        "sub": str(user.pk),
        "iat": now,
        "fam": str(family.pk),
    }
    access = _encode(
        {
            **common,
            "aud": ACCESS_AUDIENCE,
            "jti": secrets.token_hex(16),
            "exp": now + datetime.timedelta(seconds=settings.AUTH_ACCESS_TTL_SECONDS),
        }
    )
    refresh_expires = now + datetime.timedelta(seconds=settings.AUTH_REFRESH_TTL_SECONDS)
    record = RefreshToken.objects.create(jti=secrets.token_hex(16), family=family, expires_at=refresh_expires)
    refresh = _encode({**common, "aud": REFRESH_AUDIENCE, "jti": record.jti, "exp": refresh_expires})
    return TokenPair(access, refresh, family.pk)


@transaction.atomic
def session_start(*, user: User) -> TokenPair:
    family = TokenFamily.objects.create(id=uuid.uuid4(), user=user)
    return _pair(user, family)


def session_refresh(*, refresh: str) -> TokenPair:
    """Rotate a refresh token. A used one presented again revokes its whole family."""
    claims = decode(refresh, audience=REFRESH_AUDIENCE)
    reused = False
    with transaction.atomic():
        record = (
            RefreshToken.objects.select_for_update()
            .select_related("family__user")
            .filter(jti=claims["jti"])
            .first()
        )
        if record is None:
            raise DomainError("auth.token_invalid")
        family = record.family
        if family.revoked_at is not None or not family.user.is_active:
            raise DomainError("auth.token_revoked")
        if record.used_at is not None:
            family.revoked_at = timezone.now()
            family.revoke_reason = "refresh_reused"
            family.save(update_fields=["revoked_at", "revoke_reason"])
            reused = True
        else:
            record.used_at = timezone.now()
            record.save(update_fields=["used_at"])
            pair = _pair(family.user, family)
    # Raised after the commit: the revocation must stand.
    if reused:
        raise DomainError("auth.token_reused")
    return pair


def session_end(*, family_id, reason: str = "logout") -> None:
    TokenFamily.objects.filter(pk=family_id, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoke_reason=reason
    )


def sessions_end_for_holder(*, holder, keep_family=None, reason: str) -> int:
    """End every login session of the accounts bound to a holder, but the one to keep."""
    families = TokenFamily.objects.filter(revoked_at__isnull=True, user__holder=holder)
    if keep_family is not None:
        families = families.exclude(pk=keep_family)
    return families.update(revoked_at=timezone.now(), revoke_reason=reason)


def authenticate_access(token: str) -> tuple[User, dict]:
    claims = decode(token, audience=ACCESS_AUDIENCE)
    family_id = claims.get("fam")
    if family_id is None:
        raise DomainError("auth.token_invalid")
    family = TokenFamily.objects.select_related("user").filter(pk=family_id, user_id=claims["sub"]).first()
    if family is None:
        raise DomainError("auth.token_invalid")
    if family.revoked_at is not None or not family.user.is_active:
        raise DomainError("auth.token_revoked")
    return family.user, claims
