"""Replacement cards: 补领 after a loss, 换领 at expiry (renewal), 换发 for damage or new data."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from plumbing.errors import DomainError

from .. import workdays
from ..audit import Actor, audit_record
from ..models import Card, CardState, ReplacementKind
from .base import lock_card, refuse_if_cancelled
from .cards import card_create
from .losses import formalise

_REPLACEABLE_STATES: dict[str, set[str]] = {
    ReplacementKind.LOSS: {CardState.TEMPORARILY_LOST, CardState.LOST},
    ReplacementKind.RENEWAL: {CardState.ACTIVE, CardState.SEALED},
    ReplacementKind.DAMAGE: {CardState.ACTIVE, CardState.SEALED},
    ReplacementKind.DATA_CHANGE: {CardState.ACTIVE, CardState.SEALED},
}
# Whose holder the expiry notices tell to renew: a card reported lost is replaced, not renewed.
RENEWABLE_STATES = frozenset(_REPLACEABLE_STATES[ReplacementKind.RENEWAL])


@transaction.atomic
def card_apply_replacement(
    *,
    card: Card,
    kind: str,
    by: Actor,
    number: str | None = None,
    today: datetime.date | None = None,
) -> Card:
    """补领 / 换领 / 换发: a new sealed card is made; the old one can no longer be reinstated.

    The old card keeps its state (a renewal's old card still works) until the new card is
    enabled, which cancels it.
    """
    if kind not in ReplacementKind.values:
        raise ValueError(f"unknown replacement kind {kind!r}")
    card = lock_card(card)
    refuse_if_cancelled(card)
    if card.replacement_applied_at is not None:
        raise DomainError("card.replacement_pending")
    today = today or timezone.localdate()
    if kind == ReplacementKind.RENEWAL and card.state in _REPLACEABLE_STATES[kind]:
        if not card.renewal_open(today):
            raise DomainError(
                "card.renewal_not_open",
                valid_until=card.valid_until.isoformat(),
                days=settings.CARD_RENEWAL_WINDOW_DAYS,
            )
    if card.state not in _REPLACEABLE_STATES[kind]:
        raise DomainError(
            "card.replacement_not_allowed",
            state=card.get_state_display(),
            kind=ReplacementKind(kind).label,
        )
    ready_on = workdays.add_working_days(today, settings.CARD_REPLACEMENT_PICKUP_WORKING_DAYS[kind])
    if card.state == CardState.TEMPORARILY_LOST:
        # Once a replacement is applied for the old card can never be lifted [seed 002], so
        # its temporary loss becomes formal now, rather than promising a lapse that cannot be.
        formalise(card, by=by, reason="replacement_applied")
    card.replacement_applied_at = timezone.now()
    card.save(update_fields=["replacement_applied_at", "updated_at"])
    audit_record(
        action="card.replacement_applied",
        by=by,
        card=card,
        reason=kind,
        data={"ready_on": ready_on.isoformat()},
    )
    return card_create(
        holder=card.holder,
        region=card.region,
        issued_on=today,
        number=number,
        by=by,
        replaces=card,
        replacement_kind=kind,
        ready_on=ready_on,
        ready_on_provisional=workdays.provisional(today, ready_on),
    )


def card_apply_renewal(*, card: Card, by: Actor, today: datetime.date | None = None) -> Card:
    """换领: from the renewal window (default 60 days) before ``valid_until``."""
    return card_apply_replacement(card=card, kind=ReplacementKind.RENEWAL, by=by, today=today)
