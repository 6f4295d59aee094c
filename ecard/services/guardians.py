"""Guardians act for a ward only while the ward is under HOLDER_GUARDIAN_AGE [seed 004]."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from accounts.models import Holder
from accounts.services import holder_end_guardian_link

from .. import notices, signals
from ..audit import Actor
from ..models import ECard


@transaction.atomic
def ward_came_of_age(*, ward: Holder, by: Actor) -> bool:
    """End the link on the ward's birthday: the guardian no longer reaches the ward, codes the
    guardian showed for the ward stop working, and both are told. False if already ended."""
    guardian = holder_end_guardian_link(holder=ward, reason="came_of_age", by=by)
    if guardian is None:
        return False
    for ecard in ECard.objects.filter(card__holder=ward):
        signals.ecard_changed.send(sender=ECard, ecard=ecard, revoke_reason="guardian.link_ended")
    age = settings.HOLDER_GUARDIAN_AGE
    ward_id, guardian_id, ward_name = ward.pk, guardian.pk, ward.name_masked

    def tell_both() -> None:
        notices.notice_send(
            holder=ward_id, kind="guardian.ended_ward", subject=str(guardian_id), params={"age": age}
        )
        notices.notice_send(
            holder=guardian_id,
            kind="guardian.ended_guardian",
            subject=str(ward_id),
            params={"age": age, "ward_name": ward_name},
        )

    transaction.on_commit(tell_both)
    return True
