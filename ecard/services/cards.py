"""A card's making, collection, enabling (启用) and cancellation (注销)."""

from __future__ import annotations

import datetime
import secrets

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.actors import ActorKind
from accounts.models import Holder
from accounts.realperson import real_person_check
from plumbing.errors import DomainError

from .. import signals
from ..audit import Actor, audit_record
from ..models import (
    OPEN_APPLICATION_STATES,
    CancellationReason,
    Card,
    CardApplication,
    CardState,
    Channel,
    ECard,
    FamilyLink,
    FamilyLinkState,
    OldCard,
)
from .base import lock_card, refuse_if_cancelled, transition

# Only at an outlet, by an agent whose ID document staff record.
AGENT_REASONS = {CancellationReason.DECEASED, CancellationReason.DECLARED_MISSING_OR_DEAD}
# What holders may cancel for themselves in the app, after a real-person check.
HOLDER_REASONS = {CancellationReason.MOVED_OUT_OF_PROVINCE, CancellationReason.EMIGRATED}
# Set by the system only: a replaced card when its successor is activated, a card in the old
# province when the person's card in a new one is.
RESERVED_REASONS = {
    CancellationReason.REPLACED,
    CancellationReason.TRANSFERRED,
    CancellationReason.APPLICATION_ENDED,
}


def default_valid_until(issued_on: datetime.date) -> datetime.date:
    years = issued_on.year + settings.CARD_VALIDITY_YEARS
    try:
        return issued_on.replace(year=years)
    except ValueError:  # issued on 29 February
        return issued_on.replace(year=years, day=28)


def _new_card_number() -> str:
    # A letter and eight digits, the shape of card numbers printed on third-generation cards.
    return secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") + f"{secrets.randbelow(10**8):08d}"


@transaction.atomic
def card_create(
    *,
    holder: Holder,
    region: str,
    issued_on: datetime.date,
    by: Actor,
    number: str | None = None,
    generation: int = 3,
    valid_until: datetime.date | None = None,
    received_at: datetime.datetime | None = None,
    state: str = CardState.SEALED,
    replaces: Card | None = None,
    replacement_kind: str = "",
    ready_on: datetime.date | None = None,
    ready_on_provisional: bool = False,
) -> Card:
    """Record a newly made card. The database refuses a second live card in one region."""
    if state not in (CardState.SEALED, CardState.ACTIVE):
        raise ValueError("a new card is sealed or active")
    if state == CardState.ACTIVE and received_at is None:
        raise DomainError("card.not_received")
    if valid_until is None:
        valid_until = default_valid_until(issued_on)
    card = Card(
        number=number or _new_card_number(),
        holder=holder,
        printed_name=holder.name,
        printed_id_number=holder.id_number,
        region=region,
        generation=generation,
        issued_on=issued_on,
        valid_until=valid_until,
        received_at=received_at,
        state=state,
        replaces=replaces,
        replacement_kind=replacement_kind,
        ready_on=ready_on,
        ready_on_provisional=ready_on_provisional,
    )
    try:
        with transaction.atomic():
            card.save(force_insert=True)
    except IntegrityError as exc:
        if Card.objects.filter(number=card.number).exists():
            raise DomainError("card.number_taken", field="card_number") from exc
        raise DomainError("card.one_per_region") from exc
    audit_record(
        action="card.created",
        by=by,
        card=card,
        state_before="",
        state_after=state,
        reason=replacement_kind,
        data={
            "region": region,
            "generation": generation,
            "replaces": replaces.pk if replaces else None,
        },
    )
    if state == CardState.ACTIVE:  # made active (imported so): it is the person's card now
        retire_other_provinces(card, by=by)
    return card


@transaction.atomic
def card_mark_received(*, card: Card, by: Actor, old_card: str = "") -> Card:
    """The holder collected the card (领卡), at the counter's card page or as an application's
    last step: the application that made the card is collected with it. A replacement's old
    card is handed in at the counter (or declared lost), and the counter records which."""
    if old_card and old_card not in OldCard.values:
        raise DomainError("request.invalid", field="old_card", detail="old_card: handed_in or declared_lost")
    replaced = card.replaces_id
    if old_card and replaced is None:
        raise DomainError("card.no_old_card", field="old_card")
    card = mark_received(card, by=by)
    if old_card and replaced is not None:
        old = Card.objects.select_for_update().get(pk=replaced)
        audit_record(action=f"card.old_card_{old_card}", by=by, card=old, data={"new_card": card.number})
    # Imported here: the application services build on these.
    from .applications import application_card_collected

    application_card_collected(card=card, by=by)
    return card


def mark_received(card: Card, *, by: Actor) -> Card:
    """The card is in the holder's hands now; inside the caller's transaction."""
    card = lock_card(card)
    refuse_if_cancelled(card)
    if card.received_at is not None:
        raise DomainError("card.already_received")
    card.received_at = timezone.now()
    card.save(update_fields=["received_at", "updated_at"])
    audit_record(action="card.received", by=by, card=card)
    return card


