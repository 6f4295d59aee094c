"""Real-person checks (实人认证): is the person holding the phone the holder they claim to be?

The check itself is a provider's (a face-match SDK on the phone, answered by the provider's
server); ``IDENTITY_VERIFIER`` names the adapter by dotted path, as ``EMAIL_BACKEND`` names
Django's mail backend. An adapter gets the claimed name and ID number and the token the
provider's SDK gave the app, and answers verified, not verified or unavailable. An adapter
that fails in any way counts as unavailable: a check that could not be made never passes.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import secrets
from typing import Protocol

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from plumbing.errors import DomainError

log = logging.getLogger(__name__)

VERIFIED = "verified"
NOT_VERIFIED = "not_verified"
UNAVAILABLE = "unavailable"


@dataclasses.dataclass(frozen=True)
class IdentityCheck:
    result: str  # VERIFIED, NOT_VERIFIED or UNAVAILABLE
    # When the face was matched, as the provider says: a check older than
    # IDENTITY_CHECK_MAX_AGE_SECONDS is not fresh enough to bind an e-card or lift a loss.
    checked_at: datetime.datetime | None = None


class IdentityVerifier(Protocol):
    def verify(self, *, name: str, id_number: str, token: str) -> IdentityCheck: ...


class DevelopmentVerifier:
    """Accepts one fixed token (``IDENTITY_DEV_TOKEN``) as a check made just now; refuses any
    other. For ``make run`` and the tests; the production settings refuse to start with it."""

    def verify(self, *, name: str, id_number: str, token: str) -> IdentityCheck:
        if secrets.compare_digest(token.encode(), settings.IDENTITY_DEV_TOKEN.encode()):
            return IdentityCheck(VERIFIED, timezone.now())
        return IdentityCheck(NOT_VERIFIED)


def identity_verifier() -> IdentityVerifier:
    return import_string(settings.IDENTITY_VERIFIER)()


def real_person_check(*, name: str, id_number: str, token: str | None) -> None:
    """Raise unless the provider verifies, freshly, that this person holds the phone."""
    if not isinstance(token, str) or not token:
        raise DomainError("identity.verification_required", field="identity_token")
    try:
        check = identity_verifier().verify(name=name, id_number=id_number, token=token)
    except Exception:  # the adapter's own failure (network, its server): never a pass
        log.warning("real-person check failed: provider error", exc_info=True)
        raise DomainError("identity.unavailable") from None
    if check.result == UNAVAILABLE:
        raise DomainError("identity.unavailable")
    if check.result != VERIFIED:
        raise DomainError("identity.not_verified", field="identity_token")
    max_age = datetime.timedelta(seconds=settings.IDENTITY_CHECK_MAX_AGE_SECONDS)
    if check.checked_at is None or timezone.now() - check.checked_at > max_age:
        raise DomainError("identity.not_verified", field="identity_token")
