"""Every state change of a physical card or e-card: one function per transition.

Each transition runs in a transaction with the card row locked (``select_for_update``),
checks its rule, changes the state and writes an audit event. A refused transition raises
``DomainError`` and changes nothing — except a wrong PIN, whose failure count must
survive the refusal (see ``_pin_attempt``).
"""

from __future__ import annotations

import datetime
import re
import secrets

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.identity import normalise_id_number
from accounts.models import Holder
from tokens import services as token_services

from . import notices, workdays
from .audit import Actor, audit_record
from .errors import DomainError
from .matrix import Purpose, Verdict, card_services
from .models import (
    ActorKind,
    CancellationReason,
    Card,
    CardState,
    ECard,
    HolderAuthorisation,
    Notice,
    ReplacementKind,
)

SHANGHAI_MIDNIGHT = datetime.time(0, 0)


def _lock(card: Card) -> Card:
    return Card.objects.select_for_update().get(pk=card.pk)


def _transition(card: Card, *, to: str, action: str, by: Actor, reason: str = "", data=None):
    before = card.state
    card.state = to
    card.save()
    # A holder authorisation covers the state it was given in, and ends with it.
    HolderAuthorisation.objects.filter(ecard__card=card, ended_at__isnull=True).update(
        ended_at=timezone.now(), end_reason="state_changed"
    )
    token_services.card_changed(card, before=before, after=to)
    event = audit_record(
        action=action,
        by=by,
        card=card,
        state_before=before,
        state_after=to,
        reason=reason,
        data=data,
    )
    _notify_holder(card, action, by, event)


def _notify_holder(card: Card, action: str, by: Actor, event) -> None:
    """A change the holder did not make themselves is told to them, once it has committed."""
    if by.kind == ActorKind.HOLDER or action not in notices.TEMPLATES:
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


def _refuse_if_cancelled(card: Card) -> None:
    if card.state == CardState.CANCELLED:
        raise DomainError("card.cancelled")


def _start_of_day_after(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day + datetime.timedelta(days=1), SHANGHAI_MIDNIGHT))


# --------------------------------------------------------------------------- creation


def default_valid_until(issued_on: datetime.date) -> datetime.date:
    years = issued_on.year + settings.CARD_VALIDITY_YEARS
    try:
        return issued_on.replace(year=years)
    except ValueError:  # issued on 29 February
        return issued_on.replace(year=years, day=28)


def _new_card_number() -> str:
    # A letter and eight digits, the shape of card numbers printed on third-generation cards.
    return secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") + f"{secrets.randbelow(10**8):08d}"


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
        region=region,
        generation=generation,
        issued_on=issued_on,
        valid_until=valid_until,
        received_at=received_at,
        state=state,
        replaces=replaces,
        replacement_kind=replacement_kind,
        ready_on=ready_on,
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
    return card


# ------------------------------------------------------------------- collection and enabling


@transaction.atomic
def card_mark_received(*, card: Card, by: Actor) -> Card:
    """The holder collected the card (领卡)."""
    card = _lock(card)
    _refuse_if_cancelled(card)
    if card.received_at is not None:
        raise DomainError("card.already_received")
    card.received_at = timezone.now()
    card.save(update_fields=["received_at", "updated_at"])
    audit_record(action="card.received", by=by, card=card)
    return card


def _enable(card: Card, *, by: Actor, via: str) -> None:
    """sealed → active on a locked card; a replacement's activation retires the card it replaces."""
    if card.state == CardState.ACTIVE:
        raise DomainError("card.already_enabled")
    if card.state != CardState.SEALED:
        raise DomainError("card.not_sealed")
    if card.received_at is None:
        raise DomainError("card.not_received")
    _transition(card, to=CardState.ACTIVE, action="card.enabled", by=by, reason=via)
    if card.replaces_id:
        old = Card.objects.select_for_update().get(pk=card.replaces_id)
        if old.state != CardState.CANCELLED:
            _cancel(old, reason=CancellationReason.REPLACED, by=by)
        moved = ECard.objects.filter(card=old).update(card=card)
        token_services.card_changed(card)
        if moved:
            audit_record(
                action="ecard.moved",
                by=by,
                card=card,
                state_before=old.state,
                state_after=card.state,
                data={"from_card": old.pk, "to_card": card.pk},
            )


@transaction.atomic
def card_enable(*, card: Card, by: Actor) -> Card:
    """Enable the social-security function (启用); for a replacement, this is its activation."""
    card = _lock(card)
    _refuse_if_cancelled(card)
    _enable(card, by=by, via="enable")
    return card


# --------------------------------------------------------------------------- PIN


