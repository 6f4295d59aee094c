"""Holders: creation from an identity document, and guardian links for minors."""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from plumbing.errors import DomainError

from .actors import Actor, ActorKind
from .identity import normalise_id_number, normalise_name, normalise_phone, person_key
from .models import GuardianProof, Holder
from .signals import holder_changed


def holder_get_or_create(
    *, name: str, id_type: str, id_number: str, phone: str = "", by: Actor
) -> tuple[Holder, bool]:
    """The holder with this ID document, created if new. A name that differs is refused."""
    name = normalise_name(name)
    if not name:
        raise DomainError("holder.id_number_invalid", field="name", reason=_("姓名为空"))
    id_number, born = normalise_id_number(id_type, id_number)
    phone = normalise_phone(phone) if phone else ""
    key = person_key(id_type, id_number)
    # The same citizen number under another document label is the same person.
    existing = Holder.objects.filter(person_key=key).first()
    if existing:
        if existing.name != name:
            raise DomainError("holder.name_mismatch", field="name")
        return existing, False
    holder = Holder(
        name=name, id_type=id_type, id_number=id_number, person_key=key, date_of_birth=born, phone=phone
    )
    try:
        with transaction.atomic():
            holder.save(force_insert=True)
    except IntegrityError:
        # Created concurrently by another import: take that one.
        return Holder.objects.get(person_key=key), False
    holder_changed.send(
        sender=Holder, action="holder.created", by=by, holder=holder, data={"id_type": id_type}
    )
    return holder, True


def check_guardian(*, holder: Holder, guardian: Holder, proof: str) -> None:
    if proof not in GuardianProof.values:
        raise DomainError(
            "holder.guardian_required", field="guardian_proof", age=settings.HOLDER_GUARDIAN_AGE
        )
    if guardian.pk == holder.pk or guardian.is_minor():
        raise DomainError("holder.guardian_invalid", field="guardian")
    if not holder.is_minor():
        # A guardian acts for a ward only while the ward is under HOLDER_GUARDIAN_AGE, by the
        # birth date in the ID number (or recorded for other documents): an adult, or a
        # holder whose age is unknown, cannot be linked.
        raise DomainError("holder.not_minor", field="guardian", age=settings.HOLDER_GUARDIAN_AGE)


@transaction.atomic
def holder_set_guardian(*, holder: Holder, guardian: Holder, proof: str, by: Actor) -> Holder:
    """Link a minor to the adult who acts for them, with the kind of proof shown.

    Only staff who saw the proof (or the system, loading what an outlet recorded) make a link;
    a holder's own say-so never does. A link that replaces another is announced with the
    guardian it replaces (``data["previous"]``), who is told."""
    if by.kind == ActorKind.HOLDER:
        raise DomainError("holder.guardian_staff_only")
    check_guardian(holder=holder, guardian=guardian, proof=proof)
    holder = Holder.objects.select_for_update().get(pk=holder.pk)
    previous = holder.guardian_id
    holder.guardian = guardian
    holder.guardian_proof = proof
    holder.save(update_fields=["guardian", "guardian_proof"])
    data = {"guardian": guardian.pk, "proof": proof}
    if previous not in (None, guardian.pk):
        data["previous"] = previous
    holder_changed.send(sender=Holder, action="holder.guardian_set", by=by, holder=holder, data=data)
    return holder


@transaction.atomic
def holder_end_guardian_link(*, holder: Holder, reason: str, by: Actor) -> Holder | None:
    """End a ward's guardian link (the ward came of age). Returns the former guardian, or None
    when there was no link any more (the job ran twice)."""
    holder = Holder.objects.select_for_update().get(pk=holder.pk)
    guardian = holder.guardian
    if guardian is None:
        return None
    holder.guardian = None
    holder.guardian_proof = ""
    holder.save(update_fields=["guardian", "guardian_proof"])
    holder_changed.send(
        sender=Holder,
        action="holder.guardian_ended",
        by=by,
        holder=holder,
        data={"guardian": guardian.pk, "reason": reason},
    )
    return guardian


@transaction.atomic
def holder_change_phone(*, holder: Holder, phone: str, by: Actor) -> Holder:
    phone = normalise_phone(phone) if phone else ""
    holder = Holder.objects.select_for_update().get(pk=holder.pk)
    holder.phone = phone
    holder.save(update_fields=["phone", "phone_index"])
    holder_changed.send(sender=Holder, action="holder.phone_changed", by=by, holder=holder)
    return holder


@transaction.atomic
def holder_correct(*, holder: Holder, name: str, id_type: str, id_number: str, by: Actor) -> Holder:
    """A correction of the name or ID number on file (变更), from the document staff saw. What
    was on file before goes to the audit trail (sealed); the cards printed with it keep it.

    The corrected number may not be another holder's: one person, one holder."""
    if by.kind != ActorKind.STAFF:
        raise DomainError("holder.correction_staff_only")
    name = normalise_name(name)
    if not name:
        raise DomainError("holder.id_number_invalid", field="name", reason=_("姓名为空"))
    id_number, born = normalise_id_number(id_type, id_number)
    key = person_key(id_type, id_number)
    holder = Holder.objects.select_for_update().get(pk=holder.pk)
    previous = (holder.name, holder.id_number)
    changed = [
        field
        for field, value in (("name", name), ("id_type", id_type), ("id_number", id_number))
        if getattr(holder, field) != value
    ]
    if not changed:
        raise DomainError("holder.nothing_to_correct")
    if Holder.objects.filter(person_key=key).exclude(pk=holder.pk).exists():
        raise DomainError("holder.person_exists", field="id_number")
    holder.name, holder.id_type, holder.id_number = name, id_type, id_number
    holder.person_key = key
    holder.date_of_birth = born or holder.date_of_birth
    holder.save()
    holder_changed.send(
        sender=Holder,
        action="holder.corrected",
        by=by,
        holder=holder,
        data={"fields": changed},
        previous=previous,
    )
    return holder


@transaction.atomic
def holder_set_photo(*, holder: Holder, photo: str, by: Actor) -> Holder:
    """A new photo on file (a storage name): taken at the counter when the real-person check
    keeps failing on an old one, or with a new card's application."""
    holder = Holder.objects.select_for_update().get(pk=holder.pk)
    holder.photo = photo
    holder.photo_taken_at = timezone.now()
    holder.save(update_fields=["photo", "photo_taken_at"])
    holder_changed.send(sender=Holder, action="holder.photo_set", by=by, holder=holder)
    return holder
