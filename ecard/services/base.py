"""What every card transition shares: the row lock, the state change with its audit row,
its announcement (``ecard.signals.card_changed``) and the holder's notice after commit."""

from __future__ import annotations

import datetime

from django.db import transaction
from django.utils import timezone

from plumbing.errors import DomainError

from .. import notices, signals
from ..audit import Actor, audit_record
from ..models import ActorKind, AuditEvent, Card, CardState, HolderAuthorisation

SHANGHAI_MIDNIGHT = datetime.time(0, 0)


def lock_card(card: Card) -> Card:
    return Card.objects.select_for_update().get(pk=card.pk)


def refuse_agent(by: Actor) -> None:
    """What only the holder in person may do at an outlet: staff who recorded an agent are
    refused."""
    if by.kind == ActorKind.STAFF and by.agent is not None:
        raise DomainError("card.in_person_only")


def transition(
    card: Card,
    *,
    to: str,
    action: str,
    by: Actor,
    reason: str = "",
    data: dict | None = None,
    tell_holder: bool = False,
) -> None:
    before = card.state
    card.state = to
    card.save()
    # A holder authorisation covers the state it was given in, and ends with it.
    HolderAuthorisation.objects.filter(ecard__card=card, ended_at__isnull=True).update(
        ended_at=timezone.now(), end_reason="state_changed"
    )
    signals.card_changed.send(sender=Card, card=card, before=before, after=to)
    event = audit_record(
        action=action,
        by=by,
        card=card,
        state_before=before,
        state_after=to,
        reason=reason,
        data=data,
    )
    notify_holder(card, action, by, event, always=tell_holder)


def notify_holder(card: Card, action: str, by: Actor, event: AuditEvent, *, always: bool = False) -> None:
    """A change the holder did not make themselves is told to them, once it has committed;
    ``always``: also one they set off without seeing it (another card of theirs retired)."""
    if (by.kind == ActorKind.HOLDER and not always) or action not in notices.TEMPLATES:
        return
    params = notices.card_params(
        card,
        deadline=(
            timezone.localtime(card.formalisation_deadline).strftime("%Y-%m-%d %H:%M")
            if card.formalisation_deadline
            else ""
        ),
        reason=card.get_cancellation_reason_display() if card.cancellation_reason else "",
    )
    holder_id, subject = card.holder_id, str(event.pk)
    transaction.on_commit(
        lambda: notices.notice_send(holder=holder_id, kind=action, subject=subject, params=params)
    )


def refuse_if_cancelled(card: Card) -> None:
    if card.state == CardState.CANCELLED:
        raise DomainError("card.cancelled")


def start_of_day_after(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day + datetime.timedelta(days=1), SHANGHAI_MIDNIGHT))