_SIX_DIGITS = re.compile(r"\d{6}")


def _pin_matches(card: Card, pin: str) -> bool:
    if card.pin_is_initial:
        return secrets.compare_digest(str(pin), settings.CARD_INITIAL_PIN)
    return check_password(str(pin), card.pin_hash)


def validate_new_secret(
    new: str, *, old: str | None = None, field: str = "new_pin", codes: str = "card.pin"
) -> None:
    """Six digits, not the initial PIN, not one repeated digit, not a run like 123456.

    The same rule serves the card's PIN (``card.pin_*`` codes) and the e-card password
    (``ecard.password_*``).
    """
    if not isinstance(new, str) or not _SIX_DIGITS.fullmatch(new):
        raise DomainError(f"{codes}_invalid", field=field)
    digits = [int(c) for c in new]
    steps = {b - a for a, b in zip(digits, digits[1:], strict=False)}
    if new == settings.CARD_INITIAL_PIN or len(set(digits)) == 1 or steps in ({1}, {-1}):
        raise DomainError(f"{codes}_weak", field=field)
    if old is not None and new == old:
        raise DomainError(f"{codes}_unchanged", field=field)


def _pin_attempt(card: Card, pin: str, by: Actor) -> DomainError | None:
    """Check a PIN on a locked card and count the outcome.

    Returns the refusal instead of raising it so the caller can let the failure count
    commit first: a raise inside the transaction would roll the count back and make the
    6-strike lock useless.
    """
    if card.pin_locked:
        return DomainError("card.pin_locked", field="pin")
    if _pin_matches(card, pin):
        if card.pin_failures:
            card.pin_failures = 0
            card.save(update_fields=["pin_failures", "updated_at"])
        return None
    card.pin_failures += 1
    if card.pin_failures >= settings.CARD_PIN_MAX_FAILURES:
        card.pin_locked = True
        card.save(update_fields=["pin_failures", "pin_locked", "updated_at"])
        token_services.card_changed(card)
        audit_record(
            action="card.pin_locked",
            by=by,
            card=card,
        )
        return DomainError("card.pin_locked", field="pin")
    card.save(update_fields=["pin_failures", "updated_at"])
    remaining = settings.CARD_PIN_MAX_FAILURES - card.pin_failures
    return DomainError("card.pin_wrong", field="pin", remaining=remaining)


def card_check_pin(*, card: Card, pin: str, by: Actor) -> Card:
    """Verify the social-security PIN; the 6th wrong entry in a row locks the card.

    Call it outside any enclosing transaction: a failure is committed before the refusal
    is raised, and an outer rollback would undo it.
    """
    with transaction.atomic():
        card = _lock(card)
        refusal = _pin_attempt(card, pin, by)
    if refusal:
        raise refusal
    return card


def card_change_pin(*, card: Card, old_pin: str, new_pin: str, by: Actor) -> Card:
    """Change the PIN with the old one; the first change of the initial PIN enables the card."""
    validate_new_secret(new_pin, old=old_pin)
    with transaction.atomic():
        card = _lock(card)
        _refuse_if_cancelled(card)
        if card.state not in (CardState.ACTIVE, CardState.SEALED):
            raise DomainError("card.not_active", state=card.get_state_display())
        if card.received_at is None:
            raise DomainError("card.not_received")
        refusal = _pin_attempt(card, old_pin, by)
        if refusal is None:
            was_initial = card.pin_is_initial
            card.pin_hash = make_password(new_pin)
            card.pin_is_initial = False
            card.save(update_fields=["pin_hash", "pin_is_initial", "updated_at"])
            audit_record(
                action="card.pin_changed",
                by=by,
                card=card,
            )
            if was_initial and card.state == CardState.SEALED:
                _enable(card, by=by, via="first_pin_change")
    if refusal:
        raise refusal
    return card


@transaction.atomic
def card_unlock_pin(*, card: Card, by: Actor) -> Card:
    """Staff unlock (解锁) after checking the holder's ID; the PIN itself is unchanged."""
    card = _lock(card)
    _refuse_if_cancelled(card)
    card.pin_locked = False
    card.pin_failures = 0
    card.save(update_fields=["pin_locked", "pin_failures", "updated_at"])
    token_services.card_changed(card)
    event = audit_record(
        action="card.pin_unlocked",
        by=by,
        card=card,
    )
    _notify_holder(card, "card.pin_unlocked", by, event)
    return card


