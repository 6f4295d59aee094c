"""Reads the API needs: whose card a request may see, and that holder's things."""

from __future__ import annotations

import uuid

from django.db.models import Case, IntegerField, QuerySet, Value, When

from accounts.models import Holder
from plumbing.errors import DomainError

from .models import Card, CardState, ECard, HolderAuthorisation, Notice


def holder_for_account(user, *, ward: str | None = None) -> Holder:
    """The account's own holder, or one of its wards under 16. Anything else is not found."""
    if user.holder_id is None:
        raise DomainError("ecard.not_found")
    if not ward:
        return user.holder
    try:
        ward_id = uuid.UUID(str(ward))
    except ValueError:
        raise DomainError("request.not_found") from None
    holder = Holder.objects.filter(public_id=ward_id, guardian_id=user.holder_id).first()
    if holder is None:
        raise DomainError("request.not_found")
    return holder


def ecard_get(*, holder: Holder) -> ECard:
    """The holder's e-card: the one on a live card first, the newest otherwise."""
    ecard = (
        ECard.objects.select_related("card__holder")
        .filter(card__holder=holder)
        .annotate(
            cancelled=Case(
                When(card__state=CardState.CANCELLED, then=Value(1)),
                default=Value(0),
                output_field=IntegerField(),
            )
        )
        .order_by("cancelled", "-issued_at")
        .first()
    )
    if ecard is None:
        raise DomainError("ecard.not_found")
    return ecard


def replacement_get(*, card: Card) -> Card | None:
    return Card.objects.filter(replaces=card).exclude(state=CardState.CANCELLED).first()


def authorisation_list(*, ecard: ECard) -> QuerySet[HolderAuthorisation]:
    return HolderAuthorisation.objects.filter(ecard=ecard)


def authorisation_get(*, ecard: ECard, public_id) -> HolderAuthorisation:
    try:
        return authorisation_list(ecard=ecard).get(public_id=uuid.UUID(str(public_id)))
    except (ValueError, HolderAuthorisation.DoesNotExist):
        raise DomainError("authorisation.not_found") from None


def notice_list(*, holder: Holder) -> QuerySet[Notice]:
    return Notice.objects.filter(holder=holder)


def notice_get(*, holder: Holder, public_id) -> Notice:
    try:
        return notice_list(holder=holder).get(public_id=uuid.UUID(str(public_id)))
    except (ValueError, Notice.DoesNotExist):
        raise DomainError("notice.not_found") from None
