"""Applications taken at the counter (窗口受理): a first card for someone who walks in with their
ID document, and every replacement and renewal, each with its pick-up certificate (领卡证明) and
collected at the outlet that took it. Staff accept what they take: these start accepted."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction

from accounts.identity import normalise_id_number
from accounts.models import Holder
from accounts.services import holder_get_or_create, holder_set_guardian, holder_set_photo
from plumbing.errors import DomainError

from .. import authority, photos
from ..audit import Actor
from ..models import ApplicationKind, ApplicationState, Card, CardApplication, CardState, Delivery
from .applications import REPLACEMENT_KINDS, _create, _delivery, _photo, _refuse_if_open
from .replacements import card_apply_replacement

# The application kind a replacement taken at the counter is recorded as.
COUNTER_KINDS = {v: k for k, v in REPLACEMENT_KINDS.items()}


def application_new_at_counter(
    *,
    name: str,
    id_type: str,
    id_number: str,
    region: str,
    outlet: str,
    photo: Any,
    by: Actor,
    phone: str = "",
    guardian_name: str = "",
    guardian_id_type: str = "",
    guardian_id_number: str = "",
    guardian_proof: str = "",
    guardian_proof_number: str = "",
) -> CardApplication:
    """申领 for someone who walks in: staff saw the ID document (for a child under 16, also the
    guardian's and the proof of relationship, so the guardian link is made now) and take the
    photo, which goes on file; the card is collected at this outlet."""
    checked_photo = photos.photo_check(photo)
    outlet, _ = _delivery(Delivery.OUTLET, outlet, "")
    _, born = normalise_id_number(id_type, id_number)
    minor = Holder(date_of_birth=born).is_minor()
    if minor:
        if not (guardian_name and guardian_id_type and guardian_id_number):
            raise DomainError(
                "holder.guardian_required", field="guardian_name", age=settings.HOLDER_GUARDIAN_AGE
            )
        guardian_proof_number = " ".join((guardian_proof_number or "").split())
        if not guardian_proof_number:
            raise DomainError("application.proof_number_required", field="guardian_proof_number")
    with transaction.atomic():
        holder, _ = holder_get_or_create(name=name, id_type=id_type, id_number=id_number, phone=phone, by=by)
        if Card.objects.filter(holder=holder, region=region).exclude(state=CardState.CANCELLED).exists():
            raise DomainError("card.exists_in_region")
        _refuse_if_open(holder, region)
        if minor:
            guardian, _ = holder_get_or_create(
                name=guardian_name, id_type=guardian_id_type, id_number=guardian_id_number, by=by
            )
            if not authority.guards(guardian, holder):
                holder_set_guardian(holder=holder, guardian=guardian, proof=guardian_proof, by=by)
        application = _create(
            kind=ApplicationKind.NEW,
            user=None,
            holder=holder,
            region=region,
            guardian_proof=guardian_proof if minor else "",
            guardian_proof_number=guardian_proof_number if minor else "",
            delivery=Delivery.OUTLET,
            outlet=outlet,
            postal_address="",
            photo=checked_photo,
            state=ApplicationState.ACCEPTED,
            by=by,
        )
        holder_set_photo(holder=holder, photo=application.photo, by=by)
    return application


def application_replace_at_counter(
    *,
    card: Card,
    kind: str,
    outlet: str,
    by: Actor,
    number: str | None = None,
    photo: Any = None,
) -> CardApplication:
    """补领 / 换领 / 换发 at the counter: the new card is made as for an application in the app,
    and the holder leaves with a pick-up certificate (领卡证明) to collect it at this outlet."""
    if kind not in COUNTER_KINDS:
        raise DomainError("request.invalid", field="kind", detail="kind: loss, renewal, damage, data_change")
    checked_photo = _photo(COUNTER_KINDS[kind], photo)  # a data change's new card needs one
    outlet, _ = _delivery(Delivery.OUTLET, outlet, "")
    with transaction.atomic():
        _refuse_if_open(card.holder, card.region)
        new_card = card_apply_replacement(card=card, kind=kind, number=number, by=by)
        application = _create(
            kind=COUNTER_KINDS[kind],
            user=None,
            holder=card.holder,
            region=card.region,
            card=card,
            new_card=new_card,
            delivery=Delivery.OUTLET,
            outlet=outlet,
            postal_address="",
            photo=checked_photo,
            state=ApplicationState.ACCEPTED,
            by=by,
        )
        if application.photo:
            holder_set_photo(holder=card.holder, photo=application.photo, by=by)
    return application
