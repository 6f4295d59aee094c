"""What an e-card may do, by physical-card state (docs/domain.md, the service matrix).

One table, read both when a QR code is issued and when it is verified. A verdict is
``allowed``, ``needs_authorisation`` (only under a live holder authorisation) or
``denied`` with a reason code. Which states revoke the codes issued before them
(``REVOKING_STATES``) is read off the same table.

Changes together with (tests/codes/test_formats_agree.py fails when they drift): a purpose
here is a purpose number in ``codes/verifier.py`` (and its purpose sets), a lifetime in
``QR_LIFETIMES`` (config/settings/base.py) and a byte in docs/qr-format.md.
"""

from __future__ import annotations

import dataclasses

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from plumbing.errors import DomainError

from .models import CardState


class Purpose(models.TextChoices):
    PAYMENT = "payment", _("就医购药")
    TRANSIT = "transit", _("乘车码")
    CULTURE = "culture", _("文化场馆")
    IDENTITY = "identity", _("身份核验")


class Verdict(models.TextChoices):
    ALLOWED = "allowed", _("可用")
    NEEDS_AUTHORISATION = "needs_authorisation", _("需本人授权")
    DENIED = "denied", _("不可用")


@dataclasses.dataclass(frozen=True)
class Answer:
    verdict: str
    code: str | None = None

    @property
    def allowed(self) -> bool:
        return self.verdict == Verdict.ALLOWED

    def refusal(self) -> DomainError:
        """What a denied answer raises: its reason code (every denial in the matrix has one)."""
        return DomainError(self.code or "request.forbidden")


ALLOWED = Answer(Verdict.ALLOWED)
AUTH_TEMP = Answer(Verdict.NEEDS_AUTHORISATION, "card.temporarily_lost")
AUTH_LOST = Answer(Verdict.NEEDS_AUTHORISATION, "card.lost")
CANCELLED = Answer(Verdict.DENIED, "card.cancelled")
NOT_ENABLED = Answer(Verdict.DENIED, "card.not_enabled")
PIN_LOCKED = Answer(Verdict.DENIED, "card.pin_locked")
INITIAL_PIN = Answer(Verdict.DENIED, "card.initial_pin")
IN_PRODUCTION = Answer(Verdict.DENIED, "card.in_production")

# Columns: the card's state, plus "pin_locked" and "initial_pin" (a collected card whose PIN was
# never changed: 医保账户初始密码不能消费, seed 002), which apply on top of the state, and
# "in_production": a third-generation card whose e-card was issued with the application
# (同步申领) and which is still being made: identity, culture and payment, not transit.
MATRIX: dict[str, dict[str, Answer]] = {
    Purpose.IDENTITY: {
        CardState.ACTIVE: ALLOWED,
        CardState.TEMPORARILY_LOST: AUTH_TEMP,
        CardState.LOST: AUTH_LOST,
        CardState.SEALED: ALLOWED,
        "in_production": ALLOWED,
        "pin_locked": ALLOWED,
        "initial_pin": ALLOWED,
        CardState.CANCELLED: CANCELLED,
    },
    Purpose.PAYMENT: {
        CardState.ACTIVE: ALLOWED,
        CardState.TEMPORARILY_LOST: AUTH_TEMP,
        CardState.LOST: AUTH_LOST,
        CardState.SEALED: NOT_ENABLED,
        "in_production": ALLOWED,
        "pin_locked": PIN_LOCKED,
        "initial_pin": INITIAL_PIN,
        CardState.CANCELLED: CANCELLED,
    },
    Purpose.TRANSIT: {
        CardState.ACTIVE: ALLOWED,  # and only with a linked payment method, below
        CardState.TEMPORARILY_LOST: AUTH_TEMP,
        CardState.LOST: AUTH_LOST,
        CardState.SEALED: NOT_ENABLED,
        "in_production": IN_PRODUCTION,
        "pin_locked": ALLOWED,
        "initial_pin": ALLOWED,
        CardState.CANCELLED: CANCELLED,
    },
    Purpose.CULTURE: {
        CardState.ACTIVE: ALLOWED,
        CardState.TEMPORARILY_LOST: AUTH_TEMP,
        CardState.LOST: AUTH_LOST,
        CardState.SEALED: ALLOWED,
        "in_production": ALLOWED,
        "pin_locked": ALLOWED,
        "initial_pin": ALLOWED,
        CardState.CANCELLED: CANCELLED,
    },
}

# A card that enters one of these states revokes every code issued before (for offline gates
# too, through the revocation list); leaving one for a state outside lifts that revocation. They
# are the states in which no purpose is plainly allowed: each needs the holder's authorisation
# or is denied.
# A state missing from a row counts as not allowed there: a state nobody wrote a column for
# revokes codes rather than lets them pass (and the matrix's own test names what is missing).
REVOKING_STATES = frozenset(
    state
    for state in CardState.values
    if not any(MATRIX[purpose].get(state, CANCELLED).allowed for purpose in MATRIX)
)

NO_PAYMENT_METHOD = Answer(Verdict.DENIED, "transit.no_payment_method")
EXPIRED = Answer(Verdict.DENIED, "card.expired")
_SEVERITY: dict[str, int] = {Verdict.ALLOWED: 0, Verdict.NEEDS_AUTHORISATION: 1, Verdict.DENIED: 2}


def service_verdict(
    *,
    purpose: str,
    state: str,
    pin_locked: bool = False,
    initial_pin: bool = False,
    transit_payment_linked: bool = True,
    expired: bool = False,
    in_production: bool = False,
) -> Answer:
    """The most restrictive answer of every column that applies to the card."""
    row = MATRIX[purpose]
    answers = [row["in_production" if in_production and state == CardState.SEALED else state]]
    if pin_locked:
        answers.append(row["pin_locked"])
    if initial_pin and not settings.CARD_INITIAL_PIN_CAN_PAY:
        answers.append(row["initial_pin"])
    if purpose == Purpose.TRANSIT and not transit_payment_linked:
        answers.append(NO_PAYMENT_METHOD)
    if expired and not settings.CARD_EXPIRED_USABLE:
        answers.append(EXPIRED)
    return max(answers, key=lambda answer: _SEVERITY[answer.verdict])


def card_services(card, *, today=None) -> dict[str, Answer]:
    """The matrix row for each purpose, for one card (and its e-card, when it has one)."""
    ecard = getattr(card, "ecard", None) if card.pk else None
    linked = bool(ecard and ecard.transit_payment_method)
    return {
        purpose: service_verdict(
            purpose=purpose,
            state=card.state,
            pin_locked=card.pin_locked,
            initial_pin=card.initial_pin_in_hand,
            transit_payment_linked=linked,
            expired=card.is_expired(today),
            in_production=card.in_production,
        )
        for purpose in Purpose.values
    }
