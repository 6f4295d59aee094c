"""Binding an e-card to an app account (申领电子社保卡): proven by a one-time code sent to the
phone the card centre holds for the holder, and by a real-person check of whoever holds the
phone that asks.

What is printed on a card (name, ID number, card number) and its PIN are known to whoever
finds it, so none of them proves anything here; they only say which card is meant. A
guardian binds a ward's e-card under 16: the code goes to the ward's phone on file and the
real-person check is the guardian's, who keeps using their own account.
"""

from __future__ import annotations

import datetime
import logging
import secrets
import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.crypto import salted_hmac

from accounts.identity import mask_phone, normalise_id_number, normalise_name
from accounts.models import Holder, User
from accounts.realperson import real_person_check
from accounts.sessions import sessions_end_for_holder
from plumbing.errors import DomainError

from .. import authority, notices
from ..audit import Actor, audit_record
from ..models import BindingChallenge, Card, ECard
from .base import SHANGHAI_MIDNIGHT
from .ecards import ecard_issue, set_ecard_password
from .pins import validate_new_secret

log = logging.getLogger(__name__)


def _code_hash(challenge: BindingChallenge, code: str) -> str:
    # Keyed with SECRET_KEY: a leaked table does not give the codes away by a 10⁶ search.
    return salted_hmac("ecard.binding_code", f"{challenge.public_id}:{code}", algorithm="sha256").hexdigest()


def _identity_matches(holder: Holder, *, name: str, id_number: str) -> bool:
    given = normalise_name(name)
    try:
        number, _ = normalise_id_number(holder.id_type, id_number)
    except DomainError:
        return False
    return secrets.compare_digest(given.encode(), holder.name.encode()) and secrets.compare_digest(
        number.encode(), holder.id_number.encode()
    )


def _card_named(*, user: User, name: str, id_number: str, card_number: str) -> Card:
    """The card the printed data names, if this account may bind it; nothing is proven yet."""
    card = Card.objects.select_related("holder").filter(number=(card_number or "").strip().upper()).first()
    if card is None or not _identity_matches(card.holder, name=name, id_number=id_number):
        raise DomainError("ecard.identity_mismatch")
    holder = card.holder
    if holder.is_minor():
        if not authority.guards(user.holder, holder):
            raise DomainError("holder.guardian_required", age=settings.HOLDER_GUARDIAN_AGE)
    elif user.holder_id not in (None, holder.pk):
        raise DomainError("account.already_bound")
    if not holder.phone:
        raise DomainError("identity.no_phone_on_file")
    return card


def binding_challenge_create(
    *, user: User, name: str, id_number: str, card_number: str, by: Actor
) -> BindingChallenge:
    """Send a 6-digit code to the holder's phone on file; at most a few a day per holder."""
    card = _card_named(user=user, name=name, id_number=id_number, card_number=card_number)
    holder = card.holder
    code = f"{secrets.randbelow(10**6):06d}"
    now = timezone.now()
    with transaction.atomic():
        # One holder's challenges are counted one request at a time.
        Holder.objects.select_for_update().get(pk=holder.pk)
        today = timezone.make_aware(datetime.datetime.combine(timezone.localdate(), SHANGHAI_MIDNIGHT))
        if (
            BindingChallenge.objects.filter(holder=holder, created_at__gte=today).count()
            >= settings.BINDING_CHALLENGES_PER_DAY
        ):
            raise DomainError("identity.challenge_limit", limit=settings.BINDING_CHALLENGES_PER_DAY)
        challenge = BindingChallenge(
            account=user,
            holder=holder,
            card=card,
            created_at=now,
            expires_at=now + datetime.timedelta(seconds=settings.BINDING_CODE_SECONDS),
        )
        challenge.code_hash = _code_hash(challenge, code)
        challenge.save(force_insert=True)
        audit_record(
            action="ecard.binding_code_sent",
            by=by,
            card=card,
            data={"challenge": str(challenge.public_id), "account": user.pk},
        )
    # An SMS is in the site's language (Chinese) whatever language the app asked in.
    with translation.override(settings.LANGUAGE_CODE):
        text = str(notices.BINDING_SMS).format(
            code=code, minutes=settings.BINDING_CODE_SECONDS // 60, card_tail=card.number[-4:]
        )
    try:
        notices.text_send(phone=holder.phone, text=text)
    except Exception:  # the gateway's own failure: the holder asks again, uncounted
        log.warning("binding code not sent: channel failed (%s)", mask_phone(holder.phone), exc_info=True)
        challenge.delete()
        raise DomainError("identity.sms_unavailable") from None
    return challenge