@transaction.atomic
def card_reset_pin(*, card: Card, by: Actor) -> Card:
    """Staff reset (重置) to the initial PIN, which also unlocks; the holder changes it next."""
    card = _lock(card)
    _refuse_if_cancelled(card)
    card.pin_hash = ""
    card.pin_is_initial = True
    card.pin_locked = False
    card.pin_failures = 0
    card.save(update_fields=["pin_hash", "pin_is_initial", "pin_locked", "pin_failures", "updated_at"])
    token_services.card_changed(card)
    event = audit_record(action="card.pin_reset", by=by, card=card)
    _notify_holder(card, "card.pin_reset", by, event)
    return card


# --------------------------------------------------------------------------- loss


def formalisation_deadline_for(reported_at: datetime.datetime) -> datetime.datetime:
    """Start of the day after the N-th working day following the report (report day not counted)."""
    reported_on = timezone.localtime(reported_at).date()
    last_day = workdays.add_working_days(reported_on, settings.CARD_TEMPORARY_LOSS_WORKING_DAYS)
    return _start_of_day_after(last_day)


@transaction.atomic
def card_report_temporary_loss(*, card: Card, by: Actor) -> Card:
    """临时挂失: takes effect at once; lapses unless formalised by the deadline."""
    card = _lock(card)
    _refuse_if_cancelled(card)
    if card.state == CardState.TEMPORARILY_LOST:
        raise DomainError("card.already_temporarily_lost")
    if card.state == CardState.LOST:
        raise DomainError("card.already_lost")
    if card.state != CardState.ACTIVE:
        raise DomainError("card.not_active", state=card.get_state_display())
    now = timezone.now()
    card.temporarily_lost_at = now
    card.formalisation_deadline = formalisation_deadline_for(now)
    _transition(
        card,
        to=CardState.TEMPORARILY_LOST,
        action="card.loss_reported",
        by=by,
        data={"formalisation_deadline": card.formalisation_deadline.isoformat()},
    )
    return card


def _reinstate(card: Card, *, action: str, by: Actor) -> None:
    if card.replacement_applied_at is not None:
        raise DomainError("card.replacement_applied")
    card.temporarily_lost_at = None
    card.formalisation_deadline = None
    _transition(card, to=CardState.ACTIVE, action=action, by=by)


@transaction.atomic
def card_lift_loss(*, card: Card, by: Actor) -> Card:
    """解挂: the card was found before the loss was formalised or a replacement applied for."""
    card = _lock(card)
    _refuse_if_cancelled(card)
    if card.state == CardState.LOST:
        raise DomainError("card.loss_irrevocable")
    if card.state != CardState.TEMPORARILY_LOST:
        raise DomainError("card.not_lost")
    _reinstate(card, action="card.loss_lifted", by=by)
    return card


@transaction.atomic
def card_lapse_temporary_loss(*, card: Card, by: Actor | None = None, now=None) -> Card:
    """A temporary loss not formalised by its deadline ends by itself; the card is active again."""
    by = by or Actor.system("loss_deadlines")
    card = _lock(card)
    if card.state != CardState.TEMPORARILY_LOST:
        raise DomainError("card.not_temporarily_lost")
    now = now or timezone.now()
    if now < card.formalisation_deadline:
        raise DomainError(
            "card.deadline_not_passed",
            deadline=timezone.localtime(card.formalisation_deadline).strftime("%Y-%m-%d %H:%M"),
        )
    _reinstate(card, action="card.loss_lapsed", by=by)
    return card


@transaction.atomic
def card_report_formal_loss(*, card: Card, by: Actor) -> Card:
    """正式挂失 at an outlet with ID: irrevocable."""
    card = _lock(card)
    _refuse_if_cancelled(card)
    if card.state == CardState.LOST:
        raise DomainError("card.already_lost")
    if card.received_at is None:
        raise DomainError("card.not_received")
    card.lost_at = timezone.now()
    card.formalisation_deadline = None
    _transition(card, to=CardState.LOST, action="card.loss_formalised", by=by)
    return card


# --------------------------------------------------------------------------- replacement


_REPLACEABLE_STATES = {
    ReplacementKind.LOSS: {CardState.TEMPORARILY_LOST, CardState.LOST},
    ReplacementKind.RENEWAL: {CardState.ACTIVE, CardState.SEALED},
    ReplacementKind.DAMAGE: {CardState.ACTIVE, CardState.SEALED},
    ReplacementKind.DATA_CHANGE: {CardState.ACTIVE, CardState.SEALED},
}


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
    card = _lock(card)
    _refuse_if_cancelled(card)
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
    )


def card_apply_renewal(*, card: Card, by: Actor, today: datetime.date | None = None) -> Card:
    """换领: from the renewal window (default 60 days) before ``valid_until``."""
    return card_apply_replacement(card=card, kind=ReplacementKind.RENEWAL, by=by, today=today)


