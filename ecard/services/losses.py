"""Loss reports: temporary (临时挂失), lifted (解挂) or lapsed, and formal (正式挂失)."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.realperson import real_person_check
from plumbing.errors import DomainError

from .. import workdays
from ..audit import Actor
from ..models import ActorKind, Card, CardState, Channel
from .base import lock_card, refuse_agent, refuse_if_cancelled, start_of_day_after, transition


def formalisation_deadline_for(reported_at: datetime.datetime) -> tuple[datetime.datetime, bool]:
    """Start of the day after the N-th working day following the report (report day not
    counted), and whether that leaned on a year the holiday calendar does not know yet."""
    reported_on = timezone.localtime(reported_at).date()
    last_day = workdays.add_working_days(reported_on, settings.CARD_TEMPORARY_LOSS_WORKING_DAYS)
    return start_of_day_after(last_day), workdays.provisional(reported_on, last_day)


@transaction.atomic
def card_report_temporary_loss(*, card: Card, by: Actor) -> Card:
    """临时挂失: takes effect at once, always, from any state in which the card may be in
    someone's pocket (active, PIN-locked, or collected but not yet enabled); lapses unless
    formalised by the deadline."""
    card = lock_card(card)
    refuse_if_cancelled(card)
    if card.state == CardState.TEMPORARILY_LOST:
        raise DomainError("card.already_temporarily_lost")
    if card.state == CardState.LOST:
        raise DomainError("card.already_lost")
    if card.received_at is None:
        raise DomainError("card.not_received")  # still at the outlet: nobody can have it
    if by.channel == Channel.HOTLINE and card.pin_is_initial and settings.CARD_HOTLINE_LOSS_NEEDS_CHANGED_PIN:
        # The hotline knows the caller only by the PIN; the app and the outlet check more.
        raise DomainError("card.hotline_initial_pin")
    now = timezone.now()
    card.temporarily_lost_at = now
    card.lost_from_state = card.state
    card.formalisation_deadline, card.deadline_provisional = formalisation_deadline_for(now)
    transition(
        card,
        to=CardState.TEMPORARILY_LOST,
        action="card.loss_reported",
        by=by,
        data={
            "formalisation_deadline": card.formalisation_deadline.isoformat(),
            "provisional": card.deadline_provisional,
        },
    )
    return card


def _reinstate(card: Card, *, action: str, by: Actor) -> None:
    if card.replacement_applied_at is not None:
        raise DomainError("card.replacement_applied")
    back_to = card.lost_from_state or CardState.ACTIVE
    card.temporarily_lost_at = None
    card.formalisation_deadline = None
    card.deadline_provisional = False
    card.lost_from_state = ""
    transition(card, to=back_to, action=action, by=by)


def card_lift_loss(*, card: Card, by: Actor, identity_token: str | None = None) -> Card:
    """解挂: the card was found before the loss was formalised or a replacement applied for.

    In the app this takes a fresh real-person check of whoever holds the phone (the holder,
    or the guardian acting for a ward): the phone may have been lost with the card. Staff at
    an outlet have seen the holder's ID, and only the holder's: an agent may not lift a loss
    (the Zhuhai guide), since the card would be back in service for whoever holds it.
    """
    refuse_agent(by)
    if by.kind == ActorKind.HOLDER:
        # A card that cannot be lifted says so before a face match that could not help.
        _check_liftable(Card.objects.get(pk=card.pk))
        person = getattr(by.user, "holder", None)
        if person is None:
            raise DomainError("identity.verification_required")
        real_person_check(name=person.name, id_number=person.id_number, token=identity_token)
    with transaction.atomic():
        card = lock_card(card)
        _check_liftable(card)
        _reinstate(card, action="card.loss_lifted", by=by)
    return card


def _check_liftable(card: Card) -> None:
    refuse_if_cancelled(card)
    if card.state == CardState.LOST:
        raise DomainError("card.loss_irrevocable")
    if card.state != CardState.TEMPORARILY_LOST:
        raise DomainError("card.not_lost")


@transaction.atomic
def card_lapse_temporary_loss(
    *, card: Card, by: Actor | None = None, now: datetime.datetime | None = None
) -> Card:
    """A temporary loss not formalised by its deadline ends by itself; the card is active again."""
    by = by or Actor.system("loss_deadlines")
    card = lock_card(card)
    if card.state != CardState.TEMPORARILY_LOST:
        raise DomainError("card.not_temporarily_lost")
    now = now or timezone.now()
    deadline = card.formalisation_deadline  # set with every temporary loss
    if deadline is not None and now < deadline:
        raise DomainError(
            "card.deadline_not_passed",
            deadline=timezone.localtime(card.formalisation_deadline).strftime("%Y-%m-%d %H:%M"),
        )
    _reinstate(card, action="card.loss_lapsed", by=by)
    return card


@transaction.atomic
def card_report_formal_loss(*, card: Card, by: Actor) -> Card:
    """正式挂失 at an outlet with ID: irrevocable."""
    card = lock_card(card)
    refuse_if_cancelled(card)
    if card.state == CardState.LOST:
        raise DomainError("card.already_lost")
    if card.received_at is None:
        raise DomainError("card.not_received")
    formalise(card, by=by)
    return card


def formalise(card: Card, *, by: Actor, reason: str = "") -> None:
    """temporarily lost (or not yet reported) → lost, on a locked card."""
    card.lost_at = timezone.now()
    card.formalisation_deadline = None
    card.deadline_provisional = False
    card.lost_from_state = ""
    transition(card, to=CardState.LOST, action="card.loss_formalised", by=by, reason=reason)
