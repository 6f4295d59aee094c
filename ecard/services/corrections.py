"""The data on file, corrected at the counter: a holder's name or ID number (变更), which needs a
new card carrying the new data, and the photo on its own (a real-person check that keeps failing
on an old photo)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.services import holder_correct, holder_set_photo
from plumbing.errors import DomainError

from .. import photos
from ..audit import Actor
from ..models import Card, CardApplication, CardState, ReplacementKind
from .base import lock_card, refuse_if_cancelled
from .counter import application_replace_at_counter


@transaction.atomic
def card_correct_data(
    *,
    card: Card,
    name: str,
    id_type: str,
    id_number: str,
    outlet: str,
    by: Actor,
    photo: Any = None,
    number: str | None = None,
) -> CardApplication:
    """变更 at the counter, from the document staff saw: the holder's name or ID number on file
    is corrected, and the replacement the change needs is applied for, its new card carrying the
    new data (and the photo taken now, if one is). The cards made before keep what was printed
    on them, and the audit trail keeps what was on file (sealed)."""
    card = lock_card(card)
    refuse_if_cancelled(card)
    if card.replacement_applied_at is not None:
        raise DomainError("card.replacement_pending")
    holder = card.holder
    # Cards made before printed data was kept show the holder's: fix it on them before it changes.
    for old in Card.objects.select_for_update().filter(holder=holder, printed_name=""):
        old.printed_name, old.printed_id_number = holder.name, holder.id_number
        old.save(update_fields=["printed_name", "printed_id_number", "updated_at"])
    holder_correct(holder=holder, name=name, id_type=id_type, id_number=id_number, by=by)
    card = Card.objects.select_related("holder").get(pk=card.pk)
    return application_replace_at_counter(
        card=card, kind=ReplacementKind.DATA_CHANGE, outlet=outlet, number=number, photo=photo, by=by
    )


def card_renew_photo(*, card: Card, photo: Any, by: Actor) -> Card:
    """A new photo on file for the card's holder, taken at the counter or from a file: the next
    real-person check compares the face with it. The card itself is not remade."""
    if card.state == CardState.CANCELLED:
        raise DomainError("card.cancelled")
    checked = photos.photo_check(photo)
    holder_set_photo(holder=card.holder, photo=photos.photo_store(*checked), by=by)
    return card
