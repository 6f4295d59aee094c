"""Issuing a QR code: the service matrix says yes now (or a live holder authorisation does)."""

from __future__ import annotations

import dataclasses
import datetime
import math
import secrets
import time

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from ecard.audit import Actor
from ecard.matrix import Purpose, Verdict, card_services
from ecard.models import (
    OPEN_APPLICATION_STATES,
    Card,
    CardApplication,
    ECard,
    FamilyLink,
    FamilyLinkState,
    HolderAuthorisation,
)
from plumbing.errors import DomainError

from .. import keys, verifier
from ..models import Revocation


def _lifetime(purpose: str) -> int:
    return int(settings.QR_LIFETIMES[purpose])


def live_grant(
    ecard: ECard, purpose: str, now: datetime.datetime | None = None
) -> HolderAuthorisation | None:
    now = now or timezone.now()
    grants = HolderAuthorisation.objects.filter(ecard=ecard, ended_at__isnull=True, expires_at__gt=now)
    return next((g for g in grants if purpose in g.purposes), None)


@dataclasses.dataclass(frozen=True)
class IssuedCode:
    text: str
    purpose: str
    expires_at: datetime.datetime
    authorised_by_holder: bool
    verdict: str  # the matrix verdict the code was issued under


def code_issue(*, ecard: ECard, purpose: str, by: Actor, family: FamilyLink | None = None) -> IssuedCode:
    """Sign a code for a purpose the service matrix allows now (or under a live authorisation).

    ``family``: the code is a family member's, shown by that link's presenter. It obeys the
    member's card and the member's own authorisations, never the presenter's, and is never a
    transit code (one gate pass is one person).

    The card row is locked while the rule is checked and the issue time taken, so a loss
    report racing this either comes first (and the code is refused) or after (and the
    code's issue time is before the loss, which revokes it).
    """
    if family is not None and purpose not in verifier.FAMILY_PURPOSES:
        raise DomainError("family.purpose_not_allowed", purpose=Purpose(purpose).label)
    key = keys.signing_key_current()
    # A password change, an ended agreement or guardian link, and a change of the card's state
    # (a loss, the old card cancelled when the e-card moved to a new one) revoke every code of
    # their second and before at the gates (codes carry whole seconds; the revocation is rounded
    # up). A code asked for in that same second waits for the next one, outside any lock, rather
    # than be refused offline for a revocation it came after while accepted online.
    recent = timezone.now() - datetime.timedelta(seconds=2)
    revoked = (
        Revocation.of_the_reference(ecard.reference)
        .filter(not_before__gte=recent)
        .aggregate(latest=Max("not_before"))["latest"]
    )
    latest = max(ecard.password_changed_at, revoked or ecard.password_changed_at)
    wait = math.ceil(latest.timestamp()) - time.time()
    if 0 < wait <= 1:
        time.sleep(wait)
    with transaction.atomic():
        card = Card.objects.select_for_update().get(pk=ecard.card_id)
        if (
            family is not None
            and not FamilyLink.objects.filter(pk=family.pk, state=FamilyLinkState.ACTIVE).exists()
        ):
            raise DomainError("family.not_found")  # ended a moment ago
        answer = card_services(card)[purpose]
        authorised = False
        if answer.verdict == Verdict.NEEDS_AUTHORISATION:
            if live_grant(ecard, purpose) is None:
                raise DomainError("authorisation.required", purpose=Purpose(purpose).label)
            authorised = True
        elif answer.verdict == Verdict.DENIED:
            raise answer.refusal()
        issued_at = int(time.time())
    lifetime = _lifetime(purpose)
    text = verifier.encode(
        purpose=purpose,
        kid=key.kid,
        ecard=ecard.reference,
        issued_at=issued_at,
        lifetime=lifetime,
        nonce=secrets.token_bytes(8),
        authorised_by_holder=authorised,
        sign=lambda body: keys.sign(key, body),
        presenter=family.reference if family is not None else None,
    )
    expires = datetime.datetime.fromtimestamp(issued_at + lifetime, tz=datetime.UTC)
    return IssuedCode(text, purpose, expires, authorised, answer.verdict)


def certificate_code(*, application: CardApplication) -> str:
    """The signed QR text of a replacement's pick-up certificate (领卡证明): it names the
    application, and is good until the new card is collected (lifetime 0; online only)."""
    if not application.certificate_reference:
        raise DomainError("certificate.not_available")
    if application.state not in OPEN_APPLICATION_STATES:  # collected, withdrawn or rejected
        raise DomainError("certificate.not_available")
    key = keys.signing_key_current()
    return verifier.encode(
        purpose="certificate",
        kid=key.kid,
        ecard=application.certificate_reference,
        issued_at=int(time.time()),
        lifetime=0,
        nonce=secrets.token_bytes(8),
        authorised_by_holder=False,
        sign=lambda body: keys.sign(key, body),
    )
