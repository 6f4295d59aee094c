"""The e-card: issued for a received card, bound to the account that proved it, its password."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.utils import timezone

from accounts.sessions import sessions_end_for_holder
from plumbing.errors import DomainError

from .. import signals
from ..audit import Actor, audit_record
from ..models import Card, ECard, HolderAuthorisation
from .base import lock_card, refuse_if_cancelled
from .pins import validate_new_secret


@transaction.atomic
def ecard_issue(*, card: Card, channel: str, password: str, by: Actor, at_application: bool = False) -> ECard:
    """Issue the e-card for a received, non-cancelled card, with its own password; or, for a
    third-generation card, with its application, while the card is still being made (同步申领)."""
    validate_new_secret(password, field="password", codes="ecard.password")
    card = lock_card(card)
    refuse_if_cancelled(card)
    if card.received_at is None and not (at_application and card.generation == 3):
        raise DomainError("card.not_received")
    if ECard.objects.filter(card=card).exists():
        raise DomainError("ecard.already_issued")
    holder = card.holder
    if holder.is_minor() and holder.guardian_id is None:
        raise DomainError("holder.guardian_required", age=settings.HOLDER_GUARDIAN_AGE)
    ecard = ECard.objects.create(
        card=card,
        reference=secrets.token_hex(12),
        channel=channel,
        password_hash=make_password(password),
        # No code of this e-card is older, so the whole second counts as after the "change":
        # codes carry whole seconds, and one of the issuing second must not look revoked.
        password_changed_at=timezone.now().replace(microsecond=0),
    )
    audit_record(
        action="ecard.issued",
        by=by,
        card=card,
        data={"channel": channel},
    )
    return ecard


def set_ecard_password(
    ecard: ECard, password: str, *, by: Actor, action: str, keep_family: Any = None
) -> ECard:
    """New password on every channel at once: grants and other sessions end with the old one."""
    ecard.password_hash = make_password(password)
    ecard.password_changed_at = timezone.now()
    ecard.save(update_fields=["password_hash", "password_changed_at"])
    HolderAuthorisation.objects.filter(ecard=ecard, ended_at__isnull=True).update(
        ended_at=timezone.now(), end_reason="password_changed"
    )
    sessions_end_for_holder(holder=ecard.card.holder, keep_family=keep_family, reason="password_changed")
    signals.ecard_changed.send(sender=ECard, ecard=ecard, revoke_reason="ecard.password_changed")
    audit_record(
        action=action,
        by=by,
        card=ecard.card,
    )
    return ecard


def lock_ecard(pk: int) -> ECard:
    """Lock an e-card for a change, its card's row first: the order issuing and the card
    services take (the card, then what refers to it). Locking the e-card joined to its card in
    one statement took them the other way round and deadlocked with a code being issued."""
    while True:
        card_id = ECard.objects.filter(pk=pk).values_list("card_id", flat=True).get()
        Card.objects.select_for_update().get(pk=card_id)  # an exists() would lock nothing
        ecard = ECard.objects.select_for_update(of=("self",)).select_related("card__holder").get(pk=pk)
        if ecard.card_id == card_id:  # not moved to a new card in between
            return ecard


def ecard_check_password(*, ecard: ECard, password: str) -> None:
    if not isinstance(password, str) or not check_password(password, ecard.password_hash):
        raise DomainError("ecard.password_wrong", field="password")


@transaction.atomic
def ecard_change_password(
    *, ecard: ECard, old_password: str, new_password: str, by: Actor, keep_family: Any = None
) -> ECard:
    ecard = lock_ecard(ecard.pk)
    try:
        ecard_check_password(ecard=ecard, password=old_password)
    except DomainError as exc:
        exc.field = "old_password"
        raise
    validate_new_secret(new_password, old=old_password, field="new_password", codes="ecard.password")
    return set_ecard_password(
        ecard, new_password, by=by, action="ecard.password_changed", keep_family=keep_family
    )
