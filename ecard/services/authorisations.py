"""经本人授权: what a lost card's e-card may still do, granted by the holder for a while."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from plumbing.errors import DomainError

from .. import signals
from ..audit import Actor, audit_record
from ..matrix import Purpose, Verdict, card_services
from ..models import CardState, ECard, HolderAuthorisation
from .base import lock_card
from .ecards import ecard_check_password


@transaction.atomic
def authorisation_grant(
    *, ecard: ECard, password: str, purposes: list[str], minutes: int, by: Actor
) -> HolderAuthorisation:
    """经本人授权: let the e-card work for these purposes while the card is lost, for a while."""
    card = lock_card(ecard.card)
    ecard_check_password(ecard=ecard, password=password)
    if card.state not in (CardState.TEMPORARILY_LOST, CardState.LOST):
        raise DomainError("authorisation.not_needed")
    if not purposes or len(set(purposes)) != len(purposes):
        raise DomainError("authorisation.purpose_invalid", field="purposes", purpose=",".join(purposes))
    verdicts = card_services(card)
    for purpose in purposes:
        if purpose not in Purpose.values or verdicts[purpose].verdict != Verdict.NEEDS_AUTHORISATION:
            raise DomainError("authorisation.purpose_invalid", field="purposes", purpose=purpose)
    maximum = settings.AUTHORISATION_MAX_MINUTES
    if not isinstance(minutes, int) or not 1 <= minutes <= maximum:
        raise DomainError("authorisation.duration_invalid", field="minutes", maximum=maximum)
    now = timezone.now()
    grant = HolderAuthorisation.objects.create(
        ecard=ecard,
        purposes=sorted(purposes),
        card_state=card.state,
        created_at=now,
        expires_at=now + datetime.timedelta(minutes=minutes),
    )
    signals.ecard_changed.send(sender=ECard, ecard=ecard, revoke_reason=None)
    audit_record(
        action="authorisation.granted",
        by=by,
        card=card,
        data={
            "purposes": grant.purposes,
            "minutes": minutes,
            "authorisation": str(grant.public_id),
        },
    )
    return grant


@transaction.atomic
def authorisation_withdraw(*, authorisation: HolderAuthorisation, by: Actor) -> HolderAuthorisation:
    grant = (
        HolderAuthorisation.objects.select_for_update().select_related("ecard__card").get(pk=authorisation.pk)
    )
    if not grant.is_live():
        raise DomainError("authorisation.ended")
    grant.ended_at = timezone.now()
    grant.end_reason = "withdrawn"
    grant.save(update_fields=["ended_at", "end_reason"])
    signals.ecard_changed.send(sender=ECard, ecard=grant.ecard, revoke_reason="authorisation.withdrawn")
    audit_record(
        action="authorisation.withdrawn",
        by=by,
        card=grant.ecard.card,
        data={"authorisation": str(grant.public_id)},
    )
    return grant