def enable(card: Card, *, by: Actor, via: str) -> None:
    """sealed → active on a locked card; a replacement's activation retires the card it replaces."""
    if card.state == CardState.ACTIVE:
        raise DomainError("card.already_enabled")
    if card.state != CardState.SEALED:
        raise DomainError("card.not_sealed")
    if card.received_at is None:
        raise DomainError("card.not_received")
    transition(card, to=CardState.ACTIVE, action="card.enabled", by=by, reason=via)
    if card.replaces_id:
        old = Card.objects.select_for_update().get(pk=card.replaces_id)
        if old.state != CardState.CANCELLED:
            cancel(old, reason=CancellationReason.REPLACED, by=by)
        _move_ecard(old, card, by=by)
    retire_other_provinces(card, by=by)


def _move_ecard(old: Card, new: Card, *, by: Actor) -> None:
    """The e-card follows the person to their new card, unless that card has one already."""
    if ECard.objects.filter(card=new).exists():
        return
    moved = ECard.objects.filter(card=old).update(card=new)
    if moved:
        # Imported here: the payment services reach cards through the e-card services.
        from .payments import agreements_follow_card

        ecard = ECard.objects.select_related("card").get(card=new)
        agreements_follow_card(ecard, by=by)
        # Codes shown from the old card (the holder's, a family presenter's) end with it, online
        # as offline: a gate applies the old card's cancellation to them, and the matrix alone
        # would judge them by the new card's state.
        signals.ecard_changed.send(sender=ECard, ecard=ecard, revoke_reason="ecard.moved")
    signals.card_changed.send(sender=Card, card=new, before=new.state, after=new.state)
    if moved:
        audit_record(
            action="ecard.moved",
            by=by,
            card=new,
            state_before=old.state,
            state_after=new.state,
            data={"from_card": old.pk, "to_card": new.pk},
        )


def retire_other_provinces(card: Card, *, by: Actor) -> None:
    """A person's card activated in a new province cancels their card in the old one, with
    any replacement still being made for it [seed 000]; the holder is told either way."""
    others = (
        Card.objects.select_for_update()
        .filter(holder_id=card.holder_id)
        .exclude(pk=card.pk)
        .exclude(region=card.region)
        .exclude(state=CardState.CANCELLED)
        # A card still being made for an application of its own is where the holder is going,
        # not where they were: it retires this one when it is collected and enabled in turn.
        .exclude(
            received_at__isnull=True,
            replaces__isnull=True,
            pk__in=CardApplication.objects.filter(state__in=OPEN_APPLICATION_STATES).values("new_card_id"),
        )
        .order_by("replaces_id", "pk")  # an old card before its own pending replacement
    )
    for old in others:
        old.refresh_from_db()
        if old.state == CardState.CANCELLED:  # went with its predecessor just now
            continue
        cancel(old, reason=CancellationReason.TRANSFERRED, by=by, action="card.transferred")
        for successor in (
            Card.objects.select_for_update().filter(replaces=old).exclude(state=CardState.CANCELLED)
        ):
            cancel(successor, reason=CancellationReason.TRANSFERRED, by=by)
        _move_ecard(old, card, by=by)


@transaction.atomic
def card_enable(*, card: Card, by: Actor) -> Card:
    """Enable the social-security function (启用); for a replacement, this is its activation."""
    card = lock_card(card)
    refuse_if_cancelled(card)
    enable(card, by=by, via="enable")
    return card


def cancel(
    card: Card, *, reason: str, by: Actor, action: str = "card.cancelled", document: dict | None = None
) -> None:
    card.cancelled_at = timezone.now()
    card.cancellation_reason = reason
    card.formalisation_deadline = None
    card.deadline_provisional = False
    data: dict | None = {"region": card.region} if action == "card.transferred" else None
    if document:
        data = {**(data or {}), "certificate": document}
    transition(
        card,
        to=CardState.CANCELLED,
        action=action,
        by=by,
        reason=reason,
        data=data,
        tell_holder=action == "card.transferred",
    )
    if reason != CancellationReason.APPLICATION_ENDED:  # that application is ending already
        # Whatever cancels a card an open application was making (the counter, a move of
        # province, a replacement's activation) ends the application with it. Imported here:
        # the application services build on these.
        from .applications import application_card_cancelled

        application_card_cancelled(card=card, by=by)