def _challenge_try(*, user: User, card: Card, challenge_id: Any, code: Any) -> DomainError | None:
    """Check the code on a locked challenge and count a wrong one.

    Returns the refusal instead of raising it, so that the count commits: a raise inside
    the transaction would roll it back and make the limit of tries useless.
    """
    try:
        public_id = uuid.UUID(str(challenge_id))
    except ValueError:
        return DomainError("identity.code_invalid", field="sms_code")
    challenge = (
        BindingChallenge.objects.select_for_update()
        .filter(public_id=public_id, account=user, card=card)
        .first()
    )
    if challenge is None:
        return DomainError("identity.code_invalid", field="sms_code")
    if (
        challenge.used_at is not None
        or challenge.expires_at <= timezone.now()
        or challenge.attempts >= settings.BINDING_CODE_MAX_TRIES
    ):
        return DomainError("identity.code_expired", field="sms_code")
    if not secrets.compare_digest(_code_hash(challenge, str(code)), challenge.code_hash):
        challenge.attempts += 1
        challenge.save(update_fields=["attempts"])
        return DomainError("identity.code_invalid", field="sms_code")
    return None


def bind_account(user: User, card: Card, *, by: Actor) -> None:
    """Bind an app account to the holder it proved; a holder has one bound account at a time,
    and the one it had is told at once, in its own inbox and by SMS to the phone on file."""
    holder = card.holder
    if user.holder_id == holder.pk:
        return
    previous = list(type(user).objects.filter(holder=holder).exclude(pk=user.pk))
    if previous:
        sessions_end_for_holder(holder=holder, reason="rebound")
    for account in previous:
        account.holder = None
        account.save(update_fields=["holder"])
    user.holder = holder
    user.save(update_fields=["holder"])
    event = audit_record(action="account.bound", by=by, holder=holder, data={"account": user.pk})
    at = timezone.localtime(event.at).strftime("%Y-%m-%d %H:%M")
    for account in previous:
        notices.notice_send(
            holder=holder.pk,
            account=account,
            kind="ecard.rebound",
            subject=str(event.pk),
            milestone=str(account.pk),
            params=notices.card_params(card, at=at),
        )


def ecard_apply(
    *,
    user: User,
    name: str,
    id_number: str,
    card_number: str,
    challenge_id: Any = None,
    sms_code: str | None = None,
    identity_token: str | None = None,
    password: str,
    channel: str,
    by: Actor,
) -> tuple[ECard, bool]:
    """Bind the named card's e-card to this account, with the SMS code and a real-person check.

    The proven holder's account is bound to it; a guardian's account applies for a ward
    under 16 and stays bound to the guardian. If the e-card exists already (a new phone, a
    new account) the proofs reset its password instead. Returns (e-card, created).
    """
    validate_new_secret(password, field="password", codes="ecard.password")
    card = _card_named(user=user, name=name, id_number=id_number, card_number=card_number)
    holder = card.holder
    if not challenge_id or not sms_code or not identity_token:
        raise DomainError("identity.verification_required")
    with transaction.atomic():
        refusal = _challenge_try(user=user, card=card, challenge_id=challenge_id, code=sms_code)
    if refusal:
        raise refusal
    # The person holding the phone: the holder, or the guardian who acts for a ward.
    person = user.holder if holder.is_minor() else holder
    if person is None:  # a ward's e-card is applied for from a guardian's bound account
        raise DomainError("holder.guardian_required", age=settings.HOLDER_GUARDIAN_AGE)
    real_person_check(name=person.name, id_number=person.id_number, token=identity_token)
    with transaction.atomic():
        challenge = BindingChallenge.objects.select_for_update().get(public_id=uuid.UUID(str(challenge_id)))
        if challenge.used_at is not None:  # a concurrent apply with the same code won
            raise DomainError("identity.code_expired", field="sms_code")
        challenge.used_at = timezone.now()
        challenge.save(update_fields=["used_at"])
        existing = ECard.objects.select_for_update().filter(card=card).first()
        if existing:
            ecard = set_ecard_password(existing, password, by=by, action="ecard.password_reset")
        else:
            ecard = ecard_issue(card=card, channel=channel, password=password, by=by)
        if not holder.is_minor():
            bind_account(user, card, by=by)
    return ecard, existing is None