# --------------------------------------------------------------------------- cancellation


def _cancel(card: Card, *, reason: str, by: Actor) -> None:
    card.cancelled_at = timezone.now()
    card.cancellation_reason = reason
    card.formalisation_deadline = None
    _transition(card, to=CardState.CANCELLED, action="card.cancelled", by=by, reason=reason)


@transaction.atomic
def card_cancel(*, card: Card, reason: str, by: Actor) -> Card:
    """注销 for good. A replacement still being made for the card is cancelled with it."""
    if reason not in CancellationReason.values:
        raise DomainError("card.cancel_reason_invalid", field="reason")
    if reason == CancellationReason.REPLACED:
        raise DomainError("card.cancel_reason_reserved", field="reason")
    card = _lock(card)
    if card.state == CardState.CANCELLED:
        raise DomainError("card.already_cancelled")
    _cancel(card, reason=reason, by=by)
    pending = Card.objects.select_for_update().filter(replaces=card).exclude(state=CardState.CANCELLED)
    for successor in pending:
        _cancel(successor, reason=reason, by=by)
    return card


# --------------------------------------------------------------------------- e-card


@transaction.atomic
def ecard_issue(*, card: Card, channel: str, password: str, by: Actor) -> ECard:
    """Issue the e-card for a received, non-cancelled card, with its own password."""
    validate_new_secret(password, field="password", codes="ecard.password")
    card = _lock(card)
    _refuse_if_cancelled(card)
    if card.received_at is None:
        raise DomainError("card.not_received")
    if ECard.objects.filter(card=card).exists():
        raise DomainError("ecard.already_issued")
    holder = card.holder
    if holder.is_minor() and holder.guardian_id is None:
        raise DomainError("holder.guardian_required", age=settings.HOLDER_GUARDIAN_AGE)
    ecard = ECard.objects.create(
        card=card,
        reference=secrets.token_hex(12),
        channel=channel,
        password_hash=make_password(password),
    )
    audit_record(
        action="ecard.issued",
        by=by,
        card=card,
        data={"channel": channel},
    )
    return ecard


def _bind_account(user, holder: Holder, *, by: Actor) -> None:
    """Bind an app account to the holder it proved; a holder has one bound account at a time."""
    from accounts.authtokens import sessions_end_for_holder

    if user.holder_id == holder.pk:
        return
    previous = type(user).objects.filter(holder=holder).exclude(pk=user.pk)
    for account in previous:
        sessions_end_for_holder(holder=holder, reason="rebound")
        account.holder = None
        account.save(update_fields=["holder"])
    user.holder = holder
    user.save(update_fields=["holder"])
    audit_record(action="account.bound", by=by, holder=holder, data={"account": user.pk})


def _identity_matches(holder: Holder, *, name: str, id_number: str) -> bool:
    given = " ".join((name or "").split())
    try:
        number, _ = normalise_id_number(holder.id_type, id_number)
    except DomainError:
        return False
    return secrets.compare_digest(given.encode(), holder.name.encode()) and secrets.compare_digest(
        number.encode(), holder.id_number.encode()
    )


def ecard_apply(
    *,
    user,
    name: str,
    id_number: str,
    card_number: str,
    pin: str,
    password: str,
    channel: str,
    by: Actor,
) -> tuple[ECard, bool]:
    """Prove the card (name, ID number, card number, PIN) and get its e-card.

    The proven holder's account is bound to it; a guardian's account applies for a ward
    under 16 and stays bound to the guardian. If the e-card exists already (a new phone,
    a new account) the proof resets its password instead. Returns (e-card, created).
    """
    validate_new_secret(password, field="password", codes="ecard.password")
    card = Card.objects.select_related("holder").filter(number=(card_number or "").strip().upper()).first()
    if card is None or not _identity_matches(card.holder, name=name, id_number=id_number):
        raise DomainError("ecard.identity_mismatch")
    holder = card.holder
    if holder.is_minor():
        if holder.guardian_id is None or user.holder_id != holder.guardian_id:
            raise DomainError("holder.guardian_required", age=settings.HOLDER_GUARDIAN_AGE)
    elif user.holder_id not in (None, holder.pk):
        raise DomainError("account.already_bound")
    card_check_pin(card=card, pin=pin, by=by)  # commits a failure before refusing
    with transaction.atomic():
        existing = ECard.objects.select_for_update().filter(card=card).first()
        if existing:
            ecard = _set_ecard_password(existing, password, by=by, action="ecard.password_reset")
        else:
            ecard = ecard_issue(card=card, channel=channel, password=password, by=by)
        if not holder.is_minor():
            _bind_account(user, holder, by=by)
    return ecard, existing is None


