"""Card applications made online (申领, 补领, 换领, 换发), followed to collection (制卡进度).

The outlet's own services make the cards (``card_apply_replacement`` at submission,
``card_create`` when production starts); a card handed over or cancelled at the counter
collects or ends its application here. Every step is told to the holder."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from accounts.actors import ActorKind
from accounts.identity import normalise_id_number, normalise_name, person_key
from accounts.models import Holder, User
from accounts.realperson import real_person_check
from accounts.services import check_guardian, holder_get_or_create, holder_set_guardian
from plumbing.errors import DomainError

from .. import authority, notices, photos, workdays
from ..audit import Actor, audit_record
from ..models import (
    OPEN_APPLICATION_STATES,
    ApplicationKind,
    ApplicationState,
    CancellationReason,
    Card,
    CardApplication,
    CardState,
    Delivery,
    ECardChannel,
    GuardianClaim,
    RegionSetting,
    ReplacementKind,
)
from .binding import bind_account
from .cards import card_abandon, card_create, mark_received
from .ecards import ecard_issue
from .pins import validate_new_secret
from .replacements import card_apply_replacement

REPLACEMENT_KINDS: dict[str, str] = {
    ApplicationKind.REPLACEMENT_LOSS: ReplacementKind.LOSS,
    ApplicationKind.REPLACEMENT_DAMAGE: ReplacementKind.DAMAGE,
    ApplicationKind.DATA_CHANGE: ReplacementKind.DATA_CHANGE,
    ApplicationKind.RENEWAL: ReplacementKind.RENEWAL,
}
# A new photo: for a new card, and when the data on the card (a photo among them) changes.
NEEDS_PHOTO = {ApplicationKind.NEW, ApplicationKind.DATA_CHANGE}
STAFF_STEPS: dict[str, set[str]] = {
    ApplicationState.SUBMITTED: {ApplicationState.ACCEPTED, ApplicationState.REJECTED},
    ApplicationState.ACCEPTED: {ApplicationState.IN_PRODUCTION, ApplicationState.REJECTED},
    ApplicationState.IN_PRODUCTION: {ApplicationState.READY},
    ApplicationState.READY: {ApplicationState.COLLECTED},
}
WITHDRAWABLE = {ApplicationState.SUBMITTED, ApplicationState.ACCEPTED}


def _delivery(delivery: str, outlet: str, postal_address: str) -> tuple[str, str]:
    outlet, postal_address = " ".join((outlet or "").split()), " ".join((postal_address or "").split())
    if delivery == Delivery.OUTLET and not outlet:
        raise DomainError("application.outlet_required", field="outlet")
    if delivery == Delivery.POST and not postal_address:
        raise DomainError("application.address_required", field="postal_address")
    return outlet if delivery == Delivery.OUTLET else "", postal_address if delivery == Delivery.POST else ""


def _refuse_if_open(holder: Holder, region: str) -> None:
    if CardApplication.objects.filter(
        holder=holder, region=region, state__in=OPEN_APPLICATION_STATES
    ).exists():
        raise DomainError("application.open_exists")


def _photo(kind: str, photo: Any) -> Any:
    if photo is None and kind not in NEEDS_PHOTO:
        return None
    return photos.photo_check(photo)


def application_submit_new(
    *,
    user: User,
    identity_token: str | None,
    name: str,
    id_type: str,
    id_number: str,
    region: str,
    phone: str,
    delivery: str,
    outlet: str = "",
    postal_address: str = "",
    guardian_proof: str = "",
    guardian_proof_number: str = "",
    photo: Any = None,
    ecard_password: str | None = None,
    channel: str = ECardChannel.NATIONAL_APP,
    by: Actor,
) -> CardApplication:
    """申领: a first card, for oneself or, by a guardian, for a child under 16.

    Where the province issues third-generation cards, the card is recorded at once and its
    e-card issued with the application (同步申领): identity, culture and payment codes from
    day one, transit once the card is collected and enabled. The applicant's proven account
    is bound to it (the guardian's stays the guardian's)."""
    third_generation = RegionSetting.objects.filter(region=region, third_generation=True).exists()
    checked_photo = _photo(ApplicationKind.NEW, photo)  # before anything is written
    outlet, postal_address = _delivery(delivery, outlet, postal_address)
    number, born = normalise_id_number(id_type, id_number)
    on_file = Holder.objects.filter(person_key=person_key(id_type, number)).first()
    minor = (on_file or Holder(date_of_birth=born)).is_minor()
    claim = ""
    if minor:
        guardian = user.holder
        if guardian is None or guardian.is_minor():
            raise DomainError("holder.guardian_required", age=settings.HOLDER_GUARDIAN_AGE)
        check_guardian(holder=on_file or Holder(date_of_birth=born), guardian=guardian, proof=guardian_proof)
        guardian_proof_number = " ".join((guardian_proof_number or "").split())
        if not guardian_proof_number:
            raise DomainError("application.proof_number_required", field="guardian_proof_number")
        checked = (guardian.name, guardian.id_number)
        # Only staff who saw the proof make a link; until then the applicant reaches nothing
        # of the child, and whoever is the child's guardian now stays so.
        if not (on_file and authority.guards(guardian, on_file)):
            claim = GuardianClaim.PENDING
    else:
        checked = (on_file.name if on_file else normalise_name(name), number)
    # 同步申领 needs someone who may hold the child's e-card: not a claim staff have not checked.
    issue_now = third_generation and not claim
    if issue_now:
        validate_new_secret(ecard_password or "", field="ecard_password", codes="ecard.password")
    # The provider is asked before any row is written or locked: its answer may take seconds.
    real_person_check(name=checked[0], id_number=checked[1], token=identity_token)
    with transaction.atomic():
        holder, _ = holder_get_or_create(name=name, id_type=id_type, id_number=id_number, phone=phone, by=by)
        if not minor and user.holder_id not in (None, holder.pk):
            raise DomainError("account.already_bound")
        if Card.objects.filter(holder=holder, region=region).exclude(state=CardState.CANCELLED).exists():
            raise DomainError("card.exists_in_region")
        _refuse_if_open(holder, region)
        new_card = None
        if issue_now:
            new_card = card_create(
                holder=holder, region=region, issued_on=timezone.localdate(), generation=3, by=by
            )
            ecard_issue(
                card=new_card, channel=channel, password=ecard_password or "", by=by, at_application=True
            )
            if not minor:
                bind_account(user, new_card, by=by)
        application = _create(
            kind=ApplicationKind.NEW,
            user=user,
            holder=holder,
            region=region,
            guardian_proof_number=guardian_proof_number if minor else "",
            guardian_proof=guardian_proof if minor else "",
            guardian_claim=claim,
            new_card=new_card,
            delivery=delivery,
            outlet=outlet,
            postal_address=postal_address,
            photo=checked_photo,
            by=by,
        )
    return application


def application_submit_replacement(
    *,
    user: User,
    card: Card,
    kind: str,
    identity_token: str | None,
    delivery: str,
    outlet: str = "",
    postal_address: str = "",
    photo: Any = None,
    by: Actor,
) -> CardApplication:
    """补领 / 换发 / 换领 from the app: the same rules as at the outlet, after a real-person check
    of whoever holds the phone (the holder, or the guardian acting for a ward)."""
    if kind not in REPLACEMENT_KINDS:
        raise DomainError("request.invalid", field="kind", detail="kind: new, replacement_loss, …")
    checked_photo = _photo(kind, photo)
    outlet, postal_address = _delivery(delivery, outlet, postal_address)
    person = user.holder
    if person is None:  # the views reach a card only through an account's holder
        raise DomainError("ecard.not_found")
    real_person_check(name=person.name, id_number=person.id_number, token=identity_token)
    with transaction.atomic():
        _refuse_if_open(card.holder, card.region)
        new_card = card_apply_replacement(card=card, kind=REPLACEMENT_KINDS[kind], by=by)
        return _create(
            kind=kind,
            user=user,
            holder=card.holder,
            region=card.region,
            card=card,
            new_card=new_card,
            delivery=delivery,
            outlet=outlet,
            postal_address=postal_address,
            photo=checked_photo,
            by=by,
        )


def _create(
    *,
    kind: str,
    user: User | None,
    holder: Holder,
    region: str,
    delivery: str,
    outlet: str,
    postal_address: str,
    photo: Any,
    by: Actor,
    card: Card | None = None,
    new_card: Card | None = None,
    **extra: Any,
) -> CardApplication:
    application = CardApplication(
        kind=kind,
        account=user,
        holder=holder,
        region=region,
        card=card,
        new_card=new_card,
        delivery=delivery,
        outlet=outlet,
        postal_address=postal_address,
        photo=photos.photo_store(*photo) if photo else "",
        certificate_reference=secrets.token_hex(12) if card is not None else "",
        **extra,
    )
    try:
        with transaction.atomic():
            application.save(force_insert=True)
    except IntegrityError:  # the same person applying twice at once
        raise DomainError("application.open_exists") from None
    _record(application, by=by)
    return application


def _record(application: CardApplication, *, by: Actor) -> None:
    audit_record(
        action=f"application.{application.state}",
        by=by,
        card=application.new_card or application.card,
        holder=application.holder,
        reason=application.kind,
        data={"application": str(application.public_id)},
    )
    params = {
        "kind": ApplicationKind(application.kind).label,
        "where": (
            format_lazy(_("已邮寄，快递单号{number}"), number=application.tracking_number)
            if application.delivery == Delivery.POST
            else format_lazy(
                _("请于{date}前携带身份证件到{outlet}领取"),
                date=application.collect_by,
                outlet=application.outlet,
            )
        ),
        "reason": application.reject_reason,
    }
    notices.notice_send(
        holder=application.holder_id,
        kind=f"application.{application.state}",
        subject=str(application.public_id),
        params=params,
    )


@transaction.atomic
def application_advance(
    *,
    application: CardApplication,
    to: str,
    by: Actor,
    reason: str = "",
    tracking_number: str = "",
    number: str | None = None,
) -> CardApplication:
    """Staff (or the card factory's progress file) move an application one step on."""
    application = CardApplication.objects.select_for_update().get(pk=application.pk)
    if to not in STAFF_STEPS.get(application.state, set()):
        raise DomainError(
            "application.step_invalid", state=application.get_state_display(), to=ApplicationState(to).label
        )
    if to == ApplicationState.ACCEPTED and application.guardian_claim == GuardianClaim.PENDING:
        _grant_guardian_claim(application, by=by)
    if to == ApplicationState.REJECTED:
        if not (reason or "").strip():
            raise DomainError("application.reason_required", field="reason")
        if application.guardian_claim == GuardianClaim.PENDING:
            application.guardian_claim = GuardianClaim.REFUSED
        application.reject_reason = reason.strip()[:200]
        if application.new_card is not None:
            card_abandon(card=application.new_card, by=by)
    if to == ApplicationState.IN_PRODUCTION and application.new_card_id is None:
        application.new_card = card_create(
            holder=application.holder,
            region=application.region,
            issued_on=timezone.localdate(),
            number=number,
            by=by,
        )
    if to == ApplicationState.READY and application.delivery == Delivery.POST:
        if not (tracking_number or "").strip():
            raise DomainError("application.tracking_required", field="tracking_number")
        application.tracking_number = tracking_number.strip()[:40]
    if to == ApplicationState.READY and application.delivery == Delivery.OUTLET:
        application.collect_by = workdays.add_working_days(
            timezone.localdate(), settings.CARD_COLLECTION_WORKING_DAYS
        )
    new_card = application.new_card  # made in production
    if to == ApplicationState.COLLECTED and new_card is not None and new_card.received_at is None:
        mark_received(new_card, by=by)
    application.state = to
    application.save()
    _record(application, by=by)
    return application


def application_card_collected(*, card: Card, by: Actor) -> None:
    """The card an open application made was handed over (the counter's 领卡 on the card page):
    the application is collected with it, whatever step it had reached, so that no application
    stays open behind a card already in the holder's hands."""
    application = (
        CardApplication.objects.select_for_update()
        .filter(new_card=card, state__in=OPEN_APPLICATION_STATES)
        .first()
    )
    if application is None:
        return
    application.state = ApplicationState.COLLECTED
    application.save()
    _record(application, by=by)


def application_card_cancelled(*, card: Card, by: Actor) -> None:
    """The card an open application was making was cancelled at the counter (the holder moved
    abroad, died, …): the application ends with it instead of waiting for a card that will not
    come, and the holder is told why."""
    application = (
        CardApplication.objects.select_for_update()
        .filter(new_card=card, state__in=OPEN_APPLICATION_STATES)
        .first()
    )
    if application is None:
        return
    application.state = ApplicationState.REJECTED
    application.reject_reason = str(
        format_lazy(
            _("所制社保卡已注销（{reason}）"), reason=CancellationReason(card.cancellation_reason).label
        )
    )[:200]
    application.save()
    _record(application, by=by)


def _grant_guardian_claim(application: CardApplication, *, by: Actor) -> None:
    """Staff accepting the application are the ones who checked the proof of relationship: the
    link is made now, by them, and a guardian it replaces is told."""
    if by.kind != ActorKind.STAFF:
        # A card factory's progress file cannot have seen a birth certificate.
        raise DomainError("application.proof_unchecked")
    guardian = application.account.holder if application.account else None
    if guardian is None:
        raise DomainError("application.proof_unchecked")
    holder_set_guardian(
        holder=application.holder,
        guardian=guardian,
        proof=application.guardian_proof,
        by=by,
    )
    application.guardian_claim = GuardianClaim.GRANTED


@transaction.atomic
def application_withdraw(*, application: CardApplication, by: Actor) -> CardApplication:
    """The holder withdraws before production starts; a replacement's new card goes with it."""
    application = CardApplication.objects.select_for_update().get(pk=application.pk)
    if application.state not in WITHDRAWABLE:
        raise DomainError("application.not_withdrawable", state=application.get_state_display())
    if application.new_card is not None:
        card_abandon(card=application.new_card, by=by)
    application.state = ApplicationState.WITHDRAWN
    application.save()
    _record(application, by=by)
    return application
