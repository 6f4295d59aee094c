"""The social-security PIN (社保密码): checked, changed, locked after six misses, unlocked, reset."""

from __future__ import annotations

import re
import secrets

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction

from plumbing.errors import DomainError

from .. import signals
from ..audit import Actor, audit_record
from ..models import Card, CardState
from .base import lock_card, notify_holder, refuse_agent, refuse_if_cancelled
from .cards import enable

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
        signals.card_changed.send(sender=Card, card=card, before=card.state, after=card.state)
        audit_record(
            action="card.pin_locked",
            by=by,
            card=card,
        )
        return DomainError("card.pin_locked", field="pin")
    card.save(update_fields=["pin_failures", "updated_at"])
    remaining = settings.CARD_PIN_MAX_FAILURES - card.pin_failures
    return DomainError("card.pin_wrong", field="pin", remaining=remaining)


def _refuse_unless_in_hand(card: Card) -> None:
    """A PIN is changed, unlocked or reset on the card itself, in the holder's hands: not on a
    card reported lost (lift the loss first) or one still at the outlet. The holder is then told
    to change a reset PIN in the app, which this same rule lets them do."""
    refuse_if_cancelled(card)
    if card.state not in (CardState.ACTIVE, CardState.SEALED):
        raise DomainError("card.not_active", state=card.get_state_display())
    if card.received_at is None:
        raise DomainError("card.not_received")


def card_check_pin(*, card: Card, pin: str, by: Actor) -> Card:
    """Verify the social-security PIN; the 6th wrong entry in a row locks the card.

    Call it outside any enclosing transaction: a failure is committed before the refusal
    is raised, and an outer rollback would undo it.
    """
    with transaction.atomic():
        card = lock_card(card)
        refusal = _pin_attempt(card, pin, by)
    if refusal:
        raise refusal
    return card


def card_change_pin(*, card: Card, old_pin: str, new_pin: str, by: Actor) -> Card:
    """Change the PIN with the old one; the first change of the initial PIN enables the card."""
    validate_new_secret(new_pin, old=old_pin)
    with transaction.atomic():
        card = lock_card(card)
        _refuse_unless_in_hand(card)
        refusal = _pin_attempt(card, old_pin, by)
        if refusal is None:
            was_initial = card.pin_is_initial
            card.pin_hash = make_password(new_pin)
            card.pin_is_initial = False
            card.save(update_fields=["pin_hash", "pin_is_initial", "updated_at"])
            if was_initial:
                # The first change lets the card pay: scanners' copies of the card must see it.
                signals.card_changed.send(sender=Card, card=card, before=card.state, after=card.state)
            audit_record(
                action="card.pin_changed",
                by=by,
                card=card,
            )
            if was_initial and card.state == CardState.SEALED:
                enable(card, by=by, via="first_pin_change")
    if refusal:
        raise refusal
    return card


@transaction.atomic
def card_unlock_pin(*, card: Card, by: Actor) -> Card:
    """Staff unlock (解锁) after checking the holder's ID; the PIN itself is unchanged."""
    card = lock_card(card)
    _refuse_unless_in_hand(card)
    card.pin_locked = False
    card.pin_failures = 0
    card.save(update_fields=["pin_locked", "pin_failures", "updated_at"])
    signals.card_changed.send(sender=Card, card=card, before=card.state, after=card.state)
    event = audit_record(
        action="card.pin_unlocked",
        by=by,
        card=card,
    )
    notify_holder(card, "card.pin_unlocked", by, event)
    return card


@transaction.atomic
def card_reset_pin(*, card: Card, by: Actor) -> Card:
    """Staff reset (重置) to the initial PIN, which also unlocks; the holder changes it next.
    Only for the holder in person: an agent may not (the Zhuhai guide)."""
    refuse_agent(by)
    card = lock_card(card)
    _refuse_unless_in_hand(card)
    card.pin_hash = ""
    card.pin_is_initial = True
    card.pin_locked = False
    card.pin_failures = 0
    card.save(update_fields=["pin_hash", "pin_is_initial", "pin_locked", "pin_failures", "updated_at"])
    signals.card_changed.send(sender=Card, card=card, before=card.state, after=card.state)
    event = audit_record(action="card.pin_reset", by=by, card=card)
    notify_holder(card, "card.pin_reset", by, event)
    return card