def _set_ecard_password(ecard: ECard, password: str, *, by: Actor, action: str, keep_family=None) -> ECard:
    """New password on every channel at once: grants and other sessions end with the old one."""
    from accounts.authtokens import sessions_end_for_holder

    ecard.password_hash = make_password(password)
    ecard.password_changed_at = timezone.now()
    ecard.save(update_fields=["password_hash", "password_changed_at"])
    HolderAuthorisation.objects.filter(ecard=ecard, ended_at__isnull=True).update(
        ended_at=timezone.now(), end_reason="password_changed"
    )
    sessions_end_for_holder(holder=ecard.card.holder, keep_family=keep_family, reason="password_changed")
    token_services.ecard_changed(ecard, revoke_reason="ecard.password_changed")
    audit_record(
        action=action,
        by=by,
        card=ecard.card,
    )
    return ecard


def ecard_check_password(*, ecard: ECard, password: str) -> None:
    if not isinstance(password, str) or not check_password(password, ecard.password_hash):
        raise DomainError("ecard.password_wrong", field="password")


@transaction.atomic
def ecard_change_password(
    *, ecard: ECard, old_password: str, new_password: str, by: Actor, keep_family=None
) -> ECard:
    ecard = ECard.objects.select_for_update().select_related("card__holder").get(pk=ecard.pk)
    try:
        ecard_check_password(ecard=ecard, password=old_password)
    except DomainError as exc:
        exc.field = "old_password"
        raise
    validate_new_secret(new_password, old=old_password, field="new_password", codes="ecard.password")
    return _set_ecard_password(
        ecard, new_password, by=by, action="ecard.password_changed", keep_family=keep_family
    )


# --------------------------------------------------------------------------- holder authorisation


@transaction.atomic
def authorisation_grant(
    *, ecard: ECard, password: str, purposes: list[str], minutes: int, by: Actor
) -> HolderAuthorisation:
    """经本人授权: let the e-card work for these purposes while the card is lost, for a while."""
    card = _lock(ecard.card)
    ecard_check_password(ecard=ecard, password=password)
    if card.state not in (CardState.TEMPORARILY_LOST, CardState.LOST):
        raise DomainError("authorisation.not_needed")
    if not purposes or len(set(purposes)) != len(purposes):
        raise DomainError("authorisation.purpose_invalid", field="purposes", purpose=",".join(purposes))
    verdicts = card_services(card)
    for purpose in purposes:
        if purpose not in Purpose.values or verdicts[purpose].verdict != Verdict.NEEDS_AUTHORISATION:
            raise DomainError("authorisation.purpose_invalid", field="purposes", purpose=purpose)
    maximum = settings.AUTHORISATION_MAX_MINUTES
    if not isinstance(minutes, int) or not 1 <= minutes <= maximum:
        raise DomainError("authorisation.duration_invalid", field="minutes", maximum=maximum)
    now = timezone.now()
    grant = HolderAuthorisation.objects.create(
        ecard=ecard,
        purposes=sorted(purposes),
        card_state=card.state,
        created_at=now,
        expires_at=now + datetime.timedelta(minutes=minutes),
    )
    token_services.ecard_changed(ecard)
    audit_record(
        action="authorisation.granted",
        by=by,
        card=card,
        data={
            "purposes": grant.purposes,
            "minutes": minutes,
            "authorisation": str(grant.public_id),
        },
    )
    return grant


@transaction.atomic
def authorisation_withdraw(*, authorisation: HolderAuthorisation, by: Actor) -> HolderAuthorisation:
    grant = (
        HolderAuthorisation.objects.select_for_update().select_related("ecard__card").get(pk=authorisation.pk)
    )
    if not grant.is_live():
        raise DomainError("authorisation.ended")
    grant.ended_at = timezone.now()
    grant.end_reason = "withdrawn"
    grant.save(update_fields=["ended_at", "end_reason"])
    token_services.ecard_changed(grant.ecard, revoke_reason="authorisation.withdrawn")
    audit_record(
        action="authorisation.withdrawn",
        by=by,
        card=grant.ecard.card,
        data={"authorisation": str(grant.public_id)},
    )
    return grant


# --------------------------------------------------------------------------- notices


def notice_mark_read(*, notice: Notice) -> Notice:
    if notice.read_at is None:
        Notice.objects.filter(pk=notice.pk, read_at__isnull=True).update(read_at=timezone.now())
        notice.refresh_from_db(fields=["read_at"])
    return notice