@transaction.atomic
def card_cancel(
    *,
    card: Card,
    reason: str,
    by: Actor,
    certificate_number: str = "",
    certificate_issuer: str = "",
) -> Card:
    """注销 for good. A replacement still being made for the card is cancelled with it.

    For a death or a declaration of missing or death, staff record the document they saw (the
    death certificate, or the court's judgment): its number and who issued it."""
    if reason not in CancellationReason.values:
        raise DomainError("card.cancel_reason_invalid", field="reason")
    if reason in RESERVED_REASONS:
        raise DomainError("card.cancel_reason_reserved", field="reason")
    document = None
    if reason in AGENT_REASONS:
        # The holder cannot come: someone does it for them at an outlet, with both IDs [seed 004];
        # the system may too, from the civil registry's records.
        if by.kind == ActorKind.HOLDER:
            raise DomainError("card.cancel_reason_outlet_only", field="reason")
        if by.kind == ActorKind.STAFF and by.agent is None:
            raise DomainError("card.agent_required", field="agent_name")
        number, issuer = (" ".join((v or "").split())[:60] for v in (certificate_number, certificate_issuer))
        if by.kind == ActorKind.STAFF and not number:
            raise DomainError("card.certificate_required", field="certificate_number")
        if by.kind == ActorKind.STAFF and not issuer:
            raise DomainError("card.certificate_required", field="certificate_issuer")
        document = {"number": number, "issuer": issuer} if number or issuer else None
    card = lock_card(card)
    if card.state == CardState.CANCELLED:
        raise DomainError("card.already_cancelled")
    was_sealed = card.state == CardState.SEALED
    cancel(card, reason=reason, by=by, document=document)
    pending = list(Card.objects.select_for_update().filter(replaces=card).exclude(state=CardState.CANCELLED))
    for successor in pending:
        cancel(successor, reason=reason, by=by)
    if card.replaces_id and was_sealed:
        _free_replaced(card, by=by)
    if not Card.objects.filter(holder_id=card.holder_id).exclude(state=CardState.CANCELLED).exists():
        # The e-card ended with the holder's last card: nobody shows this holder's codes any
        # more (亲情账户), nor does the holder show anyone's, and no provider charges it for
        # transit; both sides are told. (Imported here: the family and payment services reach
        # cards through binding and pins.)
        from .family import family_end
        from .payments import agreements_end_with_card

        for ecard in ECard.objects.filter(card__holder_id=card.holder_id):
            agreements_end_with_card(ecard, by=by)
        for link in FamilyLink.objects.filter(
            Q(member_id=card.holder_id) | Q(presenter_id=card.holder_id)
        ).exclude(state=FamilyLinkState.ENDED):
            side = "member" if link.member_id == card.holder_id else "presenter"
            family_end(link=link, by=by, reason=f"{side}_card_cancelled")
    return card


def card_abandon(*, card: Card, by: Actor) -> None:
    """A card whose application was withdrawn or rejected before it was made: cancelled, and
    the card it was to replace may apply again. Inside the application's transaction."""
    card = lock_card(card)
    if card.state == CardState.CANCELLED:
        return
    cancel(card, reason=CancellationReason.APPLICATION_ENDED, by=by)
    if card.replaces_id:
        _free_replaced(card, by=by)


def _free_replaced(successor: Card, *, by: Actor) -> None:
    """A replacement cancelled while being made: the card it was to replace may apply again."""
    if successor.replaces_id is None:
        return
    old = Card.objects.select_for_update().get(pk=successor.replaces_id)
    if old.state == CardState.CANCELLED or old.replacement_applied_at is None:
        return
    old.replacement_applied_at = None
    old.save(update_fields=["replacement_applied_at", "updated_at"])
    audit_record(
        action="card.replacement_withdrawn",
        by=by,
        card=old,
        reason=successor.cancellation_reason,
        data={"replacement": successor.pk},
    )


@transaction.atomic
def card_activate_financial(*, card: Card, by: Actor) -> Card:
    """金融功能激活: the bank account on the card is activated in person at the bank [seed 003]."""
    card = lock_card(card)
    refuse_if_cancelled(card)
    if by.channel != Channel.BANK:
        raise DomainError("card.financial_at_bank")
    if card.received_at is None:
        raise DomainError("card.not_received")
    if card.financial_active:
        raise DomainError("card.financial_already_active")
    card.financial_active = True
    card.save(update_fields=["financial_active", "updated_at"])
    audit_record(action="card.financial_activated", by=by, card=card)
    return card


def card_cancel_by_holder(*, card: Card, reason: str, by: Actor, identity_token: str | None = None) -> Card:
    """注销 in the app, for a move out of the province or settling abroad, after a fresh
    real-person check of whoever holds the phone. The e-card ends with the card."""
    if reason not in HOLDER_REASONS:
        raise DomainError("card.cancel_reason_outlet_only", field="reason")
    person = getattr(by.user, "holder", None)
    if person is None:
        raise DomainError("identity.verification_required")
    real_person_check(name=person.name, id_number=person.id_number, token=identity_token)
    return card_cancel(card=card, reason=reason, by=by)
